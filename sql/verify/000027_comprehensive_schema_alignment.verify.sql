-- Verification of 000027 comprehensive schema alignment (DomainFlow).
--
-- Format (docs/architecture.md): each check starts at "-- check: <name>"; it holds when its
-- LAST statement returns no rows, each row returned is one problem. Every check runs in its
-- own transaction that is always rolled back, so the smoke checks below run the
-- application's own queries (inserts, the worker's claim) without leaving a trace.
-- "mismatch:" ties a check to the 23 items of sql/SCHEMA_AUDIT_REPORT.md; `schemaflow audit`
-- reports an item open when any of its checks fails.

-- ---------------------------------------------------------------------------------------
-- 1, 2: domain_generation_campaign_params timestamps

-- check: dgcp_created_at
-- mismatch: 1
-- description: domain_generation_campaign_params.created_at is timestamptz NOT NULL with a default
SELECT 'domain_generation_campaign_params.created_at: '
       || coalesce(c.data_type || ' nullable=' || c.is_nullable || ' default=' || coalesce(c.column_default, 'none'), 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'domain_generation_campaign_params' AND c.column_name = 'created_at'
WHERE c.column_name IS NULL OR c.data_type <> 'timestamp with time zone' OR c.is_nullable <> 'NO' OR c.column_default IS NULL;

-- check: dgcp_updated_at
-- mismatch: 2
-- description: domain_generation_campaign_params.updated_at is timestamptz NOT NULL with a default
SELECT 'domain_generation_campaign_params.updated_at: '
       || coalesce(c.data_type || ' nullable=' || c.is_nullable || ' default=' || coalesce(c.column_default, 'none'), 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'domain_generation_campaign_params' AND c.column_name = 'updated_at'
WHERE c.column_name IS NULL OR c.data_type <> 'timestamp with time zone' OR c.is_nullable <> 'NO' OR c.column_default IS NULL;

-- check: seed_dgcp_timestamp_columns
-- mismatch: 1,2
-- description: the seed's "verify the critical fix" query returns both columns, timestamptz, NOT NULL
SELECT 'seed query: expected created_at and updated_at (timestamp with time zone, NOT NULL), got '
       || coalesce(string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', '), 'nothing') AS problem
FROM (SELECT column_name, data_type, is_nullable
      FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'domain_generation_campaign_params'
        AND column_name IN ('created_at', 'updated_at')) s
HAVING count(*) FILTER (WHERE data_type = 'timestamp with time zone' AND is_nullable = 'NO') <> 2;

-- check: smoke_campaign_creation
-- mismatch: 1,2
-- description: seed post-migration test 1: create a domain-generation campaign with its params as the application does (no timestamps given) and read the params back with created_at/updated_at
INSERT INTO campaigns (id, name, campaign_type, status, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-00000000c001', 'verify: test campaign', 'domain_generation', 'pending', now(), now());
INSERT INTO domain_generation_campaign_params (campaign_id, pattern_type, variable_length, character_set,
                                               constant_string, tld, num_domains_to_generate,
                                               total_possible_combinations, current_offset)
VALUES ('00000000-0000-4000-8000-00000000c001', 'prefix', 3, 'abc', 'shop', '.com', 100, 27, 0);
SELECT 'campaign params not readable with timestamps: ' || coalesce(p.created_at::text, 'created_at NULL') || ' / '
       || coalesce(p.updated_at::text, 'updated_at NULL') AS problem
FROM (SELECT 1) AS one
LEFT JOIN (SELECT campaign_id, pattern_type, variable_length, character_set, constant_string, tld,
                  num_domains_to_generate, total_possible_combinations, current_offset, created_at, updated_at
           FROM domain_generation_campaign_params
           WHERE campaign_id = '00000000-0000-4000-8000-00000000c001') p ON true
WHERE p.created_at IS NULL OR p.updated_at IS NULL;

-- ---------------------------------------------------------------------------------------
-- 3-8: campaign_jobs as the job store expects it

-- check: campaign_jobs_business_status
-- mismatch: 3
-- description: campaign_jobs.business_status exists (text)
SELECT 'campaign_jobs.business_status: ' || coalesce(c.data_type, 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'campaign_jobs' AND c.column_name = 'business_status'
WHERE c.data_type IS DISTINCT FROM 'text';

-- check: campaign_jobs_job_type
-- mismatch: 4
-- description: campaign_jobs.campaign_type is named job_type (text)
SELECT 'campaign_jobs.job_type: ' || coalesce(c.data_type, 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'campaign_jobs' AND c.column_name = 'job_type'
WHERE c.data_type IS DISTINCT FROM 'text'
UNION ALL
SELECT 'campaign_jobs still has the old column campaign_type'
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'campaign_jobs' AND column_name = 'campaign_type';

-- check: campaign_jobs_job_payload
-- mismatch: 5
-- description: campaign_jobs.payload is named job_payload (jsonb)
SELECT 'campaign_jobs.job_payload: ' || coalesce(c.data_type, 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'campaign_jobs' AND c.column_name = 'job_payload'
WHERE c.data_type IS DISTINCT FROM 'jsonb'
UNION ALL
SELECT 'campaign_jobs still has the old column payload'
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'campaign_jobs' AND column_name = 'payload';

-- check: campaign_jobs_processing_server_id
-- mismatch: 6
-- description: campaign_jobs.worker_id is named processing_server_id (text)
SELECT 'campaign_jobs.processing_server_id: ' || coalesce(c.data_type, 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'campaign_jobs' AND c.column_name = 'processing_server_id'
WHERE c.data_type IS DISTINCT FROM 'text'
UNION ALL
SELECT 'campaign_jobs still has the old column worker_id'
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'campaign_jobs' AND column_name = 'worker_id';

-- check: campaign_jobs_last_attempted_at
-- mismatch: 7
-- description: campaign_jobs.last_attempted_at exists (timestamptz)
SELECT 'campaign_jobs.last_attempted_at: ' || coalesce(c.data_type, 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'campaign_jobs' AND c.column_name = 'last_attempted_at'
WHERE c.data_type IS DISTINCT FROM 'timestamp with time zone';

-- check: campaign_jobs_scheduling_columns
-- mismatch: 8
-- description: campaign_jobs has next_execution_at, locked_at (timestamptz) and locked_by (text)
SELECT 'campaign_jobs.' || e.col || ': ' || coalesce(c.data_type, 'missing') AS problem
FROM (VALUES ('next_execution_at', 'timestamp with time zone'), ('locked_at', 'timestamp with time zone'),
             ('locked_by', 'text')) AS e(col, typ)
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'campaign_jobs' AND c.column_name = e.col
WHERE c.data_type IS DISTINCT FROM e.typ;

-- check: seed_campaign_jobs_structure
-- mismatch: 3,4,5,6,7,8
-- description: the seed's "check campaign_jobs table structure" query lists every column the job store uses, with its type
SELECT 'campaign_jobs.' || e.col || ' expected ' || e.typ || ', got ' || coalesce(c.data_type, 'nothing') AS problem
FROM (VALUES ('id', 'uuid'), ('campaign_id', 'uuid'), ('job_type', 'text'), ('status', 'text'),
             ('scheduled_at', 'timestamp with time zone'), ('attempts', 'integer'), ('max_attempts', 'integer'),
             ('last_error', 'text'), ('processing_server_id', 'text'), ('job_payload', 'jsonb'),
             ('created_at', 'timestamp with time zone'), ('updated_at', 'timestamp with time zone'),
             ('business_status', 'text'), ('last_attempted_at', 'timestamp with time zone'),
             ('next_execution_at', 'timestamp with time zone'), ('locked_at', 'timestamp with time zone'),
             ('locked_by', 'text')) AS e(col, typ)
LEFT JOIN (SELECT column_name, data_type FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = 'campaign_jobs'
           ORDER BY ordinal_position) c ON c.column_name = e.col
WHERE c.data_type IS DISTINCT FROM e.typ;

-- check: smoke_worker_job_poll
-- mismatch: 3,4,5,6,7,8,23
-- description: seed post-migration test 2: a worker polls the queue (status = 'queued', ordered by schedule, FOR UPDATE SKIP LOCKED) and claims the job, writing job_type/job_payload/processing_server_id/business_status
INSERT INTO campaigns (id, name, campaign_type, status, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-00000000c002', 'verify: job campaign', 'domain_generation', 'running', now(), now());
INSERT INTO campaign_jobs (id, campaign_id, job_type, status, scheduled_at, job_payload, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-00000000c002', 'domain_generation', 'queued',
        timestamptz '1970-01-01', '{"batch": 1}', now(), now());
WITH next_job AS (
    SELECT id FROM campaign_jobs
    WHERE status = 'queued' AND scheduled_at <= now()
    ORDER BY scheduled_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE campaign_jobs j
SET status = 'running', job_type = j.job_type, job_payload = j.job_payload || '{"claimed": true}',
    processing_server_id = 'verify-worker-1', business_status = 'processing', attempts = j.attempts + 1,
    last_attempted_at = now(), locked_at = now(), locked_by = 'verify-worker-1'
FROM next_job WHERE j.id = next_job.id;
SELECT 'the worker did not claim the queued job: ' || coalesce(j.status || ' / ' || coalesce(j.processing_server_id, 'no server'), 'job missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN campaign_jobs j ON j.id = '00000000-0000-4000-8000-0000000000a2'
WHERE j.status IS DISTINCT FROM 'running' OR j.processing_server_id IS DISTINCT FROM 'verify-worker-1'
   OR j.business_status IS DISTINCT FROM 'processing' OR NOT (j.job_payload ? 'claimed') OR j.locked_by IS NULL;

-- ---------------------------------------------------------------------------------------
-- 9, 10: business_status of the result tables

-- check: dns_business_status
-- mismatch: 9
-- description: dns_validation_results.business_status exists (text) and agrees with validation_status for existing rows: a resolved result is valid_dns or has moved on to a later stage of the pipeline (lead_valid, http_valid_no_keywords, invalid_http_code, ...: the values DomainFlow's own CHECK on this column lists), never NULL or a failed-DNS value; only resolved results are valid_dns
SELECT 'dns_validation_results.business_status: ' || coalesce(c.data_type, 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'dns_validation_results' AND c.column_name = 'business_status'
WHERE c.data_type IS DISTINCT FROM 'text'
UNION ALL
SELECT count(*) || ' resolved DNS results with business_status ' || coalesce(quote_literal(business_status), 'NULL')
FROM dns_validation_results
WHERE validation_status = 'resolved'
  AND (business_status IS NULL OR business_status IN ('invalid_dns', 'pending_dns', 'error_dns'))
GROUP BY business_status
UNION ALL
SELECT count(*) || ' ' || validation_status || ' DNS results marked valid_dns'
FROM dns_validation_results
WHERE validation_status <> 'resolved' AND business_status = 'valid_dns'
GROUP BY validation_status;

-- check: smoke_dns_validation_query
-- mismatch: 9
-- description: seed post-migration test 3: the DNS validation query on business_status = 'valid_dns' runs and finds a valid domain
INSERT INTO campaigns (id, name, campaign_type, status, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-00000000c003', 'verify: dns campaign', 'dns_validation', 'running', now(), now());
INSERT INTO dns_validation_results (id, dns_campaign_id, domain_name, validation_status, business_status, created_at)
VALUES ('00000000-0000-4000-8000-0000000000d3', '00000000-0000-4000-8000-00000000c003', 'verify-example.com',
        'resolved', 'valid_dns', now());
SELECT 'the valid_dns query did not return the resolved domain' AS problem
WHERE NOT EXISTS (
    SELECT id, domain_name, business_status
    FROM dns_validation_results
    WHERE dns_campaign_id = '00000000-0000-4000-8000-00000000c003' AND business_status = 'valid_dns'
    ORDER BY domain_name
    LIMIT 100);

-- check: http_business_status
-- mismatch: 10
-- description: http_keyword_results.business_status exists (text)
SELECT 'http_keyword_results.business_status: ' || coalesce(c.data_type, 'missing') AS problem
FROM (SELECT 1) AS one
LEFT JOIN information_schema.columns c
       ON c.table_schema = current_schema() AND c.table_name = 'http_keyword_results' AND c.column_name = 'business_status'
WHERE c.data_type IS DISTINCT FROM 'text';

-- ---------------------------------------------------------------------------------------
-- 11-19: tables the code expects

-- check: keyword_rules_table
-- mismatch: 11
-- description: keyword_rules holds the rules of a keyword set (pattern, rule_type string/regex, case sensitivity, category, context chars) with a foreign key to keyword_sets
CREATE FUNCTION pg_temp.sf_refuses(t text, col text, val text) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    e text;
    ok boolean;
BEGIN
    FOR e IN SELECT pg_get_expr(c.conbin, c.conrelid) FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.conrelid = to_regclass(t) AND c.contype = 'c' AND c.convalidated
               AND cardinality(c.conkey) = 1 AND a.attname = col
    LOOP
        EXECUTE format('SELECT (%s) IS NOT FALSE FROM (SELECT $1::%s AS %I) AS candidate', e,
                       (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                        WHERE attrelid = to_regclass(t) AND attname = col), col) INTO ok USING val;
        IF NOT ok THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$fn$;
SELECT 'keyword_rules.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('id', 'uuid', true),
             ('keyword_set_id', 'uuid', true),
             ('pattern', 'text', true),
             ('rule_type', 'text', true),
             ('is_case_sensitive', 'boolean', true),
             ('category', 'text', false),
             ('context_chars', 'integer', true),
             ('created_at', 'timestamp with time zone', true),
             ('updated_at', 'timestamp with time zone', true)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('keyword_rules') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull)
UNION ALL
SELECT 'keyword_rules.rule_type accepts glob (no validated CHECK refuses it)'
WHERE to_regclass('keyword_rules') IS NOT NULL AND NOT pg_temp.sf_refuses('keyword_rules', 'rule_type', 'glob')
UNION ALL
SELECT 'keyword_rules.context_chars accepts -1 (no validated CHECK refuses it)'
WHERE to_regclass('keyword_rules') IS NOT NULL AND NOT pg_temp.sf_refuses('keyword_rules', 'context_chars', '-1')
UNION ALL
SELECT 'keyword_rules has no foreign key to keyword_sets'
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = to_regclass('keyword_rules')
                  AND confrelid = to_regclass('keyword_sets'));

-- check: proxy_pool_memberships_table
-- mismatch: 12
-- description: proxy_pool_memberships joins proxy_pools and proxies with weight, is_active, added_at
CREATE FUNCTION pg_temp.sf_refuses(t text, col text, val text) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    e text;
    ok boolean;
BEGIN
    FOR e IN SELECT pg_get_expr(c.conbin, c.conrelid) FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.conrelid = to_regclass(t) AND c.contype = 'c' AND c.convalidated
               AND cardinality(c.conkey) = 1 AND a.attname = col
    LOOP
        EXECUTE format('SELECT (%s) IS NOT FALSE FROM (SELECT $1::%s AS %I) AS candidate', e,
                       (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                        WHERE attrelid = to_regclass(t) AND attname = col), col) INTO ok USING val;
        IF NOT ok THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$fn$;
SELECT 'proxy_pool_memberships.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('pool_id', 'uuid', true),
             ('proxy_id', 'uuid', true),
             ('weight', 'integer', true),
             ('is_active', 'boolean', true),
             ('added_at', 'timestamp with time zone', true)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('proxy_pool_memberships') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull)
UNION ALL
SELECT 'proxy_pool_memberships.weight accepts 0 (no validated CHECK refuses it)'
WHERE to_regclass('proxy_pool_memberships') IS NOT NULL AND NOT pg_temp.sf_refuses('proxy_pool_memberships', 'weight', '0')
UNION ALL
SELECT 'proxy_pool_memberships has no foreign key to ' || r.ref
FROM (VALUES ('proxy_pools'), ('proxies')) AS r(ref)
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = to_regclass('proxy_pool_memberships')
                  AND confrelid = to_regclass(r.ref));

-- check: security_events_columns
-- mismatch: 13
-- description: security_events has the audit columns (session, campaign, resource, action, authorization result, denial reason, risk score, source IP inet, user agent, request context jsonb, audit log id)
SELECT 'security_events.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('session_id', 'text', false),
             ('campaign_id', 'uuid', false),
             ('resource_type', 'text', false),
             ('resource_id', 'text', false),
             ('action_attempted', 'text', false),
             ('authorization_result', 'text', false),
             ('denial_reason', 'text', false),
             ('risk_score', 'integer', false),
             ('source_ip', 'inet', false),
             ('user_agent', 'text', false),
             ('request_context', 'jsonb', false),
             ('audit_log_id', 'uuid', false)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('security_events') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull);

-- check: authorization_decisions_table
-- mismatch: 14
-- description: authorization_decisions holds one row per decision, linked to a security event
CREATE FUNCTION pg_temp.sf_refuses(t text, col text, val text) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    e text;
    ok boolean;
BEGIN
    FOR e IN SELECT pg_get_expr(c.conbin, c.conrelid) FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.conrelid = to_regclass(t) AND c.contype = 'c' AND c.convalidated
               AND cardinality(c.conkey) = 1 AND a.attname = col
    LOOP
        EXECUTE format('SELECT (%s) IS NOT FALSE FROM (SELECT $1::%s AS %I) AS candidate', e,
                       (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                        WHERE attrelid = to_regclass(t) AND attname = col), col) INTO ok USING val;
        IF NOT ok THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$fn$;
SELECT 'authorization_decisions.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('id', 'uuid', true),
             ('decision_id', 'text', true),
             ('user_id', 'uuid', false),
             ('resource_type', 'text', true),
             ('resource_id', 'text', false),
             ('action', 'text', true),
             ('decision', 'text', true),
             ('policy_version', 'text', false),
             ('evaluated_policies', 'text[]', false),
             ('conditions_met', 'jsonb', false),
             ('decision_time_ms', 'integer', false),
             ('context', 'jsonb', false),
             ('security_event_id', 'uuid', false),
             ('created_at', 'timestamp with time zone', true)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('authorization_decisions') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull)
UNION ALL
SELECT 'authorization_decisions.decision accepts maybe (no validated CHECK refuses it)'
WHERE to_regclass('authorization_decisions') IS NOT NULL AND NOT pg_temp.sf_refuses('authorization_decisions', 'decision', 'maybe')
UNION ALL
SELECT 'authorization_decisions.decision_time_ms accepts -1 (no validated CHECK refuses it)'
WHERE to_regclass('authorization_decisions') IS NOT NULL AND NOT pg_temp.sf_refuses('authorization_decisions', 'decision_time_ms', '-1')
UNION ALL
SELECT 'authorization_decisions has no foreign key to security_events'
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = to_regclass('authorization_decisions')
                  AND confrelid = to_regclass('security_events'));

-- check: service_architecture_metrics_table
-- mismatch: 15
-- description: service_architecture_metrics exists with its monitoring columns
SELECT 'service_architecture_metrics.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('id', 'uuid', true),
             ('service_name', 'text', true),
             ('architecture_pattern', 'text', true),
             ('interface_type', 'text', true),
             ('dependency_count', 'integer', true),
             ('coupling_score', 'numeric(5,2)', true),
             ('deployment_complexity_score', 'integer', true),
             ('last_refactor_date', 'timestamp with time zone', false),
             ('performance_impact', 'numeric(10,2)', true),
             ('error_rate', 'numeric(5,2)', true),
             ('created_at', 'timestamp with time zone', true),
             ('updated_at', 'timestamp with time zone', true)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('service_architecture_metrics') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull);

-- check: service_dependencies_table
-- mismatch: 16
-- description: service_dependencies exists with its monitoring columns
CREATE FUNCTION pg_temp.sf_refuses(t text, col text, val text) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    e text;
    ok boolean;
BEGIN
    FOR e IN SELECT pg_get_expr(c.conbin, c.conrelid) FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.conrelid = to_regclass(t) AND c.contype = 'c' AND c.convalidated
               AND cardinality(c.conkey) = 1 AND a.attname = col
    LOOP
        EXECUTE format('SELECT (%s) IS NOT FALSE FROM (SELECT $1::%s AS %I) AS candidate', e,
                       (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                        WHERE attrelid = to_regclass(t) AND attname = col), col) INTO ok USING val;
        IF NOT ok THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$fn$;
SELECT 'service_dependencies.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('id', 'uuid', true),
             ('source_service', 'text', true),
             ('target_service', 'text', true),
             ('dependency_type', 'text', true),
             ('interface_contract', 'text', false),
             ('reliability_score', 'numeric(5,2)', true),
             ('latency_p95', 'numeric(10,2)', true),
             ('failure_count', 'bigint', true),
             ('last_success', 'timestamp with time zone', false),
             ('created_at', 'timestamp with time zone', true),
             ('updated_at', 'timestamp with time zone', true)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('service_dependencies') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull)
UNION ALL
SELECT 'service_dependencies.dependency_type accepts other (no validated CHECK refuses it)'
WHERE to_regclass('service_dependencies') IS NOT NULL AND NOT pg_temp.sf_refuses('service_dependencies', 'dependency_type', 'other');

-- check: architecture_refactor_log_table
-- mismatch: 17
-- description: architecture_refactor_log exists with its columns
SELECT 'architecture_refactor_log.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('id', 'uuid', true),
             ('service_name', 'text', true),
             ('refactor_type', 'text', true),
             ('before_pattern', 'text', false),
             ('after_pattern', 'text', false),
             ('complexity_reduction', 'integer', true),
             ('performance_impact', 'numeric(10,2)', true),
             ('rollback_plan', 'text', false),
             ('implemented_by', 'text', false),
             ('implemented_at', 'timestamp with time zone', true),
             ('created_at', 'timestamp with time zone', true)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('architecture_refactor_log') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull);

-- check: communication_patterns_table
-- mismatch: 18
-- description: communication_patterns exists with its columns
CREATE FUNCTION pg_temp.sf_refuses(t text, col text, val text) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    e text;
    ok boolean;
BEGIN
    FOR e IN SELECT pg_get_expr(c.conbin, c.conrelid) FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.conrelid = to_regclass(t) AND c.contype = 'c' AND c.convalidated
               AND cardinality(c.conkey) = 1 AND a.attname = col
    LOOP
        EXECUTE format('SELECT (%s) IS NOT FALSE FROM (SELECT $1::%s AS %I) AS candidate', e,
                       (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                        WHERE attrelid = to_regclass(t) AND attname = col), col) INTO ok USING val;
        IF NOT ok THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$fn$;
SELECT 'communication_patterns.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('id', 'uuid', true),
             ('source_service', 'text', true),
             ('target_service', 'text', true),
             ('communication_type', 'text', true),
             ('protocol', 'text', true),
             ('message_format', 'text', true),
             ('avg_latency_ms', 'numeric(10,2)', true),
             ('success_rate', 'numeric(5,2)', true),
             ('throughput_rps', 'numeric(10,2)', true),
             ('error_count', 'bigint', true),
             ('retry_count', 'bigint', true),
             ('created_at', 'timestamp with time zone', true),
             ('updated_at', 'timestamp with time zone', true)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('communication_patterns') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull)
UNION ALL
SELECT 'communication_patterns.communication_type accepts rpc (no validated CHECK refuses it)'
WHERE to_regclass('communication_patterns') IS NOT NULL AND NOT pg_temp.sf_refuses('communication_patterns', 'communication_type', 'rpc');

-- check: service_capacity_metrics_table
-- mismatch: 19
-- description: service_capacity_metrics exists with its columns
SELECT 'service_capacity_metrics.' || e.col || ': expected ' || e.typ || CASE WHEN e.not_null THEN ' NOT NULL' ELSE '' END
       || ', got ' || coalesce(format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                            'missing') AS problem
FROM (VALUES ('id', 'uuid', true),
             ('service_name', 'text', true),
             ('cpu_utilization', 'numeric(5,2)', true),
             ('memory_utilization', 'numeric(5,2)', true),
             ('instance_count', 'integer', true),
             ('max_instances', 'integer', true),
             ('min_instances', 'integer', true),
             ('scaling_events', 'bigint', true),
             ('recorded_at', 'timestamp with time zone', true)) AS e(col, typ, not_null)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('service_capacity_metrics') AND a.attname = e.col AND NOT a.attisdropped
WHERE a.attname IS NULL OR format_type(a.atttypid, a.atttypmod) <> e.typ OR (e.not_null AND NOT a.attnotnull);

-- check: seed_architecture_tables
-- mismatch: 15,16,19,18
-- description: the seed's "verify new architecture tables exist" query (service_% or communication_%) finds the four tables
SELECT 'seed query does not list ' || e.t AS problem
FROM (VALUES ('service_architecture_metrics'), ('service_dependencies'), ('service_capacity_metrics'),
             ('communication_patterns')) AS e(t)
WHERE e.t NOT IN (SELECT table_name FROM information_schema.tables
                  WHERE table_schema = current_schema()
                    AND (table_name LIKE 'service_%' OR table_name LIKE 'communication_%'));

-- ---------------------------------------------------------------------------------------
-- 20: indexes on the hot paths

-- check: index_job_queue
-- mismatch: 20
-- description: campaign_jobs has a valid btree index led by status (the queue poll WHERE status = 'queued' ... ORDER BY scheduled_at)
SELECT 'no valid index on campaign_jobs (status, ...)' AS problem
WHERE NOT EXISTS (
    SELECT 1 FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = to_regclass('campaign_jobs') AND i.indisvalid AND i.indisready AND a.attname = 'status');

-- check: index_results_by_campaign
-- mismatch: 20,21
-- description: results and jobs have a valid index led by their campaign column (lookups by campaign, ON DELETE CASCADE)
SELECT e.tbl || ': no valid index led by ' || e.col AS problem
FROM (VALUES ('dns_validation_results', 'dns_campaign_id'), ('http_keyword_results', 'http_keyword_campaign_id'),
             ('campaign_jobs', 'campaign_id'), ('generated_domains', 'domain_generation_campaign_id')) AS e(tbl, col)
WHERE NOT EXISTS (
    SELECT 1 FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = to_regclass(e.tbl) AND i.indisvalid AND a.attname = e.col);

-- check: index_results_by_status
-- mismatch: 20
-- description: DNS results are indexed by validation_status and by (campaign, business_status); HTTP results by (campaign, business_status); generated domains by name
SELECT e.tbl || ': no valid index on ' || e.cols AS problem
FROM (VALUES ('dns_validation_results', 'validation_status'), ('dns_validation_results', 'dns_campaign_id,business_status'),
             ('http_keyword_results', 'http_keyword_campaign_id,business_status'),
             ('generated_domains', 'domain_name')) AS e(tbl, cols)
WHERE NOT EXISTS (
    SELECT 1 FROM pg_index i
    WHERE i.indrelid = to_regclass(e.tbl) AND i.indisvalid
      AND (SELECT string_agg(a.attname, ',' ORDER BY k.n)
           FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) LIKE e.cols || '%');

-- check: no_invalid_indexes
-- mismatch: 20
-- description: no invalid index (a failed concurrent build) is left on the DomainFlow tables
SELECT 'invalid index ' || i.indexrelid::regclass AS problem
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid;

-- check: seed_indexes
-- mismatch: 20
-- description: the seed's "check indexes were created" query lists idx_% indexes on campaign_jobs and dns_validation_results
SELECT 'seed query lists no idx_% index on ' || e.t AS problem
FROM (VALUES ('campaign_jobs'), ('dns_validation_results')) AS e(t)
WHERE NOT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND tablename = e.t
                  AND indexname LIKE 'idx_%');

-- check: job_queue_plan_uses_index
-- mismatch: 20
-- description: seed performance verification (EXPLAIN of the job queue): the worker's poll (status = 'queued' ORDER BY scheduled_at LIMIT, FOR UPDATE SKIP LOCKED) is planned as an index scan on campaign_jobs with the planner's NORMAL settings and current statistics when the table has 1000 rows or more; below that a sequential scan is the right plan, and the check only proves the index is usable for the query (plan with enable_seqscan off). The problem text says which mode applied.
CREATE FUNCTION pg_temp.sf_plan(q text, seqscan_off boolean) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    p json;
BEGIN
    IF seqscan_off THEN
        SET LOCAL enable_seqscan = off;
    END IF;
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
    RETURN p::jsonb;
END
$fn$;
SELECT 'queue poll (' || CASE WHEN small THEN 'small table, enable_seqscan off' ELSE 'normal planner settings' END
       || ') is planned as: ' || (SELECT string_agg(DISTINCT n #>> '{}', ', ')
                                  FROM jsonb_path_query(plan, 'strict $.**."Node Type"') AS n) AS problem
FROM (SELECT small,
             pg_temp.sf_plan($q$SELECT id FROM campaign_jobs WHERE status = 'queued' AND scheduled_at <= now()
                                ORDER BY scheduled_at LIMIT 10 FOR UPDATE SKIP LOCKED$q$, small) AS plan
      FROM (SELECT coalesce((SELECT reltuples FROM pg_class WHERE oid = to_regclass('campaign_jobs')), 0) < 1000 AS small) s) p
WHERE NOT jsonb_path_exists(plan, 'strict $.** ? (@."Relation Name" == "campaign_jobs" && @."Node Type" starts with "Index")')
  -- a small table proves usability only: a bitmap scan of an index counts there too
  AND NOT (small AND jsonb_path_exists(plan, 'strict $.** ? (@."Relation Name" == "campaign_jobs" && @."Node Type" == "Bitmap Heap Scan")'));

-- ---------------------------------------------------------------------------------------
-- 21: foreign keys and orphans

-- check: fk_results_and_jobs_to_campaigns
-- mismatch: 21
-- description: dns_validation_results, http_keyword_results and campaign_jobs reference campaigns with validated foreign keys ON DELETE CASCADE
SELECT e.tbl || '.' || e.col || ': ' || CASE WHEN f.conname IS NULL THEN 'no foreign key to campaigns'
                                            WHEN NOT f.convalidated THEN f.conname || ' is NOT VALID'
                                            ELSE f.conname || ' is not ON DELETE CASCADE' END AS problem
FROM (VALUES ('dns_validation_results', 'dns_campaign_id'), ('http_keyword_results', 'http_keyword_campaign_id'),
             ('campaign_jobs', 'campaign_id')) AS e(tbl, col)
LEFT JOIN LATERAL (
    SELECT c.conname, c.convalidated, c.confdeltype
    FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    WHERE c.contype = 'f' AND c.conrelid = to_regclass(e.tbl) AND c.confrelid = to_regclass('campaigns')
      AND a.attname = e.col AND cardinality(c.conkey) = 1
    ORDER BY c.convalidated DESC, (c.confdeltype = 'c') DESC LIMIT 1) f ON true
WHERE f.conname IS NULL OR NOT f.convalidated OR f.confdeltype <> 'c';

-- check: no_orphans
-- mismatch: 21
-- description: no result or job points at a campaign that does not exist
SELECT count(*) || ' orphaned dns_validation_results' AS problem FROM dns_validation_results t
WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.dns_campaign_id) HAVING count(*) > 0
UNION ALL
SELECT count(*) || ' orphaned http_keyword_results' FROM http_keyword_results t
WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.http_keyword_campaign_id) HAVING count(*) > 0
UNION ALL
SELECT count(*) || ' orphaned campaign_jobs' FROM campaign_jobs t
WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.campaign_id) HAVING count(*) > 0;

