-- schemaflow:rerunnable
-- 000027 down: reverts exactly what the up migration changed on THIS database, as recorded
-- in schemaflow_archive.m000027_changes (created_by_up = true). Objects that existed before
-- up ran are left as they are, with their data.
--
-- Nothing is lost:
--   * orphaned rows up deleted and status values it rewrote are put back from
--     schemaflow_archive.m000027_rows / m000027_status (a status the application changed
--     since up is kept: only rows still holding the value up wrote are restored);
--   * data written after up into the columns and tables up created is kept in
--     schemaflow_archive.m000027_new_data / m000027_new_rows before they are dropped, and the
--     next up puts it back.
-- Idempotent (schemaflow:rerunnable): every statement converges when re-run after a crash.

-- schemaflow:step transaction
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
CREATE SCHEMA IF NOT EXISTS schemaflow_archive;
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_changes (
    kind text NOT NULL, name text NOT NULL, created_by_up boolean NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_rows (
    tbl text NOT NULL, pk uuid NOT NULL, reason text NOT NULL, row_data jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tbl, pk)
);
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_status (
    tbl text NOT NULL, pk uuid NOT NULL, old_status text, new_status text NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tbl, pk)
);
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_backfill (
    tbl text NOT NULL, col text NOT NULL, pk uuid NOT NULL, PRIMARY KEY (tbl, col, pk)
);
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_new_data (
    tbl text NOT NULL, pk uuid NOT NULL, vals jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tbl, pk)
);
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_new_rows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tbl text NOT NULL, row_data jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_value_map (
    tbl text NOT NULL, col text NOT NULL, old_value text, new_value text NOT NULL
);
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_progress (
    task text PRIMARY KEY, last_block bigint NOT NULL, done boolean NOT NULL DEFAULT false
);

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_created(p_kind text, p_name text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT created_by_up FROM schemaflow_archive.m000027_changes
                     WHERE kind = p_kind AND name = p_name), false)
$$;

