-- schemaflow:rerunnable
-- 000027 comprehensive schema alignment (DomainFlow): fixes the 23 mismatches of
-- sql/SCHEMA_AUDIT_REPORT.md on any database between version 26 and a fully aligned one.
--
-- How it stays safe (see the report for the full story):
--   * every object it creates is first recorded in schemaflow_archive.m000027_changes with
--     created_by_up = (it did not exist before); the record is written BEFORE the object is
--     created and ON CONFLICT DO NOTHING, so a re-run after a crash never mistakes an object
--     it created itself for a pre-existing one. The down migration reverts only what is
--     recorded as created_by_up.
--   * rows deleted (orphans) and values rewritten (statuses) are copied to
--     schemaflow_archive first, in the same statement; values are only written where the
--     existing constraints of the column accept them (checked against the catalog).
--   * online: columns are added without defaults that rewrite, backfills and clean-ups run
--     in committed block-range batches, indexes are built CONCURRENTLY, foreign keys and CHECKs
--     are added NOT VALID and validated in separate autocommit statements, NOT NULL is set
--     through a validated CHECK (no scan under ACCESS EXCLUSIVE), every transactional step
--     starts with a short lock_timeout (the runner retries on lock timeouts).
--   * idempotent (schemaflow:rerunnable): every statement converges when the file is re-run
--     from the start after a crash at any point.
-- Batch steps read current_setting('schemaflow.batch_size', true): unset (e.g. under
-- golang-migrate) means LIMIT NULL, i.e. the whole table in one statement.

-- schemaflow:step transaction
-- 1. bookkeeping: the archive schema, the change log and catalog helpers
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
CREATE SCHEMA IF NOT EXISTS schemaflow_archive;
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_changes (
    kind          text NOT NULL,          -- column, table, index, constraint, not_null, rename, trigger, function, column_default
    name          text NOT NULL,          -- table.object
    created_by_up boolean NOT NULL,       -- false: it existed before up, down leaves it alone
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name)
);
-- rows deleted by up (orphans), restored by down
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_rows (
    tbl         text NOT NULL,
    pk          uuid NOT NULL,
    reason      text NOT NULL,
    row_data    jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, pk)
);
-- status values rewritten by up, restored by down
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_status (
    tbl         text NOT NULL,
    pk          uuid NOT NULL,
    old_status  text,
    new_status  text NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, pk)
);
-- NULLs that up filled in columns that existed before it ran, reset by down
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_backfill (
    tbl text NOT NULL,
    col text NOT NULL,
    pk  uuid NOT NULL,
    PRIMARY KEY (tbl, col, pk)
);
-- written by down: values of the columns up created (key: row pk) ...
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_new_data (
    tbl         text NOT NULL,
    pk          uuid NOT NULL,
    vals        jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tbl, pk)
);
-- ... and the rows of the tables up created; up restores both
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_new_rows (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tbl         text NOT NULL,
    row_data    jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);
-- value rewrites allowed on this database (filled below from the catalog)
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_value_map (
    tbl       text NOT NULL,
    col       text NOT NULL,
    old_value text,
    new_value text NOT NULL
);
-- position (heap block) of each block-range batch step; a finished pass is reset by the next run
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_progress (
    task     text PRIMARY KEY,
    last_block bigint NOT NULL,   -- next heap block to visit
    done     boolean NOT NULL DEFAULT false
);
DELETE FROM schemaflow_archive.m000027_progress WHERE done;

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_record(p_kind text, p_name text, p_exists boolean)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO schemaflow_archive.m000027_changes (kind, name, created_by_up)
    VALUES (p_kind, p_name, NOT p_exists)
    ON CONFLICT (kind, name) DO NOTHING
$$;

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_created(p_kind text, p_name text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT created_by_up FROM schemaflow_archive.m000027_changes
                     WHERE kind = p_kind AND name = p_name), false)
$$;

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_has_column(p_table text, p_column text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = to_regclass('public.' || quote_ident(p_table))
                     AND attname = p_column AND attnum > 0 AND NOT attisdropped)
$$;

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_record_column(p_table text, p_column text)
RETURNS void LANGUAGE sql AS $$
    SELECT schemaflow_archive.m000027_record('column', p_table || '.' || p_column,
                                             schemaflow_archive.m000027_has_column(p_table, p_column))
$$;

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_record_table(p_table text)
RETURNS void LANGUAGE sql AS $$
    SELECT schemaflow_archive.m000027_record('table', p_table,
                                             to_regclass('public.' || quote_ident(p_table)) IS NOT NULL)
$$;

