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
    tbl text NOT NULL, pk uuid NOT NULL, old_status text, new_status text NOT NULL, old_updated_at timestamptz,
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
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_prior (
    kind text NOT NULL, name text NOT NULL, definition text NOT NULL,
    validated boolean NOT NULL DEFAULT true, PRIMARY KEY (kind, name)
);

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_created(p_kind text, p_name text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT created_by_up FROM schemaflow_archive.m000027_changes
                     WHERE kind = p_kind AND name = p_name), false)
$$;

-- Columns up created, archived without holding the application's writes off while a large
-- table is read (step 5): a trigger notes every row written from then on
-- (m000027_touched); the values are copied in committed block-range batches; the final step
-- per table takes the ACCESS EXCLUSIVE lock DROP COLUMN needs anyway (under lock_timeout),
-- copies again only the rows noted and the blocks the batches did not reach, and drops.
CREATE TABLE IF NOT EXISTS schemaflow_archive.m000027_touched (
    tbl text NOT NULL, pk uuid NOT NULL, PRIMARY KEY (tbl, pk)
);

-- The columns of one table recorded as created by up and still there (NULL: none).
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_new_columns(p_table text)
RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    FROM pg_attribute a
    JOIN schemaflow_archive.m000027_changes ch
      ON ch.kind = 'column' AND ch.name = p_table || '.' || a.attname AND ch.created_by_up
    WHERE a.attrelid = to_regclass('public.' || quote_ident(p_table)) AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- The query reading those columns' non-NULL values as (tbl, pk, vals) from "t"; a WHERE
