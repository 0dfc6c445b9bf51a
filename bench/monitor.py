"""Samples ``pg_stat_activity`` during a run: who waits on a lock, and for how long.

Sessions are told apart by ``application_name``: ``bench-app-*`` is the application
workload, ``bench-monitor`` this sampler, every other client backend on the database is
the migration (psql or the schemaflow CLI). Lock wait is integrated from the samples
(interval x sessions whose ``wait_event_type`` is ``Lock``), so it is accurate to about one
sampling interval per wait.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

SAMPLE_SQL = """
SELECT application_name, wait_event_type
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
"""


@dataclass
class LockSamples:
    interval: float
    app_lock_wait: float = 0.0  # session-seconds application sessions spent waiting on locks
    migration_lock_wait: float = 0.0  # seconds migration sessions spent waiting on locks
    max_app_blocked: int = 0  # most application sessions waiting at once
    samples: int = 0
    series: list[tuple[float, int, int]] = field(default_factory=list)  # (t, app, migration)


class LockMonitor(threading.Thread):
    def __init__(self, conninfo: str, clock_zero: float, interval: float = 0.05) -> None:
        super().__init__(name="bench-monitor", daemon=True)
        self.conninfo = conninfo
        self.zero = clock_zero
        self.interval = interval
        self.result = LockSamples(interval)
        self.stop_event = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        r = self.result
        try:
            conn: psycopg.Connection[Any] = psycopg.connect(
                self.conninfo, autocommit=True, application_name="bench-monitor")
        except psycopg.Error as exc:
            self.error = str(exc)
            return
        with conn:
            conn.execute("SET statement_timeout = '2s'")
            last = time.monotonic()
            while not self.stop_event.wait(self.interval):
                try:
                    rows = conn.execute(SAMPLE_SQL).fetchall()
                except psycopg.Error as exc:  # keep sampling; note the first problem
                    self.error = self.error or str(exc)
                    continue
                now = time.monotonic()
                dt = now - last
                last = now
                app = sum(1 for name, w in rows if (name or "").startswith("bench-app") and w == "Lock")
                mig = sum(1 for name, w in rows
                          if not (name or "").startswith("bench-") and w == "Lock")
                r.samples += 1
                r.app_lock_wait += dt * app
                r.migration_lock_wait += dt * mig
                r.max_app_blocked = max(r.max_app_blocked, app)
                if app or mig:
                    r.series.append((round(now - self.zero, 3), app, mig))

    def stop(self) -> LockSamples:
        self.stop_event.set()
        self.join(timeout=10)
        return self.result