-- Would value p_value be accepted in p_table.p_column by the constraints that exist now?
-- (NOT NULL and every CHECK constraint, validated or not, that involves only this column.)
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_value_allowed(p_table text, p_column text, p_value text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    rel regclass := to_regclass('public.' || quote_ident(p_table));
    att record;
    con record;
    ok  boolean;
BEGIN
    SELECT a.attnum, a.attnotnull, format_type(a.atttypid, a.atttypmod) AS typ INTO att
    FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = p_column AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_value IS NULL AND att.attnotnull THEN
        RETURN false;
    END IF;
    FOR con IN SELECT pg_get_expr(c.conbin, c.conrelid) AS expr
               FROM pg_constraint c
               WHERE c.conrelid = rel AND c.contype = 'c' AND c.conkey = ARRAY[att.attnum]
    LOOP
        EXECUTE format('SELECT (%s) IS NOT FALSE FROM (SELECT $1::%s AS %I) AS candidate',
                       con.expr, att.typ, p_column)
            INTO ok USING p_value;
        IF NOT ok THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

-- The allowed status sets (mismatch 23) and the rewrite of a drifted value into them.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_status_candidates(p_value text, p_allowed text[])
RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY[CASE
        WHEN p_value IS NULL THEN 'pending'
        WHEN lower(btrim(p_value)) = ANY (p_allowed) THEN lower(btrim(p_value))
        WHEN lower(btrim(p_value)) IN ('canceled', 'cancel', 'aborted') THEN 'cancelled'
        WHEN lower(btrim(p_value)) IN ('done', 'success', 'succeeded', 'complete', 'finished') THEN 'completed'
        WHEN lower(btrim(p_value)) IN ('processing', 'in_progress', 'started', 'active') THEN 'running'
        WHEN lower(btrim(p_value)) IN ('error', 'errored', 'failure') THEN 'failed'
        WHEN lower(btrim(p_value)) IN ('new', 'created', 'scheduled', 'waiting') THEN 'pending'
        ELSE 'failed' END, 'failed', 'cancelled']
$$;

-- schemaflow:step transaction
-- 2. (mismatch 21) foreign keys to campaigns, NOT VALID: new orphans are refused from now
--    on; existing ones are archived below, then the keys are validated.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN SELECT * FROM (VALUES
        ('dns_validation_results', 'dns_campaign_id', 'fk_dns_validation_results_campaign'),
        ('http_keyword_results', 'http_keyword_campaign_id', 'fk_http_keyword_results_campaign'),
        ('campaign_jobs', 'campaign_id', 'fk_campaign_jobs_campaign')) AS v(tbl, col, conname)
    LOOP
        -- any foreign key from this column to campaigns counts as present
        PERFORM schemaflow_archive.m000027_record('constraint', fk.tbl || '.' || fk.conname,
            EXISTS (SELECT 1 FROM pg_constraint c
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                    WHERE c.contype = 'f' AND c.conrelid = ('public.' || fk.tbl)::regclass
                      AND c.confrelid = 'public.campaigns'::regclass AND a.attname = fk.col
                      AND cardinality(c.conkey) = 1));
        IF schemaflow_archive.m000027_created('constraint', fk.tbl || '.' || fk.conname)
           AND NOT EXISTS (SELECT 1 FROM pg_constraint
                           WHERE conrelid = ('public.' || fk.tbl)::regclass AND conname = fk.conname) THEN
            EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I FOREIGN KEY (%I) '
                           'REFERENCES public.campaigns (id) ON DELETE CASCADE NOT VALID',
                           fk.tbl, fk.conname, fk.col);
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step batch
-- 3. (mismatch 21) orphaned DNS results: archived whole (schemaflow_archive.m000027_rows,
--    reason 'orphan'), then deleted; batches of heap-block ranges (TID range scans, so each
--    batch reads only its blocks; progress in m000027_progress).
WITH prog AS (
    SELECT coalesce((SELECT last_block FROM schemaflow_archive.m000027_progress WHERE task = 'orphans_dns'), 0) AS k,
           greatest(1, coalesce(current_setting('schemaflow.batch_size', true)::int / 50, 1000000000)) AS n,
           pg_relation_size('public.dns_validation_results') / current_setting('block_size')::int AS nblocks
), b AS (
    SELECT t.id, to_jsonb(t) AS row_data
    FROM dns_validation_results t
    WHERE t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
      AND t.dns_campaign_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.dns_campaign_id)
), archived AS (
    INSERT INTO schemaflow_archive.m000027_rows (tbl, pk, reason, row_data)
    SELECT 'dns_validation_results', b.id, 'orphan', b.row_data FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
), deleted AS (
    DELETE FROM dns_validation_results t USING b
    WHERE t.id = b.id AND t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
)
INSERT INTO schemaflow_archive.m000027_progress (task, last_block)
SELECT 'orphans_dns', k + n FROM prog WHERE k < nblocks
ON CONFLICT (task) DO UPDATE SET last_block = excluded.last_block;

-- schemaflow:step batch
-- 4. (mismatch 21) orphaned HTTP keyword results, likewise
WITH prog AS (
    SELECT coalesce((SELECT last_block FROM schemaflow_archive.m000027_progress WHERE task = 'orphans_http'), 0) AS k,
           greatest(1, coalesce(current_setting('schemaflow.batch_size', true)::int / 50, 1000000000)) AS n,
           pg_relation_size('public.http_keyword_results') / current_setting('block_size')::int AS nblocks
), b AS (
    SELECT t.id, to_jsonb(t) AS row_data
    FROM http_keyword_results t
    WHERE t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
      AND t.http_keyword_campaign_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.http_keyword_campaign_id)
), archived AS (
    INSERT INTO schemaflow_archive.m000027_rows (tbl, pk, reason, row_data)
    SELECT 'http_keyword_results', b.id, 'orphan', b.row_data FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
), deleted AS (
    DELETE FROM http_keyword_results t USING b
    WHERE t.id = b.id AND t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
)
INSERT INTO schemaflow_archive.m000027_progress (task, last_block)
SELECT 'orphans_http', k + n FROM prog WHERE k < nblocks
ON CONFLICT (task) DO UPDATE SET last_block = excluded.last_block;

-- schemaflow:step batch
-- 5. (mismatch 21) orphaned campaign jobs, likewise
WITH prog AS (
    SELECT coalesce((SELECT last_block FROM schemaflow_archive.m000027_progress WHERE task = 'orphans_jobs'), 0) AS k,
           greatest(1, coalesce(current_setting('schemaflow.batch_size', true)::int / 50, 1000000000)) AS n,
           pg_relation_size('public.campaign_jobs') / current_setting('block_size')::int AS nblocks
), b AS (
    SELECT t.id, to_jsonb(t) AS row_data
    FROM campaign_jobs t
    WHERE t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
      AND t.campaign_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.campaign_id)
), archived AS (
    INSERT INTO schemaflow_archive.m000027_rows (tbl, pk, reason, row_data)
    SELECT 'campaign_jobs', b.id, 'orphan', b.row_data FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
), deleted AS (
    DELETE FROM campaign_jobs t USING b
    WHERE t.id = b.id AND t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
)
INSERT INTO schemaflow_archive.m000027_progress (task, last_block)
SELECT 'orphans_jobs', k + n FROM prog WHERE k < nblocks
ON CONFLICT (task) DO UPDATE SET last_block = excluded.last_block;

