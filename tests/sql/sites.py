"""The 23 sites of migration 000027 (one per mismatch), each in one of four states on top
of the synthetic version-26 baseline (where every site is absent):

- ``absent``: as generated (nothing done);
- ``exact``: the target shape, under the target names;
- ``drifted``: present in another shape (varchar(n) for text, missing columns, nullable
  columns, a looser or missing CHECK, part of a set of objects);
- ``other-name``: an equivalent object under another name (index, trigger, CHECK, foreign
  key, table CHECK); where a site has no object that can carry another name (a column),
  a second drifted shape.

``sql(site, state)`` is the SQL that puts one site into a state; sites are independent (any
combination applies cleanly, in site order)."""
# ruff: noqa: S608 - SQL text built from this module's constants only

from __future__ import annotations

STATES = ("absent", "exact", "drifted", "other-name")

CAMPAIGN_SET = "'pending', 'queued', 'running', 'pausing', 'paused', 'completed', 'failed', 'cancelled', 'archived'"
JOB_SET = "'pending', 'queued', 'running', 'completed', 'failed', 'cancelled'"
UPDATED_AT_TABLES = ("users", "personas", "proxies", "proxy_pools", "keyword_sets", "campaigns", "campaign_jobs")
SET_UPDATED_AT = """CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at = now(); RETURN NEW; END $$;"""


def _clean_status(table: str, allowed: str) -> str:
    return (f"UPDATE {table} SET status = CASE WHEN lower(btrim(status)) IN ({allowed}) THEN lower(btrim(status)) "
            f"WHEN lower(btrim(status)) = 'done' THEN 'completed' WHEN lower(btrim(status)) = 'canceled' "
            f"THEN 'cancelled' WHEN lower(btrim(status)) = 'processing' THEN 'running' ELSE 'pending' END "
            f"WHERE status IS NOT NULL;")


def _trigger(table: str, name: str, fn: str, when: str = "BEFORE") -> str:
    return f"CREATE TRIGGER {name} {when} UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {fn}();"


KEYWORD_RULES = """CREATE TABLE keyword_rules (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    keyword_set_id uuid NOT NULL REFERENCES keyword_sets (id) ON DELETE CASCADE,
    pattern text NOT NULL,
    rule_type text NOT NULL DEFAULT 'string' {rule_check},
    is_case_sensitive boolean NOT NULL DEFAULT false,
    category text,
    context_chars integer NOT NULL DEFAULT 0 CHECK (context_chars >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO keyword_rules (id, keyword_set_id, pattern, created_at, updated_at)
SELECT md5('kr' || id)::uuid, id, 'casino', timestamptz '2025-06-01', timestamptz '2025-06-01' FROM keyword_sets;"""

MEMBERSHIPS = """CREATE TABLE proxy_pool_memberships (
    pool_id uuid {nn} REFERENCES proxy_pools (id) ON DELETE CASCADE,
    proxy_id uuid {nn} REFERENCES proxies (id) ON DELETE CASCADE,
    weight integer {nn} DEFAULT 1 {weight_check},
    is_active boolean {nn} DEFAULT true,
    added_at timestamptz {nn} DEFAULT now(),
    PRIMARY KEY (pool_id, proxy_id));
INSERT INTO proxy_pool_memberships (pool_id, proxy_id, weight, added_at)
SELECT p.id, x.id, 2, timestamptz '2025-06-01' FROM proxy_pools p CROSS JOIN proxies x;"""

SEC_TEXT = ("session_id", "resource_type", "resource_id", "action_attempted", "authorization_result",
            "denial_reason", "user_agent")
SEC_OTHER = {"campaign_id": "uuid", "risk_score": "integer", "source_ip": "inet", "request_context": "jsonb",
             "audit_log_id": "uuid"}