-- clause is appended by the caller. NULL when the table has none of them.
-- A value equal to what up derives by itself (dns business_status from validation_status,
-- per m000027_value_map) is not archived: the next up derives it again.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_new_data_query(p_table text, p_pk text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format('SELECT %L AS tbl, t.%I AS pk, jsonb_strip_nulls(jsonb_build_object(%s)) AS vals FROM public.%I t',
                  p_table, p_pk,
                  string_agg(format('%L, %s', c, CASE WHEN p_table = 'dns_validation_results' AND c = 'business_status' THEN
                                    'CASE WHEN t.business_status IS NOT DISTINCT FROM (SELECT m.new_value '
                                    'FROM schemaflow_archive.m000027_value_map m WHERE m.tbl = ''dns_validation_results'' '
                                    'AND m.col = ''business_status'' AND m.old_value = t.validation_status) '
                                    'THEN NULL ELSE t.business_status END'
                                    ELSE format('t.%I', c) END), ', ' ORDER BY n),
                  p_table)
    FROM unnest(schemaflow_archive.m000027_new_columns(p_table)) WITH ORDINALITY AS u(c, n)
    HAVING count(*) > 0
$$;

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_archive_new_data(p_query text, p_where text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('INSERT INTO schemaflow_archive.m000027_new_data (tbl, pk, vals) '
                   'SELECT tbl, pk, vals FROM (%s WHERE %s) s WHERE vals <> ''{}''::jsonb '
                   'ON CONFLICT (tbl, pk) DO UPDATE SET vals = excluded.vals, archived_at = now()',
                   p_query, p_where);
END
$$;

-- Row trigger: notes the primary key of each row written. SECURITY DEFINER: the
-- application's role needs no right on schemaflow_archive.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_note_write()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO schemaflow_archive.m000027_touched (tbl, pk)
        VALUES (TG_ARGV[0], (to_jsonb(OLD) ->> TG_ARGV[1])::uuid) ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO schemaflow_archive.m000027_touched (tbl, pk)
        VALUES (TG_ARGV[0], (to_jsonb(NEW) ->> TG_ARGV[1])::uuid) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_watch_new_columns(p_table text, p_pk text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF schemaflow_archive.m000027_new_columns(p_table) IS NOT NULL THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER m000027_sf_down_note AFTER INSERT OR UPDATE OR DELETE '
                       'ON public.%I FOR EACH ROW EXECUTE FUNCTION schemaflow_archive.m000027_note_write(%L, %L)',
                       p_table, p_table, p_pk);
    END IF;
END
$$;

-- One batch of the copy: the next p_blocks heap blocks of the first table not finished
-- (progress task 'down_new_data_<table>'); no row once every table is done.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_archive_next(p_blocks bigint)
RETURNS TABLE (o_task text, o_next_block bigint) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    q text;
    k bigint;
BEGIN
    FOR r IN SELECT v.tbl, v.pk FROM (VALUES (1, 'domain_generation_campaign_params', 'campaign_id'),
                                            (2, 'campaign_jobs', 'id'), (3, 'dns_validation_results', 'id'),
                                            (4, 'http_keyword_results', 'id'), (5, 'security_events', 'id')) AS v(n, tbl, pk)
             ORDER BY v.n
    LOOP
        q := schemaflow_archive.m000027_new_data_query(r.tbl, r.pk);
        CONTINUE WHEN q IS NULL;
        o_task := 'down_new_data_' || r.tbl;
        k := coalesce((SELECT p.last_block FROM schemaflow_archive.m000027_progress p WHERE p.task = o_task), 0);
        CONTINUE WHEN k >= pg_relation_size(to_regclass('public.' || quote_ident(r.tbl)))
                           / current_setting('block_size')::int;
        PERFORM schemaflow_archive.m000027_archive_new_data(q, format('t.ctid >= %L::tid AND t.ctid < %L::tid',
                                                                      format('(%s,0)', k), format('(%s,0)', k + p_blocks)));
        o_next_block := k + p_blocks;
        RETURN NEXT;
        RETURN;
    END LOOP;
END
$$;

-- One batch of step 2b: in the first column up backfilled, the next p_limit rows it filled
-- are NULL again, their keys leaving m000027_backfill in the same statement (a killed run
-- goes on where it stopped); one row said per batch, none once the archive is empty.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_unfill_next(p_limit int)
RETURNS TABLE (o_tbl text, o_col text, o_rows bigint) LANGUAGE plpgsql AS $$
DECLARE
    v_pk text;
BEGIN
    SELECT b.tbl, b.col INTO o_tbl, o_col FROM schemaflow_archive.m000027_backfill b ORDER BY 1, 2 LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_pk := (SELECT a.attname FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = to_regclass('public.' || quote_ident(o_tbl)) AND i.indisprimary);
    IF v_pk IS NULL OR NOT EXISTS (
            SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.' || quote_ident(o_tbl))
            AND attname = o_col AND NOT attisdropped) THEN
        DELETE FROM schemaflow_archive.m000027_backfill WHERE tbl = o_tbl AND col = o_col;
    ELSE
        EXECUTE format(
            'WITH b AS (DELETE FROM schemaflow_archive.m000027_backfill d '
            '           WHERE (d.tbl, d.col, d.pk) IN (SELECT x.tbl, x.col, x.pk FROM schemaflow_archive.m000027_backfill x '
            '                                          WHERE x.tbl = %1$L AND x.col = %2$L LIMIT %3$s) '
            '           RETURNING d.pk) '
            'UPDATE public.%1$I t SET %2$I = NULL FROM b WHERE t.%4$I = b.pk',
            o_tbl, o_col, p_limit, v_pk);
    END IF;
    GET DIAGNOSTICS o_rows = ROW_COUNT;
    RETURN NEXT;
END
$$;

-- The final step for one table (also used alone, then copying the whole table under the
-- lock): copy what the batches could not have seen, then drop the columns.
CREATE OR REPLACE FUNCTION schemaflow_archive.m000027_drop_new_columns(p_table text, p_pk text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rel   regclass := to_regclass('public.' || quote_ident(p_table));
    cols  text[] := schemaflow_archive.m000027_new_columns(p_table);
    q     text := schemaflow_archive.m000027_new_data_query(p_table, p_pk);
    k     bigint;
BEGIN
    IF rel IS NULL THEN
        RETURN;
    END IF;
    IF cols IS NOT NULL THEN
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', rel);
        -- rows written since the trigger came: archived afresh (or forgotten when gone)
        DELETE FROM schemaflow_archive.m000027_new_data d USING schemaflow_archive.m000027_touched x
        WHERE x.tbl = p_table AND d.tbl = p_table AND d.pk = x.pk;
        -- = ANY(ARRAY(...)): looked up by primary key, never a scan of the table under the lock
        PERFORM schemaflow_archive.m000027_archive_new_data(q, format(
            't.%I = ANY (ARRAY(SELECT x.pk FROM schemaflow_archive.m000027_touched x WHERE x.tbl = %L))',
            p_pk, p_table));
        -- blocks the batches did not reach: all of them when no batch ran
        k := coalesce((SELECT last_block FROM schemaflow_archive.m000027_progress
                       WHERE task = 'down_new_data_' || p_table), 0);
        PERFORM schemaflow_archive.m000027_archive_new_data(q, format('t.ctid >= %L::tid', format('(%s,0)', k)));
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS m000027_sf_down_note ON %s', rel);
    DELETE FROM schemaflow_archive.m000027_touched WHERE tbl = p_table;
    IF cols IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s %s', rel,
                       (SELECT string_agg(format('DROP COLUMN IF EXISTS %I', c), ', ') FROM unnest(cols) AS c));
    END IF;
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
--    NOT NULL (1, 2); then (2b) backfills of columns that existed before up.
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
    FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname FROM pg_constraint c
             WHERE c.connamespace = 'public'::regnamespace AND c.contype = 'c' AND c.conname LIKE 'm27nn\_%'
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
    END LOOP;
    -- placeholders of an interrupted index step
    FOR r IN SELECT name FROM schemaflow_archive.m000027_changes WHERE kind = 'placeholder' AND created_by_up
    LOOP
        IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('public.' || quote_ident(r.name)) AND relkind = 'S') THEN
            EXECUTE format('DROP SEQUENCE public.%I', r.name);
        END IF;
    END LOOP;
    -- defaults up set on columns that existed before it
    FOR r IN SELECT name FROM schemaflow_archive.m000027_changes WHERE kind = 'column_default' AND created_by_up
    LOOP
        v_tbl := split_part(r.name, '.', 1);
        v_obj := split_part(r.name, '.', 2);
        IF NOT schemaflow_archive.m000027_created('column', r.name)
           AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.' || quote_ident(v_tbl))
                       AND attname = v_obj AND NOT attisdropped) THEN
            EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I DROP DEFAULT', v_tbl, v_obj);
        END IF;
    END LOOP;

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
END
$$;