-- schemaflow:step transaction
-- 6. orphan catch-up, then (mismatches 4, 5, 6) metadata-only renames of campaign_jobs columns; skipped where the
--    new name already exists (aligned database).
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
-- catch-up: an orphan moved behind the block cursor by a concurrent update
WITH b AS (
    SELECT t.id, to_jsonb(t) AS row_data FROM dns_validation_results t
    WHERE t.dns_campaign_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.dns_campaign_id)
), archived AS (
    INSERT INTO schemaflow_archive.m000027_rows (tbl, pk, reason, row_data)
    SELECT 'dns_validation_results', b.id, 'orphan', b.row_data FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
)
DELETE FROM dns_validation_results t USING b WHERE t.id = b.id;
WITH b AS (
    SELECT t.id, to_jsonb(t) AS row_data FROM http_keyword_results t
    WHERE t.http_keyword_campaign_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.http_keyword_campaign_id)
), archived AS (
    INSERT INTO schemaflow_archive.m000027_rows (tbl, pk, reason, row_data)
    SELECT 'http_keyword_results', b.id, 'orphan', b.row_data FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
)
DELETE FROM http_keyword_results t USING b WHERE t.id = b.id;
WITH b AS (
    SELECT t.id, to_jsonb(t) AS row_data FROM campaign_jobs t
    WHERE t.campaign_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.campaign_id)
), archived AS (
    INSERT INTO schemaflow_archive.m000027_rows (tbl, pk, reason, row_data)
    SELECT 'campaign_jobs', b.id, 'orphan', b.row_data FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
)
DELETE FROM campaign_jobs t USING b WHERE t.id = b.id;
UPDATE schemaflow_archive.m000027_progress SET done = true WHERE task LIKE 'orphans_%';
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('campaign_type', 'job_type'), ('payload', 'job_payload'),
                                   ('worker_id', 'processing_server_id')) AS v(old_name, new_name)
    LOOP
        PERFORM schemaflow_archive.m000027_record('rename', 'campaign_jobs.' || r.old_name || '>' || r.new_name,
            schemaflow_archive.m000027_has_column('campaign_jobs', r.new_name)
            OR NOT schemaflow_archive.m000027_has_column('campaign_jobs', r.old_name));
        IF schemaflow_archive.m000027_has_column('campaign_jobs', r.old_name)
           AND NOT schemaflow_archive.m000027_has_column('campaign_jobs', r.new_name) THEN
            EXECUTE format('ALTER TABLE public.campaign_jobs RENAME COLUMN %I TO %I', r.old_name, r.new_name);
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 7. (mismatches 1, 2, 3, 7, 8, 9, 10, 13) new columns: nullable, no default, so no rewrite
--    and no scan. The two timestamps of domain_generation_campaign_params get DEFAULT now()
--    (for new rows only: existing rows stay NULL and are backfilled below) when up created them.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
SELECT schemaflow_archive.m000027_record_column('domain_generation_campaign_params', 'created_at');
SELECT schemaflow_archive.m000027_record_column('domain_generation_campaign_params', 'updated_at');
ALTER TABLE domain_generation_campaign_params
    ADD COLUMN IF NOT EXISTS created_at timestamptz,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz;
DO $$
BEGIN
    IF schemaflow_archive.m000027_created('column', 'domain_generation_campaign_params.created_at') THEN
        ALTER TABLE public.domain_generation_campaign_params ALTER COLUMN created_at SET DEFAULT now();
    END IF;
    IF schemaflow_archive.m000027_created('column', 'domain_generation_campaign_params.updated_at') THEN
        ALTER TABLE public.domain_generation_campaign_params ALTER COLUMN updated_at SET DEFAULT now();
    END IF;
END
$$;

SELECT schemaflow_archive.m000027_record_column('campaign_jobs', c)
FROM unnest(ARRAY['business_status', 'last_attempted_at', 'next_execution_at', 'locked_at', 'locked_by']) AS c;
ALTER TABLE campaign_jobs
    ADD COLUMN IF NOT EXISTS business_status text,
    ADD COLUMN IF NOT EXISTS last_attempted_at timestamptz,
    ADD COLUMN IF NOT EXISTS next_execution_at timestamptz,
    ADD COLUMN IF NOT EXISTS locked_at timestamptz,
    ADD COLUMN IF NOT EXISTS locked_by text;

SELECT schemaflow_archive.m000027_record_column('dns_validation_results', 'business_status');
ALTER TABLE dns_validation_results ADD COLUMN IF NOT EXISTS business_status text;

SELECT schemaflow_archive.m000027_record_column('http_keyword_results', 'business_status');
ALTER TABLE http_keyword_results ADD COLUMN IF NOT EXISTS business_status text;

SELECT schemaflow_archive.m000027_record_column('security_events', c)
FROM unnest(ARRAY['session_id', 'campaign_id', 'resource_type', 'resource_id', 'action_attempted',
                  'authorization_result', 'denial_reason', 'risk_score', 'source_ip', 'user_agent',
                  'request_context', 'audit_log_id']) AS c;
ALTER TABLE security_events
    ADD COLUMN IF NOT EXISTS session_id text,
    ADD COLUMN IF NOT EXISTS campaign_id uuid,
    ADD COLUMN IF NOT EXISTS resource_type text,
    ADD COLUMN IF NOT EXISTS resource_id text,
    ADD COLUMN IF NOT EXISTS action_attempted text,
    ADD COLUMN IF NOT EXISTS authorization_result text,
    ADD COLUMN IF NOT EXISTS denial_reason text,
    ADD COLUMN IF NOT EXISTS risk_score integer,
    ADD COLUMN IF NOT EXISTS source_ip inet,
    ADD COLUMN IF NOT EXISTS user_agent text,
    ADD COLUMN IF NOT EXISTS request_context jsonb,
    ADD COLUMN IF NOT EXISTS audit_log_id uuid;

