-- 000027 comprehensive schema alignment, written the way such migrations usually are.
--
-- The benchmark's NAIVE REFERENCE (not part of the product). It makes the same changes as
-- sql/migrations/000027_comprehensive_schema_alignment.up.sql, but like the seed's plan:
-- applied with `psql -1 -f` (the seed's option 2), so everything below is ONE transaction;
-- each backfill is one UPDATE over the whole table; indexes are built without
-- CONCURRENTLY; foreign keys and CHECK constraints are validated as they are added;
-- orphans are simply deleted and rewritten statuses not kept (no archive); no lock_timeout.
-- Every ACCESS EXCLUSIVE lock it takes is held until the final COMMIT. The end schema is the
-- same as the online migration's (same names), so the same verify checks apply to both.

-- 1, 2: domain_generation_campaign_params timestamps (existing rows get the time of the
-- migration, as in the seed)
ALTER TABLE domain_generation_campaign_params
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

-- 3-8: campaign_jobs
ALTER TABLE campaign_jobs RENAME COLUMN campaign_type TO job_type;
ALTER TABLE campaign_jobs RENAME COLUMN payload TO job_payload;
ALTER TABLE campaign_jobs RENAME COLUMN worker_id TO processing_server_id;
ALTER TABLE campaign_jobs
    ADD COLUMN IF NOT EXISTS business_status text,
    ADD COLUMN IF NOT EXISTS last_attempted_at timestamptz,
    ADD COLUMN IF NOT EXISTS next_execution_at timestamptz,
    ADD COLUMN IF NOT EXISTS locked_at timestamptz,
    ADD COLUMN IF NOT EXISTS locked_by text;

-- 9: dns_validation_results.business_status, derived from validation_status
ALTER TABLE dns_validation_results ADD COLUMN IF NOT EXISTS business_status text;
UPDATE dns_validation_results SET business_status = CASE validation_status
        WHEN 'resolved' THEN 'valid_dns'
        WHEN 'unresolved' THEN 'invalid_dns'
        WHEN 'pending' THEN 'pending_dns'
        WHEN 'error' THEN 'error_dns'
        WHEN 'timeout' THEN 'error_dns' END
    WHERE business_status IS NULL;

-- 10: http_keyword_results.business_status (new column, no backfill)
ALTER TABLE http_keyword_results ADD COLUMN IF NOT EXISTS business_status text;

-- 13: security_events
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

-- 11, 12, 14-19: new tables (same definitions as sql/migrations/000027)
-- keyword_rules
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
CREATE INDEX IF NOT EXISTS idx_keyword_rules_keyword_set_id ON keyword_rules (keyword_set_id);

-- proxy_pool_memberships
CREATE TABLE IF NOT EXISTS proxy_pool_memberships (
    pool_id   uuid NOT NULL REFERENCES proxy_pools (id) ON DELETE CASCADE,
    proxy_id  uuid NOT NULL REFERENCES proxies (id) ON DELETE CASCADE,
    weight    integer NOT NULL DEFAULT 1 CHECK (weight > 0),
    is_active boolean NOT NULL DEFAULT true,
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool_id, proxy_id)
);
CREATE INDEX IF NOT EXISTS idx_proxy_pool_memberships_proxy_id ON proxy_pool_memberships (proxy_id);

-- authorization_decisions
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
CREATE INDEX IF NOT EXISTS idx_authorization_decisions_security_event_id ON authorization_decisions (security_event_id);

-- service_architecture_metrics
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

-- service_dependencies
CREATE TABLE IF NOT EXISTS service_dependencies (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source_service     text NOT NULL,
    target_service     text NOT NULL,
    dependency_type    text NOT NULL CHECK (dependency_type IN ('direct', 'event_driven', 'shared_resource')),
    interface_contract text,
    reliability_score  numeric(5, 2) NOT NULL DEFAULT 100,
    latency_p95        numeric(10, 2) NOT NULL DEFAULT 0,
    failure_count      integer NOT NULL DEFAULT 0,
    last_success       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_service, target_service, dependency_type)
);

-- architecture_refactor_log
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

-- communication_patterns
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
    error_count        integer NOT NULL DEFAULT 0,
    retry_count        integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- service_capacity_metrics
CREATE TABLE IF NOT EXISTS service_capacity_metrics (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_name       text NOT NULL,
    cpu_utilization    numeric(5, 2) NOT NULL DEFAULT 0,
    memory_utilization numeric(5, 2) NOT NULL DEFAULT 0,
    instance_count     integer NOT NULL DEFAULT 1,
    max_instances      integer NOT NULL DEFAULT 10,
    min_instances      integer NOT NULL DEFAULT 1,
    scaling_events     integer NOT NULL DEFAULT 0,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);

