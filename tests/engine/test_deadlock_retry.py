"""A step aborted by a real deadlock (40P01) with an application session is retried, and
the run succeeds: the application and the migration lock two tables in opposite orders."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from engine_helpers import write_dir

Database = Any

FILES = {
    "000001_tables.up.sql": "CREATE TABLE a (id int PRIMARY KEY, n int NOT NULL);\n"
                            "CREATE TABLE b (id int PRIMARY KEY, n int NOT NULL);\n"
                            "INSERT INTO a VALUES (1, 0); INSERT INTO b VALUES (1, 0);\n",
    "000001_tables.down.sql": "DROP TABLE a, b;\n",
    # a then b, in one transaction
    "000002_touch.up.sql": "UPDATE a SET n = n + 1;\nUPDATE b SET n = n + 1;\n",
    "000002_touch.down.sql": "UPDATE a SET n = n - 1;\nUPDATE b SET n = n - 1;\n",
}


def _wait_for_lock_wait(db: Database, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = db.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = 'schemaflow' AND wait_event_type = 'Lock'")
        if rows:
            return
        time.sleep(0.02)
    raise AssertionError("the migration never waited for the application's lock")


def test_deadlocked_step_is_retried(db: Database, tmp_path: Path) -> None:
    d = write_dir(tmp_path / "m", FILES)
    cmd = [sys.executable, "-m", "schemaflow", "migrate"]
    first = subprocess.run([*cmd, "up", "--target", "1", "--dir", str(d)], env=db.env(),
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    with psycopg.connect(db.admin) as app:
        # the application: b first; its deadlock check waits long, so the migration's
        # (default 1s) finds the cycle and the migration is the one aborted
        app.execute("SET deadlock_timeout = '60s'")
        app.execute("UPDATE b SET n = n + 10")
        proc = subprocess.Popen([*cmd, "up", "--dir", str(d), "--output", "json",
                                 "--preflight", "off"], env=db.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_lock_wait(db)  # the migration holds a and waits for b
            app.execute("UPDATE a SET n = n + 10")  # then a: the cycle
            app.commit()
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    assert "deadlock on 000002_touch.up.sql" in err, err
    doc = json.loads(out)
    assert doc["toVersion"] == 2 and doc["lockRetries"] >= 1
    # both the application's and the migration's (retried) updates are there, once
    assert db.query("SELECT (SELECT n FROM a), (SELECT n FROM b)") == [(11, 11)]
