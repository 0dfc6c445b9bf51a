-- DomainFlow database schema at golang-migrate version 26 (before 000027).
--
-- This is the drifted state of sql/SCHEMA_AUDIT_REPORT.md's 23 mismatches: no timestamps on
-- domain_generation_campaign_params, campaign_jobs with its old column names, no
-- business_status columns, security_events with few columns, no foreign keys from the
-- result/job tables to campaigns, no hot-path indexes, no updated_at triggers, and status
-- columns without CHECK constraints. Loaded by schemaflow.baseline.load_baseline().
SET client_min_messages = warning;

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email           text NOT NULL UNIQUE,
    first_name      text,
    last_name       text,
    password_hash   text NOT NULL,
    is_active       boolean NOT NULL DEFAULT true,
    is_locked       boolean NOT NULL DEFAULT false,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE personas (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL,
    persona_type    text NOT NULL CHECK (persona_type IN ('dns', 'http')),
    description     text,
    config_details  jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_enabled      boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, persona_type)
);

CREATE TABLE proxies (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL UNIQUE,
    description     text,
    address         text NOT NULL,
    protocol        text NOT NULL DEFAULT 'http',
    username        text,
    password_hash   text,
    host            text,
    port            integer,
    is_enabled      boolean NOT NULL DEFAULT true,
    is_healthy      boolean NOT NULL DEFAULT true,
    last_status     text,
    last_checked_at timestamptz,
    latency_ms      integer,
    city            text,
    country_code    text,
    provider        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE proxy_pools (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                   text NOT NULL UNIQUE,
    description            text,
    is_enabled             boolean NOT NULL DEFAULT true,
    pool_strategy          text DEFAULT 'round_robin',
    health_check_enabled   boolean DEFAULT true,
    health_check_interval_seconds integer DEFAULT 300,
    max_retries            integer DEFAULT 3,
    timeout_seconds        integer DEFAULT 30,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE keyword_sets (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL UNIQUE,
    description     text,
    keywords        jsonb NOT NULL DEFAULT '[]'::jsonb,
    is_enabled      boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaigns (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text NOT NULL,
    campaign_type       text NOT NULL CHECK (campaign_type IN ('domain_generation', 'dns_validation', 'http_keyword_validation')),
    status              text,   -- drift: no CHECK, values in the wrong case and NULLs exist
    user_id             uuid REFERENCES users(id) ON DELETE SET NULL,
    total_items         bigint DEFAULT 0,
    processed_items     bigint DEFAULT 0,
    successful_items    bigint DEFAULT 0,
    failed_items        bigint DEFAULT 0,
    progress_percentage double precision DEFAULT 0,
    metadata            jsonb,
    error_message       text,
    started_at          timestamptz,
    completed_at        timestamptz,
    estimated_completion_at timestamptz,
    avg_processing_rate double precision,
    last_heartbeat_at   timestamptz,
    created_at          timestamptz DEFAULT now(),   -- drift: nullable, NULLs exist
    updated_at          timestamptz DEFAULT now()
);

CREATE TABLE domain_generation_campaign_params (
    campaign_id                 uuid PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    pattern_type                text NOT NULL CHECK (pattern_type IN ('prefix', 'suffix', 'both')),
    variable_length             integer CHECK (variable_length > 0),
    character_set               text,
    constant_string             text,
    tld                         text NOT NULL,
    num_domains_to_generate     integer NOT NULL CHECK (num_domains_to_generate >= 0),
    total_possible_combinations bigint NOT NULL,
    current_offset              bigint NOT NULL DEFAULT 0
);

CREATE TABLE generated_domains (
    id                            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    domain_generation_campaign_id uuid NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    domain_name                   text NOT NULL,
    source_keyword                text,
    source_pattern                text,
    tld                           text,
    offset_index                  bigint NOT NULL DEFAULT 0,
    generated_at                  timestamptz NOT NULL DEFAULT now(),
    created_at                    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (domain_generation_campaign_id, domain_name)
);

CREATE TABLE dns_validation_params (
    campaign_id                   uuid PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    source_generation_campaign_id uuid REFERENCES campaigns(id) ON DELETE SET NULL,
    persona_ids                   uuid[] NOT NULL,
    rotation_interval_seconds     integer DEFAULT 0,
    processing_speed_per_minute   integer DEFAULT 0,
    batch_size                    integer DEFAULT 50 CHECK (batch_size > 0),
    retry_attempts                integer DEFAULT 1,
    metadata                      jsonb
);

-- drift: no foreign key to campaigns, orphans exist
CREATE TABLE dns_validation_results (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dns_campaign_id         uuid NOT NULL,
    generated_domain_id     uuid,
    domain_name             text NOT NULL,
    validation_status       text NOT NULL,   -- resolved, unresolved, pending, error, timeout
    dns_records             jsonb,
    validated_by_persona_id uuid,
    attempts                integer DEFAULT 0,
    last_checked_at         timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE http_keyword_campaign_params (
    campaign_id                   uuid PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
    source_campaign_id            uuid NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    source_type                   text NOT NULL CHECK (source_type IN ('DomainGeneration', 'DNSValidation')),
    persona_ids                   uuid[] NOT NULL,
    keyword_set_ids               uuid[],
    ad_hoc_keywords               text[],
    proxy_ids                     uuid[],
    proxy_pool_id                 uuid,
    proxy_selection_strategy      text,
    rotation_interval_seconds     integer DEFAULT 0,
    processing_speed_per_minute   integer DEFAULT 0,
    batch_size                    integer DEFAULT 10 CHECK (batch_size > 0),
    retry_attempts                integer DEFAULT 1,
    target_http_ports             integer[],
    metadata                      jsonb
);

-- drift: no foreign key to campaigns, orphans exist
CREATE TABLE http_keyword_results (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    http_keyword_campaign_id  uuid NOT NULL,
    dns_result_id             uuid,
    domain_name               text NOT NULL,
    validation_status         text NOT NULL,
    http_status_code          integer,
    response_headers          jsonb,
    page_title                text,
    extracted_content_snippet text,
    found_keywords_from_sets  jsonb,
    found_ad_hoc_keywords     text[],
    content_hash              text,
    validated_by_persona_id   uuid,
    used_proxy_id             uuid,
    attempts                  integer DEFAULT 0,
    last_checked_at           timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now()
);

-- drift: old column names (campaign_type, payload, worker_id), no business_status, no
-- scheduling columns, no foreign key, no index on (status, scheduled_at)
CREATE TABLE campaign_jobs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id    uuid NOT NULL,
    campaign_type  text NOT NULL,
    status         text,
    scheduled_at   timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    max_attempts   integer NOT NULL DEFAULT 3,
    last_error     text,
    worker_id      text,
    payload        jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- drift: only a few columns
CREATE TABLE security_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_type  text NOT NULL,
    user_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    details     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_logs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    user_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    action      text NOT NULL,
    entity_type text NOT NULL,
    entity_id   uuid,
    details     jsonb,
    client_ip   text,
    user_agent  text
);

CREATE INDEX idx_audit_logs_timestamp ON audit_logs ("timestamp");
CREATE INDEX idx_generated_domains_offset ON generated_domains (domain_generation_campaign_id, offset_index);

-- golang-migrate's version table
CREATE TABLE schema_migrations (
    version bigint NOT NULL PRIMARY KEY,
    dirty   boolean NOT NULL
);
INSERT INTO schema_migrations (version, dirty) VALUES (26, false);
