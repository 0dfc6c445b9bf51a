"""Preflight checks that need their own server settings or no server at all."""

from __future__ import annotations

import time
from pathlib import Path

from engine_helpers import write_dir

from schemaflow.engine import db
from schemaflow.engine.preflight import touched_tables, wal_archiving
from schemaflow.engine.sources import load_source
from schemaflow.localpg import LocalPostgres


def test_tables_touched_by_the_sql(tmp_path: Path) -> None:
    src = load_source(write_dir(tmp_path / "m", {
        "1_a.up.sql": 'ALTER TABLE ONLY public."Items" ADD COLUMN x int;\n'
                      "UPDATE orders SET x = 1 WHERE x IS NULL;\n"
                      "DELETE FROM app.logs WHERE false;\n"
                      "-- schemaflow:step no-transaction\n"
                      "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY orders USING btree (x);\n",
        "1_a.down.sql": "SELECT 1;"}))
    touched, indexed = touched_tables([src.get(1).up])
    assert touched == {'public."Items"', "orders", "app.logs"}
    assert indexed == ["orders"]


def test_failing_wal_archiving_fails(tmp_path: Path) -> None:
    with LocalPostgres("embedded", base_dir=tmp_path / "pg",
                       settings={"archive_mode": "on", "archive_command": "'false'",
                                 "wal_level": "replica"}) as pg:
        session = db.connect(pg.admin_conninfo())
        try:
            conn = session.conn
            conn.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) g")
            conn.execute("SELECT pg_switch_wal()")
            deadline = time.monotonic() + 20
            result = wal_archiving(conn)
            while result.status != "fail" and time.monotonic() < deadline:
                time.sleep(0.2)
                result = wal_archiving(conn)
            assert result.status == "fail" and "WAL archiving is failing" in result.message
        finally:
            session.conn.close()
