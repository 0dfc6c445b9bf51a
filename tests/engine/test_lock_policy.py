"""Preflight's catalog queries wait for locks under the same policy as steps: bounded by
lock_timeout, retried, and when they give up the message says so (not "the connection
failed")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from engine_helpers import Run

Database = Any


def _hold_items(db: Database) -> psycopg.Connection:
    app = psycopg.connect(db.admin)
    app.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
    return app


def test_preflight_lock_wait_gives_up_with_a_true_message(
        db: Database, basic_dir: Path, migrate: Callable[..., Run]) -> None:
    assert migrate(db.url, "up", "--target", "1", "--dir", str(basic_dir)).rc == 0
    with _hold_items(db):
        r = migrate(db.url, "up", "--dir", str(basic_dir), "--lock-timeout", "100ms",
                    "--lock-retries", "2", "--preflight", "warn")
    assert r.rc == 2, r
    assert "preflight disk_estimate: could not take its locks within lock_timeout (0.1s) " \
           "in 3 attempts" in r.err, r.err
    assert "lock_timeout on preflight disk_estimate: retry 2/2" in r.err
    assert "connection failed" not in r.err
    assert db.query("SELECT version, dirty FROM schema_migrations") == [(1, False)]


def test_preflight_waits_out_a_short_lock(db: Database, basic_dir: Path,
                                          migrate: Callable[..., Run]) -> None:
    assert migrate(db.url, "up", "--target", "1", "--dir", str(basic_dir)).rc == 0
    app = _hold_items(db)
    timer = threading.Timer(0.5, app.close)  # closing rolls back: the lock goes
    timer.start()
    try:
        r = migrate(db.url, "up", "--dir", str(basic_dir), "--lock-timeout", "100ms",
                    "--lock-retries", "30", "--preflight", "warn")
    finally:
        timer.join()
        app.close()
    assert r.rc == 0, r
    assert "lock_timeout on preflight disk_estimate: retry 1/30" in r.err
    assert db.query("SELECT version, dirty FROM schema_migrations") == [(3, False)]
