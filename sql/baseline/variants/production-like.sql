-- Variant "production-like": DomainFlow's production database at version 26, applied on top
-- of schema.sql + generate.sql. Production had partly fixed its drift by hand, in its own
-- way, so 000027 meets objects that exist in another shape or under another name:
--   * security_events already has the audit columns, the text ones as varchar(n);
--   * authorization_decisions exists, decision_id/resource_type/action/decision varchar(n);
--   * service_dependencies exists without updated_at, service_capacity_metrics without
--     max_instances/min_instances; the other three monitoring tables exist as declared;
--   * dns_validation_results.business_status exists with the application's CHECK (valid_dns
--     and the later pipeline stages only, NULL allowed: the constraint of DomainFlow's own
--     schema) and rows that have moved on to later stages;
--   * equivalent objects under other names: idx_dns_results_status, idx_generated_domains_name,
--     set_timestamp_<table> triggers, chk_campaigns_status_valid / chk_campaign_jobs_status_valid
--     (statuses cleaned and NOT NULL, foreign keys to campaigns validated, orphans gone);
--   * proxy_pool_memberships and keyword_rules exist with nullable columns and no weight CHECK;
--   * campaign_jobs renamed and extended; params have a nullable created_at and no updated_at.
SET client_min_messages = warning;

-- statuses cleaned, constrained under production's own names (23 fixed there)
UPDATE campaigns SET status = CASE
    WHEN lower(btrim(status)) IN ('pending', 'queued', 'running', 'pausing', 'paused', 'completed', 'failed',
                                  'cancelled', 'archived') THEN lower(btrim(status))
    WHEN lower(btrim(status)) = 'done' THEN 'completed'
    WHEN lower(btrim(status)) = 'canceled' THEN 'cancelled'
    ELSE 'pending' END;
ALTER TABLE campaigns ALTER COLUMN status SET DEFAULT 'pending', ALTER COLUMN status SET NOT NULL,
    ADD CONSTRAINT chk_campaigns_status_valid CHECK (status IN ('pending', 'queued', 'running', 'pausing', 'paused',
                                                                'completed', 'failed', 'cancelled', 'archived'));
UPDATE campaign_jobs SET status = CASE
    WHEN lower(btrim(status)) IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled') THEN lower(btrim(status))
    WHEN lower(btrim(status)) = 'done' THEN 'completed'
    WHEN lower(btrim(status)) = 'processing' THEN 'running'
    WHEN lower(btrim(status)) = 'canceled' THEN 'cancelled'
    ELSE 'pending' END;
ALTER TABLE campaign_jobs ALTER COLUMN status SET DEFAULT 'pending', ALTER COLUMN status SET NOT NULL,
    ADD CONSTRAINT chk_campaign_jobs_status_valid CHECK (status IN ('pending', 'queued', 'running', 'completed',
                                                                    'failed', 'cancelled'));