AUTHZ = """CREATE TABLE authorization_decisions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    decision_id {t} NOT NULL UNIQUE, user_id uuid, resource_type {t} NOT NULL, resource_id text,
    action {t} NOT NULL, decision {t} NOT NULL {decision_check},
    policy_version text, evaluated_policies text[], conditions_met jsonb,
    decision_time_ms integer CHECK (decision_time_ms >= 0), context jsonb,
    security_event_id uuid REFERENCES security_events (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO authorization_decisions (id, decision_id, resource_type, action, decision, security_event_id, created_at)
SELECT md5('ad' || id)::uuid, 'd-' || id, 'campaign', 'read', 'allow', id, timestamptz '2025-06-01'
FROM security_events ORDER BY id LIMIT 5;"""

SAM = """CREATE TABLE service_architecture_metrics (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), service_name {t} {nn}, architecture_pattern {t} {nn},
    interface_type {t} {nn}, dependency_count integer {nn} DEFAULT 0, coupling_score numeric(5, 2) {nn} DEFAULT 0,
    deployment_complexity_score integer {nn} DEFAULT 0, last_refactor_date timestamptz{extra},
    created_at timestamptz {nn} DEFAULT now(), updated_at timestamptz {nn} DEFAULT now());
INSERT INTO service_architecture_metrics (id, service_name, architecture_pattern, interface_type, created_at, updated_at)
VALUES (md5('sam1')::uuid, 'api', 'monolith', 'rest', timestamptz '2025-06-01', timestamptz '2025-06-01');"""
SAM_FULL = ", performance_impact numeric(10, 2) {nn} DEFAULT 0, error_rate numeric(5, 2) {nn} DEFAULT 0"

DEPS = """CREATE TABLE service_dependencies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), source_service text NOT NULL, target_service text NOT NULL,
    dependency_type text NOT NULL {check}, interface_contract text,
    reliability_score numeric(5, 2) NOT NULL DEFAULT 100, latency_p95 numeric(10, 2) NOT NULL DEFAULT 0,
    failure_count bigint NOT NULL DEFAULT 0, last_success timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(){updated},
    UNIQUE (source_service, target_service, dependency_type));
INSERT INTO service_dependencies (id, source_service, target_service, dependency_type, created_at)
VALUES (md5('sd1')::uuid, 'api', 'worker', 'direct', timestamptz '2025-06-01');"""
DEP_CHECK = "CHECK (dependency_type IN ('direct', 'event_driven', 'shared_resource'))"

ARL = """CREATE TABLE architecture_refactor_log (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), service_name {t} NOT NULL, refactor_type text NOT NULL,
    before_pattern text, after_pattern text, complexity_reduction integer NOT NULL DEFAULT 0,
    performance_impact numeric(10, 2) NOT NULL DEFAULT 0{extra},
    implemented_at timestamptz NOT NULL DEFAULT now(), created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO architecture_refactor_log (id, service_name, refactor_type, implemented_at, created_at)
VALUES (md5('arl1')::uuid, 'api', 'split', timestamptz '2025-06-01', timestamptz '2025-06-01');"""

COMM = """CREATE TABLE communication_patterns (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), source_service text NOT NULL, target_service text NOT NULL,
    communication_type text NOT NULL {check}, protocol text NOT NULL,
    message_format text NOT NULL {fmt_default}, avg_latency_ms numeric(10, 2) NOT NULL DEFAULT 0,
    success_rate numeric(5, 2) NOT NULL DEFAULT 100, throughput_rps numeric(10, 2) NOT NULL DEFAULT 0,
    error_count bigint NOT NULL DEFAULT 0, retry_count bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO communication_patterns (id, source_service, target_service, communication_type, protocol,
                                    message_format, created_at, updated_at)
VALUES (md5('cp1')::uuid, 'api', 'worker', 'async', 'amqp', 'json', timestamptz '2025-06-01', timestamptz '2025-06-01');"""
COMM_CHECK = "CHECK (communication_type IN ('sync', 'async', 'event', 'stream'))"

CAP = """CREATE TABLE service_capacity_metrics (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), service_name text NOT NULL,
    cpu_utilization numeric(5, 2) NOT NULL DEFAULT 0, memory_utilization numeric(5, 2) NOT NULL DEFAULT 0,
    instance_count integer NOT NULL DEFAULT 1{extra}, scaling_events bigint NOT NULL DEFAULT 0,
    recorded_at timestamptz NOT NULL DEFAULT now());
INSERT INTO service_capacity_metrics (id, service_name, recorded_at)
VALUES (md5('scm1')::uuid, 'api', timestamptz '2025-06-01');"""