-- check: seed_fk_constraints
-- mismatch: 21
-- description: the seed's "verify foreign key constraints" query lists a foreign key on each campaign table that needs one
SELECT 'seed query lists no foreign key on ' || e.t AS problem
FROM (VALUES ('campaign_jobs'), ('dns_validation_results'), ('http_keyword_results')) AS e(t)
WHERE NOT EXISTS (SELECT 1 FROM information_schema.table_constraints
                  WHERE constraint_type = 'FOREIGN KEY' AND table_schema = current_schema() AND table_name = e.t);

-- ---------------------------------------------------------------------------------------
-- 22: updated_at kept current

-- check: updated_at_triggers
-- mismatch: 22
-- description: every table with an updated_at column has an enabled BEFORE UPDATE ... FOR EACH ROW trigger whose function sets NEW.updated_at (whatever its name)
SELECT c.relname || ' has updated_at but no BEFORE UPDATE row trigger that sets it' AS problem
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'updated_at' AND NOT a.attisdropped
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname <> 'schema_migrations'
  AND NOT EXISTS (SELECT 1 FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
                  WHERE g.tgrelid = c.oid AND NOT g.tgisinternal AND g.tgenabled <> 'D'
                    AND (g.tgtype & 1) = 1 AND (g.tgtype & 2) = 2 AND (g.tgtype & 16) = 16
                    AND p.prosrc ~* 'new\s*\.\s*updated_at\s*:?=')
