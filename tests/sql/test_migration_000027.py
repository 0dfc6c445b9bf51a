"""DomainFlow migration 000027 end to end, on PostgreSQL 18 (embedded) and Debian's 15:
the real CLI (`schemaflow migrate up/down --verify`, `schemaflow audit`), the bundled SQL,
generated baseline data with drift."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

from tests.sql import variants
from tests.sql.sqlhelpers import (
    DOWN,
    UP,
    Crash,
    apply_file,
    audit_open,
    checksums,
    cli,
    load,
    migrations_dir,
    run_verify,
    schema_dump,
)

SCALE = 0.3
ALL = list(range(1, 24))


def version(db) -> tuple[int, bool]:
    return tuple(db.query("SELECT version, dirty FROM schema_migrations")[0])  # type: ignore[return-value]


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def same_schema(before: str, after: str) -> None:
    diff = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=1))
    assert not diff, "schema differs:\n" + diff[:6000]


def same_rows(before: dict, after: dict) -> None:
    changed = {t: (before[t], after.get(t)) for t in before if before[t] != after.get(t)}
    assert not changed, f"tables whose rows changed: {changed}"
    assert set(after) == set(before), f"tables added/removed: {set(after) ^ set(before)}"


def drift(db) -> dict[str, int]:
    """Counts of what up must archive (orphans) or rewrite (statuses)."""
    q = db.query
    return {
        "dns_orphans": q("SELECT count(*) FROM dns_validation_results t WHERE NOT EXISTS "
                         "(SELECT 1 FROM campaigns c WHERE c.id = t.dns_campaign_id)")[0][0],
        "http_orphans": q("SELECT count(*) FROM http_keyword_results t WHERE NOT EXISTS "
                          "(SELECT 1 FROM campaigns c WHERE c.id = t.http_keyword_campaign_id)")[0][0],
        "job_orphans": q("SELECT count(*) FROM campaign_jobs t WHERE NOT EXISTS "
                         "(SELECT 1 FROM campaigns c WHERE c.id = t.campaign_id)")[0][0],
        "campaign_status": q("SELECT count(*) FROM campaigns WHERE status IS NULL OR status NOT IN "
                             "('pending','queued','running','pausing','paused','completed',"
                             "'failed','cancelled','archived')")[0][0],
    }


def test_baseline_up_verify_audit(db, tmp_path: Path) -> None:
    """Baseline with drift: 23 of 23 open; up --verify: version 27, every check passes;
    audit: 0 of 23 open; nothing lost: orphans and rewritten statuses are archived."""
    load(db, SCALE)
    before = drift(db)
    assert all(before.values()), before  # the generator really produces drift
    assert audit_open(db) == ALL
    mdir = migrations_dir(tmp_path)

    proc = ok(cli(db, "up", "--verify", "--output", "json", mdir=mdir, batch_size=100))
    doc = json.loads(proc.stdout)
    assert doc["result"] == "Succeeded" and doc["toVersion"] == 27
    assert doc["verification"]["failed"] == 0 and doc["verification"]["passed"] >= 39
    assert version(db) == (27, False)
    assert run_verify(db) == {}
    assert audit_open(db) == []

    archived = dict(db.query("SELECT tbl, count(*) FROM schemaflow_archive.m000027_rows "
                             "GROUP BY tbl"))
    assert archived == {"dns_validation_results": before["dns_orphans"],
                        "http_keyword_results": before["http_orphans"],
                        "campaign_jobs": before["job_orphans"]}
    assert db.query("SELECT count(*) FROM schemaflow_archive.m000027_status "
                    "WHERE tbl = 'campaigns'")[0][0] == before["campaign_status"]

    # the CLI form of the audit: a table, and JSON; exit 0 unless --fail-on-open
    text = subprocess.run([sys.executable, "-m", "schemaflow", "audit"], env=db.env(),
                          capture_output=True, text=True)
    assert text.returncode == 0 and "0 of 23 mismatches open" in text.stdout, text.stdout
    assert db.server.password not in text.stdout + text.stderr


def test_audit_cli_before_up(db18) -> None:
    load(db18, 0.1)
    proc = subprocess.run([sys.executable, "-m", "schemaflow", "audit", "--output", "json"],
                          env=db18.env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["open"] == 23 and doc["openNumbers"] == ALL
    assert all(i["checks"] and i["failing"] for i in doc["mismatches"])
    strict = subprocess.run([sys.executable, "-m", "schemaflow", "audit", "--fail-on-open"],
                            env=db18.env(), capture_output=True, text=True)
    assert strict.returncode == 3 and "23 of 23 mismatches open" in strict.stdout


def test_down_reverts_exactly_and_up_again_restores_new_data(db, tmp_path: Path) -> None:
    """up, the application writes into the new columns and tables, down: the schema is
    identical to before up and every pre-existing row too; the new data waits in
    schemaflow_archive and the next up puts it back."""
    load(db, SCALE)
    schema0, rows0 = schema_dump(db), checksums(db)
    mdir = migrations_dir(tmp_path)
    ok(cli(db, "up", "--verify", mdir=mdir, batch_size=100))

    # the new application writes (on tables without updated_at, so pre-existing rows of
    # the other tables stay byte-identical)
    db.query("UPDATE dns_validation_results SET business_status = 'rechecked' WHERE id IN "
             "(SELECT id FROM dns_validation_results WHERE validation_status = 'pending' "
             "ORDER BY id LIMIT 25)")
    db.query("UPDATE security_events SET session_id = 'sess-' || left(id::text, 8), "
             "source_ip = '203.0.113.7', risk_score = 42, request_context = '{\"path\": \"/api\"}' "
             "WHERE id IN (SELECT id FROM security_events ORDER BY id LIMIT 10)")
    db.query("INSERT INTO keyword_rules (keyword_set_id, pattern, rule_type, category) "
             "SELECT id, 'bet[0-9]+', 'regex', 'gambling' FROM keyword_sets")
    db.query("INSERT INTO proxy_pool_memberships (pool_id, proxy_id, weight) "
             "SELECT p.id, x.id, 3 FROM proxy_pools p CROSS JOIN proxies x")
    db.query("INSERT INTO authorization_decisions (decision_id, resource_type, action, decision, "
             "security_event_id) SELECT 'd-' || id, 'campaign', 'read', 'deny', id "
             "FROM security_events ORDER BY id LIMIT 5")
    db.query("INSERT INTO service_dependencies (source_service, target_service, dependency_type) "
             "VALUES ('api', 'worker', 'direct')")
    new_cols = db.query("SELECT id, business_status FROM dns_validation_results "
                        "WHERE business_status IS NOT NULL ORDER BY id")
    new_sec = db.query("SELECT id, session_id, source_ip::text, risk_score, request_context::text "
                       "FROM security_events WHERE session_id IS NOT NULL ORDER BY id")
    new_rules = db.query("SELECT id, keyword_set_id, pattern, rule_type, category, created_at, "
                         "updated_at FROM keyword_rules ORDER BY id")
    new_members = db.query("SELECT * FROM proxy_pool_memberships ORDER BY 1, 2")
    new_decisions = db.query("SELECT * FROM authorization_decisions ORDER BY id")

    proc = ok(cli(db, "down", "--output", "json", mdir=mdir, batch_size=100))
    assert json.loads(proc.stdout)["toVersion"] == 26
    assert version(db) == (26, False)
    same_schema(schema0, schema_dump(db))
    same_rows(rows0, checksums(db))
    # where the report says the new data is
    archived = dict(db.query("SELECT tbl, count(*) FROM schemaflow_archive.m000027_new_rows "
                             "GROUP BY tbl"))
    assert archived == {"keyword_rules": len(new_rules), "proxy_pool_memberships": len(new_members),
                        "authorization_decisions": len(new_decisions), "service_dependencies": 1}
    assert db.query("SELECT count(*) FROM schemaflow_archive.m000027_new_data "
                    "WHERE tbl = 'security_events'")[0][0] == len(new_sec)
    assert db.query("SELECT count(*) FROM schemaflow_archive.m000027_rows")[0][0] == 0
    assert db.query("SELECT count(*) FROM schemaflow_archive.m000027_status")[0][0] == 0

    ok(cli(db, "up", "--verify", mdir=mdir, batch_size=100))
    assert db.query("SELECT id, business_status FROM dns_validation_results "
                    "WHERE business_status = 'rechecked' ORDER BY id") == \
        [r for r in new_cols if r[1] == "rechecked"]
    assert db.query("SELECT id, business_status FROM dns_validation_results "
                    "WHERE business_status IS NOT NULL ORDER BY id") == new_cols
    assert db.query("SELECT id, session_id, source_ip::text, risk_score, request_context::text "
                    "FROM security_events WHERE session_id IS NOT NULL ORDER BY id") == new_sec
    assert db.query("SELECT id, keyword_set_id, pattern, rule_type, category, created_at, "
                    "updated_at FROM keyword_rules ORDER BY id") == new_rules
    assert db.query("SELECT * FROM proxy_pool_memberships ORDER BY 1, 2") == new_members
    assert db.query("SELECT * FROM authorization_decisions ORDER BY id") == new_decisions
    assert db.query("SELECT count(*) FROM schemaflow_archive.m000027_new_rows")[0][0] == 0
    assert db.query("SELECT count(*) FROM schemaflow_archive.m000027_new_data")[0][0] == 0


def test_up_twice_and_crash_anywhere_converges(db, tmp_path: Path) -> None:
    """The up file re-run from the start converges: after complete runs (version forced
    back), and after runs killed between any two committed statements; likewise down."""
    load(db, SCALE)
    schema0, rows0 = schema_dump(db), checksums(db)
    total = apply_file(db, UP)
    apply_file(db, UP)  # a second complete run
    assert run_verify(db) == {}
    apply_file(db, DOWN)
    same_schema(schema0, schema_dump(db))
    same_rows(rows0, checksums(db))

    # killed runs: each re-run starts from the top and is killed a little later (a re-run
    # has fewer batches to do, so late kill points may find it already finished)
    crashed = 0
    for k in sorted({2, 3, 4, 7, 12, 20, total // 3, total // 2, total - 5, total - 1}):
        try:
            apply_file(db, UP, crash_after=k)
        except Crash:
            crashed += 1
    assert crashed >= 6
    apply_file(db, UP)
    assert run_verify(db) == {}
    crashed = 0
    for k in (1, 2, 4, 6, 9, 12, 15):
        try:
            apply_file(db, DOWN, crash_after=k)
        except Crash:
            crashed += 1
    assert crashed >= 5
    apply_file(db, DOWN)
    same_schema(schema0, schema_dump(db))
    same_rows(rows0, checksums(db))

    # and through the CLI: up; up again is a no-op; version set back to 26 by hand (the
    # engine's `force` only accepts bundled versions), up re-runs the whole file
    mdir = migrations_dir(tmp_path)
    ok(cli(db, "up", "--verify", mdir=mdir))
    assert "NoChange" in ok(cli(db, "up", "--verify", "--output", "json", mdir=mdir)).stdout
    db.query("UPDATE schema_migrations SET version = 26, dirty = false")
    ok(cli(db, "up", "--verify", mdir=mdir))
    assert version(db) == (27, False)


def test_partly_aligned_with_stricter_constraints(db, tmp_path: Path) -> None:
    """Variant 1: some objects exist, with stricter CHECKs and NOT NULL. Up succeeds and
    verifies without writing a value those constraints reject; down restores exactly the
    variant (pre-existing objects and their data survive)."""
    load(db, SCALE)
    db.query(variants.PARTIAL_STRICT)
    schema0, rows0 = schema_dump(db), checksums(db)
    failing = run_verify(db)  # partly aligned: what it fixed by hand passes
    assert failing and audit_open(db)
    assert not {"campaign_jobs_job_type", "campaign_jobs_job_payload", "dgcp_created_at"} & set(failing)
    mdir = migrations_dir(tmp_path)
    ok(cli(db, "up", "--verify", mdir=mdir, batch_size=100))
    assert run_verify(db) == {} and audit_open(db) == []
    # NULL job statuses became 'failed' (the CHECK refuses 'pending'); the two-value CHECK
    # on the DNS business_status was widened to its union with the derived values, so
    # pending/error results got theirs, and both old values stay allowed
    assert db.query("SELECT DISTINCT new_status FROM schemaflow_archive.m000027_status "
                    "WHERE tbl = 'campaign_jobs' AND old_status IS NULL") == [("failed",)]
    assert db.query("SELECT DISTINCT business_status FROM dns_validation_results "
                    "WHERE validation_status IN ('pending', 'error', 'timeout') ORDER BY 1") == \
        [("error_dns",), ("pending_dns",)]
    assert db.query("SELECT convalidated FROM pg_constraint "
                    "WHERE conname = 'dns_business_status_two_values'") == [(True,)]
    recorded = dict(db.query("SELECT kind || ':' || name, created_by_up "
                             "FROM schemaflow_archive.m000027_changes"))
    assert recorded["table:keyword_rules"] is False
    assert recorded["column:domain_generation_campaign_params.created_at"] is False
    assert recorded["rename:campaign_jobs.campaign_type>job_type"] is False
    assert recorded["rename:campaign_jobs.worker_id>processing_server_id"] is True
    assert recorded["index:idx_campaign_jobs_status_scheduled_at"] is False
    assert recorded["constraint:campaign_jobs.fk_campaign_jobs_campaign"] is False

    ok(cli(db, "down", mdir=mdir))
    same_schema(schema0, schema_dump(db))
    same_rows(rows0, checksums(db))
    assert db.query("SELECT legacy_note FROM keyword_rules") == [("pre-existing",)]
    ok(cli(db, "up", "--verify", mdir=mdir))


def test_aligned_by_hand_then_stricter(db, tmp_path: Path) -> None:
    """Variant 2: everything already aligned (no bookkeeping), then tightened further
    (NOT NULL statuses, a CHECK on the DNS business_status). Up changes nothing but the
    version, verifies; down is then a no-op for the schema and every row."""
    load(db, SCALE)
    apply_file(db, UP)
    db.query(variants.ALIGNED_STRICT_AFTER_UP)
    schema0, rows0 = schema_dump(db), checksums(db)
    assert audit_open(db) == []
    mdir = migrations_dir(tmp_path)
    ok(cli(db, "up", "--verify", mdir=mdir))
    assert db.query("SELECT count(*) FROM schemaflow_archive.m000027_changes "
                    "WHERE created_by_up")[0][0] == 0
    same_schema(schema0, schema_dump(db))
    after_up = checksums(db)
    same_rows({t: v for t, v in rows0.items() if t != "schema_migrations"},
              {t: v for t, v in after_up.items() if t != "schema_migrations"})
    ok(cli(db, "down", mdir=mdir))
    same_schema(schema0, schema_dump(db))
    same_rows(rows0, checksums(db))


def test_broken_up_fails_verify_naming_that_check(db, tmp_path: Path) -> None:
    """One fix removed in a copy (the architecture_refactor_log table, mismatch 17): up
    applies, verification fails (exit 3) naming exactly that check; audit names item 17."""
    text = UP.read_text()
    start = text.index("SELECT schemaflow_archive.m000027_record_table('architecture_refactor_log');")
    end = text.index("SELECT schemaflow_archive.m000027_record_table('communication_patterns');")
    broken = text[:start] + text[end:]
    load(db, 0.1)
    mdir = migrations_dir(tmp_path, up_text=broken)
    proc = cli(db, "up", "--verify", "--output", "json", mdir=mdir)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["result"] == "VerificationFailed"
    assert [f["check"] for f in doc["verification"]["failures"]] == ["architecture_refactor_log_table"], doc
    assert audit_open(db) == [17]
    assert set(run_verify(db)) == {"architecture_refactor_log_table"}


def test_without_batch_size_each_batch_step_is_one_pass(db18) -> None:
    """A runner that does not set schemaflow.batch_size (e.g. a plain psql/golang-migrate
    style run, statement by statement) gets each batch step done in its first execution."""
    load(db18, 0.2)
    apply_file(db18, UP, batch_size=None)
    assert run_verify(db18) == {}
    for task, last_block, done in db18.query(
            "SELECT task, last_block, done FROM schemaflow_archive.m000027_progress ORDER BY 1"):
        assert done and last_block >= 10**9, (task, last_block)


def test_invalid_index_left_by_a_failed_concurrent_build_is_replaced(db18, tmp_path: Path) -> None:
    """A CREATE INDEX CONCURRENTLY that failed leaves an INVALID index under our name; up
    (re-)run renames it aside, drops it concurrently and builds a valid one."""
    load(db18, 0.2)
    # a failed concurrent build: the unique build fails on duplicates, the index stays, invalid
    try:
        db18.query("CREATE UNIQUE INDEX CONCURRENTLY idx_campaign_jobs_status_scheduled_at "
                   "ON campaign_jobs (status)")
    except Exception:  # noqa: BLE001 - unique_violation expected
        pass
    assert db18.query("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                      "'idx_campaign_jobs_status_scheduled_at'::regclass") == [(False,)]
    assert "no_invalid_indexes" in run_verify(db18)
    ok(cli(db18, "up", "--verify", mdir=migrations_dir(tmp_path)))
    assert db18.query("SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index WHERE indexrelid = "
                      "'idx_campaign_jobs_status_scheduled_at'::regclass")[0][0] is True
    assert db18.query("SELECT count(*) FROM pg_class WHERE relname LIKE '%sf_invalid'")[0][0] == 0


def test_old_code_still_writing_after_up_keeps_verification_green(db, tmp_path: Path) -> None:
    """A pre-rollout migration runs while the old application still writes DNS results
    without business_status: the compatibility trigger derives it (INSERT, and an UPDATE of
    validation_status), new code's own value is kept, verify passes; down drops the trigger
    and its function."""
    load(db, SCALE)
    mdir = migrations_dir(tmp_path)
    ok(cli(db, "up", mdir=mdir, batch_size=100))
    campaign = db.query("SELECT id FROM campaigns LIMIT 1")[0][0]
    old_insert = ("INSERT INTO dns_validation_results (dns_campaign_id, domain_name, validation_status) "
                  "VALUES (%s, %s, %s) RETURNING id")
    resolved = db.query(old_insert, (campaign, "old-a.example", "resolved"))[0][0]
    pending = db.query(old_insert, (campaign, "old-b.example", "pending"))[0][0]
    db.query("UPDATE dns_validation_results SET validation_status = 'resolved' WHERE id = %s", (pending,))
    new = db.query("INSERT INTO dns_validation_results (dns_campaign_id, domain_name, validation_status, "
                   "business_status) VALUES (%s, 'new.example', 'resolved', 'valid_dns_checked') "
                   "RETURNING id", (campaign,))[0][0]
    got = dict(db.query("SELECT id, business_status FROM dns_validation_results WHERE id = ANY(%s)",
                        ([resolved, pending, new],)))
    assert got == {resolved: "valid_dns", pending: "valid_dns", new: "valid_dns_checked"}
    # verification sees the old code's rows as aligned (the new-code row is outside the map)
    db.query("DELETE FROM dns_validation_results WHERE id = %s", (new,))
    ok(cli(db, "verify", mdir=mdir))

    ok(cli(db, "down", mdir=mdir, batch_size=100))
    assert db.query("SELECT count(*) FROM pg_trigger WHERE tgname = "
                    "'trg_dns_validation_results_business_status'") == [(0,)]
    assert db.query("SELECT to_regprocedure('public.dns_validation_results_derive_business_status()')") \
        == [(None,)]


def test_verify_failure_prints_its_problem_rows_in_text_mode(db18, tmp_path: Path) -> None:
    """``up --verify`` in text mode: a failing check is followed by its problem rows, one per
    line, up to a limit (then how many more), not only its name."""
    from schemaflow.engine.report import TEXT_PROBLEM_ROWS

    text = UP.read_text()
    start = text.index("SELECT schemaflow_archive.m000027_record_table('architecture_refactor_log');")
    end = text.index("SELECT schemaflow_archive.m000027_record_table('communication_patterns');")
    load(db18, 0.05)
    proc = cli(db18, "up", "--verify", mdir=migrations_dir(tmp_path, up_text=text[:start] + text[end:]))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()  # text mode: the failure goes to stderr
    at = next(i for i, line in enumerate(lines) if "FAIL architecture_refactor_log_table" in line)
    rows = lines[at + 1:at + 1 + TEXT_PROBLEM_ROWS]
    assert all(r.startswith("      architecture_refactor_log.") and r.endswith("got missing") for r in rows), rows
    assert lines[at + 1 + TEXT_PROBLEM_ROWS].strip() == "... 1 more (--output json lists them)"