-- schemaflow:step transaction
-- 8. (mismatches 11, 12, 14-19) new tables; rows a previous down archived are put back.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
SELECT schemaflow_archive.m000027_record_table('keyword_rules');
CREATE TABLE IF NOT EXISTS keyword_rules (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    keyword_set_id    uuid NOT NULL REFERENCES keyword_sets (id) ON DELETE CASCADE,
    pattern           text NOT NULL,
    rule_type         text NOT NULL DEFAULT 'string' CHECK (rule_type IN ('string', 'regex')),
    is_case_sensitive boolean NOT NULL DEFAULT false,
    category          text,
    context_chars     integer NOT NULL DEFAULT 0 CHECK (context_chars >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

SELECT schemaflow_archive.m000027_record_table('proxy_pool_memberships');
CREATE TABLE IF NOT EXISTS proxy_pool_memberships (
    pool_id   uuid NOT NULL REFERENCES proxy_pools (id) ON DELETE CASCADE,
    proxy_id  uuid NOT NULL REFERENCES proxies (id) ON DELETE CASCADE,
    weight    integer NOT NULL DEFAULT 1 CHECK (weight > 0),
    is_active boolean NOT NULL DEFAULT true,
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool_id, proxy_id)
);

SELECT schemaflow_archive.m000027_record_table('authorization_decisions');
CREATE TABLE IF NOT EXISTS authorization_decisions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    decision_id        text NOT NULL UNIQUE,
    user_id            uuid,
    resource_type      text NOT NULL,
    resource_id        text,
    action             text NOT NULL,
    decision           text NOT NULL CHECK (decision IN ('allow', 'deny', 'conditional')),
    policy_version     text,
    evaluated_policies text[],
    conditions_met     jsonb,
    decision_time_ms   integer CHECK (decision_time_ms >= 0),
    context            jsonb,
    security_event_id  uuid REFERENCES security_events (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

SELECT schemaflow_archive.m000027_record_table('service_architecture_metrics');
CREATE TABLE IF NOT EXISTS service_architecture_metrics (
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

SELECT schemaflow_archive.m000027_record_table('service_dependencies');
CREATE TABLE IF NOT EXISTS service_dependencies (
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
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_service, target_service, dependency_type)
);

SELECT schemaflow_archive.m000027_record_table('architecture_refactor_log');
CREATE TABLE IF NOT EXISTS architecture_refactor_log (
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

SELECT schemaflow_archive.m000027_record_table('communication_patterns');
CREATE TABLE IF NOT EXISTS communication_patterns (
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

SELECT schemaflow_archive.m000027_record_table('service_capacity_metrics');
CREATE TABLE IF NOT EXISTS service_capacity_metrics (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_name       text NOT NULL,
    cpu_utilization    numeric(5, 2) NOT NULL DEFAULT 0,
    memory_utilization numeric(5, 2) NOT NULL DEFAULT 0,
    instance_count     integer NOT NULL DEFAULT 1,
    max_instances      integer NOT NULL DEFAULT 10,
    min_instances      integer NOT NULL DEFAULT 1,
    scaling_events     bigint NOT NULL DEFAULT 0,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);

-- foreign-key indexes of the new tables: only on tables this migration created (an existing
-- table keeps its own indexes; these tables are new and empty, so no CONCURRENTLY needed)
DO $$
BEGIN
    IF schemaflow_archive.m000027_created('table', 'keyword_rules') THEN
        CREATE INDEX IF NOT EXISTS idx_keyword_rules_keyword_set_id ON public.keyword_rules (keyword_set_id);
    END IF;
    IF schemaflow_archive.m000027_created('table', 'proxy_pool_memberships') THEN
        CREATE INDEX IF NOT EXISTS idx_proxy_pool_memberships_proxy_id ON public.proxy_pool_memberships (proxy_id);
    END IF;
    IF schemaflow_archive.m000027_created('table', 'authorization_decisions') THEN
        CREATE INDEX IF NOT EXISTS idx_authorization_decisions_security_event_id
            ON public.authorization_decisions (security_event_id);
    END IF;
END
$$;

-- put back what a previous down archived from the tables this run created
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT name FROM schemaflow_archive.m000027_changes
             WHERE kind = 'table' AND created_by_up   -- no new table references another new one
             ORDER BY name
    LOOP
        EXECUTE format('INSERT INTO public.%1$I SELECT p.* FROM schemaflow_archive.m000027_new_rows r, '
                       'jsonb_populate_record(NULL::public.%1$I, r.row_data) AS p WHERE r.tbl = %2$L '
                       'ORDER BY r.id ON CONFLICT DO NOTHING', t, t);
        DELETE FROM schemaflow_archive.m000027_new_rows WHERE tbl = t;
    END LOOP;
END
$$;

-- schemaflow:step batch
-- 9. put back values of the new columns that a previous down archived (created_by_up only;
--    one statement per table), before any backfill so those only fill what is still NULL.
WITH b AS (
    SELECT d.tbl, d.pk, d.vals FROM schemaflow_archive.m000027_new_data d
    WHERE d.tbl = 'domain_generation_campaign_params'
    ORDER BY d.pk LIMIT current_setting('schemaflow.batch_size', true)::int
), restored AS (
    UPDATE domain_generation_campaign_params t
    SET created_at = CASE WHEN b.vals ? 'created_at' THEN (b.vals ->> 'created_at')::timestamptz ELSE t.created_at END,
        updated_at = CASE WHEN b.vals ? 'updated_at' THEN (b.vals ->> 'updated_at')::timestamptz ELSE t.updated_at END
    FROM b WHERE t.campaign_id = b.pk
)
DELETE FROM schemaflow_archive.m000027_new_data d USING b WHERE d.tbl = b.tbl AND d.pk = b.pk;

-- schemaflow:step batch
WITH b AS (
    SELECT d.tbl, d.pk, d.vals FROM schemaflow_archive.m000027_new_data d
    WHERE d.tbl = 'campaign_jobs'
    ORDER BY d.pk LIMIT current_setting('schemaflow.batch_size', true)::int
), restored AS (
    UPDATE campaign_jobs t
    SET business_status = CASE WHEN b.vals ? 'business_status' THEN b.vals ->> 'business_status' ELSE t.business_status END,
        last_attempted_at = CASE WHEN b.vals ? 'last_attempted_at' THEN (b.vals ->> 'last_attempted_at')::timestamptz ELSE t.last_attempted_at END,
        next_execution_at = CASE WHEN b.vals ? 'next_execution_at' THEN (b.vals ->> 'next_execution_at')::timestamptz ELSE t.next_execution_at END,
        locked_at = CASE WHEN b.vals ? 'locked_at' THEN (b.vals ->> 'locked_at')::timestamptz ELSE t.locked_at END,
        locked_by = CASE WHEN b.vals ? 'locked_by' THEN b.vals ->> 'locked_by' ELSE t.locked_by END
    FROM b WHERE t.id = b.pk
)
DELETE FROM schemaflow_archive.m000027_new_data d USING b WHERE d.tbl = b.tbl AND d.pk = b.pk;

-- schemaflow:step batch
WITH b AS (
    SELECT d.tbl, d.pk, d.vals FROM schemaflow_archive.m000027_new_data d
    WHERE d.tbl = 'dns_validation_results'
    ORDER BY d.pk LIMIT current_setting('schemaflow.batch_size', true)::int
), restored AS (
    UPDATE dns_validation_results t
    SET business_status = CASE WHEN b.vals ? 'business_status' THEN b.vals ->> 'business_status' ELSE t.business_status END
    FROM b WHERE t.id = b.pk
)
DELETE FROM schemaflow_archive.m000027_new_data d USING b WHERE d.tbl = b.tbl AND d.pk = b.pk;

-- schemaflow:step batch
WITH b AS (
    SELECT d.tbl, d.pk, d.vals FROM schemaflow_archive.m000027_new_data d
    WHERE d.tbl = 'http_keyword_results'
    ORDER BY d.pk LIMIT current_setting('schemaflow.batch_size', true)::int
), restored AS (
    UPDATE http_keyword_results t
    SET business_status = CASE WHEN b.vals ? 'business_status' THEN b.vals ->> 'business_status' ELSE t.business_status END
    FROM b WHERE t.id = b.pk
)
DELETE FROM schemaflow_archive.m000027_new_data d USING b WHERE d.tbl = b.tbl AND d.pk = b.pk;

-- schemaflow:step batch
WITH b AS (
    SELECT d.tbl, d.pk, d.vals FROM schemaflow_archive.m000027_new_data d
    WHERE d.tbl = 'security_events'
    ORDER BY d.pk LIMIT current_setting('schemaflow.batch_size', true)::int
), restored AS (
    UPDATE security_events t
    SET (session_id, campaign_id, resource_type, resource_id, action_attempted, authorization_result,
         denial_reason, risk_score, source_ip, user_agent, request_context, audit_log_id) =
        (SELECT coalesce(r.session_id, t.session_id), coalesce(r.campaign_id, t.campaign_id),
                coalesce(r.resource_type, t.resource_type), coalesce(r.resource_id, t.resource_id),
                coalesce(r.action_attempted, t.action_attempted),
                coalesce(r.authorization_result, t.authorization_result),
                coalesce(r.denial_reason, t.denial_reason), coalesce(r.risk_score, t.risk_score),
                coalesce(r.source_ip, t.source_ip), coalesce(r.user_agent, t.user_agent),
                coalesce(r.request_context, t.request_context), coalesce(r.audit_log_id, t.audit_log_id)
         FROM jsonb_to_record(b.vals) AS r(session_id text, campaign_id uuid, resource_type text,
              resource_id text, action_attempted text, authorization_result text, denial_reason text,
              risk_score integer, source_ip inet, user_agent text, request_context jsonb, audit_log_id uuid))
    FROM b WHERE t.id = b.pk
)
DELETE FROM schemaflow_archive.m000027_new_data d USING b WHERE d.tbl = b.tbl AND d.pk = b.pk;

-- schemaflow:step batch
-- 10. (mismatches 1, 2) backfill the parameter timestamps from their campaign (falling back
--     to now() where the campaign's own timestamps are NULL); NULLs filled in columns that
--     existed before up are logged so down can reset them.
WITH b AS (
    SELECT p.campaign_id,
           p.created_at IS NULL AS c_null, p.updated_at IS NULL AS u_null,
           coalesce(c.created_at, c.updated_at, now()) AS c_at,
           coalesce(c.updated_at, c.created_at, now()) AS u_at
    FROM domain_generation_campaign_params p
    LEFT JOIN campaigns c ON c.id = p.campaign_id
    WHERE p.created_at IS NULL OR p.updated_at IS NULL
    LIMIT current_setting('schemaflow.batch_size', true)::int
), logged AS (
    INSERT INTO schemaflow_archive.m000027_backfill (tbl, col, pk)
    SELECT 'domain_generation_campaign_params', x.col, b.campaign_id
    FROM b CROSS JOIN LATERAL (VALUES ('created_at', b.c_null), ('updated_at', b.u_null)) AS x(col, was_null)
    WHERE x.was_null
      AND NOT schemaflow_archive.m000027_created('column', 'domain_generation_campaign_params.' || x.col)
    ON CONFLICT DO NOTHING
)
UPDATE domain_generation_campaign_params p
SET created_at = coalesce(p.created_at, b.c_at),
    updated_at = coalesce(p.updated_at, b.u_at)
FROM b WHERE p.campaign_id = b.campaign_id;

-- schemaflow:step transaction
-- 11. (mismatches 9, 23) the value rewrites this database accepts: the derived
--     business_status of DNS results, and the status normalisation of campaigns and jobs.
--     A candidate is kept only if the column's existing constraints accept it.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DELETE FROM schemaflow_archive.m000027_value_map;
INSERT INTO schemaflow_archive.m000027_value_map (tbl, col, old_value, new_value)
SELECT 'dns_validation_results', 'business_status', v.old_value, v.new_value
FROM (VALUES ('resolved', 'valid_dns'), ('unresolved', 'invalid_dns'), ('pending', 'pending_dns'),
             ('error', 'error_dns'), ('timeout', 'error_dns')) AS v(old_value, new_value)
WHERE schemaflow_archive.m000027_value_allowed('dns_validation_results', 'business_status', v.new_value);
INSERT INTO schemaflow_archive.m000027_value_map (tbl, col, old_value, new_value)
SELECT s.tbl, 'status', s.old_value,
       (SELECT cand FROM unnest(schemaflow_archive.m000027_status_candidates(s.old_value, s.allowed))
                         WITH ORDINALITY AS u(cand, n)
        WHERE schemaflow_archive.m000027_value_allowed(s.tbl, 'status', cand)
        ORDER BY n LIMIT 1)
FROM (
    SELECT DISTINCT 'campaigns' AS tbl, status AS old_value,
           ARRAY['pending', 'queued', 'running', 'pausing', 'paused', 'completed', 'failed', 'cancelled', 'archived'] AS allowed
    FROM campaigns
    UNION ALL
    SELECT DISTINCT 'campaign_jobs', status,
           ARRAY['pending', 'queued', 'running', 'completed', 'failed', 'cancelled']
    FROM campaign_jobs
) s
WHERE s.old_value IS NULL OR NOT (s.old_value = ANY (s.allowed));
DELETE FROM schemaflow_archive.m000027_value_map WHERE new_value IS NULL;

-- schemaflow:step transaction
-- 11b. (mismatch 9) while old application code still runs (a pre-rollout migration), the DNS
--     results it writes get business_status derived the same way, by a trigger: the backfill
--     converges and verification holds under live writes. New code that sets business_status
--     itself is left alone. The CASE is built from m000027_value_map, so the trigger never
--     writes a value the column's constraints reject, and needs no access to the archive.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
SELECT schemaflow_archive.m000027_record('function', 'public.dns_validation_results_derive_business_status',
    to_regprocedure('public.dns_validation_results_derive_business_status()') IS NOT NULL);
SELECT schemaflow_archive.m000027_record('trigger', 'dns_validation_results.trg_dns_validation_results_business_status',
    EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.dns_validation_results'::regclass
            AND tgname = 'trg_dns_validation_results_business_status'));
DO $do$
DECLARE
    whens text := (SELECT string_agg(format('WHEN %L THEN %L', old_value, new_value), ' ' ORDER BY old_value)
                   FROM schemaflow_archive.m000027_value_map
                   WHERE tbl = 'dns_validation_results' AND col = 'business_status');
BEGIN
    IF whens IS NULL
       OR NOT schemaflow_archive.m000027_created('function', 'public.dns_validation_results_derive_business_status') THEN
        RETURN;
    END IF;
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION public.dns_validation_results_derive_business_status()
        RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF (TG_OP = 'INSERT' AND NEW.business_status IS NULL)
               OR (TG_OP = 'UPDATE' AND NEW.business_status IS NOT DISTINCT FROM OLD.business_status
                   AND NEW.validation_status IS DISTINCT FROM OLD.validation_status) THEN
                NEW.business_status := CASE NEW.validation_status %s ELSE NEW.business_status END;
            END IF;
            RETURN NEW;
        END
        $fn$
        $f$, whens);
    IF schemaflow_archive.m000027_created('trigger', 'dns_validation_results.trg_dns_validation_results_business_status')
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'public.dns_validation_results'::regclass
                       AND tgname = 'trg_dns_validation_results_business_status') THEN
        CREATE TRIGGER trg_dns_validation_results_business_status
            BEFORE INSERT OR UPDATE OF validation_status ON public.dns_validation_results
            FOR EACH ROW EXECUTE FUNCTION public.dns_validation_results_derive_business_status();
    END IF;
END
$do$;

-- schemaflow:step batch
-- 12. (mismatch 9) business_status of DNS results derived from validation_status
--     (resolved -> valid_dns, ...), only where it is NULL; block-range batches. One UPDATE
--     over the block range (no self-join: as fast per row as a single whole-table UPDATE).
WITH prog AS (
    SELECT coalesce((SELECT last_block FROM schemaflow_archive.m000027_progress WHERE task = 'dns_business_status'), 0) AS k,
           greatest(1, coalesce(current_setting('schemaflow.batch_size', true)::int / 50, 1000000000)) AS n,
           pg_relation_size('public.dns_validation_results') / current_setting('block_size')::int AS nblocks
), logged AS (
    -- only when the column existed before up: an InitPlan, so otherwise no scan at all
    INSERT INTO schemaflow_archive.m000027_backfill (tbl, col, pk)
    SELECT 'dns_validation_results', 'business_status', t.id
    FROM dns_validation_results t
    JOIN schemaflow_archive.m000027_value_map m
      ON m.tbl = 'dns_validation_results' AND m.col = 'business_status' AND m.old_value = t.validation_status
    WHERE NOT (SELECT schemaflow_archive.m000027_created('column', 'dns_validation_results.business_status'))
      AND t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
      AND t.business_status IS NULL
    ON CONFLICT DO NOTHING
), filled AS (
    UPDATE dns_validation_results t SET business_status = m.new_value
    FROM schemaflow_archive.m000027_value_map m
    WHERE m.tbl = 'dns_validation_results' AND m.col = 'business_status' AND m.old_value = t.validation_status
      AND t.business_status IS NULL
      AND t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
)
INSERT INTO schemaflow_archive.m000027_progress (task, last_block)
SELECT 'dns_business_status', k + n FROM prog WHERE k < nblocks
ON CONFLICT (task) DO UPDATE SET last_block = excluded.last_block;

-- schemaflow:step batch
-- 13. (mismatch 23) campaign statuses into the allowed set; the original value is archived
--     (schemaflow_archive.m000027_status) before it is rewritten.
WITH b AS (
    SELECT t.id, t.status AS old_status, m.new_value
    FROM campaigns t
    JOIN schemaflow_archive.m000027_value_map m
      ON m.tbl = 'campaigns' AND m.col = 'status' AND m.old_value IS NOT DISTINCT FROM t.status
    LIMIT current_setting('schemaflow.batch_size', true)::int
), archived AS (
    INSERT INTO schemaflow_archive.m000027_status (tbl, pk, old_status, new_status)
    SELECT 'campaigns', b.id, b.old_status, b.new_value FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
)
UPDATE campaigns t SET status = b.new_value
FROM b WHERE t.id = b.id AND t.status IS NOT DISTINCT FROM b.old_status;

-- schemaflow:step batch
-- 14. (mismatch 23) job statuses likewise, block-range batches
WITH prog AS (
    SELECT coalesce((SELECT last_block FROM schemaflow_archive.m000027_progress WHERE task = 'job_status'), 0) AS k,
           greatest(1, coalesce(current_setting('schemaflow.batch_size', true)::int / 50, 1000000000)) AS n,
           pg_relation_size('public.campaign_jobs') / current_setting('block_size')::int AS nblocks
), b AS (
    SELECT t.id, t.status AS old_status, m.new_value
    FROM campaign_jobs t
    JOIN schemaflow_archive.m000027_value_map m
      ON m.tbl = 'campaign_jobs' AND m.col = 'status' AND m.old_value IS NOT DISTINCT FROM t.status
    WHERE t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
), archived AS (
    INSERT INTO schemaflow_archive.m000027_status (tbl, pk, old_status, new_status)
    SELECT 'campaign_jobs', b.id, b.old_status, b.new_value FROM b WHERE b.new_value IS NOT NULL
    ON CONFLICT (tbl, pk) DO NOTHING
), rewritten AS (
    UPDATE campaign_jobs t SET status = b.new_value
    FROM b WHERE t.id = b.id AND b.new_value IS NOT NULL AND t.status IS NOT DISTINCT FROM b.old_status
      AND t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
)
INSERT INTO schemaflow_archive.m000027_progress (task, last_block)
SELECT 'job_status', k + n FROM prog WHERE k < nblocks
ON CONFLICT (task) DO UPDATE SET last_block = excluded.last_block;

-- schemaflow:step transaction
-- 15. catch up on DNS results written behind the block cursor while the batches ran (old
--     application code still writing), mark that pass done, then the NOT VALID CHECKs of
--     the NOT NULL timestamps (mismatches 1, 2). 15-17 take their ACCESS EXCLUSIVE lock on
--     one table per transaction: the worker's queue poll locks campaign_jobs then campaigns,
--     and a transaction locking both in the other order can deadlock with it.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
INSERT INTO schemaflow_archive.m000027_backfill (tbl, col, pk)
SELECT 'dns_validation_results', 'business_status', t.id
FROM dns_validation_results t
JOIN schemaflow_archive.m000027_value_map m
  ON m.tbl = 'dns_validation_results' AND m.col = 'business_status' AND m.old_value = t.validation_status
WHERE t.business_status IS NULL
  AND NOT schemaflow_archive.m000027_created('column', 'dns_validation_results.business_status')
ON CONFLICT DO NOTHING;
UPDATE dns_validation_results t SET business_status = m.new_value
FROM schemaflow_archive.m000027_value_map m
WHERE m.tbl = 'dns_validation_results' AND m.col = 'business_status' AND m.old_value = t.validation_status
  AND t.business_status IS NULL;
UPDATE schemaflow_archive.m000027_progress SET done = true WHERE task = 'dns_business_status';
DO $$
DECLARE
    r record;
BEGIN
    -- NOT NULL through a CHECK: validated later without blocking writes, then SET NOT NULL
    -- uses it instead of scanning the table under ACCESS EXCLUSIVE (PostgreSQL 12+).
    FOR r IN SELECT * FROM (VALUES ('created_at'), ('updated_at')) AS v(col)
    LOOP
        PERFORM schemaflow_archive.m000027_record('not_null', 'domain_generation_campaign_params.' || r.col,
            (SELECT attnotnull FROM pg_attribute
             WHERE attrelid = 'public.domain_generation_campaign_params'::regclass AND attname = r.col));
        IF NOT (SELECT attnotnull FROM pg_attribute
                WHERE attrelid = 'public.domain_generation_campaign_params'::regclass AND attname = r.col)
           AND NOT EXISTS (SELECT 1 FROM pg_constraint
                           WHERE conrelid = 'public.domain_generation_campaign_params'::regclass
                             AND conname = 'chk_dgcp_' || r.col || '_not_null') THEN
            EXECUTE format('ALTER TABLE public.domain_generation_campaign_params ADD CONSTRAINT %I '
                           'CHECK (%I IS NOT NULL) NOT VALID', 'chk_dgcp_' || r.col || '_not_null', r.col);
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 15b. (mismatch 23) the status set of campaigns, NOT VALID
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
BEGIN
    PERFORM schemaflow_archive.m000027_record('constraint', 'campaigns.chk_campaigns_status_allowed',
        EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.campaigns'::regclass
                AND conname = 'chk_campaigns_status_allowed'));
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.campaigns'::regclass
                   AND conname = 'chk_campaigns_status_allowed') THEN
        ALTER TABLE public.campaigns ADD CONSTRAINT chk_campaigns_status_allowed
            CHECK (status IS NOT NULL AND status IN ('pending', 'queued', 'running', 'pausing', 'paused',
                                                     'completed', 'failed', 'cancelled', 'archived')) NOT VALID;
    END IF;