INDEXES = [("idx_campaign_jobs_status_scheduled_at", "campaign_jobs (status, scheduled_at)"),
           ("idx_campaign_jobs_campaign_id", "campaign_jobs (campaign_id)"),
           ("idx_campaign_jobs_queued_next_execution", "campaign_jobs (next_execution_at) WHERE status = 'queued'"),
           ("idx_dns_validation_results_campaign_business_status",
            "dns_validation_results (dns_campaign_id, business_status)"),
           ("idx_dns_validation_results_validation_status", "dns_validation_results (validation_status)"),
           ("idx_http_keyword_results_campaign_business_status",
            "http_keyword_results (http_keyword_campaign_id, business_status)"),
           ("idx_generated_domains_domain_name", "generated_domains (domain_name)"),
           ("idx_campaigns_status", "campaigns (status)")]
FKS = [("dns_validation_results", "dns_campaign_id"), ("http_keyword_results", "http_keyword_campaign_id"),
       ("campaign_jobs", "campaign_id")]


def _dgcp(col: str, state: str) -> str:
    t = "domain_generation_campaign_params"
    if state == "exact":
        return f"ALTER TABLE {t} ADD COLUMN {col} timestamptz NOT NULL DEFAULT timestamptz '2025-07-01';" \
               f"ALTER TABLE {t} ALTER COLUMN {col} SET DEFAULT now();"
    if state == "drifted":  # nullable, default, half of the rows NULL
        return f"ALTER TABLE {t} ADD COLUMN {col} timestamptz DEFAULT now();" \
               f"UPDATE {t} SET {col} = CASE WHEN current_offset % 2 = 0 THEN timestamptz '2025-07-01' END;"
    return f"ALTER TABLE {t} ADD COLUMN {col} timestamptz;" \
           f"UPDATE {t} SET {col} = timestamptz '2025-07-02';"  # nullable, no default, all filled


def _jobs_column(cols: list[tuple[str, str]], state: str) -> str:
    if state == "exact":
        return "".join(f"ALTER TABLE campaign_jobs ADD COLUMN {c} {t};" for c, t in cols)
    out = []
    for k, (c, t) in enumerate(cols):
        if state == "other-name" and k % 2 == 1:
            continue  # part of the set only
        out.append(f"ALTER TABLE campaign_jobs ADD COLUMN {c} {'varchar(255)' if t == 'text' else t};")
    return "".join(out)


def _rename(old: str, new: str, state: str) -> str:
    sql = f"ALTER TABLE campaign_jobs RENAME COLUMN {old} TO {new};"
    if state in ("drifted", "other-name") and new != "job_payload":
        sql += f"ALTER TABLE campaign_jobs ALTER COLUMN {new} TYPE varchar(255);"
    return sql


def _security(state: str) -> str:
    if state == "exact":
        cols = [f"ADD COLUMN {c} text" for c in SEC_TEXT] + [f"ADD COLUMN {c} {t}" for c, t in SEC_OTHER.items()]
    else:
        text_cols = SEC_TEXT if state == "drifted" else SEC_TEXT[::2]
        cols = [f"ADD COLUMN {c} varchar({64 + 8 * k})" for k, c in enumerate(text_cols)]
        cols += [f"ADD COLUMN {c} {t}" for c, t in SEC_OTHER.items()]
    return (f"ALTER TABLE security_events {', '.join(cols)};"
            "UPDATE security_events SET session_id = 'sess-' || left(id::text, 8) WHERE event_type = 'login_success';")