ORDER BY 1;

-- check: updated_at_trigger_advances
-- mismatch: 22,2
-- description: updating a campaign, its params and a job moves updated_at forward (rows inserted with an old updated_at, then updated)
INSERT INTO campaigns (id, name, campaign_type, status, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-00000000c004', 'verify: trigger campaign', 'domain_generation', 'pending',
        timestamptz '2000-01-01', timestamptz '2000-01-01');
INSERT INTO domain_generation_campaign_params (campaign_id, pattern_type, variable_length, character_set,
                                               constant_string, tld, num_domains_to_generate,
                                               total_possible_combinations, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-00000000c004', 'suffix', 2, 'ab', 'x', '.com', 4, 4,
        timestamptz '2000-01-01', timestamptz '2000-01-01');
INSERT INTO campaign_jobs (id, campaign_id, job_type, status, scheduled_at, created_at, updated_at)
VALUES ('00000000-0000-4000-8000-0000000000a4', '00000000-0000-4000-8000-00000000c004', 'domain_generation', 'queued',
        now(), timestamptz '2000-01-01', timestamptz '2000-01-01');
UPDATE campaigns SET name = 'verify: trigger campaign (renamed)' WHERE id = '00000000-0000-4000-8000-00000000c004';
UPDATE domain_generation_campaign_params SET current_offset = 1 WHERE campaign_id = '00000000-0000-4000-8000-00000000c004';
UPDATE campaign_jobs SET attempts = 1 WHERE id = '00000000-0000-4000-8000-0000000000a4';
SELECT t || ': updated_at did not advance on UPDATE' AS problem
FROM (SELECT 'campaigns' AS t, updated_at FROM campaigns WHERE id = '00000000-0000-4000-8000-00000000c004'
      UNION ALL
      SELECT 'domain_generation_campaign_params', updated_at FROM domain_generation_campaign_params
      WHERE campaign_id = '00000000-0000-4000-8000-00000000c004'
      UNION ALL
      SELECT 'campaign_jobs', updated_at FROM campaign_jobs WHERE id = '00000000-0000-4000-8000-0000000000a4') s
