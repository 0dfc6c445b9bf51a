"""golang-migrate's migration advisory lock, taken by polling so a wait is bounded.

golang-migrate's Postgres driver locks ``GenerateAdvisoryLockId(databaseName, schema,
table)``: CRC-32 (IEEE) of the names joined by NUL bytes, times 1486364155, as uint32
(database/util.go, database/postgres/postgres.go). ``databaseName`` depends on how the
application opened the driver: ``postgres.WithInstance`` with an empty config uses
``CURRENT_DATABASE()`` ("app"), while a URL (the ``migrate`` CLI, ``migrate.New``) uses the
URL's path, leading slash included ("/app"). schemaflow holds both keys, so it excludes
golang-migrate however the application runs it.

golang-migrate itself waits forever in ``pg_advisory_lock``; we poll
``pg_try_advisory_lock`` up to a deadline and then name the session holding the lock.
"""

from __future__ import annotations

import time
import zlib

from schemaflow.engine.db import Error, Session
from schemaflow.errors import LockNotAcquired

SALT = 1486364155


def advisory_lock_id(database_name: str, *names: str) -> int:
    """golang-migrate's ``database.GenerateAdvisoryLockId``."""
    data = "\x00".join((database_name, *names)).encode("utf-8")
    return (zlib.crc32(data) * SALT) & 0xFFFFFFFF


def migration_lock_keys(database_name: str, schema: str, table: str) -> tuple[int, ...]:
    """The keys golang-migrate's Postgres driver may use for this version table."""
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


def describe_holders(session: Session, keys: tuple[int, ...]) -> str:
    """``pid N (application 'x', state s, query '...')`` for each session holding a key."""
    rows = session.conn.execute(
        """
        SELECT a.pid, a.application_name, a.state, left(a.query, 120)
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.objsubid = 1
          AND (l.classid::bigint << 32 | l.objid::bigint) = ANY(%s)
        ORDER BY a.pid
        """,
        (list(keys),),
    ).fetchall()
    if not rows:
        return "a session that has just released it"
    return "; ".join(f"pid {pid} (application {app!r}, state {state}, query {query!r})"
                     for pid, app, state, query in rows)
