"""What a run prints while it works: step names, rows written by batches, and a heartbeat
during long statements (with an index build's phase and blocks), so a person or a log
reader can tell a slow step from a stuck one."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schemaflow.engine import db
from schemaflow.engine.sources import MigrationFile, Step

HEARTBEAT_EVERY = 5.0  # seconds of silence before "still running"
_NAME_WIDTH = 70


@functools.lru_cache(maxsize=32)
def _lines(path: Path) -> tuple[str, ...]:
    try:
        return tuple(path.read_text(encoding="utf-8").splitlines())
    except OSError:
        return ()


def step_name(mf: MigrationFile, step: Step) -> str:
    """The first comment under the step's marker line, else the start of its SQL."""
    first = step.statements[0]
    for line in _lines(mf.path)[step.line - 1: first.line - 1]:
        text = line.strip()
        if text.startswith("--") and not text.startswith("-- schemaflow:"):
            return _cut(text.lstrip("-").strip())
    return _cut(" ".join(first.text.split()))


def _cut(text: str) -> str:
    return text if len(text) <= _NAME_WIDTH else text[: _NAME_WIDTH - 3] + "..."


def rows_written(conn: db.Connection) -> int:
    """Rows inserted, updated and deleted in every user table, as pg_stat_xact_user_tables
    counts them: the current transaction's and earlier ones' not yet flushed to the
    statistics, so callers take a difference. A batch statement's own row count says
    nothing of its data-modifying CTEs."""
    row = conn.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint "
                       "FROM pg_stat_xact_user_tables").fetchone()
    return int(row[0]) if row else 0


_ACTIVITY = """
    SELECT a.wait_event_type, a.wait_event, p.phase, p.blocks_done, p.blocks_total
    FROM pg_stat_activity a LEFT JOIN pg_stat_progress_create_index p ON p.pid = a.pid
    WHERE a.pid = %s"""


def _what_it_does(side: db.Connection, pid: int) -> str:
    row = side.execute(_ACTIVITY, (pid,)).fetchone()
    if row is None:
        return ""
    wtype, wevent, phase, done, total = row
    parts = []
    if phase:
        blocks = f", {done}/{total} blocks" if total else ""
        parts.append(f"index build: {phase}{blocks}")
    if wtype == "Lock":
        parts.append(f"waiting for a lock ({wevent})")
    return "; " + "; ".join(parts) if parts else ""


@contextmanager
def heartbeat(session: db.Session, label: str) -> Iterator[None]:
    """Print ``label: still running after Ns`` every HEARTBEAT_EVERY seconds until the
    block ends, with what pg_stat_activity / pg_stat_progress_create_index show of our
    backend (read on a second connection: ours is busy)."""
    stop = threading.Event()
    pid = session.conn.info.backend_pid
    t0 = time.monotonic()

    def beat() -> None:
        side = None
        try:
            while not stop.wait(HEARTBEAT_EVERY):
                detail = ""
                try:
                    side = side or db.side_connection(session)
                    detail = _what_it_does(side, pid)
                except db.Error:
                    pass  # the heartbeat itself must never fail the run
                if not stop.is_set():
                    session.progress(f"    {label}: still running after "
                                     f"{time.monotonic() - t0:.0f}s{detail}")
        finally:
            if side is not None:
                side.close()

    thread = threading.Thread(target=beat, name="schemaflow-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