WHERE updated_at <= timestamptz '2000-01-01';

-- ---------------------------------------------------------------------------------------
-- 23: status values

-- check: campaign_status_values
-- mismatch: 23
-- description: every campaigns.status is one of pending, queued, running, pausing, paused, completed, failed, cancelled, archived
SELECT count(*) || ' campaigns with status ' || coalesce(quote_literal(status), 'NULL') AS problem
FROM campaigns
WHERE status IS NULL OR status NOT IN ('pending', 'queued', 'running', 'pausing', 'paused', 'completed', 'failed',
                                       'cancelled', 'archived')
GROUP BY status;

-- check: job_status_values
-- mismatch: 23
-- description: every campaign_jobs.status is one of pending, queued, running, completed, failed, cancelled
SELECT count(*) || ' jobs with status ' || coalesce(quote_literal(status), 'NULL') AS problem
FROM campaign_jobs
WHERE status IS NULL OR status NOT IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled')
GROUP BY status;

-- check: status_constraints_enforced
-- mismatch: 23
-- description: the database itself rejects a status outside the allowed sets (wrong case, unknown, NULL) for campaigns and jobs, through validated constraints
CREATE FUNCTION pg_temp.sf_rejects(stmt text) RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE stmt;
    RETURN false;
EXCEPTION WHEN check_violation OR not_null_violation THEN
    RETURN true;
