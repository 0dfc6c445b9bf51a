"""What a run prints while it works: preflight first, each step by name with its kind,
rows written by a batch whose row count is one per batch (a data-modifying CTE), and a
heartbeat during a long statement, with an index build's phase."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from engine_helpers import Run, write_dir

from schemaflow.engine import progress

Database = Any
Migrate = Callable[..., Run]

FILES = {
    "000001_t.up.sql": "CREATE TABLE t (id int PRIMARY KEY, x int);\n"
                       "INSERT INTO t SELECT g, NULL FROM generate_series(1, 1000) g;\n",
    "000001_t.down.sql": "DROP TABLE t;\n",
    "000002_fill.up.sql": (
        "-- schemaflow:step transaction\n"
        "-- a side table for the backfill\n"
        "CREATE TABLE side (id int);\n"
        "-- schemaflow:step batch\n"
        "-- backfill x, one row per batch reported\n"
        "WITH b AS (SELECT id FROM t WHERE x IS NULL ORDER BY id\n"
        "           LIMIT current_setting('schemaflow.batch_size')::int),\n"
        "     u AS (UPDATE t SET x = 1 FROM b WHERE t.id = b.id RETURNING 1)\n"
        "SELECT count(*) FROM u HAVING count(*) > 0;\n"
        "-- schemaflow:step no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);\n"),
    "000002_fill.down.sql": "-- schemaflow:step no-transaction\n"
                            "DROP INDEX CONCURRENTLY IF EXISTS t_x;\n"
                            "-- schemaflow:step transaction\n"
                            "DROP TABLE side;\n",
}


def test_steps_rows_and_heartbeat(db: Database, tmp_path: Path, migrate: Migrate,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "HEARTBEAT_EVERY", 0.2)
    d = write_dir(tmp_path / "m", FILES)
    assert migrate(db.url, "up", "--dir", str(d), "--target", "1").rc == 0
    # an open writing transaction makes the index build wait (phase "waiting for writers")
    app = psycopg.connect(db.admin)
    app.execute("INSERT INTO t VALUES (0, 0)")
    timer = threading.Timer(1.5, app.commit)
    timer.start()
    try:
        r = migrate(db.url, "up", "--dir", str(d), "--batch-size", "100", "--preflight", "warn",
                    "--lock-timeout", "30s")
    finally:
        timer.join()
        app.close()
    assert r.rc == 0, r.err
    err = r.err
    assert err.index("preflight pass: version:") < err.index("up 000002_fill.up.sql")
    assert "step 1/3 transaction (000002_fill.up.sql:2): a side table for the backfill" in err
    assert "step 2/3 batch (000002_fill.up.sql:5): backfill x, one row per batch reported" in err
    # the statement reports one row per batch; its CTE updated 100 rows each time
    assert "000002_fill.up.sql:6: 10 batches, 10 rows by the statement, 1000 rows written in " \
           "all tables" in err, err
    assert "step 3/3 no-transaction (000002_fill.up.sql:11): CREATE INDEX CONCURRENTLY" in err
    beats = [line for line in err.splitlines()
             if "step 3/3 no-transaction (000002_fill.up.sql:11): still running after" in line]
    assert any("index build: waiting for writers before build" in b for b in beats), err
    assert "step 1/3 done in" in err