END
$$;

-- schemaflow:step transaction
-- 15c. (mismatch 23) catch up on job statuses written behind the block cursor, then the
--      status set of campaign_jobs, NOT VALID, in the same transaction (no bad value can
--      slip in between).
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
WITH b AS (
    SELECT t.id, t.status AS old_status, m.new_value
    FROM campaign_jobs t
    JOIN schemaflow_archive.m000027_value_map m
      ON m.tbl = 'campaign_jobs' AND m.col = 'status' AND m.old_value IS NOT DISTINCT FROM t.status
), archived AS (
    INSERT INTO schemaflow_archive.m000027_status (tbl, pk, old_status, new_status)
    SELECT 'campaign_jobs', b.id, b.old_status, b.new_value FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
)
UPDATE campaign_jobs t SET status = b.new_value FROM b WHERE t.id = b.id;
UPDATE schemaflow_archive.m000027_progress SET done = true WHERE task = 'job_status';
DO $$
BEGIN
    PERFORM schemaflow_archive.m000027_record('constraint', 'campaign_jobs.chk_campaign_jobs_status_allowed',
        EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.campaign_jobs'::regclass
                AND conname = 'chk_campaign_jobs_status_allowed'));
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.campaign_jobs'::regclass
                   AND conname = 'chk_campaign_jobs_status_allowed') THEN
        ALTER TABLE public.campaign_jobs ADD CONSTRAINT chk_campaign_jobs_status_allowed
            CHECK (status IS NOT NULL AND status IN ('pending', 'queued', 'running', 'completed', 'failed',
                                                     'cancelled')) NOT VALID;
    END IF;
