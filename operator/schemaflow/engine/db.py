"""The only module that imports psycopg: connections, session settings, error details,
credential redaction and the ``lock_timeout`` retry loop.

Keeping the driver behind this module means one place decides how errors are worded
(and scrubbed of passwords: libpq error texts can echo the connection string) and how a
lock wait is bounded.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

from schemaflow.errors import ApplyFailed, DatabaseUnreachable, UsageError

__all__ = ["Connection", "Error", "Session", "Settings", "Stats", "connect", "error_details",
           "redact", "sql", "sqlstate"]

Connection = psycopg.Connection[Any]
Error = psycopg.Error
T = TypeVar("T")

LOCK_NOT_AVAILABLE = "55P03"
# A deadlock aborts the whole transaction, which is then safe to run again.
DEADLOCK_DETECTED = "40P01"
RETRYABLE = frozenset({LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED})
QUERY_CANCELED = "57014"
APPLICATION_NAME = "schemaflow"

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@]*(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\S+)", re.I)


def redact(text: str, url: str | None = None) -> str:
    """``text`` without passwords: ``scheme://user:***@``, ``password=***`` and, when the
    URL is given, any verbatim occurrence of its password (raw or percent-decoded)."""
    out = _URL_PASSWORD.sub(r"\g<head>***", text)
    out = _KV_PASSWORD.sub(r"\g<head>***", out)
    if url:
        for secret in _passwords_in(url):
            out = out.replace(secret, "***")
    return out


def _passwords_in(url: str) -> set[str]:
    found: set[str] = set()
    try:
        raw = urlsplit(url).password if "://" in url else None
    except ValueError:
        raw = None
    if raw:
        found |= {raw, unquote(raw)}
    found |= {m.group(0).split("=", 1)[1].strip().strip("'") for m in _KV_PASSWORD.finditer(url)}
    return {s for s in found if len(s) >= 3}


@dataclass
class Settings:
    """Per-session limits. ``lock_timeout`` bounds every lock wait (so writers queued
    behind our DDL wait at most that long); ``lock_retries`` bounds the retries on 55P03
    (lock_timeout) and 40P01 (deadlock)."""

    lock_timeout: float = 5.0
    statement_timeout: float = 0.0
    lock_retries: int = 10
    backoff_base: float = 0.2
    backoff_cap: float = 10.0
    application_name: str = APPLICATION_NAME


@dataclass
class Stats:
    """What the report says about lock contention."""

    lock_retries: int = 0
    lock_time_lost_seconds: float = 0.0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Session:
    """A connection with its settings, counters and a progress sink (stderr by default:
    stdout is reserved for the result)."""

    conn: Connection
    settings: Settings
    stats: Stats = field(default_factory=Stats)
    progress: Callable[[str], None] = _stderr
    # messages a migration raised for its reader (see forward_notices), in order
    notices: list[str] = field(default_factory=list)
    url: str = field(default="", repr=False)  # for a side connection (heartbeat)

    def retry_locks(self, attempt: Callable[[], T], what: str) -> T:
        """Run ``attempt`` again when it fails with lock_not_available (55P03) or
        deadlock_detected (40P01), with exponential backoff and jitter, at most
        ``lock_retries`` times. ``attempt`` must be restartable from its start (a whole
        transaction, or one autocommit statement)."""
        s = self.settings
        for n in range(s.lock_retries + 1):
            t0 = time.monotonic()
            try:
                return attempt()
            except psycopg.Error as exc:
                code = sqlstate(exc)
                if code not in RETRYABLE:
                    raise
                self.stats.lock_time_lost_seconds += time.monotonic() - t0
                deadlock = code == DEADLOCK_DETECTED
                if n == s.lock_retries:
                    raise ApplyFailed(
                        f"{what}: aborted by a deadlock with another session in {n + 1} "
                        "attempts" if deadlock else
                        f"{what}: could not take its locks within lock_timeout "
                        f"({s.lock_timeout:g}s) in {n + 1} attempts",
                        hint="another session takes the same locks in the opposite order; "
                        "run the migration while it is stopped, or raise --lock-retries"
                        if deadlock else
                        "a long-running transaction holds a conflicting lock; find it in "
                        "pg_stat_activity (state 'idle in transaction', old xact_start), end "
                        "it, then re-run; or raise --lock-retries / --lock-timeout",
                    ) from None
                delay = min(s.backoff_cap, s.backoff_base * 2**n) * random.uniform(0.5, 1.0)
                self.stats.lock_retries += 1
                self.progress(f"  {'deadlock' if deadlock else 'lock_timeout'} on {what}: "
                              f"retry {n + 1}/{s.lock_retries} in {delay:.1f}s")
                time.sleep(delay)
                self.stats.lock_time_lost_seconds += delay
        raise AssertionError("unreachable")  # pragma: no cover


def connect(url: str, settings: Settings | None = None, *, connect_timeout: int = 10) -> Session:
    """Open an autocommit session with ``application_name``, ``lock_timeout`` and
    ``statement_timeout`` set. Connection failures become ``DatabaseUnreachable`` with the
    password scrubbed from the message."""
    settings = settings or Settings()
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout,
                               application_name=settings.application_name)
    except psycopg.OperationalError as exc:
        text = redact(str(exc).strip(), url)
        if "password" in text.lower() or "authentication" in text.lower():
            hint = ("the server refused the credentials: check the user and password in "
                    "DATABASE_URL (or the Secret it comes from)")
        else:
            hint = "check the host, port and database name in DATABASE_URL and that the server is up"
        raise DatabaseUnreachable(f"cannot connect to the database: {text}", hint=hint) from None
    except psycopg.ProgrammingError:
        # libpq quotes the part it could not parse, which may be the password itself, and
        # redact() cannot find a password in text that does not parse: say nothing of it.
        raise UsageError("DATABASE_URL is not a valid connection string (its text is not "
                         "shown: it may hold the password)",
                         hint="use postgresql://user:password@host:5432/dbname, or "
                         "key=value pairs such as 'host=db dbname=app user=app'") from None
    session = Session(conn, settings, url=url)
    forward_notices(session, url)
    set_timeouts(session)
    return session


# a migration's own message: RAISE NOTICE '000027: ...' (its version first)
_MIGRATION_NOTICE = re.compile(r"^\d{6,}: ")


def side_connection(session: Session) -> Connection:
    """A second, short-lived autocommit connection to the session's database, to watch
    what the session's backend is doing while it is busy."""
    return psycopg.connect(session.url, autocommit=True, connect_timeout=5,
                           application_name=f"{session.settings.application_name}-monitor")


