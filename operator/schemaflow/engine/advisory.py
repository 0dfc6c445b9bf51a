"""golang-migrate's migration advisory lock, taken by polling so a wait is bounded.

golang-migrate's Postgres driver (v4.15.0 and later) locks ``GenerateAdvisoryLockId(
databaseName, schema, table)``, which hashes the additional names FIRST and the database
name LAST: CRC-32 (IEEE) of ``schema NUL table NUL databaseName``, times 1486364155, as
uint32 (golang-migrate database/util.go, database/postgres/postgres.go). ``databaseName``
depends on how the application opened the driver: ``postgres.WithInstance`` with an empty
config uses ``CURRENT_DATABASE()`` ("app"), while a URL (the ``migrate`` CLI,
``migrate.New``) uses the URL's path, leading slash included ("/app"). schemaflow holds both
keys, so it excludes golang-migrate however the application runs it. v4.14.1 and earlier
locked (databaseName, schema), one key per schema; schemaflow does not take that key
(docs/architecture.md says why).

golang-migrate itself waits forever in ``pg_advisory_lock``; we poll
``pg_try_advisory_lock`` up to a deadline and then name the session holding the lock.
"""

from __future__ import annotations

import re
import time
import zlib
from typing import Any

from schemaflow.engine.db import Connection, Error, Session, redact
from schemaflow.errors import LockNotAcquired

SALT = 1486364155
# another session's statement is shown to whoever runs status: a role's password in it
# (CREATE/ALTER ROLE ... PASSWORD '...') is not
_SQL_PASSWORD = re.compile(r"\bpassword\s+'(?:[^']|'')*'?", re.I)


def advisory_lock_id(database_name: str, *additional: str) -> int:
    """golang-migrate's ``database.GenerateAdvisoryLockId``: additional names, then the
    database name, joined by NUL."""
    data = "\x00".join((*additional, database_name)).encode("utf-8")
    return (zlib.crc32(data) * SALT) & 0xFFFFFFFF


def migration_lock_keys(database_name: str, schema: str, table: str) -> tuple[int, ...]:
    """The keys golang-migrate's Postgres driver may use for this version table: the
    WithInstance one (``CURRENT_DATABASE()``), then the URL one (``/`` + the name)."""
    keys = [advisory_lock_id(database_name, schema, table),
            advisory_lock_id("/" + database_name, schema, table)]
    return tuple(dict.fromkeys(keys))


def release(session: Session, keys: tuple[int, ...]) -> None:
    """Give the keys back. On a broken connection there is nothing to do: the server drops
    a session's advisory locks with the session, and the original error matters more."""
    try:
        for key in keys:
            session.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    except Error:
        pass


def acquire(session: Session, keys: tuple[int, ...], wait: float, poll: float = 0.25) -> float:
    """Take every key (session-level advisory locks) or none, polling until ``wait`` seconds
    have passed; returns the seconds waited. Raises LockNotAcquired naming the holder."""
    t0 = time.monotonic()
    deadline = t0 + wait
    announced = False
    while True:
        held = []
        for key in keys:
            row = session.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (row and row[0]):
                break
            held.append(key)
        if len(held) == len(keys):
            return time.monotonic() - t0
        for key in held:
            session.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        holders = describe_holders(session, keys)
        if time.monotonic() >= deadline:
            raise LockNotAcquired(
                f"another migration holds the migration lock (advisory key "
                f"{', '.join(map(str, keys))}) after waiting {wait:g}s: {holders}",
                hint="wait for that migration to finish, or end that session if it is stuck "
                "(SELECT pg_terminate_backend(<pid>)), then re-run; --lock-wait sets the wait")
        if not announced:
            session.progress(f"waiting up to {wait:g}s for the migration lock held by {holders}")
            announced = True
        time.sleep(min(poll, max(deadline - time.monotonic(), 0.01)))


def holders(conn: Connection, keys: tuple[int, ...]) -> list[dict[str, Any]]:
    """The other sessions holding one of ``keys``: pid, application, state, seconds since
    the session connected and since its current statement started, and that statement."""
    rows = conn.execute(
        """
        SELECT DISTINCT a.pid, a.application_name, a.state,
               extract(epoch FROM now() - a.backend_start)::float8,
               extract(epoch FROM now() - a.query_start)::float8, left(a.query, 120)
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.objsubid = 1
          AND (l.classid::bigint << 32 | l.objid::bigint) = ANY(%s)
        ORDER BY a.pid
        """,
        (list(keys),),
    ).fetchall()
    return [{"pid": pid, "application": app, "state": state,
             "connectedSeconds": round(connected or 0.0, 1),
             "statementSeconds": round(statement or 0.0, 1), "query": scrub(query or "")}
            for pid, app, state, connected, statement, query in rows]


def scrub(query: str) -> str:
    """``query`` without passwords (URL, ``password=`` and SQL ``PASSWORD '...'`` forms)."""
    return _SQL_PASSWORD.sub("PASSWORD ***", redact(query))


def describe(found: list[dict[str, Any]]) -> str:
    """``pid N (application 'x', connected 12s ago, state s, current statement for 3s:
    '...')`` per holder."""
    if not found:
        return "a session that has just released it"
    return "; ".join(f"pid {h['pid']} (application {h['application']!r}, connected "
                     f"{h['connectedSeconds']:g}s ago, state {h['state']}, current statement "
                     f"for {h['statementSeconds']:g}s: {h['query']!r})" for h in found)


def describe_holders(session: Session, keys: tuple[int, ...]) -> str:
    return describe(holders(session.conn, keys))