END
$$;

-- schemaflow:step no-transaction
-- 16. validation: each in its own autocommit statement, SHARE UPDATE EXCLUSIVE only (reads
--     and writes go on). A constraint the data does not satisfy (a value no candidate could
--     be written for) stays NOT VALID with a warning: verification then names the check.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname
             FROM pg_constraint c
             WHERE c.conrelid IN ('public.dns_validation_results'::regclass, 'public.http_keyword_results'::regclass,
                                  'public.campaign_jobs'::regclass)
               AND c.contype = 'f' AND c.confrelid = 'public.campaigns'::regclass AND NOT c.convalidated
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', r.tbl, r.conname);
        EXCEPTION WHEN foreign_key_violation THEN
            RAISE WARNING '000027: % on % left NOT VALID: %', r.conname, r.tbl, SQLERRM;
        END;
    END LOOP;
END
$$;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname
             FROM pg_constraint c
             WHERE c.contype = 'c' AND NOT c.convalidated
               AND c.conname IN ('chk_campaigns_status_allowed', 'chk_campaign_jobs_status_allowed',
                                 'chk_dgcp_created_at_not_null', 'chk_dgcp_updated_at_not_null')
               AND c.connamespace = 'public'::regnamespace
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', r.tbl, r.conname);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING '000027: % on % left NOT VALID: %', r.conname, r.tbl, SQLERRM;
        END;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 17. (mismatches 1, 2) SET NOT NULL, proven by the validated CHECK (no scan), then the