-- foreign keys to campaigns under production's names (21 fixed there)
DELETE FROM dns_validation_results t WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.dns_campaign_id);
DELETE FROM http_keyword_results t WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.http_keyword_campaign_id);
DELETE FROM campaign_jobs t WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.campaign_id);
ALTER TABLE dns_validation_results ADD CONSTRAINT dns_validation_results_dns_campaign_id_fkey
    FOREIGN KEY (dns_campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;
ALTER TABLE http_keyword_results ADD CONSTRAINT http_keyword_results_http_keyword_campaign_id_fkey
    FOREIGN KEY (http_keyword_campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;
ALTER TABLE campaign_jobs ADD CONSTRAINT campaign_jobs_campaign_id_fkey
    FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;
CREATE INDEX idx_dns_validation_results_dns_campaign_id ON dns_validation_results (dns_campaign_id);
CREATE INDEX idx_http_keyword_results_campaign_id ON http_keyword_results (http_keyword_campaign_id);
CREATE INDEX campaign_jobs_campaign_id_idx ON campaign_jobs (campaign_id);

-- params: created_at without NOT NULL (old rows NULL), no updated_at (1, 2 open)
ALTER TABLE domain_generation_campaign_params ADD COLUMN created_at timestamptz;
ALTER TABLE domain_generation_campaign_params ALTER COLUMN created_at SET DEFAULT now();
UPDATE domain_generation_campaign_params SET created_at = timestamptz '2025-07-01' WHERE current_offset % 2 = 0;

-- campaign_jobs as the job store expects it (3-8 fixed there)
ALTER TABLE campaign_jobs RENAME COLUMN campaign_type TO job_type;
ALTER TABLE campaign_jobs RENAME COLUMN payload TO job_payload;
ALTER TABLE campaign_jobs RENAME COLUMN worker_id TO processing_server_id;
ALTER TABLE campaign_jobs ADD COLUMN business_status text, ADD COLUMN last_attempted_at timestamptz,
    ADD COLUMN next_execution_at timestamptz, ADD COLUMN locked_at timestamptz, ADD COLUMN locked_by text;
ALTER TABLE http_keyword_results ADD COLUMN business_status text;
UPDATE http_keyword_results SET business_status = CASE validation_status WHEN 'success' THEN 'lead_valid'
    WHEN 'no_keywords' THEN 'http_valid_no_keywords' WHEN 'error' THEN 'invalid_http_code' END;

-- 9: the application's own CHECK, rows at later pipeline stages
ALTER TABLE dns_validation_results ADD COLUMN business_status text;
ALTER TABLE dns_validation_results ADD CONSTRAINT chk_dns_business_status_valid CHECK (
    business_status IS NULL OR business_status IN ('valid_dns', 'lead_valid', 'http_valid_no_keywords',
        'cancelled_during_processing', 'invalid_http_response_error', 'invalid_http_code',
        'processing_failed_before_http'));
UPDATE dns_validation_results SET business_status =
    (ARRAY['valid_dns', 'lead_valid', 'http_valid_no_keywords', 'invalid_http_code'])[1 + abs(hashtext(id::text)) % 4]
WHERE validation_status = 'resolved' AND abs(hashtext(id::text)) % 3 <> 0;

-- 13: the audit columns, text ones as varchar(n)
ALTER TABLE security_events
    ADD COLUMN session_id varchar(255), ADD COLUMN campaign_id uuid, ADD COLUMN resource_type varchar(100),
    ADD COLUMN resource_id varchar(255), ADD COLUMN action_attempted varchar(100),
    ADD COLUMN authorization_result varchar(50), ADD COLUMN denial_reason varchar(500), ADD COLUMN risk_score integer,
    ADD COLUMN source_ip inet, ADD COLUMN user_agent varchar(512), ADD COLUMN request_context jsonb,
    ADD COLUMN audit_log_id uuid;
UPDATE security_events SET session_id = 'sess-' || left(md5(id::text), 16), resource_type = 'campaign',
    action_attempted = 'read', authorization_result = CASE WHEN event_type = 'access_denied' THEN 'deny' ELSE 'allow' END,
    risk_score = abs(hashtext(id::text)) % 100, source_ip = '198.51.100.7', user_agent = 'Mozilla/5.0'
WHERE event_type IN ('access_denied', 'login_success');
CREATE INDEX idx_security_events_session_id ON security_events (session_id);

-- 14: authorization_decisions with varchar(n) columns
CREATE TABLE authorization_decisions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    decision_id        varchar(255) NOT NULL UNIQUE,
    user_id            uuid,
    resource_type      varchar(100) NOT NULL,
    resource_id        text,
    action             varchar(100) NOT NULL,
    decision           varchar(20) NOT NULL CHECK (decision IN ('allow', 'deny', 'conditional')),
    policy_version     text,
    evaluated_policies text[],
    conditions_met     jsonb,
    decision_time_ms   integer CHECK (decision_time_ms >= 0),
    context            jsonb,
    security_event_id  uuid REFERENCES security_events (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
INSERT INTO authorization_decisions (id, decision_id, user_id, resource_type, resource_id, action, decision,
                                     decision_time_ms, security_event_id, created_at)
SELECT md5('authz' || s.id)::uuid, 'dec-' || left(md5(s.id::text), 12), s.user_id, 'campaign', 'c-' || left(s.id::text, 8),
       'read', CASE WHEN s.event_type = 'access_denied' THEN 'deny' ELSE 'allow' END, 3, s.id, s.created_at
FROM security_events s WHERE s.event_type IN ('access_denied', 'login_success');

-- 11, 12: nullable columns, no weight CHECK
CREATE TABLE keyword_rules (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    keyword_set_id    uuid REFERENCES keyword_sets (id) ON DELETE CASCADE,
    pattern           text,
    rule_type         text DEFAULT 'string' CHECK (rule_type IN ('string', 'regex')),
    is_case_sensitive boolean DEFAULT false,
    category          text,
    context_chars     integer DEFAULT 0 CHECK (context_chars >= 0),
    created_at        timestamptz DEFAULT now(),
    updated_at        timestamptz DEFAULT now()
);
CREATE INDEX idx_keyword_rules_keyword_set_id ON keyword_rules (keyword_set_id);
INSERT INTO keyword_rules (id, keyword_set_id, pattern, rule_type, category, created_at, updated_at)
SELECT md5('rule' || k.id)::uuid, k.id, 'casino', 'string', 'gambling', timestamptz '2025-06-01', timestamptz '2025-06-01'
FROM keyword_sets k;
CREATE TABLE proxy_pool_memberships (
    pool_id   uuid REFERENCES proxy_pools (id) ON DELETE CASCADE,
    proxy_id  uuid REFERENCES proxies (id) ON DELETE CASCADE,
    weight    integer DEFAULT 1,
    is_active boolean DEFAULT true,
    added_at  timestamptz DEFAULT now(),
    PRIMARY KEY (pool_id, proxy_id)
);
INSERT INTO proxy_pool_memberships (pool_id, proxy_id, weight, added_at)
SELECT p.id, x.id, 1 + abs(hashtext(x.id::text)) % 5, timestamptz '2025-06-01'
FROM proxy_pools p CROSS JOIN proxies x;

-- 15, 17, 18 exist as declared; 16 without updated_at; 19 without max/min_instances
CREATE TABLE service_architecture_metrics (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_name                text NOT NULL,
    architecture_pattern        text NOT NULL,
    interface_type              text NOT NULL,
    dependency_count            integer NOT NULL DEFAULT 0,
    coupling_score              numeric(5, 2) NOT NULL DEFAULT 0,
    deployment_complexity_score integer NOT NULL DEFAULT 0,
    last_refactor_date          timestamptz,
    performance_impact          numeric(10, 2) NOT NULL DEFAULT 0,
    error_rate                  numeric(5, 2) NOT NULL DEFAULT 0,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE service_dependencies (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source_service     text NOT NULL,
    target_service     text NOT NULL,
    dependency_type    text NOT NULL CHECK (dependency_type IN ('direct', 'event_driven', 'shared_resource')),
    interface_contract text,
    reliability_score  numeric(5, 2) NOT NULL DEFAULT 100,
    latency_p95        numeric(10, 2) NOT NULL DEFAULT 0,
    failure_count      bigint NOT NULL DEFAULT 0,
    last_success       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_service, target_service, dependency_type)
);
INSERT INTO service_dependencies (id, source_service, target_service, dependency_type, created_at)
VALUES (md5('dep1')::uuid, 'api', 'worker', 'direct', timestamptz '2025-06-01'),
       (md5('dep2')::uuid, 'worker', 'dns', 'event_driven', timestamptz '2025-06-01');
CREATE TABLE architecture_refactor_log (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_name         text NOT NULL,
    refactor_type        text NOT NULL,
    before_pattern       text,
    after_pattern        text,
    complexity_reduction integer NOT NULL DEFAULT 0,
    performance_impact   numeric(10, 2) NOT NULL DEFAULT 0,
    rollback_plan        text,
    implemented_by       text,
    implemented_at       timestamptz NOT NULL DEFAULT now(),
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE communication_patterns (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source_service     text NOT NULL,
    target_service     text NOT NULL,
    communication_type text NOT NULL CHECK (communication_type IN ('sync', 'async', 'event', 'stream')),
    protocol           text NOT NULL,
    message_format     text NOT NULL DEFAULT 'json',
    avg_latency_ms     numeric(10, 2) NOT NULL DEFAULT 0,
    success_rate       numeric(5, 2) NOT NULL DEFAULT 100,
    throughput_rps     numeric(10, 2) NOT NULL DEFAULT 0,
    error_count        bigint NOT NULL DEFAULT 0,
    retry_count        bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE service_capacity_metrics (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_name       text NOT NULL,
    cpu_utilization    numeric(5, 2) NOT NULL DEFAULT 0,
    memory_utilization numeric(5, 2) NOT NULL DEFAULT 0,
    instance_count     integer NOT NULL DEFAULT 1,
    scaling_events     bigint NOT NULL DEFAULT 0,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO service_capacity_metrics (id, service_name, cpu_utilization, instance_count, recorded_at)
SELECT md5('cap' || i)::uuid, 'svc-' || (i % 3), 10 + i % 80, 1 + i % 4, timestamptz '2025-06-01' + i * interval '1 hour'
FROM generate_series(1, 24) i;

-- 20: equivalents under other names
CREATE INDEX idx_dns_results_status ON dns_validation_results (validation_status);
CREATE INDEX idx_generated_domains_name ON generated_domains (domain_name);

-- 22: production's updated_at triggers on four tables
CREATE FUNCTION trigger_set_timestamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END
$$;
CREATE TRIGGER set_timestamp_campaigns BEFORE UPDATE ON campaigns FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();
CREATE TRIGGER set_timestamp_campaign_jobs BEFORE UPDATE ON campaign_jobs FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();
CREATE TRIGGER set_timestamp_keyword_sets BEFORE UPDATE ON keyword_sets FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();
CREATE TRIGGER set_timestamp_personas BEFORE UPDATE ON personas FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();

ANALYZE;
