"""An interrupted non-transactional up (000027's DNS business_status backfill, a batch step), resumed, then rolled back: the version recorded
after each step is the version the schema is at (the history must say where a resumed run
really started, or the rollback returns to the version it is rolling back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from killrun import cli_env, kill_at, load_v26, migrate, point, version_state

from schemaflow.audit import audit_database

Database = Any


def open_items(db: Database) -> int:
    return sum(i["open"] for i in audit_database(db.url))


def test_resumed_up_then_down_returns_to_26(db18: Database, tmp_path: Path) -> None:
    load_v26(db18)
    env = cli_env(db18.url)
    reached, _, _ = kill_at(db18, point("'dns_business_status'"),
                            ["up", "--batch-size", "25"], tmp_path)
    assert reached
    assert version_state(db18.admin) == (27, True)

    r = migrate(env, "up", "--verify", "--batch-size", "25")
    assert r.returncode == 0, r
    assert version_state(db18.admin) == (27, False)
    resumed = db18.query("SELECT previous_version FROM schemaflow_history "
                         "WHERE direction = 'up' ORDER BY id DESC LIMIT 1")
    assert resumed == [(26,)], "the resumed run must record the version it started from"

    r = migrate(env, "down", "--batch-size", "25")
    assert r.returncode == 0, r
    assert "27 -> 26" in r.stdout, r
    assert version_state(db18.admin) == (26, False)
    assert open_items(db18) == 23


def test_rollback_never_returns_to_the_version_it_rolls_back(db18: Database) -> None:
    """A history written by an earlier release (a resumed run recorded 27 -> 27): the
    rollback of 27 must not take 27 as the version before it."""
    load_v26(db18)
    env = cli_env(db18.url)
    assert migrate(env, "up").returncode == 0
    db18.query("UPDATE schemaflow_history SET previous_version = 27")
    db18.query("INSERT INTO schemaflow_history (version, direction, previous_version, started, "
               "finished, result) SELECT 27, 'up', 26, now() - interval '1 day', now(), "
               "'succeeded'")
    r = migrate(env, "down")
    assert r.returncode == 0, r
    assert version_state(db18.admin) == (26, False)
