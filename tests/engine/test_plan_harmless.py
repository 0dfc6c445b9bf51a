"""``migrate plan`` changes nothing (not even the version and history tables on a fresh
database) and keeps each of its rolled-back transactions, and so every lock it takes,
within its budget: a step that does not fit is reported as not evaluated, later steps
still are, and a step that needed an earlier step's effect says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_helpers import Run, write_dir

Database = Any
Migrate = Callable[..., Run]


def test_plan_on_a_fresh_database_creates_nothing(db: Database, basic_dir: Path,
                                                  migrate: Migrate) -> None:
    r = migrate(db.url, "plan", "--dir", str(basic_dir), "--output", "json")
    assert r.rc == 0, r.err
    changes = {(c["kind"], c["name"], c["change"]) for c in r.json()["plan"]["changes"]}
    assert {("table", "public.items", "added"), ("column", "public.items.qty", "added"),
            ("index", "public.items_qty", "added")} <= changes
    assert db.query("SELECT to_regclass('schema_migrations'), to_regclass('schemaflow_history'),"
                    " to_regclass('items')") == [(None, None, None)]


SLOW = {
    "000001_a.up.sql": "-- schemaflow:step transaction\n"
                       "CREATE TABLE t2 (id int);\n"
                       "-- schemaflow:step transaction\n"
                       "SELECT pg_sleep(30);\n"
                       "-- schemaflow:step transaction\n"
                       "ALTER TABLE t2 ADD COLUMN c int;\n"
                       "-- schemaflow:step transaction\n"
                       "CREATE TABLE t3 (id int);\n",
    "000001_a.down.sql": "DROP TABLE t3, t2;\n",
}


def test_a_step_longer_than_the_budget_is_not_run_to_the_end(db: Database, tmp_path: Path,
                                                             migrate: Migrate) -> None:
    d = write_dir(tmp_path / "m", SLOW)
    r = migrate(db.url, "plan", "--dir", str(d), "--output", "json", "--lock-timeout", "300ms")
    assert r.rc == 0, r.err
    plan = r.json()["plan"]
    changes = {(c["kind"], c["name"], c["change"]) for c in plan["changes"]}
    assert ("table", "public.t2", "added") in changes
    assert ("table", "public.t3", "added") in changes  # evaluated after the slow step
    assert ("column", "public.t2.c", "added") not in changes
    notes = "\n".join(plan["notes"])
    assert "000001_a.up.sql:4: transaction step not evaluated: it does not fit in the " \
           "plan's 0.3s lock budget" in notes, notes
    assert "000001_a.up.sql:6: transaction step not evaluated: it needs the effect of " \
           "earlier steps" in notes and 'relation "t2" does not exist' in notes, notes
    assert "steps got at most 0.3s each" in notes
    assert db.query("SELECT to_regclass('t2'), to_regclass('t3')") == [(None, None)]


def test_an_error_with_every_earlier_effect_fails_the_plan(db: Database, tmp_path: Path,
                                                           migrate: Migrate) -> None:
    d = write_dir(tmp_path / "m", {
        "000001_a.up.sql": "CREATE TABLE t4 (id int);\nALTER TABLE t4 ADD COLUMN id int;\n",
        "000001_a.down.sql": "DROP TABLE t4;\n"})
    r = migrate(db.url, "plan", "--dir", str(d))
    assert r.rc == 2 and "000001_a.up.sql:2" in r.err and "already exists" in r.err, r.err