--     helper CHECK goes.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('created_at'), ('updated_at')) AS v(col)
    LOOP
        IF EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'public.domain_generation_campaign_params'::regclass
                     AND conname = 'chk_dgcp_' || r.col || '_not_null' AND convalidated) THEN
            EXECUTE format('ALTER TABLE public.domain_generation_campaign_params ALTER COLUMN %I SET NOT NULL', r.col);
            EXECUTE format('ALTER TABLE public.domain_generation_campaign_params DROP CONSTRAINT %I',
                           'chk_dgcp_' || r.col || '_not_null');
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 18. (mismatch 20) record the indexes before building them; an invalid index left by a
--     crashed concurrent build of ours is renamed aside (dropped concurrently below).
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    i text;
BEGIN
    FOREACH i IN ARRAY ARRAY['idx_campaign_jobs_status_scheduled_at', 'idx_campaign_jobs_campaign_id',
                             'idx_campaign_jobs_queued_next_execution', 'idx_dns_validation_results_campaign_business_status',
                             'idx_dns_validation_results_validation_status', 'idx_http_keyword_results_campaign_business_status',
                             'idx_generated_domains_domain_name', 'idx_campaigns_status']
    LOOP
        -- an invalid index (a failed concurrent build, ours or not) counts as absent: it is
        -- replaced, and down drops the replacement
        PERFORM schemaflow_archive.m000027_record('index', i,
            EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('public.' || i) AND indisvalid));
        IF schemaflow_archive.m000027_created('index', i)
           AND EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('public.' || i) AND NOT indisvalid) THEN
            EXECUTE format('ALTER INDEX public.%I RENAME TO %I', i, left(i, 50) || '_sf_invalid');
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step no-transaction
-- 19. (mismatch 20) hot-path indexes, built concurrently
DROP INDEX CONCURRENTLY IF EXISTS idx_campaign_jobs_status_scheduled_at_sf_invalid;
DROP INDEX CONCURRENTLY IF EXISTS idx_campaign_jobs_campaign_id_sf_invalid;
DROP INDEX CONCURRENTLY IF EXISTS idx_campaign_jobs_queued_next_execution_sf_invalid;
DROP INDEX CONCURRENTLY IF EXISTS idx_dns_validation_results_campaign_business_statu_sf_invalid;
DROP INDEX CONCURRENTLY IF EXISTS idx_dns_validation_results_validation_status_sf_invalid;
DROP INDEX CONCURRENTLY IF EXISTS idx_http_keyword_results_campaign_business_status_sf_invalid;
DROP INDEX CONCURRENTLY IF EXISTS idx_generated_domains_domain_name_sf_invalid;
DROP INDEX CONCURRENTLY IF EXISTS idx_campaigns_status_sf_invalid;
-- the worker's queue poll: WHERE status = 'queued' ... ORDER BY scheduled_at
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_campaign_jobs_status_scheduled_at ON campaign_jobs (status, scheduled_at);
-- ON DELETE CASCADE from campaigns, jobs of a campaign
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_campaign_jobs_campaign_id ON campaign_jobs (campaign_id);
-- retries scheduled by the new code (next_execution_at), only queued jobs
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_campaign_jobs_queued_next_execution ON campaign_jobs (next_execution_at)
    WHERE status = 'queued';
