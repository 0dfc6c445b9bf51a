"""000027 on every named variant of DomainFlow's version 26 (sql/baseline/variants), on
PostgreSQL 15 and 18: ``up --verify`` exits 0 with every check passing, ``audit`` finds
0 open, no duplicate index/trigger/CHECK exists, ``down`` restores an identical
``pg_dump -s`` and identical per-table row checksums, and ``up`` again is green."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.sql.sqlhelpers import (
    audit_open,
    checksums,
    cli,
    duplicates,
    load,
    migrations_dir,
    run_verify,
    schema_dump,
)
from tests.sql.test_migration_000027 import ok, same_rows, same_schema, version

from schemaflow.baseline import VARIANTS
from schemaflow.errors import EXIT_USAGE

SCALE = 0.1


def round_trip(db, tmp_path: Path, *, aligned: bool = False) -> dict[str, object]:
    """The whole cycle on the loaded database; returns the figures of the report's table.
    ``aligned``: up must change nothing but the version."""
    schema0, rows0 = schema_dump(db), checksums(db)
    open_before = audit_open(db)
    mdir = migrations_dir(tmp_path)
    proc = ok(cli(db, "up", "--verify", "--output", "json", mdir=mdir, batch_size=100))
    doc = json.loads(proc.stdout)
    assert doc["verification"]["failed"] == 0, doc["verification"]
    if aligned:
        same_schema(schema0, schema_dump(db))
        same_rows({t: v for t, v in rows0.items() if t != "schema_migrations"},
                  {t: v for t, v in checksums(db).items() if t != "schema_migrations"})
        assert db.query("SELECT count(*) FROM schemaflow_archive.m000027_changes WHERE created_by_up") == [(0,)]
    assert run_verify(db) == {}
    assert audit_open(db) == []
    assert duplicates(db) == []
    ok(cli(db, "down", mdir=mdir, batch_size=100))
    assert version(db) == (26, False)
    same_schema(schema0, schema_dump(db))
    same_rows(rows0, checksums(db))
    ok(cli(db, "up", "--verify", mdir=mdir, batch_size=100))
    assert run_verify(db) == {} and audit_open(db) == [] and duplicates(db) == []
    return {"open_before": open_before, "passed": doc["verification"]["passed"]}


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_round_trip(db, variant: str, tmp_path: Path) -> None:
    load(db, SCALE, variant)
    figures = round_trip(db, tmp_path, aligned=variant == "already-aligned")
    print(f"\n{variant} on {db.server.flavour}: {figures}")
    if variant == "already-aligned":
        assert figures["open_before"] == []
    else:
        assert figures["open_before"], "the variant has nothing for 000027 to do"


def test_production_like_converges_without_duplicates(db18, tmp_path: Path) -> None:
    """The facts of production's v26: equivalents are reused (audit, plan and up say so),
    varchar(n) becomes text without a rewrite, the DNS business_status CHECK becomes the
    union of its set and the derived values, and rows keep every later-stage value."""
    load(db18, SCALE, "production-like")
    q = db18.query
    held = "SELECT id, business_status FROM dns_validation_results WHERE business_status IS NOT NULL"
    stages = dict(q(held))
    assert set(stages.values()) == {"valid_dns", "lead_valid", "http_valid_no_keywords", "invalid_http_code"}
    assert set(audit_open(db18)) >= {1, 2, 9, 11, 12, 13, 14, 16, 19, 20, 22}
    filenodes = "SELECT pg_relation_filenode('security_events'), pg_relation_filenode('idx_security_events_session_id')"
    filenode = q(filenodes)[0]
    mdir = migrations_dir(tmp_path)
    plan = ok(cli(db18, "plan", mdir=mdir)).stdout
    up = ok(cli(db18, "up", "--verify", mdir=mdir, batch_size=100))
    for name in ("idx_dns_results_status", "idx_generated_domains_name", "set_timestamp_campaigns",
                 "chk_campaigns_status_valid", "chk_campaign_jobs_status_valid"):
        assert f"equivalent exists as {name}" in up.stdout + up.stderr, name
        assert f"equivalent exists as {name}" in plan, name
    assert q("SELECT to_regclass('idx_dns_validation_results_validation_status'), "
             "to_regclass('idx_generated_domains_domain_name')") == [(None, None)]
    assert q("SELECT count(*) FROM pg_constraint WHERE conname LIKE 'chk_%_status_allowed'") == [(0,)]
    assert q("SELECT count(*) FROM pg_trigger WHERE tgname = 'set_updated_at' AND tgrelid = "
             "ANY (ARRAY['campaigns', 'campaign_jobs', 'keyword_sets', 'personas']::regclass[])") == [(0,)]
    # varchar(n) -> text: the same relfilenodes, so neither the table nor its index was rewritten
    assert q(filenodes)[0] == filenode
    assert q("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
             "'security_events'::regclass AND attname = 'session_id'") == [("text",)]
    # every later-stage value kept, the derived ones added; the CHECK allows the union
    after = dict(q(held))
    assert {k: after.get(k) for k in stages} == stages
    assert {"invalid_dns", "pending_dns"} <= set(after.values())
    definition = q("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conname = 'chk_dns_business_status_valid'")[0][0]
    assert "lead_valid" in definition and "pending_dns" in definition
    # NOT NULL and the weight CHECK where production lacked them
    assert q("SELECT attnotnull FROM pg_attribute WHERE attrelid = 'proxy_pool_memberships'::regclass "
             "AND attname = 'weight'") == [(True,)]
    with pytest.raises(Exception, match="check constraint"):
        q("UPDATE proxy_pool_memberships SET weight = 0")


def test_audit_explain(db18) -> None:
    """``audit --explain`` says per mismatch what it found and what up will do."""
    load(db18, SCALE, "production-like")
    proc = subprocess.run([sys.executable, "-m", "schemaflow", "audit", "--explain"], env=db18.env(),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())  # wrapped at 100 columns
    assert max(map(len, proc.stdout.splitlines())) <= 100
    assert "equivalent exists as idx_dns_results_status" in out
    assert "equivalent exists as set_timestamp_campaigns" in out
    assert "equivalent exists as chk_campaigns_status_valid" in out
    assert "security_events.session_id character varying(255), want text" in out
    assert "service_capacity_metrics.max_instances absent" in out
    doc = json.loads(subprocess.run([sys.executable, "-m", "schemaflow", "audit", "--explain", "--output",
                                     "json"], env=db18.env(), capture_output=True, text=True).stdout)
    states = {i["number"]: i["explain"]["state"] for i in doc["mismatches"]}
    assert states[4] == "exact" and states[14] == "drifted" and states[20] == "drifted"
    assert all(i["explain"]["action"] for i in doc["mismatches"])


def test_demo_loads_a_variant_by_name() -> None:
    """``schemaflow demo --variant production-like``: the whole flow on that shape, green."""
    proc = subprocess.run([sys.executable, "-m", "schemaflow", "demo", "--variant", "production-like",
                           "--scale", "0.05"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "variant production-like" in proc.stdout
    assert "0 of 23 known mismatches open" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "schemaflow", "demo", "--variant", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == EXIT_USAGE and "production-like" in bad.stderr


def test_down_keeps_values_only_the_widened_check_allows(db18, tmp_path: Path) -> None:
    """After up, the application writes DNS results the old CHECK refuses: one whose
    business_status the trigger derives ('unresolved' -> invalid_dns) and one that sets
    'error_dns' itself. Down validates the old CHECK again without losing them: the values
    wait in schemaflow_archive with the column NULL, and the next up puts them back."""
    load(db18, SCALE, "production-like")
    q = db18.query
    mdir = migrations_dir(tmp_path)
    ok(cli(db18, "up", mdir=mdir, batch_size=100))
    campaign = q("SELECT dns_campaign_id FROM dns_validation_results LIMIT 1")[0][0]
    derived, explicit = q(
        "INSERT INTO dns_validation_results (dns_campaign_id, domain_name, validation_status, business_status) "
        "VALUES (%s, 'derived.example', 'unresolved', NULL), (%s, 'explicit.example', 'pending', 'pending_dns') "
        "RETURNING id", (campaign, campaign))
    status = "SELECT business_status FROM dns_validation_results WHERE id = %s"
    assert q(status, derived) == [("invalid_dns",)] and q(status, explicit) == [("pending_dns",)]
    ok(cli(db18, "down", mdir=mdir, batch_size=100))
    assert version(db18) == (26, False)
    assert q("SELECT convalidated FROM pg_constraint WHERE conname = 'chk_dns_business_status_valid'") == [(True,)]
    assert q(status, derived) == [(None,)] and q(status, explicit) == [(None,)]
    ok(cli(db18, "up", "--verify", mdir=mdir, batch_size=100))
    assert q(status, derived) == [("invalid_dns",)] and q(status, explicit) == [("pending_dns",)]
    assert q("SELECT count(*) FROM schemaflow_archive.m000027_new_data") == [(0,)]
