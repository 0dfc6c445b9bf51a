"""The version table, exactly golang-migrate's, and schemaflow's history beside it.

``schema_migrations (version bigint not null primary key, dirty boolean not null)`` holds
one row (none = no migration applied; version -1 with dirty = a failed down below the first
migration, golang-migrate's NilVersion). golang-migrate writes it with TRUNCATE + INSERT;
we DELETE + INSERT, which leaves the same row but does not break concurrent readers
(TRUNCATE is not MVCC-safe and takes an ACCESS EXCLUSIVE lock).

``schemaflow_history`` records every run (direction, SHA-256 of the file, times, result):
golang-migrate cannot tell that an applied file was edited; the history can.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor

from schemaflow.engine.db import Connection, sql

NIL_VERSION = -1
DEFAULT_TABLE = "schema_migrations"
HISTORY_TABLE = "schemaflow_history"


@dataclass(frozen=True)
class VersionTable:
    schema: str
    table: str = DEFAULT_TABLE

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    @property
    def history_name(self) -> str:
        """``schemaflow_history``, or ``<table>_schemaflow_history`` for a custom version
        table, so two version tables in one schema never share a history."""
        if self.table == DEFAULT_TABLE:
            return HISTORY_TABLE
        return f"{self.table[:63 - len(HISTORY_TABLE) - 1]}_{HISTORY_TABLE}"

    @property
    def history(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.history_name)


@dataclass(frozen=True)
class State:
    """``version`` None means no migration applied."""

    version: int | None
    dirty: bool


def resolve_schema(conn: Connection, schema: str | None) -> str:
    """golang-migrate defaults to ``CURRENT_SCHEMA()``; so do we."""
    if schema:
        return schema
    row = conn.execute("SELECT current_schema()").fetchone()
    if not row or row[0] is None:
        return "public"
    return str(row[0])


def ensure_tables(conn: Connection, vt: VersionTable) -> None:
    """Create the version table (golang-migrate's DDL) and the history table if missing.
    Like golang-migrate, an existing version table is only read, never altered."""
    exists = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
        (vt.ident.as_string(conn), vt.history.as_string(conn)),
    ).fetchone()
    assert exists is not None
    if not exists[0]:
        _run(conn, "CREATE TABLE IF NOT EXISTS {} "
             "(version bigint not null primary key, dirty boolean not null)", vt.ident)
    if not exists[1]:
        _run(conn,
            """CREATE TABLE IF NOT EXISTS {} (
                 id bigserial PRIMARY KEY,
                 version bigint NOT NULL,
                 direction text NOT NULL CHECK (direction IN ('up', 'down', 'force')),
                 previous_version bigint,
                 checksum text,
                 started timestamptz NOT NULL,
                 finished timestamptz,
                 result text NOT NULL CHECK (result IN ('running', 'succeeded', 'failed')),
                 error text)""", vt.history)


def read_state(conn: Connection, vt: VersionTable) -> State:
    """The version and dirty flag, read as golang-migrate reads them (``LIMIT 1``)."""
    if not _exists(conn, vt.ident):
        return State(None, False)
    row = _run(conn, "SELECT version, dirty FROM {} LIMIT 1", vt.ident).fetchone()
    if row is None:
        return State(None, False)
    version = None if row[0] == NIL_VERSION else int(row[0])
    return State(version, bool(row[1]))


def write_state(conn: Connection, vt: VersionTable, version: int | None, dirty: bool) -> None:
    """Replace the row as golang-migrate's SetVersion does: no row for (nil, clean), a
    ``-1`` row for (nil, dirty). Call inside the caller's transaction."""
    _run(conn, "DELETE FROM {}", vt.ident)
    if version is not None or dirty:
        _run(conn, "INSERT INTO {} (version, dirty) VALUES (%s, %s)", vt.ident,
             (NIL_VERSION if version is None else version, dirty))


def start_history(conn: Connection, vt: VersionTable, version: int, direction: str,
                  checksum: str | None, started: datetime, previous_version: int | None,
                  result: str = "running", error: str | None = None) -> int:
    """Insert a history row; returns its id. ``version`` is the migration's (the forced
    one for force), ``previous_version`` the database's version before the run (None = no
    version). ``finished`` is set now unless running."""
    row = _run(
        conn, "INSERT INTO {} (version, direction, previous_version, checksum, started, "
        "finished, result, error) VALUES (%s, %s, %s, %s, %s, "
        "CASE WHEN %s = 'running' THEN NULL ELSE now() END, %s, %s) RETURNING id", vt.history,
        (version, direction, previous_version, checksum, started, result, result, error),
    ).fetchone()
    assert row is not None
    return int(row[0])


def finish_history(conn: Connection, vt: VersionTable, history_id: int, result: str,
                   error: str | None = None) -> None:
    _run(conn, "UPDATE {} SET finished = clock_timestamp(), result = %s, error = %s "
         "WHERE id = %s", vt.history, (result, error, history_id))


def last_run(conn: Connection, vt: VersionTable) -> dict[str, Any] | None:
    """The most recent up/down run, to tell which direction an interrupted run took."""
    if not _exists(conn, vt.history):
        return None
    row = _run(conn, "SELECT version, direction, started, result, previous_version "
               "FROM {} WHERE direction <> 'force' ORDER BY id DESC LIMIT 1", vt.history).fetchone()
    if row is None:
        return None
    return {"version": row[0], "direction": row[1], "started": row[2], "result": row[3],
            "previous_version": row[4]}


def applied_from(conn: Connection, vt: VersionTable, version: int) -> tuple[bool, int | None]:
    """Whether the history knows the version ``version`` was last applied from, and that
    version: the one a rollback of ``version`` returns to when no lower migration file is
    bundled (DomainFlow's bundle starts at 27 on databases at 26)."""
    if not _exists(conn, vt.history):
        return False, None
    row = _run(conn, "SELECT previous_version FROM {} WHERE version = %s AND "
               "direction = 'up' AND result = 'succeeded' ORDER BY id DESC LIMIT 1",
               vt.history, (version,)).fetchone()
    return (True, None if row[0] is None else int(row[0])) if row else (False, None)


def applied_checksums(conn: Connection, vt: VersionTable) -> dict[int, str]:
    """Checksum of the up file each version was last applied with, for versions whose
    latest successful up/down run was an ``up``. Versions applied by golang-migrate (no
    history) are absent: their files cannot be checked."""
    if not _exists(conn, vt.history):
        return {}
    rows = _run(conn,
        """SELECT DISTINCT ON (version) version, direction, checksum FROM {}
           WHERE result = 'succeeded' AND direction IN ('up', 'down')
           ORDER BY version, id DESC""", vt.history).fetchall()
    return {int(v): str(c) for v, d, c in rows if d == "up" and c}


def _exists(conn: Connection, ident: sql.Composable) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (ident.as_string(conn),)).fetchone()
    return bool(row and row[0])


def _run(conn: Connection, template: str, ident: sql.Identifier,
         params: tuple[Any, ...] = ()) -> Cursor[Any]:
    """Execute ``template`` with its ``{}`` replaced by ``ident``. psycopg reads ``%`` in a
    composed query as a placeholder even inside a quoted identifier (a table named
    ``v%s`` breaks the query), so it is doubled here and parameters are always passed,
    which turns ``%%`` back into ``%``."""
    quoted = sql.SQL(ident.as_string(conn).replace("%", "%%"))
    return conn.execute(sql.SQL(template).format(quoted), params)
