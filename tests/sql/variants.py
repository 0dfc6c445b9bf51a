"""Databases between DomainFlow's version 26 and a fully aligned one, some with constraints
stricter than the baseline's, built on top of the generated baseline."""

from __future__ import annotations

# Partly aligned by hand, with stricter constraints:
#  * domain_generation_campaign_params.created_at exists (NOT NULL, default), updated_at not;
#  * campaign_jobs: two of three renames done; business_status NOT NULL with a CHECK of four
#    values; last_attempted_at exists; statuses cleaned and constrained to a set WITHOUT
#    'pending' (validated; NULL slipped through, which CHECK allows) -> up must not write
#    its first choice 'pending' for NULL;
#  * dns_validation_results.business_status exists with a CHECK allowing only valid_dns /
#    invalid_dns, filled by the application for part of the resolved rows -> up may not
#    write pending_dns / error_dns and fills only NULLs;
#  * the job foreign key exists under another name (job orphans were deleted), one of the
#    indexes exists, keyword_rules exists with a row, proxies has an updated_at trigger of
#    its own.
PARTIAL_STRICT = """
ALTER TABLE domain_generation_campaign_params ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE campaign_jobs RENAME COLUMN campaign_type TO job_type;
ALTER TABLE campaign_jobs RENAME COLUMN payload TO job_payload;
ALTER TABLE campaign_jobs ADD COLUMN business_status text NOT NULL DEFAULT 'pending'
    CONSTRAINT campaign_jobs_business_status_check CHECK (business_status IN ('pending', 'processing', 'completed', 'failed'));
ALTER TABLE campaign_jobs ADD COLUMN last_attempted_at timestamptz;
UPDATE campaign_jobs SET status = CASE
    WHEN lower(btrim(status)) IN ('queued', 'running', 'completed', 'failed', 'cancelled') THEN lower(btrim(status))
    WHEN lower(btrim(status)) = 'pending' THEN 'queued'
    WHEN lower(btrim(status)) = 'done' THEN 'completed'
    WHEN lower(btrim(status)) = 'processing' THEN 'running'
    WHEN lower(btrim(status)) = 'canceled' THEN 'cancelled'
    END
WHERE status IS NOT NULL;
ALTER TABLE campaign_jobs ADD CONSTRAINT campaign_jobs_status_strict
    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled'));
ALTER TABLE dns_validation_results ADD COLUMN business_status text
    CONSTRAINT dns_business_status_two_values CHECK (business_status IN ('valid_dns', 'invalid_dns'));
UPDATE dns_validation_results SET business_status = 'valid_dns'
WHERE validation_status = 'resolved' AND id::text < '8';
DELETE FROM campaign_jobs j WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = j.campaign_id);
ALTER TABLE campaign_jobs ADD CONSTRAINT campaign_jobs_campaign_id_fkey
    FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE;
CREATE INDEX idx_campaign_jobs_status_scheduled_at ON campaign_jobs (status, scheduled_at);
CREATE TABLE keyword_rules (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    keyword_set_id uuid NOT NULL REFERENCES keyword_sets (id) ON DELETE CASCADE,
    pattern text NOT NULL,
    rule_type text NOT NULL CHECK (rule_type IN ('string', 'regex')),
    is_case_sensitive boolean NOT NULL DEFAULT false,
    category text,
    context_chars integer NOT NULL DEFAULT 0,
    legacy_note text
);
INSERT INTO keyword_rules (id, keyword_set_id, pattern, rule_type, legacy_note)
VALUES ('11111111-1111-4111-8111-111111111111', md5('kset1')::uuid, 'casino', 'string', 'pre-existing');
CREATE FUNCTION trigger_set_timestamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
CREATE TRIGGER update_proxies_updated_at BEFORE UPDATE ON proxies
    FOR EACH ROW EXECUTE FUNCTION trigger_set_timestamp();
ANALYZE;
"""

# Aligned by hand (the up migration's result without its bookkeeping, version still 26),
# then tightened further: statuses and job business_status NOT NULL, a CHECK on the DNS
# business_status values. Up must find everything in place and change nothing; down must
# then leave everything as it was.
ALIGNED_STRICT_AFTER_UP = """
DROP SCHEMA schemaflow_archive CASCADE;
UPDATE schema_migrations SET version = 26, dirty = false;
ALTER TABLE campaigns ALTER COLUMN status SET NOT NULL;
UPDATE campaign_jobs SET business_status = 'completed' WHERE business_status IS NULL;
ALTER TABLE campaign_jobs ALTER COLUMN business_status SET NOT NULL;
ALTER TABLE campaign_jobs ALTER COLUMN business_status SET DEFAULT 'pending';
ALTER TABLE dns_validation_results ADD CONSTRAINT dns_business_status_values
    CHECK (business_status IN ('valid_dns', 'invalid_dns', 'pending_dns', 'error_dns'));
ANALYZE;
"""
