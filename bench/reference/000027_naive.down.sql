-- 000027 rolled back the way such rollbacks are usually written.
--
-- The benchmark's NAIVE REFERENCE for the rollback (not part of the product). It reverts
-- what sql/migrations/000027_comprehensive_schema_alignment.up.sql did to a version-26
-- database, applied with `psql -1 -f` like the naive up: ONE transaction, indexes dropped
-- without CONCURRENTLY, every statement over its whole table, no lock_timeout. Every
-- ACCESS EXCLUSIVE lock it takes is held until the final COMMIT. So that the rows come back
-- as they were (the benchmark checks it), it puts back the orphans and statuses from the
-- online up's archive (schemaflow_archive), which the benchmark's schemaflow up wrote; the
-- values in the new columns are simply dropped (no archive).

-- 20 (mismatch 20): indexes
DROP INDEX IF EXISTS idx_campaign_jobs_campaign_id;
DROP INDEX IF EXISTS idx_campaign_jobs_queued_next_execution;
DROP INDEX IF EXISTS idx_campaign_jobs_status_scheduled_at;
DROP INDEX IF EXISTS idx_campaigns_status;
DROP INDEX IF EXISTS idx_dns_validation_results_campaign_business_status;
DROP INDEX IF EXISTS idx_dns_validation_results_validation_status;
DROP INDEX IF EXISTS idx_generated_domains_domain_name;
DROP INDEX IF EXISTS idx_http_keyword_results_campaign_business_status;

-- 22: updated_at triggers and the business_status trigger, and their functions
DROP TRIGGER IF EXISTS set_updated_at ON campaign_jobs;
DROP TRIGGER IF EXISTS set_updated_at ON campaigns;
DROP TRIGGER IF EXISTS set_updated_at ON domain_generation_campaign_params;
DROP TRIGGER IF EXISTS set_updated_at ON keyword_sets;
DROP TRIGGER IF EXISTS set_updated_at ON personas;
DROP TRIGGER IF EXISTS set_updated_at ON proxies;
DROP TRIGGER IF EXISTS set_updated_at ON proxy_pools;
DROP TRIGGER IF EXISTS set_updated_at ON users;
DROP TRIGGER IF EXISTS trg_dns_validation_results_business_status ON dns_validation_results;
DROP FUNCTION IF EXISTS dns_validation_results_derive_business_status();

-- 21, 23: foreign keys and CHECKs
ALTER TABLE campaign_jobs DROP CONSTRAINT IF EXISTS chk_campaign_jobs_status_allowed;
ALTER TABLE campaign_jobs DROP CONSTRAINT IF EXISTS fk_campaign_jobs_campaign;
ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS chk_campaigns_status_allowed;
ALTER TABLE dns_validation_results DROP CONSTRAINT IF EXISTS fk_dns_validation_results_campaign;
ALTER TABLE http_keyword_results DROP CONSTRAINT IF EXISTS fk_http_keyword_results_campaign;

-- 23: the original statuses
UPDATE campaigns t SET status = s.old_status FROM schemaflow_archive.m000027_status s
WHERE s.tbl = 'campaigns' AND s.pk = t.id AND t.status = s.new_status;
UPDATE campaign_jobs t SET status = s.old_status FROM schemaflow_archive.m000027_status s
WHERE s.tbl = 'campaign_jobs' AND s.pk = t.id AND t.status = s.new_status;

-- 11, 12, 14-19: new tables
DROP TABLE IF EXISTS architecture_refactor_log, authorization_decisions, communication_patterns,
    keyword_rules, proxy_pool_memberships, service_architecture_metrics,
    service_capacity_metrics, service_dependencies;
DROP FUNCTION IF EXISTS update_updated_at_column();

-- 1-3, 7-10, 13: new columns
ALTER TABLE domain_generation_campaign_params DROP COLUMN IF EXISTS created_at, DROP COLUMN IF EXISTS updated_at;
ALTER TABLE campaign_jobs DROP COLUMN IF EXISTS business_status, DROP COLUMN IF EXISTS last_attempted_at,
    DROP COLUMN IF EXISTS next_execution_at, DROP COLUMN IF EXISTS locked_at, DROP COLUMN IF EXISTS locked_by;
ALTER TABLE dns_validation_results DROP COLUMN IF EXISTS business_status;
ALTER TABLE http_keyword_results DROP COLUMN IF EXISTS business_status;
ALTER TABLE security_events DROP COLUMN IF EXISTS session_id, DROP COLUMN IF EXISTS campaign_id,
    DROP COLUMN IF EXISTS resource_type, DROP COLUMN IF EXISTS resource_id,
    DROP COLUMN IF EXISTS action_attempted, DROP COLUMN IF EXISTS authorization_result,
    DROP COLUMN IF EXISTS denial_reason, DROP COLUMN IF EXISTS risk_score,
    DROP COLUMN IF EXISTS source_ip, DROP COLUMN IF EXISTS user_agent,
    DROP COLUMN IF EXISTS request_context, DROP COLUMN IF EXISTS audit_log_id;

-- 4-6: the old column names
ALTER TABLE campaign_jobs RENAME COLUMN job_type TO campaign_type;
ALTER TABLE campaign_jobs RENAME COLUMN job_payload TO payload;
ALTER TABLE campaign_jobs RENAME COLUMN processing_server_id TO worker_id;

-- 21: the orphans back
INSERT INTO dns_validation_results
SELECT p.* FROM schemaflow_archive.m000027_rows r,
     jsonb_populate_record(NULL::dns_validation_results, r.row_data) AS p
WHERE r.tbl = 'dns_validation_results' ON CONFLICT DO NOTHING;
INSERT INTO http_keyword_results
SELECT p.* FROM schemaflow_archive.m000027_rows r,
     jsonb_populate_record(NULL::http_keyword_results, r.row_data) AS p
WHERE r.tbl = 'http_keyword_results' ON CONFLICT DO NOTHING;
INSERT INTO campaign_jobs
SELECT p.* FROM schemaflow_archive.m000027_rows r,
     jsonb_populate_record(NULL::campaign_jobs, r.row_data) AS p
WHERE r.tbl = 'campaign_jobs' ON CONFLICT DO NOTHING;