-- Archive the values of the columns up created on one table (non-NULL values, keyed by the
-- row's primary key), then drop those columns. Writes are held off (SHARE lock) while the
-- values are copied so none written meanwhile is lost.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_drop_new_columns(p_table text, p_pk text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rel   regclass := to_regclass('public.' || quote_ident(p_table));
    cols  text[];
    exprs text[];
BEGIN
    IF rel IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO cols
    FROM pg_attribute a
    JOIN schemaflow_archive.m000027_changes ch
      ON ch.kind = 'column' AND ch.name = p_table || '.' || a.attname AND ch.created_by_up
    WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped;
    IF cols IS NULL THEN
        RETURN;
    END IF;
    -- A value equal to what up derives by itself (dns business_status from validation_status,
    -- per m000027_value_map) is not archived: the next up derives it again.
    SELECT array_agg(CASE WHEN p_table = 'dns_validation_results' AND c = 'business_status' THEN
                              'CASE WHEN t.business_status IS NOT DISTINCT FROM (SELECT m.new_value '
                              'FROM schemaflow_archive.m000027_value_map m WHERE m.tbl = ''dns_validation_results'' '
                              'AND m.col = ''business_status'' AND m.old_value = t.validation_status) '
                              'THEN NULL ELSE t.business_status END'
                          ELSE format('t.%I', c) END ORDER BY n)
    INTO exprs FROM unnest(cols) WITH ORDINALITY AS u(c, n);
    EXECUTE format('LOCK TABLE %s IN SHARE MODE', rel);
    EXECUTE format('INSERT INTO schemaflow_archive.m000027_new_data (tbl, pk, vals) '
                   'SELECT %L, pk, vals FROM (SELECT t.%I AS pk, jsonb_strip_nulls(jsonb_build_object(%s)) AS vals '
                   'FROM %s t) s WHERE vals <> ''{}''::jsonb '
                   'ON CONFLICT (tbl, pk) DO UPDATE SET vals = excluded.vals, archived_at = now()',
                   p_table, p_pk,
                   (SELECT string_agg(format('%L, %s', c, e), ', ' ORDER BY n)
                    FROM unnest(cols, exprs) WITH ORDINALITY AS u(c, e, n)),
                   rel);
    EXECUTE format('ALTER TABLE %s %s', rel,
                   (SELECT string_agg(format('DROP COLUMN IF EXISTS %I', c), ', ') FROM unnest(cols) AS c));
END
$$;

-- schemaflow:step no-transaction
-- 1. indexes up created (mismatch 20): renamed to a name only this file uses, then dropped
--    concurrently.
DO $$
DECLARE
    i text;
BEGIN
    FOR i IN SELECT name FROM schemaflow_archive.m000027_changes WHERE kind = 'index' AND created_by_up
    LOOP
        IF to_regclass('public.' || quote_ident(i)) IS NOT NULL THEN
            EXECUTE format('ALTER INDEX public.%I RENAME TO %I', i, left(i, 50) || '_sf_drop');
        END IF;
    END LOOP;
END
$$;
DROP INDEX CONCURRENTLY IF EXISTS idx_campaign_jobs_status_scheduled_at_sf_drop;
DROP INDEX CONCURRENTLY IF EXISTS idx_campaign_jobs_campaign_id_sf_drop;
DROP INDEX CONCURRENTLY IF EXISTS idx_campaign_jobs_queued_next_execution_sf_drop;
DROP INDEX CONCURRENTLY IF EXISTS idx_dns_validation_results_campaign_business_statu_sf_drop;
DROP INDEX CONCURRENTLY IF EXISTS idx_dns_validation_results_validation_status_sf_drop;
DROP INDEX CONCURRENTLY IF EXISTS idx_http_keyword_results_campaign_business_status_sf_drop;
DROP INDEX CONCURRENTLY IF EXISTS idx_generated_domains_domain_name_sf_drop;
DROP INDEX CONCURRENTLY IF EXISTS idx_campaigns_status_sf_drop;

-- schemaflow:step transaction
-- 2. triggers and their function (22), CHECK and foreign-key constraints (21, 23, 1, 2),
--    NOT NULL (1, 2) and backfills of columns that existed before up.
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    r record;
    v_tbl text;
    v_obj text;
BEGIN
    FOR r IN SELECT name FROM schemaflow_archive.m000027_changes WHERE kind = 'trigger' AND created_by_up
    LOOP
        v_tbl := split_part(r.name, '.', 1);
        IF to_regclass('public.' || quote_ident(v_tbl)) IS NOT NULL THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON public.%I', split_part(r.name, '.', 2), v_tbl);
        END IF;
    END LOOP;
    IF schemaflow_archive.m000027_created('function', 'public.dns_validation_results_derive_business_status')
       AND to_regprocedure('public.dns_validation_results_derive_business_status()') IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_trigger
                       WHERE tgfoid = to_regprocedure('public.dns_validation_results_derive_business_status()')) THEN
        DROP FUNCTION public.dns_validation_results_derive_business_status();
    END IF;
    IF schemaflow_archive.m000027_created('function', 'public.update_updated_at_column')
       AND to_regprocedure('public.update_updated_at_column()') IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgfoid = to_regprocedure('public.update_updated_at_column()')) THEN
        DROP FUNCTION public.update_updated_at_column();
    END IF;

    FOR r IN SELECT name FROM schemaflow_archive.m000027_changes WHERE kind = 'constraint' AND created_by_up
    LOOP
        v_tbl := split_part(r.name, '.', 1);
        v_obj := split_part(r.name, '.', 2);
        IF to_regclass('public.' || quote_ident(v_tbl)) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT IF EXISTS %I', v_tbl, v_obj);
        END IF;
    END LOOP;
    -- helper CHECKs of an interrupted NOT NULL conversion
    ALTER TABLE public.domain_generation_campaign_params DROP CONSTRAINT IF EXISTS chk_dgcp_created_at_not_null;
    ALTER TABLE public.domain_generation_campaign_params DROP CONSTRAINT IF EXISTS chk_dgcp_updated_at_not_null;

    FOR r IN SELECT name FROM schemaflow_archive.m000027_changes ch WHERE kind = 'not_null' AND created_by_up
    LOOP
        v_tbl := split_part(r.name, '.', 1);
        v_obj := split_part(r.name, '.', 2);
        IF NOT schemaflow_archive.m000027_created('column', r.name)
           AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.' || quote_ident(v_tbl))
                       AND attname = v_obj AND attnotnull AND NOT attisdropped) THEN
            EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I DROP NOT NULL', v_tbl, v_obj);
        END IF;
    END LOOP;

    -- NULLs up filled in columns that existed before it: NULL again
    FOR r IN SELECT DISTINCT b.tbl, b.col FROM schemaflow_archive.m000027_backfill b
    LOOP
        IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.' || quote_ident(r.tbl))
                   AND attname = r.col AND NOT attisdropped) THEN
            EXECUTE format('UPDATE public.%1$I t SET %2$I = NULL FROM schemaflow_archive.m000027_backfill b '
                           'WHERE b.tbl = %3$L AND b.col = %4$L AND t.%5$I = b.pk',
                           r.tbl, r.col, r.tbl, r.col,
                           (SELECT a.attname FROM pg_index i
                            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                            WHERE i.indrelid = to_regclass('public.' || quote_ident(r.tbl)) AND i.indisprimary));
        END IF;
        DELETE FROM schemaflow_archive.m000027_backfill WHERE tbl = r.tbl AND col = r.col;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 3. (mismatch 23) original status values back, where the row still holds what up wrote
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
UPDATE campaigns t SET status = s.old_status
FROM schemaflow_archive.m000027_status s
WHERE s.tbl = 'campaigns' AND s.pk = t.id AND t.status = s.new_status;
UPDATE campaign_jobs t SET status = s.old_status
FROM schemaflow_archive.m000027_status s
WHERE s.tbl = 'campaign_jobs' AND s.pk = t.id AND t.status = s.new_status;
DELETE FROM schemaflow_archive.m000027_status WHERE tbl IN ('campaigns', 'campaign_jobs');

