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
from datetime import UTC, datetime
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
                 direction text NOT NULL CHECK (direction IN ('up', 'down', 'force', 'verify')),
                 previous_version bigint,
                 checksum text,
                 started timestamptz NOT NULL,
                 finished timestamptz,
                 result text NOT NULL CHECK (result IN ('running', 'succeeded', 'failed')),
                 error text)""", vt.history)
    _add_who_columns(conn, vt)
    _allow_verify_rows(conn, vt)


# Who ran each row, filled in by the server from the inserting session: the role, its
# application_name and the client address (the Job's pod IP; 'local' over a unix socket).
WHO_COLUMNS = {
    "installed_by": sql.SQL("DEFAULT current_user"),
    "application": sql.SQL("DEFAULT current_setting('application_name')"),
    "client_host": sql.SQL("DEFAULT coalesce(host(inet_client_addr()), 'local')"),
}


def _add_who_columns(conn: Connection, vt: VersionTable) -> None:
    """Add the WHO_COLUMNS a history table created by an older schemaflow lacks; only
    those missing, since ALTER TABLE locks the table even when it changes nothing."""
    rows = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                        "AND NOT attisdropped", (vt.history.as_string(conn),)).fetchall()
    have = {r[0] for r in rows}
    for name, definition in WHO_COLUMNS.items():
        if name not in have:  # no parameters: a % in the table's name is not a placeholder
            # the default only from now on: rows written before stay NULL (unknown), not
            # attributed to whoever upgrades
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text").format(
                vt.history, sql.Identifier(name)))
            conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET {}").format(
                vt.history, sql.Identifier(name), definition))


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
                  checksum: str | None, started: datetime, previous_version: int | None) -> int:
    """Insert the row of a run that is starting (result ``running``); returns its id for
    finish_history. ``version`` is the migration's, ``previous_version`` the database's
    version before the run (None = no version)."""
    return _insert_history(conn, vt, version, direction, checksum, started, previous_version,
                           "running", None)


def record_history(conn: Connection, vt: VersionTable, version: int, direction: str,
                   checksum: str | None, started: datetime, previous_version: int | None,
                   result: str, error: str | None = None) -> None:
    """Insert the row of a run that has ended (``succeeded`` or ``failed``, finished now):
    a transactional file, whose row commits with it, or a force (``version`` the forced
    one, ``error`` what it replaced)."""
    _insert_history(conn, vt, version, direction, checksum, started, previous_version, result,
                    error)


def _insert_history(conn: Connection, vt: VersionTable, version: int, direction: str,
                    checksum: str | None, started: datetime, previous_version: int | None,
                    result: str, error: str | None) -> int:
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
               "FROM {} WHERE direction IN ('up', 'down') ORDER BY id DESC LIMIT 1",
               vt.history).fetchone()
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
    # a row claiming it came from ``version`` itself or above is not a previous version
    # (an older release recorded a resumed run that way)
    row = _run(conn, "SELECT previous_version FROM {} WHERE version = %s AND "
               "direction = 'up' AND result = 'succeeded' AND "
               "(previous_version IS NULL OR previous_version < version) "
               "ORDER BY id DESC LIMIT 1", vt.history, (version,)).fetchone()
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


def written_outside(conn: Connection, vt: VersionTable) -> bool:
    """Whether the version table was last changed by something other than schemaflow
    (golang-migrate, a manual force or UPDATE). schemaflow writes the version row in the
    same transaction as a history row, so the row's xmin is a history row's; an empty
    table must match schemaflow's latest record leaving no version. A dump and restore
    also breaks the xmin match, so callers word this as a note, never as an error."""
    if not _exists(conn, vt.ident):
        return False
    row = _run(conn, "SELECT xmin::text, dirty FROM {} LIMIT 1", vt.ident).fetchone()
    if not _exists(conn, vt.history):
        return row is not None
    if row is None:
        last = _run(conn, "SELECT direction, version FROM {} WHERE result = 'succeeded' "
                    "AND direction IN ('up', 'down', 'force') ORDER BY id DESC LIMIT 1",
                    vt.history).fetchone()
        return last is not None and (last[0] == "up" or (last[0] == "force" and last[1] >= 0))
    if row[1]:
        run = last_run(conn, vt)  # schemaflow's own interrupted run: its history row moved on
        if run is not None and run["result"] in ("running", "failed"):
            return False
    hit = _run(conn, "SELECT EXISTS (SELECT 1 FROM {} WHERE xmin = %s::xid)", vt.history,
               (row[0],)).fetchone()
    return not (hit and hit[0])


def _allow_verify_rows(conn: Connection, vt: VersionTable) -> None:
    """A history table created before verification was recorded allows only up, down and
    force: widen its direction CHECK (a no-op once done)."""
    rows = conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c' "
        "AND pg_get_constraintdef(oid) LIKE '%%direction%%' "
        "AND pg_get_constraintdef(oid) NOT LIKE '%%verify%%'",
        (vt.history.as_string(conn),)).fetchall()
    for (name,) in rows:
        con = sql.Identifier(name)
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}, ADD CONSTRAINT {} CHECK "
                             "(direction IN ('up', 'down', 'force', 'verify'))").format(
                                 vt.history, con, con))


def record_verification(conn: Connection, vt: VersionTable, version: int, passed: bool,
                        error: str | None = None) -> bool:
    """Record that ``version``'s checks passed (or failed): the deploy gate
    (``wait --database``) opens only on such a row newer than the last change of version.
    Returns False when there is no history table (a database schemaflow never migrated)."""
    if not _exists(conn, vt.history):
        return False
    with conn.transaction():
        _allow_verify_rows(conn, vt)
        _insert_history(conn, vt, version, "verify", None, datetime.now(UTC), version,
                        "succeeded" if passed else "failed", error)
    return True


def last_record(conn: Connection, vt: VersionTable) -> tuple[str, int, str, str | None] | None:
    """The newest history row that changed the version or verified it: (direction,
    version, result, error); None without one (or without a history table). A failed
    up/down is left out: it changed nothing (a transactional file) or left the version
    dirty."""
    if not _exists(conn, vt.history):
        return None
    row = _run(conn, "SELECT direction, version, result, error FROM {} WHERE direction = "
               "'verify' OR result = 'succeeded' ORDER BY id DESC LIMIT 1", vt.history).fetchone()
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]), row[3])


def version_table_exists(conn: Connection, vt: VersionTable) -> bool:
    return _exists(conn, vt.ident)


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