-- schemaflow:step batch
-- 2b. NULLs up filled in columns that existed before it: NULL again, in committed batches
--     of the archived keys (see m000027_unfill_next). One UPDATE over all of them, inside
--     step 2, held step 2's table locks for seconds on a production-sized database.
SELECT u.o_tbl, u.o_col, u.o_rows
FROM schemaflow_archive.m000027_unfill_next(
         coalesce(nullif(current_setting('schemaflow.batch_size', true), '')::int, 5000)) AS u;

-- schemaflow:step transaction
-- 3. (mismatch 23) original status values back, where the row still holds what up wrote
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
-- An updated_at trigger the table had before up (ours are gone by now) moved updated_at when
-- up rewrote the status, and would again now: it is held off for this transaction (the
-- ALTER's lock keeps every other writer out meanwhile) and updated_at is put back too.
DO $$
DECLARE
    t    text;
    trig text[];
    g    text;
BEGIN
    FOREACH t IN ARRAY ARRAY['campaigns', 'campaign_jobs']
    LOOP
        trig := ARRAY(SELECT x.tgname::text FROM pg_trigger x JOIN pg_proc p ON p.oid = x.tgfoid
                      WHERE x.tgrelid = ('public.' || t)::regclass AND NOT x.tgisinternal AND x.tgenabled = 'O'
                        AND (x.tgtype & 19) = 19 AND p.prosrc ~* 'new\s*\.\s*updated_at\s*:?=');
        FOREACH g IN ARRAY trig LOOP
            EXECUTE format('ALTER TABLE public.%I DISABLE TRIGGER %I', t, g);
        END LOOP;
        EXECUTE format('UPDATE public.%1$I t SET status = s.old_status, updated_at = CASE WHEN cardinality(%2$L::text[]) > 0 '
                       'THEN s.old_updated_at ELSE t.updated_at END FROM schemaflow_archive.m000027_status s '
                       'WHERE s.tbl = %1$L AND s.pk = t.id AND t.status = s.new_status', t, trig);
        FOREACH g IN ARRAY trig LOOP
            EXECUTE format('ALTER TABLE public.%I ENABLE TRIGGER %I', t, g);
        END LOOP;
    END LOOP;
END
$$;
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

-- schemaflow:step no-transaction
-- 5. (mismatches 1, 2, 3, 7-10, 13) columns up created: values archived, columns dropped
--    (see m000027_drop_new_columns above). First the triggers that note rows written from
--    now on, one table per statement (the runner's lock_timeout applies to each).
SELECT schemaflow_archive.m000027_watch_new_columns('domain_generation_campaign_params', 'campaign_id');
SELECT schemaflow_archive.m000027_watch_new_columns('campaign_jobs', 'id');
SELECT schemaflow_archive.m000027_watch_new_columns('dns_validation_results', 'id');
SELECT schemaflow_archive.m000027_watch_new_columns('http_keyword_results', 'id');
SELECT schemaflow_archive.m000027_watch_new_columns('security_events', 'id');

-- schemaflow:step batch
-- 5b. the values copied in block-range batches, no table lock beyond reading
INSERT INTO schemaflow_archive.m000027_progress (task, last_block)
SELECT a.o_task, a.o_next_block
FROM schemaflow_archive.m000027_archive_next(
         greatest(1, coalesce(current_setting('schemaflow.batch_size', true)::int / 50, 1000000000))) AS a
ON CONFLICT (task) DO UPDATE SET last_block = excluded.last_block;

-- schemaflow:step transaction
-- 5c. per table, one transaction each: what the batches could not have seen, then the drop
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
-- columns up added to other tables that existed before it (archived when the table has a
-- single-column uuid primary key)
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT split_part(ch.name, '.', 1) AS tbl,
                    (SELECT a.attname FROM pg_index i
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                     WHERE i.indrelid = to_regclass('public.' || quote_ident(split_part(ch.name, '.', 1)))
                       AND i.indisprimary AND i.indnatts = 1 AND a.atttypid = 'uuid'::regtype) AS pk
             FROM schemaflow_archive.m000027_changes ch
             WHERE ch.kind = 'column' AND ch.created_by_up
               AND split_part(ch.name, '.', 1) NOT IN ('domain_generation_campaign_params', 'campaign_jobs',
                                                       'dns_validation_results', 'http_keyword_results', 'security_events')
               AND to_regclass('public.' || quote_ident(split_part(ch.name, '.', 1))) IS NOT NULL
             ORDER BY 1
    LOOP
        IF r.pk IS NOT NULL THEN
            PERFORM schemaflow_archive.m000027_drop_new_columns(r.tbl, r.pk);
        ELSE
            EXECUTE format('ALTER TABLE public.%I %s', r.tbl,
                           (SELECT string_agg(format('DROP COLUMN IF EXISTS %I', split_part(ch.name, '.', 2)), ', ')
                            FROM schemaflow_archive.m000027_changes ch
                            WHERE ch.kind = 'column' AND ch.created_by_up AND split_part(ch.name, '.', 1) = r.tbl));
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step transaction
-- column types up converted (varchar(n) -> text) back to what they were; this one
-- rewrites the table (a length check), down only
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT split_part(p.name, '.', 1) AS tbl, split_part(p.name, '.', 2) AS col, p.definition
             FROM schemaflow_archive.m000027_prior p WHERE p.kind = 'column_type' ORDER BY p.name
    LOOP
        IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('public.' || quote_ident(r.tbl))
                   AND attname = r.col AND NOT attisdropped
                   AND format_type(atttypid, atttypmod) <> r.definition) THEN
            EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I TYPE %s', r.tbl, r.col, r.definition);
        END IF;
    END LOOP;
    DELETE FROM schemaflow_archive.m000027_prior WHERE kind = 'column_type';
END
$$;

-- schemaflow:step transaction
-- CHECKs up replaced or widened: the old definitions back (NOT VALID here, validated next)
-- A runner's own lock_timeout (schemaflow sets one) wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
DO $$
DECLARE
    r    record;
    body text;
    cand text;
BEGIN
    FOR r IN SELECT split_part(p.name, '.', 1) AS tbl, split_part(p.name, '.', 2) AS con, p.definition
             FROM schemaflow_archive.m000027_prior p WHERE p.kind = 'check' ORDER BY p.name
    LOOP
        IF to_regclass('public.' || quote_ident(r.tbl)) IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM pg_constraint
                           WHERE conrelid = ('public.' || quote_ident(r.tbl))::regclass AND conname = r.con
                             AND pg_get_constraintdef(oid) = r.definition) THEN
            body := regexp_replace(r.definition, '\s+NOT VALID$', '');
            -- The stored text of a list CHECK on a varchar column, parsed again, casts each
            -- element instead of the array; written as the IN list it came from, it parses
            -- back to exactly the stored form. The first candidate that does wins.
            FOREACH cand IN ARRAY ARRAY[
                regexp_replace(regexp_replace(body,
                    '\(\((\w+)\)::text = ANY \(\(ARRAY\[([^]]*)\]\)::text\[\]\)\)', '(\1 IN (\2))', 'g'),
                    '''::character varying', '''', 'g'),
                body]
            LOOP
                EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT IF EXISTS %I', r.tbl, r.con);
                EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I %s NOT VALID', r.tbl, r.con, cand);
                EXIT WHEN (SELECT regexp_replace(pg_get_constraintdef(oid), '\s+NOT VALID$', '') FROM pg_constraint
                           WHERE conrelid = ('public.' || quote_ident(r.tbl))::regclass AND conname = r.con) = body;
            END LOOP;
        END IF;
    END LOOP;
END
$$;

-- schemaflow:step no-transaction
-- The old CHECKs validated again. A value only the widened CHECK allowed (written since up:
-- a derived DNS business_status, or new code's) is moved to m000027_new_data and the column
-- set to NULL, in committed batches, before VALIDATE: the next up widens the CHECK again
-- and then puts the value back. Writes are checked by the NOT VALID CHECK meanwhile.
DO $$
DECLARE
    r record;
    n bigint;
BEGIN
    FOR r IN SELECT split_part(p.name, '.', 1) AS tbl, split_part(p.name, '.', 2) AS con,
                    pg_get_expr(c.conbin, c.conrelid) AS expr, a.attname AS col,
                    (SELECT pa.attname FROM pg_index i
                     JOIN pg_attribute pa ON pa.attrelid = i.indrelid AND pa.attnum = i.indkey[0]
                     WHERE i.indrelid = c.conrelid AND i.indisprimary AND i.indnatts = 1
                       AND pa.atttypid = 'uuid'::regtype) AS pk
             FROM schemaflow_archive.m000027_prior p
             JOIN pg_constraint c ON c.conrelid = to_regclass('public.' || quote_ident(split_part(p.name, '.', 1)))
                                 AND c.conname = split_part(p.name, '.', 2)
             LEFT JOIN pg_attribute a ON a.attrelid = c.conrelid AND cardinality(c.conkey) = 1
                                     AND a.attnum = c.conkey[1] AND NOT a.attnotnull
             WHERE p.kind = 'check' AND p.validated AND NOT c.convalidated ORDER BY p.name
    LOOP
        IF r.col IS NOT NULL AND r.pk IS NOT NULL THEN
            LOOP
                EXECUTE format(
                    'WITH b AS (SELECT %1$I AS pk, %2$I AS v FROM public.%3$I WHERE (%4$s) IS FALSE LIMIT %5$s), '
                    'kept AS (INSERT INTO schemaflow_archive.m000027_new_data AS d (tbl, pk, vals) '
                    '         SELECT %3$L, b.pk, jsonb_build_object(%2$L, b.v) FROM b '
                    '         ON CONFLICT (tbl, pk) DO UPDATE SET vals = d.vals || excluded.vals) '
                    'UPDATE public.%3$I t SET %2$I = NULL FROM b WHERE t.%1$I = b.pk',
                    r.pk, r.col, r.tbl, r.expr,
                    coalesce(nullif(current_setting('schemaflow.batch_size', true), '')::int, 5000));
                GET DIAGNOSTICS n = ROW_COUNT;
                COMMIT;
                EXIT WHEN n = 0;
            END LOOP;
        END IF;
        EXECUTE format('ALTER TABLE public.%I VALIDATE CONSTRAINT %I', r.tbl, r.con);
    END LOOP;
END
$$;

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
DELETE FROM schemaflow_archive.m000027_prior;
-- empty by now (step 5c)
DROP TABLE IF EXISTS schemaflow_archive.m000027_touched;
