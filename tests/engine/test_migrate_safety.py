"""Concurrency and failure behaviour on PostgreSQL 18: the advisory lock, lock_timeout
retries with a concurrent writer, SIGKILL mid-migration, dirty states, preflight, drift."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from engine_helpers import Run, run_cli, write_dir

Migrate = Callable[..., Run]
Database = Any


def golang_migrate_key(name: str) -> int:
    """Computed here independently of the engine, as golang-migrate's database/util.go
    does: crc32(schema\\0table\\0db) * salt (additional names first, database last)."""
    return (zlib.crc32(f"public\x00schema_migrations\x00{name}".encode()) * 1486364155) & 0xFFFFFFFF


@pytest.mark.parametrize("how", ["library", "cli-url"])
def test_advisory_lock_held_exits_4_naming_holder(db18: Database, basic_dir: Path, how: str) -> None:
    name = db18.name if how == "library" else "/" + db18.name
    with db18.connect(application_name="golang-migrate") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (golang_migrate_key(name),))
        pid = holder.info.backend_pid
        t0 = time.monotonic()
        r = run_cli(db18.env(), "up", "--dir", str(basic_dir), "--lock-wait", "1s",
                    "--output", "json")
        waited = time.monotonic() - t0
    assert r.rc == 4, r.err
    assert waited >= 1.0
    doc = r.json()
    assert doc["result"] == "LockNotAcquired" and doc["lockTimeLostSeconds"] == 1.0
    assert f"pid {pid}" in doc["error"]["message"] and "golang-migrate" in doc["error"]["message"]
    assert db18.query("SELECT to_regclass('items')") == [(None,)]


def test_lock_timeout_retries_without_blocking_writers(db18: Database, tmp_path: Path,
                                                       migrate: Migrate) -> None:
    d = write_dir(tmp_path / "m", {
        "1_t.up.sql": "CREATE TABLE t (id serial PRIMARY KEY, v int);",
        "1_t.down.sql": "DROP TABLE t;",
        "2_col.up.sql": "ALTER TABLE t ADD COLUMN w int;",
        "2_col.down.sql": "ALTER TABLE t DROP COLUMN w;",
    })
    assert migrate(db18.url, "up", "--dir", str(d), "--target", "1").rc == 0
    latencies: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        with psycopg.connect(db18.admin, autocommit=True) as conn:
            while not stop.is_set():
                t0 = time.monotonic()
                conn.execute("INSERT INTO t (v) VALUES (1)")
                latencies.append(time.monotonic() - t0)
                time.sleep(0.01)

    blocker = psycopg.connect(db18.admin)  # a long transaction holding a lock on t
    blocker.execute("SELECT count(*) FROM t")
    threading.Timer(2.5, blocker.rollback).start()
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        r = run_cli(db18.env(), "up", "--dir", str(d), "--lock-timeout", "500ms",
                    "--preflight", "off", "--output", "json")
    finally:
        stop.set()
        thread.join()
        blocker.close()
    assert r.rc == 0, r.err
    doc = r.json()
    assert doc["toVersion"] == 2 and doc["lockRetries"] >= 1 and doc["lockTimeLostSeconds"] > 1
    assert "lock_timeout on 2_col.up.sql" in r.err
    assert len(latencies) > 20
    assert max(latencies) < 1.0, f"writer blocked {max(latencies):.2f}s (lock_timeout 0.5s)"


def test_sigkill_during_transactional_migration(db18: Database, tmp_path: Path) -> None:
    d = write_dir(tmp_path / "m", {
        "1_t.up.sql": "CREATE TABLE t (id int); CREATE TABLE pause (x int); INSERT INTO pause VALUES (1);",
        "1_t.down.sql": "DROP TABLE t, pause;",
        "2_slow.up.sql": "ALTER TABLE t ADD COLUMN w int;\n"
                         "SELECT pg_sleep(CASE WHEN EXISTS (SELECT 1 FROM pause) THEN 60 ELSE 0 END);\n",
        "2_slow.down.sql": "ALTER TABLE t DROP COLUMN w;",
    })
    env = db18.env()
    assert run_cli(env, "up", "--dir", str(d), "--target", "1").rc == 0
    proc = subprocess.Popen([sys.executable, "-m", "schemaflow", "migrate", "up", "--dir", str(d),
                             "--preflight", "off"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not db18.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'schemaflow' "
                             "AND query LIKE 'SELECT pg_sleep%'"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert db18.query("SELECT version, dirty FROM schema_migrations") == [(1, False)]
    db18.query("DELETE FROM pause")
    r = run_cli(env, "up", "--dir", str(d), "--lock-wait", "15s", "--output", "json")
    assert r.rc == 0, r.err
    assert db18.query("SELECT version, dirty FROM schema_migrations") == [(2, False)]


DIRTY_FILES = {
    "1_t.up.sql": "CREATE TABLE t (id int, name text); CREATE TABLE gate (x int);",
    "1_t.down.sql": "DROP TABLE t, gate;",
    "2_idx.up.sql": "-- schemaflow:step no-transaction\n"
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_name ON t (name);\n"
                    "-- schemaflow:step transaction\n"
                    "SELECT 1 / (SELECT count(*) FROM gate)::int;\n",
    "2_idx.down.sql": "DROP INDEX IF EXISTS t_name;",
}


def test_rerunnable_dirty_file_is_resumed(db18: Database, tmp_path: Path, migrate: Migrate) -> None:
    files = dict(DIRTY_FILES)
    files["2_idx.up.sql"] = "-- schemaflow:rerunnable\n" + files["2_idx.up.sql"]
    d = write_dir(tmp_path / "m", files)
    r = migrate(db18.url, "up", "--dir", str(d))
    assert r.rc == 2 and "2_idx.up.sql:5: division by zero" in r.err
    assert "dirty at version 2" in r.err and "rerunnable" in r.err
    assert db18.query("SELECT version, dirty FROM schema_migrations") == [(2, True)]
    assert "DIRTY" in migrate(db18.url, "status", "--dir", str(d)).out
    db18.query("INSERT INTO gate VALUES (1)")
    r = migrate(db18.url, "up", "--dir", str(d))
    assert r.rc == 0, r.err
    assert "re-running it" in r.err
    assert db18.query("SELECT version, dirty FROM schema_migrations") == [(2, False)]


def test_dirty_database_exits_5_with_force_hint(db18: Database, tmp_path: Path,
                                                migrate: Migrate) -> None:
    d = write_dir(tmp_path / "m", DIRTY_FILES)
    assert migrate(db18.url, "up", "--dir", str(d)).rc == 2
    r = run_cli(db18.env(), "up", "--dir", str(d))
    assert r.rc == 5
    assert "dirty at version 2" in r.err and "up run of migration 2" in r.err
    assert "`schemaflow migrate force 2`" in r.err and "`schemaflow migrate force 1`" in r.err
    assert migrate(db18.url, "force", "--dir", str(d), "1").rc == 0
    db18.query("INSERT INTO gate VALUES (1)")
    assert migrate(db18.url, "up", "--dir", str(d)).rc == 0


def test_preflight_strict(db18: Database, basic_dir: Path, migrate: Migrate) -> None:
    d = ["--dir", str(basic_dir), "--target", "1"]
    with db18.connect(application_name="domainflow-api") as app:
        r = migrate(db18.url, "up", *d, "--output", "json")
        assert r.rc == 2
        doc = r.json()
        assert doc["error"]["reason"] == "PreflightFailed"
        assert f"pid {app.info.backend_pid} application 'domainflow-api'" in doc["error"]["message"]
        assert {p["name"]: p["status"] for p in doc["preflight"]}["application_sessions"] == "fail"
    assert db18.query("SELECT to_regclass('schema_migrations') IS NULL OR "
                      "NOT EXISTS (SELECT 1 FROM schema_migrations)") == [(True,)]

    with psycopg.connect(db18.admin, application_name="psql") as long_tx:
        long_tx.execute("SELECT 1")
        time.sleep(1.2)
        r = migrate(db18.url, "up", *d, "--max-xact-age", "1s", "--app-pattern", "domainflow%")
        assert r.rc == 2
        assert "long_transactions" in r.err and f"pid {long_tx.info.backend_pid}" in r.err
        long_tx.rollback()

    r = migrate(db18.url, "up", *d, "--output", "json")
    assert r.rc == 0, r.out
    statuses = {p["name"]: p["status"] for p in r.json()["preflight"]}
    assert "fail" not in statuses.values()
    assert statuses["wal_archiving"] == "warn"  # archive_mode is off on the test servers
    assert set(statuses) == {"server_version", "version", "application_sessions",
                             "long_transactions", "disk_estimate", "wal_archiving"}


def test_edited_applied_file_is_drift(db18: Database, basic_dir: Path, migrate: Migrate) -> None:
    d = ["--dir", str(basic_dir)]
    assert migrate(db18.url, "up", *d, "--target", "2").rc == 0
    path = basic_dir / "000001_items.up.sql"
    path.write_text(path.read_text() + "-- edited after it was applied\n")
    r = migrate(db18.url, "status", *d)
    assert "DRIFT 000001_items.up.sql" in r.out
    r = migrate(db18.url, "up", *d)
    assert r.rc == 2 and "000001_items.up.sql" in r.err and "--allow-checksum-drift" in r.err
    assert migrate(db18.url, "up", *d, "--allow-checksum-drift").rc == 0
    doc = migrate(db18.url, "status", *d, "--output", "json").json()
    assert doc["drift"][0]["version"] == 1 and json.dumps(doc)


def test_statement_timeout_and_exhausted_lock_retries(db18: Database, tmp_path: Path,
                                                      migrate: Migrate) -> None:
    d = write_dir(tmp_path / "m", {
        "1_t.up.sql": "CREATE TABLE t (id int);", "1_t.down.sql": "DROP TABLE t;",
        "2_slow.up.sql": "ALTER TABLE t ADD COLUMN w int;\nSELECT pg_sleep(5);",
        "2_slow.down.sql": "ALTER TABLE t DROP COLUMN w;",
    })
    assert migrate(db18.url, "up", "--dir", str(d), "--target", "1").rc == 0
    r = migrate(db18.url, "up", "--dir", str(d), "--statement-timeout", "300ms")
    assert r.rc == 2 and "2_slow.up.sql:2: canceling statement due to statement timeout" in r.err
    assert "--statement-timeout" in r.err
    with psycopg.connect(db18.admin) as blocker:
        blocker.execute("SELECT count(*) FROM t")
        r = migrate(db18.url, "up", "--dir", str(d), "--lock-timeout", "200ms",
                    "--lock-retries", "1", "--preflight", "off", "--output", "json")
    assert r.rc == 2
    doc = r.json()
    assert "could not take its locks within lock_timeout (0.2s) in 2 attempts" in doc["error"]["message"]
    assert doc["lockRetries"] == 1 and doc["lockTimeLostSeconds"] >= 0.4
    assert db18.query("SELECT version, dirty FROM schema_migrations") == [(1, False)]