-- schemaflow:step transaction
-- 4. (mismatches 11, 12, 14-19) tables up created: rows archived, table dropped
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT name FROM schemaflow_archive.m000027_changes WHERE kind = 'table' AND created_by_up ORDER BY name
    LOOP
        IF to_regclass('public.' || quote_ident(t)) IS NOT NULL THEN
            EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', t);
            EXECUTE format('INSERT INTO schemaflow_archive.m000027_new_rows (tbl, row_data) '
                           'SELECT %L, to_jsonb(t) FROM public.%I t', t, t);
            EXECUTE format('DROP TABLE public.%I', t);
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 5. (mismatches 1, 2, 3, 7-10, 13) columns up created: values archived, column dropped;
--    one table per transaction
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
SELECT schemaflow_archive.m000027_drop_new_columns('domain_generation_campaign_params', 'campaign_id');

-- schemaflow:step transaction
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
SELECT schemaflow_archive.m000027_drop_new_columns('campaign_jobs', 'id');

-- schemaflow:step transaction
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
SELECT schemaflow_archive.m000027_drop_new_columns('dns_validation_results', 'id');

-- schemaflow:step transaction
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
SELECT schemaflow_archive.m000027_drop_new_columns('http_keyword_results', 'id');

-- schemaflow:step transaction
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
SELECT schemaflow_archive.m000027_drop_new_columns('security_events', 'id');

-- schemaflow:step transaction
-- 6. (mismatches 4, 5, 6) the old column names of campaign_jobs
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT split_part(split_part(name, '.', 2), '>', 1) AS old_name,
                    split_part(split_part(name, '.', 2), '>', 2) AS new_name
             FROM schemaflow_archive.m000027_changes WHERE kind = 'rename' AND created_by_up
    LOOP
        IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.campaign_jobs'::regclass
                   AND attname = r.new_name AND NOT attisdropped)
           AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'public.campaign_jobs'::regclass
                           AND attname = r.old_name AND NOT attisdropped) THEN
            EXECUTE format('ALTER TABLE public.campaign_jobs RENAME COLUMN %I TO %I', r.new_name, r.old_name);
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- 7. (mismatch 21) orphaned rows back, in the shape the table has again
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
INSERT INTO dns_validation_results
SELECT p.* FROM schemaflow_archive.m000027_rows r,
     jsonb_populate_record(NULL::dns_validation_results, r.row_data) AS p
WHERE r.tbl = 'dns_validation_results'
ON CONFLICT DO NOTHING;
DELETE FROM schemaflow_archive.m000027_rows WHERE tbl = 'dns_validation_results';
INSERT INTO http_keyword_results
SELECT p.* FROM schemaflow_archive.m000027_rows r,
     jsonb_populate_record(NULL::http_keyword_results, r.row_data) AS p
WHERE r.tbl = 'http_keyword_results'
ON CONFLICT DO NOTHING;
DELETE FROM schemaflow_archive.m000027_rows WHERE tbl = 'http_keyword_results';
INSERT INTO campaign_jobs
SELECT p.* FROM schemaflow_archive.m000027_rows r,
     jsonb_populate_record(NULL::campaign_jobs, r.row_data) AS p
WHERE r.tbl = 'campaign_jobs'
ON CONFLICT DO NOTHING;
DELETE FROM schemaflow_archive.m000027_rows WHERE tbl = 'campaign_jobs';

-- schemaflow:step transaction
-- 8. forget what up did (the archives of new data stay for the next up)
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DELETE FROM schemaflow_archive.m000027_changes;
DELETE FROM schemaflow_archive.m000027_progress;
DELETE FROM schemaflow_archive.m000027_value_map;