-- results of a campaign, by business status (also serves the ON DELETE CASCADE)
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_dns_validation_results_campaign_business_status
    ON dns_validation_results (dns_campaign_id, business_status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_dns_validation_results_validation_status
    ON dns_validation_results (validation_status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_http_keyword_results_campaign_business_status
    ON http_keyword_results (http_keyword_campaign_id, business_status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_generated_domains_domain_name ON generated_domains (domain_name);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_campaigns_status ON campaigns (status);

-- schemaflow:step transaction
-- 20. (mismatch 22) updated_at maintained by a BEFORE UPDATE trigger on every table that has
--     the column (after the data changes above, which therefore did not touch updated_at).
--     Tables that already have an updated_at trigger of their own keep it.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    t text;
BEGIN
    PERFORM schemaflow_archive.m000027_record('function', 'public.update_updated_at_column',
        to_regprocedure('public.update_updated_at_column()') IS NOT NULL);
    IF to_regprocedure('public.update_updated_at_column()') IS NULL THEN
        CREATE FUNCTION public.update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            NEW.updated_at = now();
            RETURN NEW;
        END
        $fn$;
    END IF;
    FOR t IN SELECT c.relname
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
               AND a.attname = 'updated_at' AND NOT a.attisdropped
               AND c.relname <> 'schema_migrations'
             ORDER BY c.relname
    LOOP
        PERFORM schemaflow_archive.m000027_record('trigger', t || '.set_updated_at',
            EXISTS (SELECT 1 FROM pg_trigger g
                    WHERE g.tgrelid = ('public.' || quote_ident(t))::regclass AND NOT g.tgisinternal
                      AND (g.tgname = 'set_updated_at' OR g.tgname ILIKE '%updated_at%'
                           OR g.tgfoid = to_regprocedure('public.update_updated_at_column()'))));
        IF schemaflow_archive.m000027_created('trigger', t || '.set_updated_at')
           AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = ('public.' || quote_ident(t))::regclass
                           AND tgname = 'set_updated_at') THEN
            EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.%I '
                           'FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column()', t);
        END IF;
    END LOOP;
END
$$;