-- 23: status values rewritten in place, then CHECK constraints validated at once
UPDATE campaigns SET status = CASE
        WHEN status IS NULL THEN 'pending'
        WHEN lower(btrim(status)) IN ('pending', 'queued', 'running', 'pausing', 'paused', 'completed',
                                      'failed', 'cancelled', 'archived') THEN lower(btrim(status))
        WHEN lower(btrim(status)) IN ('canceled', 'cancel', 'aborted') THEN 'cancelled'
        WHEN lower(btrim(status)) IN ('done', 'success', 'succeeded', 'complete', 'finished') THEN 'completed'
        WHEN lower(btrim(status)) IN ('processing', 'in_progress', 'started', 'active') THEN 'running'
        WHEN lower(btrim(status)) IN ('new', 'created', 'scheduled', 'waiting') THEN 'pending'
        ELSE 'failed' END
    WHERE status IS NULL OR status NOT IN ('pending', 'queued', 'running', 'pausing', 'paused',
                                           'completed', 'failed', 'cancelled', 'archived');
ALTER TABLE campaigns ADD CONSTRAINT chk_campaigns_status_allowed
    CHECK (status IS NOT NULL AND status IN ('pending', 'queued', 'running', 'pausing', 'paused',
                                             'completed', 'failed', 'cancelled', 'archived'));
UPDATE campaign_jobs SET status = CASE
        WHEN status IS NULL THEN 'pending'
        WHEN lower(btrim(status)) IN ('pending', 'queued', 'running', 'completed', 'failed',
                                      'cancelled') THEN lower(btrim(status))
        WHEN lower(btrim(status)) IN ('canceled', 'cancel', 'aborted') THEN 'cancelled'
        WHEN lower(btrim(status)) IN ('done', 'success', 'succeeded', 'complete', 'finished') THEN 'completed'
        WHEN lower(btrim(status)) IN ('processing', 'in_progress', 'started', 'active') THEN 'running'
        WHEN lower(btrim(status)) IN ('new', 'created', 'scheduled', 'waiting') THEN 'pending'
        ELSE 'failed' END
    WHERE status IS NULL OR status NOT IN ('pending', 'queued', 'running', 'completed', 'failed',
                                           'cancelled');
ALTER TABLE campaign_jobs ADD CONSTRAINT chk_campaign_jobs_status_allowed
    CHECK (status IS NOT NULL AND status IN ('pending', 'queued', 'running', 'completed', 'failed',
                                             'cancelled'));

-- 21: orphans deleted, foreign keys validated as they are added
DELETE FROM dns_validation_results r
    WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = r.dns_campaign_id);
DELETE FROM http_keyword_results r
    WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = r.http_keyword_campaign_id);
DELETE FROM campaign_jobs j
    WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = j.campaign_id);
ALTER TABLE dns_validation_results ADD CONSTRAINT fk_dns_validation_results_campaign
    FOREIGN KEY (dns_campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;
ALTER TABLE http_keyword_results ADD CONSTRAINT fk_http_keyword_results_campaign
    FOREIGN KEY (http_keyword_campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;
ALTER TABLE campaign_jobs ADD CONSTRAINT fk_campaign_jobs_campaign
    FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;

-- 20: hot-path indexes (same as sql/migrations/000027), built without CONCURRENTLY
CREATE INDEX IF NOT EXISTS idx_campaign_jobs_status_scheduled_at ON campaign_jobs (status, scheduled_at);
CREATE INDEX IF NOT EXISTS idx_campaign_jobs_campaign_id ON campaign_jobs (campaign_id);
CREATE INDEX IF NOT EXISTS idx_campaign_jobs_queued_next_execution ON campaign_jobs (next_execution_at)
    WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS idx_dns_validation_results_campaign_business_status
    ON dns_validation_results (dns_campaign_id, business_status);
CREATE INDEX IF NOT EXISTS idx_dns_validation_results_validation_status
    ON dns_validation_results (validation_status);
CREATE INDEX IF NOT EXISTS idx_http_keyword_results_campaign_business_status
    ON http_keyword_results (http_keyword_campaign_id, business_status);
CREATE INDEX IF NOT EXISTS idx_generated_domains_domain_name ON generated_domains (domain_name);
CREATE INDEX IF NOT EXISTS idx_campaigns_status ON campaigns (status);

-- 22: updated_at triggers on every table that has the column
CREATE OR REPLACE FUNCTION update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END
$$;
CREATE TRIGGER set_updated_at BEFORE UPDATE ON campaign_jobs
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON domain_generation_campaign_params
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON keyword_sets
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON personas
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON proxies
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON proxy_pools
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON keyword_rules
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON service_architecture_metrics
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON service_dependencies
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON communication_patterns
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
