-- Variant "already-aligned": applied after the up migration of 000027 ran on the synthetic
-- data (schemaflow.baseline runs it): its bookkeeping removed and the version recorded as
-- 26 again. The target schema at version 26: up changes only the version.
SET client_min_messages = warning;
DROP SCHEMA schemaflow_archive CASCADE;
DELETE FROM schema_migrations;
INSERT INTO schema_migrations (version, dirty) VALUES (26, false);
ANALYZE;
