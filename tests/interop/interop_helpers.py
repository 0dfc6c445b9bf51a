"""Helpers of the interop tests (a uniquely named module: tests/ has no packages).

golang-migrate runs in two forms whose advisory-lock keys differ (database/postgres/
postgres.go): ``cli`` opens the driver from a URL (DatabaseName = the URL path, "/db"),
``withinstance`` with ``postgres.WithInstance`` and an empty Config (CURRENT_DATABASE()).

A migration that must be "slow" waits on a GATE advisory lock that the test holds: the
tool stays inside that migration, with its migration lock held, until the test releases
the gate, so what each tool holds is read from pg_locks without relying on timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemaflow.engine.advisory import advisory_lock_id, migration_lock_keys

REPO = Path(__file__).resolve().parents[2]
GATE = 7_007_007
FORMS = ["cli", "withinstance"]
Database = Any


def slow(sql: str) -> str:
    """``sql`` preceded by a wait on the test's gate (a transaction-level lock, so it is
    released when the migration's transaction ends)."""
    return f"SELECT pg_advisory_xact_lock({GATE});\n{sql}"


def no_transaction(body: str) -> str:
    """``body`` as one schemaflow no-transaction step (golang-migrate reads a comment)."""
    return "-- schemaflow:step no-transaction\n" + body


# Migration 2 and 3 each log their run, so a migration applied twice shows as count 2.
LOGGED = {
    "1_runs.up.sql": "CREATE TABLE runs (id serial PRIMARY KEY, version int NOT NULL);\n",
    "1_runs.down.sql": "DROP TABLE runs;\n",
    "2_two.up.sql": slow("INSERT INTO runs (version) VALUES (2);\n"),
    "2_two.down.sql": "DELETE FROM runs WHERE version = 2;\n",
    "3_three.up.sql": slow("INSERT INTO runs (version) VALUES (3);\n"),
    "3_three.down.sql": "DELETE FROM runs WHERE version = 3;\n",
}


def gm_key(db: Database, form: str) -> int:
    """The key golang-migrate v4.20.1 takes (database/postgres/postgres.go): its
    DatabaseName is the URL path for the CLI, CURRENT_DATABASE() for WithInstance."""
    name = db.name if form == "withinstance" else "/" + db.name
    return advisory_lock_id(name, "public", "schema_migrations")


def sf_keys(db: Database) -> set[int]:
    return set(migration_lock_keys(db.name, "public", "schema_migrations"))


def scenario(*cells: object) -> None:
    """One row of the interop table, printed for the report (pytest -s shows it)."""
    print("\nSCENARIO | " + " | ".join(map(str, cells)))


@dataclass
class Done:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Proc:
    """A tool started in the background, and the application_name its session uses."""

    popen: subprocess.Popen[str]
    app: str

    def wait(self, timeout: float = 60) -> Done:
        out, err = self.popen.communicate(timeout=timeout)
        return Done(self.popen.returncode, out, err)

    def running(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Tools:
    bin: Path
    db: Database
    dir: Path
    _n: int = field(default=0)
    started: list[Proc] = field(default_factory=list)

    def _start(self, argv: list[str], env: dict[str, str], app: str) -> Proc:
        proc = Proc(subprocess.Popen(argv, env=env, text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE), app)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        """Kill what a failed test left running (golang-migrate waits forever for a lock)."""
        for proc in self.started:
            if proc.running():
                proc.popen.kill()
            proc.popen.communicate()

    def write(self, files: dict[str, str]) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.sql"):
            old.unlink()
        for name, text in files.items():
            (self.dir / name).write_text(text, encoding="utf-8")
        return self.dir

    def _app(self, who: str) -> str:
        self._n += 1
        return f"{who}-{self._n}"

    def _gm_argv(self, form: str, app: str, args: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
        url = f"{self.db.url}?sslmode=disable&application_name={app}"
        env = dict(os.environ)
        if form == "cli":
            return [str(self.bin / "migrate"), "-path", str(self.dir), "-database", url, *args], env
        env["DATABASE_URL"] = url
        return [str(self.bin / "migrate-withinstance"), "-path", str(self.dir), *args], env

    def gm_start(self, form: str, *args: str) -> Proc:
        """golang-migrate in ``form`` (``cli`` or ``withinstance``), in the background."""
        app = self._app(f"golang-migrate-{form}")
        argv, env = self._gm_argv(form, app, args)
        return self._start(argv, env, app)

    def gm(self, form: str, *args: str) -> Done:
        return self.gm_start(form, *args).wait()

    def sf_start(self, *args: str) -> Proc:
        """``schemaflow migrate ARGS --dir DIR`` in a subprocess, as a Job runs it. Its
        session's application_name is schemaflow's own."""
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["DATABASE_URL"] = self.db.url
        argv = [sys.executable, "-m", "schemaflow", "migrate", *args, "--dir", str(self.dir)]
        return self._start(argv, env, "schemaflow")

    def sf(self, *args: str) -> Done:
        return self.sf_start(*args).wait()

    def version(self) -> list[tuple[int, bool]]:
        return [(int(v), bool(d)) for v, d in
                self.db.query("SELECT version, dirty FROM schema_migrations")]

    def runs(self, version: int) -> int:
        return int(self.db.query("SELECT count(*) FROM runs WHERE version = %s", (version,))[0][0])


class Gate:
    """The test's session holding GATE, and pg_locks read from it."""

    def __init__(self, db: Database) -> None:
        self.conn = db.connect(application_name="interop-test")
        self.conn.execute("SELECT pg_advisory_lock(%s)", (GATE,))
        self.held = True

    def release(self) -> None:
        if self.held:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
            self.held = False

    def close(self) -> None:
        self.release()
        self.conn.close()

    def _advisory(self, app: str, granted: bool) -> list[tuple[int, int]]:
        """(pid, key) of advisory locks of sessions named ``app`` in this database."""
        rows = self.conn.execute(
            """SELECT l.pid, (l.classid::bigint << 32 | l.objid::bigint)
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted = %s AND l.objsubid = 1
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND a.application_name = %s""", (granted, app)).fetchall()
        return [(int(p), int(k)) for p, k in rows]

    def wait_for(self, proc: Proc, key: int = GATE, timeout: float = 60) -> int:
        """Block until ``proc``'s session waits for advisory ``key``; returns its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = [pid for pid, k in self._advisory(proc.app, False) if k == key]
            if waiting:
                return waiting[0]
            if not proc.running():
                done = proc.wait()
                raise AssertionError(f"{proc.app} ended (rc {done.rc}) before waiting on "
                                     f"{key}: {done.text[-2000:]}")
            time.sleep(0.05)
        raise AssertionError(f"{proc.app} never waited for advisory key {key}")

    def keys_held(self, proc: Proc) -> set[int]:
        """The advisory keys ``proc``'s session holds, the gate aside."""
        return {k for _, k in self._advisory(proc.app, True) if k != GATE}
