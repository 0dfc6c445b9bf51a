"""Verification, plan (dry run) and batch steps, on PostgreSQL 18 and 15."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import Run, write_dir

from schemaflow.engine.verify import load_checks, run_checks

Migrate = Callable[..., Run]
Database = Any

VERIFY = """-- check: qty_not_null
-- mismatch: 2
-- description: items.qty is integer NOT NULL
SELECT 'items.qty missing or nullable' AS problem
WHERE NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_name = 'items' AND column_name = 'qty' AND is_nullable = 'NO');

-- check: no_unnamed_items
SELECT id, name FROM items WHERE name = '' ORDER BY id;
"""


def test_up_verify_failure_exits_3_and_keeps_version(db: Database, basic_dir: Path,
                                                      migrate: Migrate, tmp_path: Path) -> None:
    write_dir(basic_dir.parent / "verify", {"000002_qty.verify.sql": VERIFY})
    d = ["--dir", str(basic_dir)]
    assert migrate(db.url, "up", *d, "--target", "1").rc == 0
    db.query("INSERT INTO items (name) VALUES (''), (''), ('ok')")
    report = tmp_path / "termination-log"
    r = migrate(db.url, "up", *d, "--target", "2", "--verify", "--report", str(report))
    assert r.rc == 3
    assert "1 of 2 verification check(s) failed: no_unnamed_items" in r.err
    doc = json.loads(report.read_text())
    assert doc["result"] == "VerificationFailed" and doc["toVersion"] == 2
    assert doc["verification"]["failures"] == [
        {"check": "no_unnamed_items", "mismatches": [], "problems": ["id=1, name=", "id=2, name="]}]
    assert db.query("SELECT version, dirty FROM schema_migrations") == [(2, False)]

    db.query("DELETE FROM items WHERE name = ''")
    r = migrate(db.url, "verify", *d, "--output", "json")
    assert r.rc == 0 and r.json()["verification"] == {"passed": 2, "failed": 0, "failures": []}


def test_check_api_rolls_back_and_reports_errors(db: Database, tmp_path: Path) -> None:
    db.query("CREATE TABLE t (id int)")
    path = write_dir(tmp_path, {"x.verify.sql": """-- check: insert_works
INSERT INTO t VALUES (1);
SELECT 'not inserted' WHERE NOT EXISTS (SELECT 1 FROM t);
-- check: broken
SELECT * FROM missing_table;
"""}) / "x.verify.sql"
    checks = load_checks(path)
    results = run_checks(db.url, checks)
    assert [r.passed for r in results] == [True, False]
    assert "missing_table" in (results[1].error or "")
    assert db.query("SELECT count(*) FROM t") == [(0,)]


def test_plan_reports_changes_and_changes_nothing(db: Database, basic_dir: Path,
                                                  migrate: Migrate) -> None:
    assert migrate(db.url, "up", "--dir", str(basic_dir), "--target", "1").rc == 0
    r = migrate(db.url, "plan", "--dir", str(basic_dir), "--output", "json")
    assert r.rc == 0, r.err
    plan = r.json()["plan"]
    changes = {(c["kind"], c["name"], c["change"]) for c in plan["changes"]}
    assert changes == {("column", "public.items.qty", "added"), ("index", "public.items_qty", "added")}
    assert any("CONCURRENTLY dropped" in n for n in plan["notes"])
    assert db.query("SELECT version FROM schema_migrations") == [(1,)]
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'qty'") == [(0,)]


def test_batch_step_progress_goes_to_stderr(db: Database, tmp_path: Path, migrate: Migrate) -> None:
    d = write_dir(tmp_path / "m", {
        "1_t.up.sql": "CREATE TABLE t (id int PRIMARY KEY, v int);\n"
                      "INSERT INTO t SELECT g, NULL FROM generate_series(1, 2500) g;",
        "1_t.down.sql": "DROP TABLE t;",
        "2_fill.up.sql": "-- schemaflow:rerunnable\n-- schemaflow:step batch\n"
                         "UPDATE t SET v = id WHERE id IN (SELECT id FROM t WHERE v IS NULL "
                         "LIMIT current_setting('schemaflow.batch_size')::int);\n",
        "2_fill.down.sql": "UPDATE t SET v = NULL;",
    })
    r = migrate(db.url, "up", "--dir", str(d), "--batch-size", "1000", "--output", "json")
    assert r.rc == 0, r.err
    assert r.json()["toVersion"] == 2
    assert "2_fill.up.sql:3: 3 batches, 2500 rows" in r.err
    assert db.query("SELECT count(*) FROM t WHERE v IS NULL") == [(0,)]


def test_extra_checks_from_file_and_environment(db: Database, basic_dir: Path, migrate: Migrate,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    extra = write_dir(tmp_path / "x", {"extra.verify.sql": "-- check: has_items\n"
                                       "SELECT 'no items' WHERE NOT EXISTS (SELECT 1 FROM items);\n"})
    monkeypatch.setenv("SCHEMAFLOW_EXTRA_CHECKS", "-- check: from_env\nSELECT 1 WHERE false;\n")
    r = migrate(db.url, "up", "--dir", str(basic_dir), "--verify", "--output", "json",
                "--extra-checks", str(extra / "extra.verify.sql"))
    assert r.rc == 3
    doc = r.json()
    assert doc["verification"]["passed"] == 1 and doc["toVersion"] == 3
    assert doc["verification"]["failures"][0] == {"check": "has_items", "mismatches": [],
                                                  "problems": ["no items"]}
