"""Ctrl-C (SIGINT) during ``up`` of a rerunnable non-transactional file: the last thing
printed says the database is dirty and how to recover, ``status`` advises re-running the
file, and the re-run's preflight says the database is dirty (and resumed), not clean."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine_helpers import run_cli, write_dir

Database = Any

FILES = {
    "000001_gate.up.sql": "CREATE TABLE gate (slow boolean NOT NULL);\n"
                          "INSERT INTO gate VALUES (true);\n",
    "000001_gate.down.sql": "DROP TABLE gate;\n",
    "000002_work.up.sql": "-- schemaflow:rerunnable\n"
                          "-- schemaflow:step no-transaction\n"
                          "CREATE TABLE IF NOT EXISTS done (id int);\n"
                          "-- schemaflow:step transaction\n"
                          "SELECT pg_sleep(CASE WHEN (SELECT slow FROM gate) THEN 60 ELSE 0 END);\n",
    "000002_work.down.sql": "DROP TABLE IF EXISTS done;\n",
}


def test_ctrl_c_says_dirty_and_status_advises_the_rerun(db: Database, tmp_path: Path) -> None:
    d = write_dir(tmp_path / "m", FILES)
    env = db.env()
    assert run_cli(env, "up", "--target", "1", "--dir", str(d)).rc == 0
    proc = subprocess.Popen([sys.executable, "-m", "schemaflow", "migrate", "up", "--dir", str(d),
                             "--preflight", "warn"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not db.query("SELECT 1 FROM pg_stat_activity WHERE application_name = "
                           "'schemaflow' AND state = 'active' AND query LIKE 'SELECT pg_sleep%'"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-2:]
    assert "interrupted (Ctrl-C) at 000002_work.up.sql:5" in last[0], err
    assert "left dirty at version 2" in last[1] and "`schemaflow migrate up` again" in last[1]
    assert db.query("SELECT version, dirty FROM schema_migrations") == [(2, True)]

    status = run_cli(env, "status", "--dir", str(d))
    recovery = status.out.split("recovery:", 1)[1]
    assert recovery.strip().startswith("000002_work.up.sql is rerunnable: run "
                                       "`schemaflow migrate up` again"), status.out

    db.query("UPDATE gate SET slow = false")
    again = run_cli(env, "up", "--dir", str(d), "--preflight", "warn")
    assert again.rc == 0, again.err
    assert "preflight pass: version: at version 2, DIRTY: an interrupted run of " \
           "000002_work.up.sql (rerunnable) is resumed" in again.err, again.err
    assert "clean" not in again.err.split("preflight pass: version:", 1)[1].splitlines()[0]
    assert db.query("SELECT version, dirty FROM schema_migrations") == [(2, False)]
