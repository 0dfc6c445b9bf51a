-- Variant "half-applied": the state a hand-run of the seed's migration plan (psql -f on the
-- seed's own up script, "ON_ERROR_STOP") leaves when it stops midway, applied on top of
-- schema.sql + generate.sql. Its first sections ran, in the seed's order and style
-- (ADD COLUMN IF NOT EXISTS ... DEFAULT, varchar(n), CREATE TABLE IF NOT EXISTS), and the
-- run stopped at the architecture tables: security_events, the rest of the monitoring
-- tables, the indexes, the foreign keys, the triggers and the status clean-up never ran.
SET client_min_messages = warning;

-- "Adds missing created_at and updated_at": nullable, with a default (every old row got the
-- time of the run, the table was rewritten)
ALTER TABLE domain_generation_campaign_params
    ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now();
UPDATE domain_generation_campaign_params SET created_at = timestamptz '2026-01-15 10:00', updated_at = timestamptz '2026-01-15 10:00';

-- "Fixes campaign_jobs": two renames done, the third one not reached
ALTER TABLE campaign_jobs RENAME COLUMN campaign_type TO job_type;
ALTER TABLE campaign_jobs RENAME COLUMN payload TO job_payload;
ALTER TABLE campaign_jobs ADD COLUMN IF NOT EXISTS business_status varchar(50);
ALTER TABLE campaign_jobs ADD COLUMN IF NOT EXISTS last_attempted_at timestamptz;

-- "Adds business_status to DNS and HTTP validation tables"
ALTER TABLE dns_validation_results ADD COLUMN IF NOT EXISTS business_status varchar(50);
UPDATE dns_validation_results SET business_status = 'valid_dns'
WHERE validation_status = 'resolved' AND abs(hashtext(id::text)) % 2 = 0;
ALTER TABLE http_keyword_results ADD COLUMN IF NOT EXISTS business_status varchar(50);

-- "Creates missing junction tables"
CREATE TABLE IF NOT EXISTS keyword_rules (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    keyword_set_id    uuid NOT NULL REFERENCES keyword_sets (id) ON DELETE CASCADE,
    pattern           varchar(1000) NOT NULL,
    rule_type         varchar(20) NOT NULL DEFAULT 'string',
    is_case_sensitive boolean NOT NULL DEFAULT false,
    category          varchar(100),
    context_chars     integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS proxy_pool_memberships (
    pool_id   uuid NOT NULL REFERENCES proxy_pools (id) ON DELETE CASCADE,
    proxy_id  uuid NOT NULL REFERENCES proxies (id) ON DELETE CASCADE,
    weight    integer DEFAULT 1,
    is_active boolean DEFAULT true,
    added_at  timestamptz DEFAULT now(),
    PRIMARY KEY (pool_id, proxy_id)
);

-- the first monitoring table, then the run stopped
CREATE TABLE IF NOT EXISTS service_architecture_metrics (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_name                varchar(100) NOT NULL,
    architecture_pattern        varchar(50) NOT NULL,
    interface_type              varchar(50) NOT NULL,
    dependency_count            integer DEFAULT 0,
    coupling_score              numeric(5, 2) DEFAULT 0,
    deployment_complexity_score integer DEFAULT 0,
    last_refactor_date          timestamptz,
    performance_impact          numeric(10, 2) DEFAULT 0,
    error_rate                  numeric(5, 2) DEFAULT 0,
    created_at                  timestamptz DEFAULT now(),
    updated_at                  timestamptz DEFAULT now()
);

ANALYZE;
