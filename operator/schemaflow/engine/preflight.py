"""Checks run before every apply: the pre-migration checklist of a careful DBA, automated.

Each check passes, warns or fails. Mode ``strict`` stops on any failure before anything is
applied; ``warn`` reports failures and goes on; ``off`` skips the checks.

Application sessions: by default every client session on the same database counts
(pattern ``%``), except schemaflow's own (``application_name`` starting with
``schemaflow``): the migration expects the application stopped. ``--app-pattern`` narrows
it to LIKE patterns such as ``domainflow%``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemaflow.engine import db
from schemaflow.engine.sources import MigrationFile
from schemaflow.engine.versions import State
from schemaflow.errors import PreflightFailed

MODES = ("strict", "warn", "off")
MIN_SERVER_VERSION = 120000
DISK_WARN_BYTES = 1 << 30

_NAME = r"((?:\"[^\"]+\"|[\w$]+)(?:\.(?:\"[^\"]+\"|[\w$]+))?)"
_TOUCHES = [re.compile(p, re.I) for p in (
    rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}",
    rf"\bUPDATE\s+(?:ONLY\s+)?{_NAME}\s+SET\b",
    rf"\bDELETE\s+FROM\s+(?:ONLY\s+)?{_NAME}",
)]
_INDEX_ON = re.compile(rf"\bCREATE\s+(?:UNIQUE\s+)?INDEX\b[^;]*?\bON\s+(?:ONLY\s+)?{_NAME}", re.I)


@dataclass
class PreflightOptions:
    mode: str = "strict"
    app_patterns: list[str] = field(default_factory=lambda: ["%"])
    max_xact_age: float = 60.0
    resuming: str | None = None  # the file a dirty database is resumed with (re-run)


@dataclass(frozen=True)
class Result:
    name: str
    status: str  # pass | warn | fail
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


def run_preflight(session: db.Session, state: State, pending: Sequence[MigrationFile],
                  options: PreflightOptions) -> list[Result]:
    if options.mode == "off":
        return []
    conn = session.conn
    checks: list[tuple[str, Callable[[], Result]]] = [
        ("server_version", lambda: server_version(conn)),
        ("version", lambda: version_state(state, pending, options.resuming)),
        ("application_sessions", lambda: application_sessions(conn, options.app_patterns)),
        ("long_transactions", lambda: long_transactions(conn, options.max_xact_age)),
        ("disk_estimate", lambda: disk_estimate(conn, pending)),
        ("wal_archiving", lambda: wal_archiving(conn)),
    ]
    # the catalog queries wait for locks like any step (pg_total_relation_size needs one on
    # every table it sizes): bounded by lock_timeout, retried, failing with the step's message
    return [session.retry_locks(check, f"preflight {name}") for name, check in checks]


def enforce(results: Sequence[Result], mode: str) -> None:
    """In strict mode, any failed check stops the run before anything is applied."""
    failed = [r for r in results if r.status == "fail"]
    if failed and mode == "strict":
        raise PreflightFailed(
            "preflight failed: " + "; ".join(f"{r.name}: {r.message}" for r in failed),
            hint="fix the listed conditions and re-run, or pass --preflight warn to proceed anyway")


def server_version(conn: db.Connection) -> Result:
    row = conn.execute("SELECT current_setting('server_version_num')::int, "
                       "current_setting('server_version')").fetchone()
    assert row is not None
    if row[0] < MIN_SERVER_VERSION:
        return Result("server_version", "fail", f"PostgreSQL {row[1]} is older than 12")
    return Result("server_version", "pass", f"PostgreSQL {row[1]}")


def version_state(state: State, pending: Sequence[MigrationFile],
                  resuming: str | None = None) -> Result:
    at = "none" if state.version is None else str(state.version)
    files = ", ".join(f.path.name for f in pending) or "nothing"
    if state.dirty and resuming:
        return Result("version", "pass", f"at version {at}, DIRTY: an interrupted run of "
                      f"{resuming} (rerunnable) is resumed by re-running it; to apply: {files}")
    if state.dirty:
        return Result("version", "fail", f"version {at} is dirty")
    return Result("version", "pass", f"at version {at}, clean; to apply: {files}")


def application_sessions(conn: db.Connection, patterns: list[str]) -> Result:
    rows = conn.execute(
        """SELECT pid, application_name, usename, coalesce(client_addr::text, 'local'), state
           FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND backend_type = 'client backend'
             AND application_name NOT LIKE 'schemaflow%%'
             AND application_name LIKE ANY(%s)
           ORDER BY pid""", (patterns,)).fetchall()
    if not rows:
        return Result("application_sessions", "pass",
                      f"no sessions of applications matching {', '.join(patterns)}")
    listed = "; ".join(f"pid {pid} application {app!r} user {user} from {addr} ({state})"
                       for pid, app, user, addr, state in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return Result("application_sessions", "fail",
                  f"{len(rows)} session(s) of other applications connected: {listed}{more}; "
                  "stop the application before migrating")


def long_transactions(conn: db.Connection, max_age: float) -> Result:
    rows = conn.execute(
        """SELECT pid, application_name, state,
                  extract(epoch FROM now() - xact_start)::float8, left(query, 80)
           FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND backend_type = 'client backend'
             AND xact_start < now() - make_interval(secs => %s)
           ORDER BY xact_start""", (max_age,)).fetchall()
    if not rows:
        return Result("long_transactions", "pass", f"no transaction open longer than {max_age:g}s")
    listed = "; ".join(f"pid {pid} application {app!r} {state} for {age:.0f}s: {query!r}"
                       for pid, app, state, age, query in rows[:5])
    return Result("long_transactions", "fail",
                  f"{len(rows)} transaction(s) open longer than {max_age:g}s would block DDL: "
                  f"{listed}")


def touched_tables(files: Sequence[MigrationFile]) -> tuple[set[str], list[str]]:
    """Tables the SQL rewrites or updates, and the tables indexes are built on (rough)."""
    touched: set[str] = set()
    indexed: list[str] = []
    for f in files:
        for step in f.steps:
            for st in step.statements:
                for pattern in _TOUCHES:
                    touched.update(m.group(1) for m in pattern.finditer(st.text))
                indexed.extend(m.group(1) for m in _INDEX_ON.finditer(st.text))
    return touched, indexed


def disk_estimate(conn: db.Connection, files: Sequence[MigrationFile]) -> Result:
    touched, indexed = touched_tables(files)
    sizes: dict[str, int] = {}
    for name in touched | set(indexed):
        row = conn.execute("SELECT pg_total_relation_size(to_regclass(%s)), "
                           "pg_relation_size(to_regclass(%s))", (name, name)).fetchone()
        sizes[name] = int(row[0] or 0) if row else 0
        sizes[name + "#heap"] = int(row[1] or 0) if row else 0
    need = sum(sizes[t] for t in touched) + sum(sizes[t + "#heap"] for t in indexed)
    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    db_size = int(row[0]) if row else 0
    message = (f"may need up to {_human(need)} of extra disk ({len(touched)} table(s) altered "
               f"or updated, {len(indexed)} index build(s)); database size {_human(db_size)}; "
               "free disk space is not visible from SQL: check the volume")
    status = "warn" if need >= DISK_WARN_BYTES or (db_size and need > db_size // 2) else "pass"
    return Result("disk_estimate", status, message)


def wal_archiving(conn: db.Connection) -> Result:
    row = conn.execute(
        """SELECT current_setting('archive_mode'), failed_count, last_failed_wal,
                  last_failed_time, last_archived_time,
                  last_failed_time IS NOT NULL
                    AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)
           FROM pg_stat_archiver""").fetchone()
    assert row is not None
    mode, failed, wal, failed_at, archived_at, failing = row
    if mode == "off":
        return Result("wal_archiving", "warn",
                      "no WAL archiving (archive_mode off): make a backup (pg_dump) first")
    if failing:
        return Result("wal_archiving", "fail",
                      f"WAL archiving is failing: {failed} failure(s), last {wal} at {failed_at}; "
                      "backups are not current")
    return Result("wal_archiving", "pass", f"WAL archiving works (last archived {archived_at})")


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def as_dicts(results: Sequence[Result]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in results]
