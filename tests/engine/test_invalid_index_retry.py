"""``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` that hits lock_timeout after creating its
catalog entry leaves an INVALID index; the retry must not "succeed" by skipping it (IF NOT
EXISTS): the engine drops the invalid index concurrently before retrying."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from engine_helpers import write_dir

Database = Any

FILES = {
    "000001_t.up.sql": "CREATE TABLE t (id int PRIMARY KEY, x int);\n"
                       "INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g;\n",
    "000001_t.down.sql": "DROP TABLE t;\n",
    "000002_idx.up.sql": "-- schemaflow:step no-transaction\n"
                         "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);\n",
    "000002_idx.down.sql": "-- schemaflow:step no-transaction\n"
                           "DROP INDEX CONCURRENTLY IF EXISTS t_x;\n",
}


def _wait_for(path: Path, text: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert proc.poll() is None or text in path.read_text(), path.read_text()
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.02)


def test_invalid_index_left_by_a_timed_out_build_is_rebuilt(db: Database, tmp_path: Path) -> None:
    d = write_dir(tmp_path / "m", FILES)
    cmd = [sys.executable, "-m", "schemaflow", "migrate"]
    first = subprocess.run([*cmd, "up", "--target", "1", "--dir", str(d)], env=db.env(),
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    err = tmp_path / "err"
    with psycopg.connect(db.admin) as app, err.open("w") as ferr:
        app.execute("INSERT INTO t VALUES (0, 0)")  # an open writing transaction
        proc = subprocess.Popen([*cmd, "up", "--dir", str(d), "--lock-timeout", "300ms",
                                 "--lock-retries", "20", "--preflight", "off"], env=db.env(),
                                stdout=subprocess.DEVNULL, stderr=ferr, text=True)
        try:
            # the build created its catalog entry, then timed out waiting for that transaction
            _wait_for(err, "lock_timeout on 000002_idx.up.sql:2: retry 1/", proc)
            app.commit()
            assert proc.wait(timeout=60) == 0, err.read_text()
        finally:
            proc.kill()
    assert db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass") \
        == [(True,)], err.read_text()
    assert db.query("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == [(0,)]