def sql(site: int, state: str) -> str:  # noqa: C901 - one branch per site is the point
    if state == "absent":
        return ""
    exact, drifted = state == "exact", state == "drifted"
    if site in (1, 2):
        return _dgcp("created_at" if site == 1 else "updated_at", state)
    if site == 3:
        return _jobs_column([("business_status", "text")], state)
    if site in (4, 5, 6):
        old, new = {4: ("campaign_type", "job_type"), 5: ("payload", "job_payload"),
                    6: ("worker_id", "processing_server_id")}[site]
        return _rename(old, new, "exact" if exact else state)
    if site == 7:
        return _jobs_column([("last_attempted_at", "timestamptz")], state)
    if site == 8:
        return _jobs_column([("next_execution_at", "timestamptz"), ("locked_at", "timestamptz"),
                             ("locked_by", "text")], state)
    if site == 9:
        if exact:
            return ("ALTER TABLE dns_validation_results ADD COLUMN business_status text;"
                    "UPDATE dns_validation_results SET business_status = CASE validation_status "
                    "WHEN 'resolved' THEN 'valid_dns' WHEN 'unresolved' THEN 'invalid_dns' "
                    "WHEN 'pending' THEN 'pending_dns' ELSE 'error_dns' END;")
        check = ("CHECK (business_status IS NULL OR business_status IN ('valid_dns', 'lead_valid', "
                 "'http_valid_no_keywords', 'invalid_http_code'))" if drifted
                 else "CHECK (business_status IN ('valid_dns', 'invalid_dns'))")
        return (f"ALTER TABLE dns_validation_results ADD COLUMN business_status varchar(50) "
                f"CONSTRAINT dns_bs_app_values {check};"
                "UPDATE dns_validation_results SET business_status = CASE WHEN abs(hashtext(id::text)) % 3 = 0 "
                "THEN 'valid_dns' WHEN abs(hashtext(id::text)) % 3 = 1 AND " + ("true" if drifted else "false") +
                " THEN 'lead_valid' END WHERE validation_status = 'resolved';")
    if site == 10:
        return f"ALTER TABLE http_keyword_results ADD COLUMN business_status {'text' if exact else 'varchar(50)'};"
    if site == 11:
        if exact:
            return KEYWORD_RULES.format(rule_check="CHECK (rule_type IN ('string', 'regex'))")
        if state == "other-name":
            return KEYWORD_RULES.format(rule_check="CONSTRAINT kr_rule_type_known CHECK (rule_type IN ('string'))")
        return ("CREATE TABLE keyword_rules (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
                "keyword_set_id uuid REFERENCES keyword_sets (id) ON DELETE CASCADE, pattern varchar(1000), "
                "rule_type varchar(20) DEFAULT 'string', is_case_sensitive boolean, context_chars integer, "
                "created_at timestamptz DEFAULT now(), updated_at timestamptz);"
                "INSERT INTO keyword_rules (id, keyword_set_id, pattern, rule_type, is_case_sensitive, context_chars, "
                "created_at, updated_at) SELECT md5('kr' || id)::uuid, id, 'casino', 'string', false, 0, "
                "timestamptz '2025-06-01', timestamptz '2025-06-01' FROM keyword_sets;")
    if site == 12:
        if exact:
            return MEMBERSHIPS.format(nn="NOT NULL", weight_check="CHECK (weight > 0)")
        if drifted:
            return MEMBERSHIPS.format(nn="", weight_check="CONSTRAINT ppm_weight_nonneg CHECK (weight >= 0)")
        return MEMBERSHIPS.format(nn="NOT NULL", weight_check="CONSTRAINT ppm_weight_range CHECK (weight BETWEEN 1 AND 100)")
    if site == 13:
        return _security(state)
    if site == 14:
        if exact:
            return AUTHZ.format(t="text", decision_check="CHECK (decision IN ('allow', 'deny', 'conditional'))")
        if drifted:
            return AUTHZ.format(t="varchar(100)", decision_check="CHECK (decision IN ('allow', 'deny', 'conditional'))")
        return AUTHZ.format(t="text", decision_check="CONSTRAINT authz_decision_known CHECK (decision IN ('allow', 'deny'))")
    if site == 15:
        if exact:
            return SAM.format(t="text", nn="NOT NULL", extra=SAM_FULL.format(nn="NOT NULL"))
        if drifted:
            return SAM.format(t="varchar(100)", nn="", extra=SAM_FULL.format(nn=""))
        return SAM.format(t="text", nn="NOT NULL", extra="")
    if site == 16:
        upd = ", updated_at timestamptz NOT NULL DEFAULT now()"
        if exact:
            return DEPS.format(check=DEP_CHECK, updated=upd)
        if drifted:
            return DEPS.format(check=DEP_CHECK, updated="")
        return DEPS.format(check="CONSTRAINT sd_type_known CHECK (dependency_type IN ('direct', 'event_driven'))",
                           updated=upd)
    if site == 17:
        full = ", rollback_plan text, implemented_by text"
        return ARL.format(t="text" if exact else "varchar(100)", extra=full if exact or not drifted else "")
    if site == 18:
        if exact:
            return COMM.format(check=COMM_CHECK, fmt_default="DEFAULT 'json'")
        if drifted:
            return COMM.format(check="", fmt_default="")
        return COMM.format(check="CONSTRAINT cp_type_known CHECK (communication_type IN ('sync', 'async'))",
                           fmt_default="DEFAULT 'json'")
    if site == 19:
        full = ", max_instances integer NOT NULL DEFAULT 10, min_instances integer NOT NULL DEFAULT 1"
        return CAP.format(extra=full if exact else "" if drifted else ", max_instances integer")
    if site == 20:
        out = []
        for k, (name, definition) in enumerate(INDEXES):
            cols = definition.split("(")[1].split(")")[0]
            if any(c.strip() in ("business_status", "next_execution_at") for c in cols.split(",")):
                continue  # columns other sites decide about
            if exact or (drifted and k % 2 == 0):
                out.append(f"CREATE INDEX {name} ON {definition};")
            elif state == "other-name":
                out.append(f"CREATE INDEX legacy_ix_{k} ON {definition};")
        return "".join(out)
    if site == 21:
        out = []
        for k, (table, col) in enumerate(FKS):
            if drifted and k != 2:
                continue
            out.append(f"DELETE FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.{col});")
            name = f"fk_{table}_campaign" if exact else f"{table}_{col}_fkey"
            out.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({col}) REFERENCES campaigns (id) "
                       "ON DELETE CASCADE;")
        return "".join(out)
    if site == 22:
        if exact:
            return SET_UPDATED_AT.format(fn="update_updated_at_column") + "".join(
                _trigger(t, "set_updated_at", "update_updated_at_column") for t in UPDATED_AT_TABLES)
        if drifted:  # some tables only, and an AFTER trigger that cannot set updated_at
            return SET_UPDATED_AT.format(fn="touch_updated_at") + "".join(
                _trigger(t, f"trg_touch_{t}", "touch_updated_at") for t in UPDATED_AT_TABLES[::3]) + \
                _trigger("campaigns", "audit_campaign_update", "touch_updated_at", "AFTER")
        return SET_UPDATED_AT.format(fn="trigger_set_timestamp") + "".join(
            _trigger(t, f"set_timestamp_{t}", "trigger_set_timestamp") for t in UPDATED_AT_TABLES)
    if site == 23:
        out = [_clean_status("campaigns", CAMPAIGN_SET), _clean_status("campaign_jobs", JOB_SET)]
        for table, allowed, short in (("campaigns", CAMPAIGN_SET, "campaigns"), ("campaign_jobs", JOB_SET, "campaign_jobs")):
            if exact:
                out.append(f"UPDATE {table} SET status = 'pending' WHERE status IS NULL;"
                           f"ALTER TABLE {table} ADD CONSTRAINT chk_{short}_status_allowed "
                           f"CHECK (status IS NOT NULL AND status IN ({allowed}));")
            elif drifted:  # NULL still allowed: looser
                out.append(f"ALTER TABLE {table} ADD CONSTRAINT chk_{short}_status_valid CHECK (status IN ({allowed}));")
            else:
                out.append(f"UPDATE {table} SET status = 'pending' WHERE status IS NULL;"
                           f"ALTER TABLE {table} ALTER COLUMN status SET NOT NULL, "
                           f"ADD CONSTRAINT chk_{short}_status_valid CHECK (status IN ({allowed}));")
        return "".join(out)
    raise ValueError(site)


def apply(states: dict[int, str]) -> str:
    return "\n".join(sql(site, states[site]) for site in sorted(states)) + "\nANALYZE;"