END
$fn$;
INSERT INTO campaigns (id, name, campaign_type, status) VALUES
    ('00000000-0000-4000-8000-00000000c005', 'verify: status campaign', 'domain_generation', 'pending');
SELECT 'accepted: ' || s.stmt AS problem
FROM (VALUES
    ($s$INSERT INTO campaigns (name, campaign_type, status) VALUES ('verify', 'domain_generation', 'Running')$s$),
    ($s$INSERT INTO campaigns (name, campaign_type, status) VALUES ('verify', 'domain_generation', NULL)$s$),
    ($s$INSERT INTO campaigns (name, campaign_type, status) VALUES ('verify', 'domain_generation', 'done')$s$),
    ($s$INSERT INTO campaign_jobs (campaign_id, job_type, status) VALUES ('00000000-0000-4000-8000-00000000c005', 'domain_generation', 'Queued')$s$),
    ($s$INSERT INTO campaign_jobs (campaign_id, job_type, status) VALUES ('00000000-0000-4000-8000-00000000c005', 'domain_generation', NULL)$s$),
    ($s$INSERT INTO campaign_jobs (campaign_id, job_type, status) VALUES ('00000000-0000-4000-8000-00000000c005', 'domain_generation', 'paused')$s$)
) AS s(stmt)
WHERE NOT pg_temp.sf_rejects(s.stmt)
UNION ALL
SELECT e.t || '.status: no validated CHECK constraint covers it'
FROM (VALUES ('campaigns'), ('campaign_jobs')) AS e(t)
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                  WHERE c.conrelid = to_regclass(e.t) AND c.contype = 'c' AND c.convalidated
                    AND a.attname = 'status');
