"""PostgreSQL stopped with ``pg_ctl stop -m immediate`` (a crash: no checkpoint, WAL
recovery at the next start) in the middle of 000027, then started again.

Each scenario runs on a server of its own (stopping the session's shared server would
break other tests). The runner must end by itself with a clear error (no traceback, no
password); after the restart the database is at 26, at 27 or dirty, and re-running up
converges to exactly a clean run's result; down then restores v26 with 0 rows lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from killpoints import KillPoint, enumerate_points
from pgproxy import PgProxy
from relsupport import (
    MIGRATIONS,
    SECRET,
    assert_no_secret,
    cli_env,
    diff_prints,
    invalid_indexes,
    migrate,
    migrate_argv,
    rows_lost,
    spawn,
    version_state,
)
from worlds import World, _world, down_args, up_args

from schemaflow.localpg import LocalPostgres


@pytest.fixture(scope="module", params=["embedded", pytest.param("pg15", marks=pytest.mark.slow)])
def own_world(request: pytest.FixtureRequest) -> Iterator[World]:
    server = LocalPostgres(flavour=request.param, password=SECRET)
    server.start()
    try:
        yield from _world(server)
    finally:
        server.cleanup()


def _points() -> list[KillPoint]:
    points = {p.id: p for p in enumerate_points(MIGRATIONS)}
    chosen = []
    for want in ("during-batch-3", "during-build", "before-commit", "before-clearing-dirty"):
        p = next((p for p in points.values() if p.direction == "up" and p.id.endswith(want)), None)
        if p is not None:
            chosen.append(p)
    return chosen


POINTS = _points()


@pytest.mark.parametrize("point", POINTS, ids=str)
def test_postgres_crash_mid_apply(own_world: World, point: KillPoint, tmp_path: Path) -> None:
    w = own_world
    name = w.fresh(26)
    admin = w.conninfo(name)
    blocker = None
    args = up_args()
    with PgProxy(w.server.port, decide=point.decider()) as proxy:
        run = spawn(migrate_argv(*args), cli_env(proxy.url(w.url(name))), tmp_path)
        assert proxy.held.wait(120), run.kill()
        if point.blocker:
            blocker = psycopg.connect(admin)
            blocker.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            blocker.execute("SELECT count(*) FROM pg_class")
            proxy.resume()
        time.sleep(0.3)  # a "during" statement is now running (or waiting) on the server
        w.server.stop("immediate")
        t0 = time.monotonic()
        rc, out, err = run.wait(timeout=60)
    stopped_after = time.monotonic() - t0
    if blocker is not None:
        blocker.close()
    # the runner noticed by itself, promptly, and said so
    assert rc in (2, 6), f"exit {rc}\n{out}\n{err}"
    assert stopped_after < 30
    assert "Traceback" not in err, err
    assert err.strip(), "no message"
    assert_no_secret(out, err, where=point.id)

    w.server.start()
    state = version_state(admin)
    assert state in {(26, False), (27, True), (27, False)}, state
    env = cli_env(w.url(name))
    r = migrate(env, *up_args())
    assert r.returncode == 0, r
    assert version_state(admin) == (27, False)
    assert not invalid_indexes(admin), invalid_indexes(admin)
    assert not diff_prints(w.v27, w.prints(name)), diff_prints(w.v27, w.prints(name))
    r = migrate(env, *down_args())
    assert r.returncode == 0, r
    after = w.prints(name)
    assert rows_lost(w.v26, after) == 0
    assert not diff_prints(w.v26, {k: v for k, v in after.items() if k in w.v26})
    assert_no_secret(r.output)
    w.drop(name)