def forward_notices(session: Session, url: str) -> None:
    """Show WARNINGs and the NOTICEs a migration addresses to its reader (prefixed with its
    version, e.g. "000027: index x: equivalent exists as y") on the progress stream, and keep
    them in ``session.notices``; the server's own notices ("already exists, skipping") stay
    quiet."""
    def handle(diag: psycopg.errors.Diagnostic) -> None:
        text = diag.message_primary or ""
        if diag.severity_nonlocalized == "WARNING" or _MIGRATION_NOTICE.match(text):
            text = redact(text, url)
            session.notices.append(text)
            session.progress(f"  {diag.severity_nonlocalized.lower() if diag.severity_nonlocalized else 'notice'}: {text}")

    session.conn.add_notice_handler(handle)


def set_timeouts(session: Session) -> None:
    """Apply the session's lock and statement timeouts (0 = off)."""
    s = session.settings
    session.conn.execute(
        "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        (f"{int(s.lock_timeout * 1000)}ms", f"{int(s.statement_timeout * 1000)}ms"),
    )
    # PostgreSQL 14+: notice a vanished client (a killed Job) within a second instead of
    # finishing its statement, so its transaction and locks go away promptly.
    session.conn.execute("SELECT set_config('client_connection_check_interval', '1s', false) "
                         "WHERE current_setting('server_version_num')::int >= 140000")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, if any."""
    return getattr(exc, "sqlstate", None)


def error_details(exc: BaseException) -> dict[str, Any]:
    """Message, detail, hint, SQLSTATE and 1-based statement position of a server error."""
    diag = getattr(exc, "diag", None)
    position = getattr(diag, "statement_position", None) if diag else None
    return {
        "message": (getattr(diag, "message_primary", None) if diag else None) or str(exc).strip(),
        "detail": getattr(diag, "message_detail", None) if diag else None,
        "hint": getattr(diag, "message_hint", None) if diag else None,
        "sqlstate": sqlstate(exc),
        "position": int(position) if position else None,
    }
