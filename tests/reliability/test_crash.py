"""Crash consistency: the runner SIGKILLed at points of 000027 enumerated from its SQL.

For each point (see killpoints.py) on a copy of DomainFlow v26 (or v27 for the down
migration), the runner (``python -m schemaflow migrate up|down``) is started through a
protocol-aware proxy that stops it at exactly that statement, and SIGKILLed. Then:

1. the database is at 26, at 27, or dirty; when dirty, ``migrate status`` says so (and
   prints the recovery: test_status_prints_the_recovery_when_dirty);
2. the recovery (re-running the same direction: 000027 is rerunnable) converges; for an
   up point to 27 with every verification check passing;
3. every table (DomainFlow's and the archive) equals the result of a clean, uninterrupted
   run (up to the columns whose values differ between two clean runs: timestamps; and two
   bookkeeping tables, see worlds.DERIVED_TABLES);
4. no invalid index is left behind;
5. the down migration then brings back exactly v26 as loaded (0 rows lost), and for a
   down point, ``up --verify`` reaches 27 again;
6. the password appears in no output.

Default: a representative subset per server. ``--long``: every point.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import psycopg.sql
import pytest
from killpoints import KillPoint, enumerate_points, representative
from pgproxy import PgProxy
from relsupport import (
    MIGRATIONS,
    assert_no_secret,
    cli_env,
    diff_prints,
    invalid_indexes,
    migrate,
    migrate_argv,
    query,
    rows_lost,
    spawn,
    version_state,
    wait_backends_gone,
)
from worlds import World, down_args, up_args

try:
    POINTS = enumerate_points(MIGRATIONS)
except Exception as exc:  # noqa: BLE001 - the SQL may not be written yet
    POINTS = []
    POINTS_ERROR = f"cannot enumerate kill points of 000027: {exc}"
else:
    POINTS_ERROR = ""

# Down's step 2b (m000027_unfill_next) has rows only where a column up backfills existed
# before it (production-like), never in the synthetic world the default runs on.
DEFAULT = representative([p for p in POINTS if "m000027_unfill_next" not in p.text],
                         {"up": 7, "down": 3}) if POINTS else []
LONG_ONLY = [p for p in POINTS if p not in DEFAULT]
# a killed client's backend notices within this and aborts a running statement (not a lock
# wait: a concurrent build waiting for a snapshot finishes once the snapshot goes)
CHECK_INTERVAL = "-c client_connection_check_interval=200"


def test_enough_kill_points() -> None:
    assert not POINTS_ERROR, POINTS_ERROR
    assert len(POINTS) >= 25, [p.id for p in POINTS]
    for category in ("transaction", "concurrent", "concurrent-aborted", "batch", "final"):
        assert any(p.category == category for p in POINTS if p.direction == "up"), category
    assert sum(p.direction == "down" for p in POINTS) >= 3


def _wait_running(w: World, name: str, point: KillPoint, timeout: float = 10) -> None:
    """For ``during`` points: until the server runs (or waits in) the statement."""
    deadline = time.monotonic() + timeout
    fragment = point.text.strip()[:60]
    while time.monotonic() < deadline:
        rows = query(w.admin,
                     "SELECT state, wait_event_type FROM pg_stat_activity WHERE datname = %s "
                     "AND backend_type = 'client backend' AND position(%s in query) > 0",
                     (name, fragment))
        if any(state == "active" and (not point.blocker or wtype == "Lock")
               for state, wtype in rows):
            return
        if not point.blocker and rows:
            return
        time.sleep(0.02)
    # the statement may simply have finished already: the kill still lands right after it


def kill_at(w: World, name: str, point: KillPoint, tmp: Path) -> tuple[str, str]:
    args = up_args() if point.direction == "up" else down_args()
    blocker = None
    with PgProxy(w.server.port, decide=point.decider()) as proxy:
        env = cli_env(proxy.url(w.url(name)), PGOPTIONS=CHECK_INTERVAL)
        run = spawn(migrate_argv(*args), env, tmp, tag=point.id)
        deadline = time.monotonic() + 120
        while not proxy.held.wait(0.05):
            if run.proc.poll() is not None or time.monotonic() > deadline:
                out, err = run.kill()
                pytest.fail(f"the runner never reached {point.id} (exit {run.proc.returncode})"
                            f"\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-2000:]}")
        if point.blocker:
            # paused just before the build: an old snapshot now, so the build will wait
            blocker = psycopg.connect(w.conninfo(name))
            blocker.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            blocker.execute("SELECT count(*) FROM pg_class")
            proxy.resume()
        if point.mode == "during":
            _wait_running(w, name, point)
        out, err = run.kill()
        proxy.resume()  # a paused client is dead now: nothing more goes through
        if point.terminate:
            query(w.admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = %s AND application_name = 'schemaflow'", (name,))
            wait_backends_gone(w.admin, name, ignore_pid=blocker.info.backend_pid
                               if blocker else None)
            assert invalid_indexes(w.conninfo(name)), "the aborted build left no invalid index"
    if blocker is not None:
        time.sleep(0.5)  # > client_connection_check_interval: the build notices first
        blocker.close()
    wait_backends_gone(w.admin, name)
    return out, err


def _row_differences(w: World, expected: str, got: str, tables: list[str]) -> list[str]:
    out = []
    for table in tables[:3]:
        schema, rel = table.split(".", 1)
        q = psycopg.sql.SQL("SELECT t::text FROM {} t ORDER BY 1").format(
            psycopg.sql.Identifier(schema, rel))
        a = {r[0] for r in query(w.conninfo(expected), q)}
        b = {r[0] for r in query(w.conninfo(got), q)}
        out.append(f"{table}: expected only {sorted(a - b)[:2]}, got only {sorted(b - a)[:2]}")
    return out


def check_point(w: World, point: KillPoint, tmp: Path) -> None:
    if not point.contains:
        trace = w.up_trace if point.direction == "up" else w.down_trace
        sent = trace.get(point.text.strip(), 0)
        if sent < point.occurrence:
            pytest.skip(f"a clean {point.direction} sends this statement {sent} time(s) on this "
                        f"data: occurrence {point.occurrence} does not exist")
    name = w.fresh(26 if point.direction == "up" else 27)
    url, admin = w.url(name), w.conninfo(name)
    env = cli_env(url)
    outputs: list[str] = list(kill_at(w, name, point, tmp))

    # 1. a state we can name
    state = version_state(admin)
    allowed = {(26, False), (27, False), (27 if point.direction == "up" else 26, True)}
    assert state in allowed, f"{point.id}: state {state}"
    status = migrate(env, "status")
    outputs.append(status.output)
    if state[1]:
        assert "dirty" in status.output.lower(), f"status does not say dirty:\n{status}"
        # that it also prints the recovery: test_status_prints_the_recovery_when_dirty

    # 2. the recovery converges
    if point.direction == "up":
        r = migrate(env, *up_args())
        outputs.append(r.output)
        assert r.returncode == 0, f"{point.id}: re-running up did not converge:\n{r}"
        assert version_state(admin) == (27, False)
        # 3. same data as a clean run
        diff = diff_prints(w.v27, w.prints(name))
        assert not diff, f"{point.id}: after converging, differs from a clean run: {diff}"
        assert not invalid_indexes(admin), invalid_indexes(admin)
        # 5. and back down to exactly v26
        r = migrate(env, *down_args())
        outputs.append(r.output)
        assert r.returncode == 0, f"{point.id}: down after recovery failed:\n{r}"
        after = w.prints(name)
    else:
        if state != (26, False):
            r = migrate(env, *down_args())
            outputs.append(r.output)
            assert r.returncode == 0, f"{point.id}: re-running down did not converge:\n{r}"
        after = w.prints(name)
        assert not invalid_indexes(admin), invalid_indexes(admin)
    assert version_state(admin) == (26, False)
    lost = rows_lost(w.v26, after)
    diff = diff_prints(w.v26, {k: v for k, v in after.items() if k in w.v26})
    if diff:  # say which rows differ, not only which table
        diff += _row_differences(w, w.template26, name, [d.split(":")[0] for d in diff])
    assert lost == 0 and not diff, f"{point.id}: v26 not restored ({lost} rows lost): {diff}"
    if point.direction == "down":
        r = migrate(env, *up_args())
        outputs.append(r.output)
        assert r.returncode == 0, f"{point.id}: up after the interrupted down failed:\n{r}"
        assert not diff_prints(w.v27, w.prints(name))
    # 6. no password anywhere
    assert_no_secret(*outputs, where=point.id)
    w.drop(name)


def test_status_prints_the_recovery_when_dirty(world18: World, tmp_path: Path) -> None:
    """A killed runner cannot print anything: `migrate status` is where the operator of the
    database learns the state AND what to do about it."""
    point = next(p for p in POINTS if p.category == "batch")
    name = world18.fresh(26)
    kill_at(world18, name, point, tmp_path)
    assert version_state(world18.conninfo(name)) == (27, True)
    env = cli_env(world18.url(name))
    for output in ("text", "json"):
        status = migrate(env, "status", "--output", output)
        assert status.returncode == 0, status
        assert "schemaflow migrate" in status.stdout, (
            f"`migrate status --output {output}` prints no recovery for the dirty state:\n{status}")
    assert migrate(env, *up_args()).returncode == 0
    world18.drop(name)


@pytest.mark.parametrize("point", DEFAULT, ids=str)
def test_kill_runner(world: World, point: KillPoint, tmp_path: Path) -> None:
    check_point(world, point, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("point", LONG_ONLY, ids=str)
def test_kill_runner_long(world: World, point: KillPoint, tmp_path: Path) -> None:
    check_point(world, point, tmp_path)


# After a round trip (up, application writes, down), the next up restores the archived
# values in batches: the points a first up never reaches. Stopped there too.
ROUND_TRIP = [p for p in POINTS if p.direction == "up" and (
    "m000027_new_data" in p.text or "m000027_new_rows" in p.text or p in DEFAULT)]


@pytest.mark.slow
@pytest.mark.parametrize("point", ROUND_TRIP, ids=str)
def test_kill_runner_after_a_round_trip(world_round_trip: World, point: KillPoint,
                                        tmp_path: Path) -> None:
    check_point(world_round_trip, point, tmp_path)


# The production-like variant (sql/baseline/variants/production-like.sql): up converges
# objects that exist in another shape (type changes, replaced and widened CHECKs, NOT NULL
# through CHECKs, placeholders for indexes that exist under other names) and down restores
# them. By default a few points on PostgreSQL 18; --long: every point on both servers.
PRODUCTION_DEFAULT = representative(POINTS, {"up": 4, "down": 2}) if POINTS else []


@pytest.mark.parametrize("point", PRODUCTION_DEFAULT, ids=str)
def test_kill_runner_production_like(world_production18: World, point: KillPoint, tmp_path: Path) -> None:
    check_point(world_production18, point, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS, ids=str)
def test_kill_runner_production_like_long(world_production: World, point: KillPoint,
                                          tmp_path: Path) -> None:
    check_point(world_production, point, tmp_path)
