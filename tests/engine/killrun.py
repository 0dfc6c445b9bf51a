"""Stop the real CLI at an exact statement of 000027 (through the reliability suite's
protocol-aware proxy and kill points) on a small DomainFlow v26 database."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))

from killpoints import KillPoint, enumerate_points  # noqa: E402
from pgproxy import PgProxy  # noqa: E402
from relsupport import (  # noqa: E402
    MIGRATIONS,
    cli_env,
    migrate,
    migrate_argv,
    spawn,
    version_state,
    wait_backends_gone,
)

from schemaflow.baseline import load_baseline  # noqa: E402

__all__ = ["MIGRATIONS", "POINTS", "KillPoint", "cli_env", "kill_at", "kill_in", "load_v26",
           "migrate", "point", "version_state"]

SCALE = 0.01  # the smallest DomainFlow data set: enough rows for several batches
POINTS = enumerate_points(MIGRATIONS)


def point(fragment: str, direction: str = "up", kind: str = "after-1-batch") -> KillPoint:
    """The kill point of the ``direction`` statement containing ``fragment`` (line numbers
    move as the SQL is edited; the text identifies the step)."""
    return next(p for p in POINTS if p.direction == direction and fragment in p.text
                and p.id.endswith(kind))


def load_v26(db: Any, scale: float = SCALE) -> None:
    """DomainFlow at version 26 (schema_migrations says 26, no schemaflow history)."""
    load_baseline(db.admin, scale)


def kill_at(db: Any, p: KillPoint, argv: list[str], tmp: Path, *,
            timeout: float = 120) -> tuple[bool, str, str]:
    """Run ``migrate *argv`` on ``db`` (a tests/conftest.py Database) through the proxy and
    SIGKILL it at ``p``; see kill_in."""
    return kill_in(db.server, db.name, p, argv, tmp, timeout=timeout)


def kill_in(server: Any, name: str, p: KillPoint, argv: list[str], tmp: Path, *,
            timeout: float = 120) -> tuple[bool, str, str]:
    """Run ``migrate *argv`` on database ``name`` through the proxy and SIGKILL it at ``p``
    (only points without a blocker). Returns (reached, stdout, stderr): a point a run never
    reaches (it finished or failed first) is not an error here."""
    assert not p.blocker, "points needing an old snapshot are not supported here"
    with PgProxy(server.port, decide=p.decider()) as proxy:
        run = spawn(migrate_argv(*argv), cli_env(proxy.url(server.url(name))), tmp, tag=p.id)
        deadline = time.monotonic() + timeout
        while not proxy.held.wait(0.05):
            if run.proc.poll() is not None:
                out, err = run.output()
                return False, out, err
            assert time.monotonic() < deadline, f"{p.id} not reached in {timeout}s"
        if p.mode == "during":
            time.sleep(0.2)  # the statement is on the server now
        out, err = run.kill()
        proxy.resume()
    wait_backends_gone(server.admin_conninfo(), name)
    return True, out, err
