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
    old_updated_at timestamptz,   -- a pre-existing updated_at trigger moves it; down puts it back
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
-- what an interrupted down left of its copy of the new columns (down step 5): the triggers
-- first (they write into the table), then the table of the rows they noted
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT tgrelid::regclass FROM pg_trigger WHERE tgname = 'm000027_sf_down_note'
    LOOP
        EXECUTE format('DROP TRIGGER m000027_sf_down_note ON %s', t);
    END LOOP;
END
$$;
DROP TABLE IF EXISTS schemaflow_archive.m000027_touched;

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

-- prior definitions of objects up altered in place (a column's type, a replaced CHECK), so
-- down restores them exactly
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_prior (
    kind       text NOT NULL,           -- column_type, check
    name       text NOT NULL,           -- table.object
    definition text NOT NULL,           -- format_type / pg_get_constraintdef
    validated  boolean NOT NULL DEFAULT true,
    PRIMARY KEY (kind, name)
);

-- The target shape of the columns this migration declares (for tables and columns that may
-- already exist in another shape); format_type() spelling.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_target_columns()
RETURNS TABLE (tbl text, col text, typ text, not_null boolean, dflt text) LANGUAGE sql IMMUTABLE AS $$
    SELECT * FROM (VALUES
        ('domain_generation_campaign_params', 'created_at', 'timestamp with time zone', false, 'now()'),
        ('domain_generation_campaign_params', 'updated_at', 'timestamp with time zone', false, 'now()'),
        ('campaign_jobs', 'business_status', 'text', false, NULL),
        ('campaign_jobs', 'locked_by', 'text', false, NULL),
        ('campaign_jobs', 'processing_server_id', 'text', false, NULL),
        ('campaign_jobs', 'job_type', 'text', true, NULL),
        ('dns_validation_results', 'business_status', 'text', false, NULL),
        ('http_keyword_results', 'business_status', 'text', false, NULL),
        ('security_events', 'session_id', 'text', false, NULL),
        ('security_events', 'campaign_id', 'uuid', false, NULL),
        ('security_events', 'resource_type', 'text', false, NULL),
        ('security_events', 'resource_id', 'text', false, NULL),
        ('security_events', 'action_attempted', 'text', false, NULL),
        ('security_events', 'authorization_result', 'text', false, NULL),
        ('security_events', 'denial_reason', 'text', false, NULL),
        ('security_events', 'risk_score', 'integer', false, NULL),
        ('security_events', 'source_ip', 'inet', false, NULL),
        ('security_events', 'user_agent', 'text', false, NULL),
        ('security_events', 'request_context', 'jsonb', false, NULL),
        ('security_events', 'audit_log_id', 'uuid', false, NULL),
        ('keyword_rules', 'id', 'uuid', true, 'gen_random_uuid()'),
        ('keyword_rules', 'keyword_set_id', 'uuid', true, NULL),
        ('keyword_rules', 'pattern', 'text', true, NULL),
        ('keyword_rules', 'rule_type', 'text', true, '''string''::text'),
        ('keyword_rules', 'is_case_sensitive', 'boolean', true, 'false'),
        ('keyword_rules', 'category', 'text', false, NULL),
        ('keyword_rules', 'context_chars', 'integer', true, '0'),
        ('keyword_rules', 'created_at', 'timestamp with time zone', true, 'now()'),
        ('keyword_rules', 'updated_at', 'timestamp with time zone', true, 'now()'),
        ('proxy_pool_memberships', 'pool_id', 'uuid', true, NULL),
        ('proxy_pool_memberships', 'proxy_id', 'uuid', true, NULL),
        ('proxy_pool_memberships', 'weight', 'integer', true, '1'),
        ('proxy_pool_memberships', 'is_active', 'boolean', true, 'true'),
        ('proxy_pool_memberships', 'added_at', 'timestamp with time zone', true, 'now()'),
        ('authorization_decisions', 'id', 'uuid', true, 'gen_random_uuid()'),
        ('authorization_decisions', 'decision_id', 'text', true, NULL),
        ('authorization_decisions', 'user_id', 'uuid', false, NULL),
        ('authorization_decisions', 'resource_type', 'text', true, NULL),
        ('authorization_decisions', 'resource_id', 'text', false, NULL),
        ('authorization_decisions', 'action', 'text', true, NULL),
        ('authorization_decisions', 'decision', 'text', true, NULL),
        ('authorization_decisions', 'policy_version', 'text', false, NULL),
        ('authorization_decisions', 'evaluated_policies', 'text[]', false, NULL),
        ('authorization_decisions', 'conditions_met', 'jsonb', false, NULL),
        ('authorization_decisions', 'decision_time_ms', 'integer', false, NULL),
        ('authorization_decisions', 'context', 'jsonb', false, NULL),
        ('authorization_decisions', 'security_event_id', 'uuid', false, NULL),
        ('authorization_decisions', 'created_at', 'timestamp with time zone', true, 'now()'),
        ('service_architecture_metrics', 'id', 'uuid', true, 'gen_random_uuid()'),
        ('service_architecture_metrics', 'service_name', 'text', true, NULL),
        ('service_architecture_metrics', 'architecture_pattern', 'text', true, NULL),
        ('service_architecture_metrics', 'interface_type', 'text', true, NULL),
        ('service_architecture_metrics', 'dependency_count', 'integer', true, '0'),
        ('service_architecture_metrics', 'coupling_score', 'numeric(5,2)', true, '0'),
        ('service_architecture_metrics', 'deployment_complexity_score', 'integer', true, '0'),
        ('service_architecture_metrics', 'last_refactor_date', 'timestamp with time zone', false, NULL),
        ('service_architecture_metrics', 'performance_impact', 'numeric(10,2)', true, '0'),
        ('service_architecture_metrics', 'error_rate', 'numeric(5,2)', true, '0'),
        ('service_architecture_metrics', 'created_at', 'timestamp with time zone', true, 'now()'),
        ('service_architecture_metrics', 'updated_at', 'timestamp with time zone', true, 'now()'),
        ('service_dependencies', 'id', 'uuid', true, 'gen_random_uuid()'),
        ('service_dependencies', 'source_service', 'text', true, NULL),
        ('service_dependencies', 'target_service', 'text', true, NULL),
        ('service_dependencies', 'dependency_type', 'text', true, NULL),
        ('service_dependencies', 'interface_contract', 'text', false, NULL),
        ('service_dependencies', 'reliability_score', 'numeric(5,2)', true, '100'),
        ('service_dependencies', 'latency_p95', 'numeric(10,2)', true, '0'),
        ('service_dependencies', 'failure_count', 'bigint', true, '0'),
        ('service_dependencies', 'last_success', 'timestamp with time zone', false, NULL),
        ('service_dependencies', 'created_at', 'timestamp with time zone', true, 'now()'),
        ('service_dependencies', 'updated_at', 'timestamp with time zone', true, 'now()'),
        ('architecture_refactor_log', 'id', 'uuid', true, 'gen_random_uuid()'),
        ('architecture_refactor_log', 'service_name', 'text', true, NULL),
        ('architecture_refactor_log', 'refactor_type', 'text', true, NULL),
        ('architecture_refactor_log', 'before_pattern', 'text', false, NULL),
        ('architecture_refactor_log', 'after_pattern', 'text', false, NULL),
        ('architecture_refactor_log', 'complexity_reduction', 'integer', true, '0'),
        ('architecture_refactor_log', 'performance_impact', 'numeric(10,2)', true, '0'),
        ('architecture_refactor_log', 'rollback_plan', 'text', false, NULL),
        ('architecture_refactor_log', 'implemented_by', 'text', false, NULL),
        ('architecture_refactor_log', 'implemented_at', 'timestamp with time zone', true, 'now()'),
        ('architecture_refactor_log', 'created_at', 'timestamp with time zone', true, 'now()'),
        ('communication_patterns', 'id', 'uuid', true, 'gen_random_uuid()'),
        ('communication_patterns', 'source_service', 'text', true, NULL),
        ('communication_patterns', 'target_service', 'text', true, NULL),
        ('communication_patterns', 'communication_type', 'text', true, NULL),
        ('communication_patterns', 'protocol', 'text', true, NULL),
        ('communication_patterns', 'message_format', 'text', true, '''json''::text'),
        ('communication_patterns', 'avg_latency_ms', 'numeric(10,2)', true, '0'),
        ('communication_patterns', 'success_rate', 'numeric(5,2)', true, '100'),
        ('communication_patterns', 'throughput_rps', 'numeric(10,2)', true, '0'),
        ('communication_patterns', 'error_count', 'bigint', true, '0'),
        ('communication_patterns', 'retry_count', 'bigint', true, '0'),
        ('communication_patterns', 'created_at', 'timestamp with time zone', true, 'now()'),
        ('communication_patterns', 'updated_at', 'timestamp with time zone', true, 'now()'),
        ('service_capacity_metrics', 'id', 'uuid', true, 'gen_random_uuid()'),
        ('service_capacity_metrics', 'service_name', 'text', true, NULL),
        ('service_capacity_metrics', 'cpu_utilization', 'numeric(5,2)', true, '0'),
        ('service_capacity_metrics', 'memory_utilization', 'numeric(5,2)', true, '0'),
        ('service_capacity_metrics', 'instance_count', 'integer', true, '1'),
        ('service_capacity_metrics', 'max_instances', 'integer', true, '10'),
        ('service_capacity_metrics', 'min_instances', 'integer', true, '1'),
        ('service_capacity_metrics', 'scaling_events', 'bigint', true, '0'),
        ('service_capacity_metrics', 'recorded_at', 'timestamp with time zone', true, 'now()')
    ) AS v(tbl, col, typ, not_null, dflt)
$$;

-- The CHECKs of the declared tables, with values each must reject: an existing CHECK on the
-- column that rejects all of them (same or stricter allowed set) is equivalent.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_target_checks()
RETURNS TABLE (tbl text, col text, conname text, expr text, probes text[]) LANGUAGE sql IMMUTABLE AS $$
    SELECT * FROM (VALUES
        ('keyword_rules', 'rule_type', 'keyword_rules_rule_type_check',
         'rule_type IN (''string'', ''regex'')', ARRAY['glob', 'String', '']),
        ('keyword_rules', 'context_chars', 'keyword_rules_context_chars_check', 'context_chars >= 0', ARRAY['-1']),
        ('proxy_pool_memberships', 'weight', 'proxy_pool_memberships_weight_check', 'weight > 0', ARRAY['0', '-1']),
        ('authorization_decisions', 'decision', 'authorization_decisions_decision_check',
         'decision IN (''allow'', ''deny'', ''conditional'')', ARRAY['maybe', 'ALLOW', '']),
        ('authorization_decisions', 'decision_time_ms', 'authorization_decisions_decision_time_ms_check',
         'decision_time_ms >= 0', ARRAY['-1']),
        ('service_dependencies', 'dependency_type', 'service_dependencies_dependency_type_check',
         'dependency_type IN (''direct'', ''event_driven'', ''shared_resource'')', ARRAY['other', 'Direct']),
        ('communication_patterns', 'communication_type', 'communication_patterns_communication_type_check',
         'communication_type IN (''sync'', ''async'', ''event'', ''stream'')', ARRAY['rpc', 'Sync'])
    ) AS v(tbl, col, conname, expr, probes)
$$;

-- Does CHECK expression p_expr (of p_table) reject p_value in column p_column?
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_rejects(p_table text, p_column text, p_expr text, p_value text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    typ text := (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                 WHERE a.attrelid = to_regclass('public.' || quote_ident(p_table)) AND a.attname = p_column
                   AND NOT a.attisdropped);
    ok  boolean;
BEGIN
    EXECUTE format('SELECT (%s) IS NOT FALSE FROM (SELECT $1::%s AS %I) AS candidate', p_expr, typ, p_column)
        INTO ok USING p_value;
    RETURN NOT ok;
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range OR string_data_right_truncation THEN
    RETURN true;   -- the column's type itself refuses the value
END
$$;

-- A validated single-column CHECK on p_table.p_column that rejects every probe (a NULL
-- probe is also rejected by the column's NOT NULL): equivalent to the target's, or stricter.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_equivalent_check(p_table text, p_column text, p_probes text[])
RETURNS text LANGUAGE sql AS $$
    SELECT c.conname::text
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    WHERE c.conrelid = to_regclass('public.' || quote_ident(p_table)) AND c.contype = 'c'
      AND c.convalidated AND cardinality(c.conkey) = 1 AND a.attname = p_column
      AND NOT EXISTS (SELECT 1 FROM unnest(p_probes) AS p(v)
                      WHERE NOT ((p.v IS NULL AND a.attnotnull)
                                 OR schemaflow_archive.m000027_rejects(p_table, p_column,
                                                                       pg_get_expr(c.conbin, c.conrelid), p.v)))
    ORDER BY c.conname LIMIT 1
$$;

-- A valid, ready btree index on p_table over exactly p_columns (no expressions) with the
-- same predicate and uniqueness: equivalent whatever its name.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_equivalent_index(p_table text, p_columns text[], p_predicate text,
                                                                       p_unique boolean)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT x.indexrelid::regclass::text
    FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_am am ON am.oid = ic.relam
    WHERE x.indrelid = to_regclass('public.' || quote_ident(p_table)) AND x.indisvalid AND x.indisready
      AND am.amname = 'btree' AND x.indexprs IS NULL AND x.indisunique = p_unique
      AND pg_get_expr(x.indpred, x.indrelid) IS NOT DISTINCT FROM p_predicate
      AND (SELECT array_agg(a.attname::text ORDER BY k.n)
           FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum) = p_columns
    ORDER BY ic.relname LIMIT 1
$$;

-- An enabled BEFORE UPDATE ... FOR EACH ROW trigger on p_table whose function assigns
-- NEW.updated_at: equivalent to set_updated_at whatever its name.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_equivalent_trigger(p_table text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT g.tgname::text
    FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
    WHERE g.tgrelid = to_regclass('public.' || quote_ident(p_table)) AND NOT g.tgisinternal
      AND g.tgenabled <> 'D' AND (g.tgtype & 1) = 1 AND (g.tgtype & 2) = 2 AND (g.tgtype & 16) = 16
      AND p.prosrc ~* 'new\s*\.\s*updated_at\s*:?='
    ORDER BY g.tgname LIMIT 1
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

-- Tables and columns that existed before up, in another shape, are brought to the declared
-- one online: missing columns added (a constant or now() default is stored in the catalog,
-- no rewrite), varchar(n) -> text (binary-compatible: no rewrite, no scan), missing
-- defaults set, missing CHECKs added NOT VALID (validated in step 16; one that a
-- same-named CHECK does not satisfy replaces it). NOT NULL follows in steps 15-17.
-- Prior types and CHECKs are kept in m000027_prior for down.
DO $$
DECLARE
    r   record;
    att record;
    eq  text;
BEGIN
    FOR r IN SELECT t.* FROM schemaflow_archive.m000027_target_columns() t
             WHERE to_regclass('public.' || quote_ident(t.tbl)) IS NOT NULL
               AND NOT schemaflow_archive.m000027_created('table', t.tbl)
    LOOP
        SELECT format_type(a.atttypid, a.atttypmod) AS typ,
               pg_get_expr(d.adbin, d.adrelid) AS dflt INTO att
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = ('public.' || quote_ident(r.tbl))::regclass AND a.attname = r.col
          AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            PERFORM schemaflow_archive.m000027_record_column(r.tbl, r.col);
            EXECUTE format('ALTER TABLE public.%I ADD COLUMN IF NOT EXISTS %I %s %s', r.tbl, r.col, r.typ,
                           CASE WHEN r.dflt IS NOT NULL AND r.dflt NOT LIKE '%random%'
                                THEN 'DEFAULT ' || r.dflt ELSE '' END);
            IF r.dflt LIKE '%random%' THEN
                EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I SET DEFAULT %s', r.tbl, r.col, r.dflt);
            END IF;
            CONTINUE;
        END IF;
        IF att.typ <> r.typ THEN
            IF r.typ = 'text' AND att.typ LIKE 'character varying%' THEN
                INSERT INTO schemaflow_archive.m000027_prior (kind, name, definition)
                VALUES ('column_type', r.tbl || '.' || r.col, att.typ) ON CONFLICT DO NOTHING;
                -- CHECKs on the column are re-parsed for the new type: their text changes
                -- (casts), so down puts back the exact old definitions after the old type
                INSERT INTO schemaflow_archive.m000027_prior (kind, name, definition, validated)
                SELECT 'check', r.tbl || '.' || c.conname, pg_get_constraintdef(c.oid), c.convalidated
                FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                WHERE c.conrelid = ('public.' || quote_ident(r.tbl))::regclass AND c.contype = 'c' AND a.attname = r.col
                ON CONFLICT DO NOTHING;
                EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I TYPE text', r.tbl, r.col);
            ELSE
                RAISE WARNING '000027: %.% is %, not %: no online conversion, left as it is',
                    r.tbl, r.col, att.typ, r.typ;
            END IF;
        END IF;
        IF r.dflt IS NOT NULL AND att.dflt IS NULL THEN
            PERFORM schemaflow_archive.m000027_record('column_default', r.tbl || '.' || r.col, false);
            EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I SET DEFAULT %s', r.tbl, r.col, r.dflt);
        END IF;
    END LOOP;

    FOR r IN SELECT t.* FROM schemaflow_archive.m000027_target_checks() t
             WHERE to_regclass('public.' || quote_ident(t.tbl)) IS NOT NULL
               AND NOT schemaflow_archive.m000027_created('table', t.tbl)
    LOOP
        eq := schemaflow_archive.m000027_equivalent_check(r.tbl, r.col, r.probes);
        IF eq IS NOT NULL THEN
            IF eq <> r.conname THEN
                RAISE NOTICE '000027: CHECK %.%: equivalent exists as %', r.tbl, r.conname, eq;
            END IF;
            CONTINUE;
        END IF;
        PERFORM schemaflow_archive.m000027_record('constraint', r.tbl || '.' || r.conname, false);
        IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = ('public.' || quote_ident(r.tbl))::regclass
                   AND conname = r.conname) THEN
            -- same name, looser set: replaced (down puts the old one back)
            INSERT INTO schemaflow_archive.m000027_prior (kind, name, definition, validated)
            SELECT 'check', r.tbl || '.' || r.conname, pg_get_constraintdef(c.oid), c.convalidated
            FROM pg_constraint c WHERE c.conrelid = ('public.' || quote_ident(r.tbl))::regclass AND c.conname = r.conname
            ON CONFLICT DO NOTHING;
            EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', r.tbl, r.conname);
        END IF;
        EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I CHECK (%s) NOT VALID', r.tbl, r.conname, r.expr);
    END LOOP;
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

-- ... and the values a previous down archived from columns this run added to other tables
-- that existed before it (the five tables of step 7 are restored in step 9)
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT d.tbl,
                    (SELECT a.attname FROM pg_index i
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                     WHERE i.indrelid = to_regclass('public.' || quote_ident(d.tbl)) AND i.indisprimary) AS pk,
                    (SELECT string_agg(format('%1$I = CASE WHEN d.vals ? %2$L THEN p.%1$I ELSE x.%1$I END', k.key, k.key), ', ')
                     FROM (SELECT DISTINCT jsonb_object_keys(d2.vals) AS key FROM schemaflow_archive.m000027_new_data d2
                           WHERE d2.tbl = d.tbl) k
                     WHERE schemaflow_archive.m000027_created('column', d.tbl || '.' || k.key)) AS sets
             FROM (SELECT DISTINCT tbl FROM schemaflow_archive.m000027_new_data
                   WHERE tbl NOT IN ('domain_generation_campaign_params', 'campaign_jobs', 'dns_validation_results',
                                     'http_keyword_results', 'security_events')) d
             WHERE to_regclass('public.' || quote_ident(d.tbl)) IS NOT NULL
    LOOP
        IF r.sets IS NOT NULL THEN
            EXECUTE format('UPDATE public.%1$I x SET %2$s FROM schemaflow_archive.m000027_new_data d, '
                           'jsonb_populate_record(NULL::public.%1$I, d.vals) AS p WHERE d.tbl = %3$L AND x.%4$I = d.pk',
                           r.tbl, r.sets, r.tbl, r.pk);
            DELETE FROM schemaflow_archive.m000027_new_data WHERE tbl = r.tbl;
        END IF;
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
-- A CHECK on the DNS business_status that refuses part of the derived values (it lists the
-- application's later pipeline stages only, say) is widened to its union with them: every
-- value it allowed stays allowed, the rows keep theirs, and the derived values can be
-- written. The old definition is kept for down; the new one is validated in step 16.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT k.oid, k.conname, k.convalidated, pg_get_expr(k.conbin, k.conrelid) AS expr
             FROM pg_constraint k
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
             WHERE k.conrelid = 'public.dns_validation_results'::regclass AND k.contype = 'c'
               AND cardinality(k.conkey) = 1 AND a.attname = 'business_status'
    LOOP
        IF EXISTS (SELECT 1 FROM unnest(ARRAY['valid_dns', 'invalid_dns', 'pending_dns', 'error_dns']) AS v(x)
                   WHERE schemaflow_archive.m000027_rejects('dns_validation_results', 'business_status', c.expr, v.x)) THEN
            INSERT INTO schemaflow_archive.m000027_prior (kind, name, definition, validated)
            VALUES ('check', 'dns_validation_results.' || c.conname, pg_get_constraintdef(c.oid), c.convalidated)
            ON CONFLICT DO NOTHING;
            RAISE NOTICE '000027: CHECK dns_validation_results.% widened to allow the derived business_status values',
                c.conname;
            EXECUTE format('ALTER TABLE public.dns_validation_results DROP CONSTRAINT %I, ADD CONSTRAINT %I '
                           'CHECK ((%s) OR business_status IN (''valid_dns'', ''invalid_dns'', ''pending_dns'', '
                           '''error_dns'')) NOT VALID', c.conname, c.conname, c.expr);
        END IF;
    END LOOP;
END
$$;
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
-- 11c. DNS business_status values a previous down archived, put back once the CHECK allows
--     them again (step 11) and before the backfill, which fills only what is still NULL
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
-- 12. (mismatch 9) business_status of DNS results derived from validation_status
--     (resolved -> valid_dns, ...), only where it is NULL; block-range batches. One UPDATE
--     over the block range (no self-join: as fast per row as a single whole-table UPDATE).
--     The range ends where the table ended at the first batch: each updated row's new
--     version goes to the table's end, and chasing them would read the table twice (rows
--     written behind the cursor are step 15's).
WITH prog AS (
    SELECT coalesce((SELECT last_block FROM schemaflow_archive.m000027_progress WHERE task = 'dns_business_status'), 0) AS k,
           greatest(1, coalesce(current_setting('schemaflow.batch_size', true)::int / 50, 1000000000)) AS n,
           coalesce((SELECT last_block FROM schemaflow_archive.m000027_progress WHERE task = 'dns_business_status_end'),
                    pg_relation_size('public.dns_validation_results') / current_setting('block_size')::int) AS nblocks
), fixed_end AS (
    INSERT INTO schemaflow_archive.m000027_progress (task, last_block)
    SELECT 'dns_business_status_end', nblocks FROM prog WHERE k + n < nblocks
    ON CONFLICT (task) DO NOTHING
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
    SELECT t.id, t.status AS old_status, t.updated_at AS old_updated_at, m.new_value
    FROM campaigns t
    JOIN schemaflow_archive.m000027_value_map m
      ON m.tbl = 'campaigns' AND m.col = 'status' AND m.old_value IS NOT DISTINCT FROM t.status
    LIMIT current_setting('schemaflow.batch_size', true)::int
), archived AS (
    INSERT INTO schemaflow_archive.m000027_status (tbl, pk, old_status, new_status, old_updated_at)
    SELECT 'campaigns', b.id, b.old_status, b.new_value, b.old_updated_at FROM b
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
    SELECT t.id, t.status AS old_status, t.updated_at AS old_updated_at, m.new_value
    FROM campaign_jobs t
    JOIN schemaflow_archive.m000027_value_map m
      ON m.tbl = 'campaign_jobs' AND m.col = 'status' AND m.old_value IS NOT DISTINCT FROM t.status
    WHERE t.ctid >= (SELECT ('(' || k || ',0)')::tid FROM prog)
      AND t.ctid < (SELECT ('(' || (k + n) || ',0)')::tid FROM prog)
), archived AS (
    INSERT INTO schemaflow_archive.m000027_status (tbl, pk, old_status, new_status, old_updated_at)
    SELECT 'campaign_jobs', b.id, b.old_status, b.new_value, b.old_updated_at FROM b WHERE b.new_value IS NOT NULL
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
UPDATE schemaflow_archive.m000027_progress SET done = true WHERE task IN ('dns_business_status', 'dns_business_status_end');
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
-- 15a. (mismatches 11-19, 3-8) NOT NULL of declared columns of tables that existed before up,
--      through a NOT VALID CHECK validated in step 16 (steps 15-17 as for the timestamps).
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT t.tbl, t.col, t.dflt, a.attnotnull, left('m27nn_' || t.tbl || '_' || t.col, 63) AS helper,
                    (SELECT k.attname FROM pg_index i
                     JOIN pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = i.indkey[0]
                     WHERE i.indrelid = a.attrelid AND i.indisprimary AND i.indnatts = 1
                       AND k.atttypid = 'uuid'::regtype) AS pk
             FROM schemaflow_archive.m000027_target_columns() t
             JOIN pg_attribute a ON a.attrelid = to_regclass('public.' || quote_ident(t.tbl))
                                AND a.attname = t.col AND NOT a.attisdropped
             WHERE t.not_null
    LOOP
        PERFORM schemaflow_archive.m000027_record('not_null', r.tbl || '.' || r.col, r.attnotnull);
        -- NULLs in a column with a declared default get that default (logged: down resets them)
        IF NOT r.attnotnull AND r.dflt IS NOT NULL AND r.pk IS NOT NULL THEN
            EXECUTE format('WITH b AS (UPDATE public.%1$I SET %2$I = %3$s WHERE %2$I IS NULL RETURNING %4$I) '
                           'INSERT INTO schemaflow_archive.m000027_backfill (tbl, col, pk) '
                           'SELECT %5$L, %6$L, b.%4$I FROM b ON CONFLICT DO NOTHING',
                           r.tbl, r.col, r.dflt, r.pk, r.tbl, r.col);
        END IF;
        IF NOT r.attnotnull AND NOT EXISTS (SELECT 1 FROM pg_constraint
                                            WHERE conrelid = ('public.' || quote_ident(r.tbl))::regclass
                                              AND conname = r.helper) THEN
            EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I CHECK (%I IS NOT NULL) NOT VALID',
                           r.tbl, r.helper, r.col);
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 15b. (mismatch 23) the status set of campaigns, NOT VALID
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    eq text;
BEGIN
    -- a validated CHECK (with the column's NOT NULL) that refuses NULL and these drifted
    -- values, under any name, is the same or a stricter set: no second one is added
    eq := schemaflow_archive.m000027_equivalent_check('campaigns', 'status',
        ARRAY[NULL, '', 'Running', 'RUNNING', 'done', 'Queued', 'unknown']);
    IF eq IS NOT NULL AND eq <> 'chk_campaigns_status_allowed' THEN
        RAISE NOTICE '000027: CHECK campaigns.chk_campaigns_status_allowed: equivalent exists as %', eq;
    END IF;
    PERFORM schemaflow_archive.m000027_record('constraint', 'campaigns.chk_campaigns_status_allowed',
        eq IS NOT NULL OR EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.campaigns'::regclass
                                  AND conname = 'chk_campaigns_status_allowed'));
    IF eq IS NULL AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.campaigns'::regclass
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
    SELECT t.id, t.status AS old_status, t.updated_at AS old_updated_at, m.new_value
    FROM campaign_jobs t
    JOIN schemaflow_archive.m000027_value_map m
      ON m.tbl = 'campaign_jobs' AND m.col = 'status' AND m.old_value IS NOT DISTINCT FROM t.status
), archived AS (
    INSERT INTO schemaflow_archive.m000027_status (tbl, pk, old_status, new_status, old_updated_at)
    SELECT 'campaign_jobs', b.id, b.old_status, b.new_value, b.old_updated_at FROM b
    ON CONFLICT (tbl, pk) DO NOTHING
)
UPDATE campaign_jobs t SET status = b.new_value FROM b WHERE t.id = b.id;
UPDATE schemaflow_archive.m000027_progress SET done = true WHERE task = 'job_status';
DO $$
DECLARE
    eq text := schemaflow_archive.m000027_equivalent_check('campaign_jobs', 'status',
        ARRAY[NULL, '', 'Queued', 'RUNNING', 'done', 'paused', 'pausing', 'archived', 'unknown']);
BEGIN
    IF eq IS NOT NULL AND eq <> 'chk_campaign_jobs_status_allowed' THEN
        RAISE NOTICE '000027: CHECK campaign_jobs.chk_campaign_jobs_status_allowed: equivalent exists as %', eq;
    END IF;
    PERFORM schemaflow_archive.m000027_record('constraint', 'campaign_jobs.chk_campaign_jobs_status_allowed',
        eq IS NOT NULL OR EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.campaign_jobs'::regclass
                                  AND conname = 'chk_campaign_jobs_status_allowed'));
    IF eq IS NULL AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'public.campaign_jobs'::regclass
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
               AND c.connamespace = 'public'::regnamespace
               AND (c.conname IN ('chk_campaigns_status_allowed', 'chk_campaign_jobs_status_allowed',
                                  'chk_dgcp_created_at_not_null', 'chk_dgcp_updated_at_not_null')
                    OR c.conname LIKE 'm27nn\_%'
                    OR EXISTS (SELECT 1 FROM schemaflow_archive.m000027_changes ch
                               WHERE ch.kind = 'constraint' AND ch.created_by_up
                                 AND ch.name = (SELECT relname::text FROM pg_class WHERE oid = c.conrelid) || '.' || c.conname)
                    OR EXISTS (SELECT 1 FROM schemaflow_archive.m000027_prior p
                               WHERE p.kind = 'check' AND p.name = (SELECT relname::text FROM pg_class WHERE oid = c.conrelid) || '.' || c.conname))
             ORDER BY 1, 2
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
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname, a.attname
             FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.connamespace = 'public'::regnamespace AND c.contype = 'c' AND c.convalidated
               AND c.conname LIKE 'm27nn\_%'
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', r.tbl, r.attname);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
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
    r  record;
    i  text;
    eq text;
BEGIN
    FOR r IN SELECT * FROM (VALUES
        ('idx_campaign_jobs_status_scheduled_at', 'campaign_jobs', ARRAY['status', 'scheduled_at'], NULL),
        ('idx_campaign_jobs_campaign_id', 'campaign_jobs', ARRAY['campaign_id'], NULL),
        ('idx_campaign_jobs_queued_next_execution', 'campaign_jobs', ARRAY['next_execution_at'],
         '(status = ''queued''::text)'),
        ('idx_dns_validation_results_campaign_business_status', 'dns_validation_results',
         ARRAY['dns_campaign_id', 'business_status'], NULL),
        ('idx_dns_validation_results_validation_status', 'dns_validation_results', ARRAY['validation_status'], NULL),
        ('idx_http_keyword_results_campaign_business_status', 'http_keyword_results',
         ARRAY['http_keyword_campaign_id', 'business_status'], NULL),
        ('idx_generated_domains_domain_name', 'generated_domains', ARRAY['domain_name'], NULL),
        ('idx_campaigns_status', 'campaigns', ARRAY['status'], NULL)) AS v(name, tbl, cols, pred)
    LOOP
        i := r.name;
        -- the same columns, predicate and uniqueness under another name: nothing is built;
        -- a placeholder relation under our name makes step 19's CREATE INDEX ... IF NOT
        -- EXISTS skip (step 19b removes it)
        eq := schemaflow_archive.m000027_equivalent_index(r.tbl, r.cols, r.pred, false);
        IF eq IS NOT NULL AND eq <> i AND to_regclass('public.' || i) IS NULL THEN
            RAISE NOTICE '000027: index %: equivalent exists as %', i, eq;
            PERFORM schemaflow_archive.m000027_record('index', i, true);
            PERFORM schemaflow_archive.m000027_record('placeholder', i, false);
            EXECUTE format('CREATE SEQUENCE public.%I', i);
            CONTINUE;
        END IF;
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
-- 19b. (mismatch 20) the placeholders of step 18 go
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    i text;
BEGIN
    FOR i IN SELECT name FROM schemaflow_archive.m000027_changes WHERE kind = 'placeholder' AND created_by_up
    LOOP
        IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('public.' || quote_ident(i)) AND relkind = 'S') THEN
            EXECUTE format('DROP SEQUENCE public.%I', i);
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 20. (mismatch 22) updated_at maintained by a BEFORE UPDATE trigger on every table that has
--     the column (after the data changes above, which therefore did not touch updated_at).
--     Tables that already have an updated_at trigger of their own keep it.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    t  text;
    eq text;
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
        -- a trigger that sets updated_at on update, under any name, is the same thing
        eq := schemaflow_archive.m000027_equivalent_trigger(t);
        IF eq IS NOT NULL AND eq <> 'set_updated_at' THEN
            RAISE NOTICE '000027: trigger %.set_updated_at: equivalent exists as %', t, eq;
        END IF;
        PERFORM schemaflow_archive.m000027_record('trigger', t || '.set_updated_at',
            eq IS NOT NULL OR EXISTS (SELECT 1 FROM pg_trigger g
                                      WHERE g.tgrelid = ('public.' || quote_ident(t))::regclass
                                        AND g.tgname = 'set_updated_at'));
        IF schemaflow_archive.m000027_created('trigger', t || '.set_updated_at')
           AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = ('public.' || quote_ident(t))::regclass
                           AND tgname = 'set_updated_at') THEN
            EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.%I '
                           'FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column()', t);
        END IF;
    END LOOP;
END
$$;
