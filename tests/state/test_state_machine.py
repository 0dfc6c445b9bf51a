"""The state schemaflow records is the state the database is in, whatever the sequence.

A hypothesis RuleBasedStateMachine drives real PostgreSQL 18 holding DomainFlow v26 (the
smallest data set) through random sequences of up (with or without --verify), down, a
SIGKILL at a random statement of 000027 (up or down), re-running the interrupted command,
force (to the version `audit` says schema and data match, as a person reading it would), verify and
`wait --database`. After every step it asserts:

- clean: the recorded version is the one the catalog matches (`audit`: 23 of 23 mismatches
  open at 26, none at 27);
- dirty exactly when 000027 (a non-transactional file) is partly applied: the history's
  last run is unfinished and the version is that run's target;
- `wait --database --version N` opens only at a clean N whose checks passed after it was
  reached (the model tracks verification; the checks are re-run independently);
- no row lost: at a clean 26 every table equals v26 as loaded; at a clean 27 every table
  equals a clean run's result (per-table checksums, clock-valued columns left out).

Default: at least 200 steps. ``--long``: many more (marker ``slow``).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import hypothesis.strategies as st
import pytest
import worlds
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from killrun import POINTS, KillPoint, kill_in
from relsupport import MIGRATIONS, diff_prints, query, rows_lost, version_state

from schemaflow import cli
from schemaflow.audit import archive_holdings, audit_database, matched_version
from schemaflow.engine.verify import checks_for_version, run_checks
from schemaflow.localpg import LocalPostgres

BATCH = ["--batch-size", "25"]
# points reachable without an old snapshot held by a second session
KILL_POINTS = [p for p in POINTS if not p.blocker]
DEFAULT_STEPS = 200
# CI replays the same sequences on every run (a landing must not depend on the draw);
# locally and with --long each run draws new ones.
CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="module")
def world(pg18_server: LocalPostgres) -> Iterator[worlds.World]:
    scale = worlds.SCALE
    worlds.SCALE = 0.01  # the smallest DomainFlow data set: a step costs well under a second
    try:
        yield from worlds._world(pg18_server)
    finally:
        worlds.SCALE = scale


class Machine(RuleBasedStateMachine):
    world: worlds.World
    tmp: Path
    steps_run = 0
    seen: Counter[str] = Counter()  # what the steps did, to show the run was not vacuous

    def __init__(self) -> None:
        super().__init__()
        self.name = self.world.fresh(26)
        self.url = self.world.url(self.name)
        self.admin = self.world.conninfo(self.name)
        self.verified: int | None = None  # a version whose checks passed since it was reached
        self.verify_checks = {v: checks_for_version(MIGRATIONS.parent / "verify", v)
                              for v in (26, 27)}

    def teardown(self) -> None:
        self.world.drop(self.name)

    # -- plumbing -----------------------------------------------------------------------
    def cli(self, *argv: str) -> int:
        """The real CLI in-process (fast); stdout/stderr kept out of the test log."""
        os.environ["DATABASE_URL"] = self.url
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return cli.main(list(argv))

    def state(self) -> tuple[int | None, bool]:
        return version_state(self.admin)

    def last_run(self) -> tuple[str, str] | None:
        rows = query(self.admin, "SELECT to_regclass('schemaflow_history') IS NOT NULL")
        if not rows[0][0]:
            return None
        rows = query(self.admin, "SELECT direction, result FROM schemaflow_history WHERE "
                     "direction IN ('up', 'down') ORDER BY id DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else None

    def open_items(self) -> int:
        return sum(i["open"] for i in audit_database(self.url))

    def changed(self, before: tuple[int | None, bool]) -> None:
        after = self.state()
        if after != before:
            self.verified = None
        Machine.steps_run += 1
        Machine.seen[f"{before} -> {after}"] += 1

    # -- rules --------------------------------------------------------------------------
    @rule(verify=st.booleans())
    def up(self, verify: bool) -> None:
        before, last = self.state(), self.last_run()
        rc = self.cli("migrate", "up", *BATCH, *(["--verify"] if verify else []))
        after = self.state()
        if before[1] and last is not None and last[0] == "down":
            assert rc == 5 and after == before, (rc, before, after)  # not the same direction
        else:
            assert rc == 0 and after == (27, False), (rc, before, after)
        self.changed(before)
        if verify and rc == 0:
            self.verified = 27

    @rule()
    def down(self) -> None:
        before, last = self.state(), self.last_run()
        rc = self.cli("migrate", "down", *BATCH)
        after = self.state()
        if before[1] and last is not None and last[0] == "up":
            assert rc == 5 and after == before, (rc, before, after)
        else:
            assert rc == 0 and after == (26, False), (rc, before, after)
        self.changed(before)

    @rule(data=st.data())
    def kill(self, data: st.DataObject) -> None:
        """SIGKILL the command that would run next (the interrupted one, else up at 26 and
        down at 27) at one of its statements: a kill point of the other direction would
        never be reached."""
        before, last = self.state(), self.last_run()
        if before[1] and last is not None:
            direction = last[0]
        else:
            direction = "down" if before[0] == 27 else "up"
        point: KillPoint = data.draw(st.sampled_from(
            [p for p in KILL_POINTS if p.direction == direction]), label="point")
        reached, _, _ = kill_in(self.world.server, self.name, point, [point.direction, *BATCH],
                                self.tmp)
        Machine.seen["kill reached" if reached else "kill not reached"] += 1
        self.changed(before)

    @precondition(lambda self: self.state()[1])
    @rule()
    def rerun(self) -> None:
        """Re-run the interrupted command: the recovery `status` advises for 000027."""
        before, last = self.state(), self.last_run()
        assert last is not None
        rc = self.cli("migrate", last[0], *BATCH)
        assert rc == 0, (before, last)
        assert self.state() == ((27, False) if last[0] == "up" else (26, False))
        self.changed(before)

    @precondition(lambda self: self.state()[1])
    @rule()
    def force(self) -> None:
        """Force to the version `audit` says schema and data match, when it names one."""
        before = self.state()
        version = matched_version(audit_database(self.url), archive_holdings(self.url))
        if version is not None:
            assert self.cli("migrate", "force", str(version)) == 0
            assert self.state() == (version, False)
        self.changed(before)

    @rule()
    def verify(self) -> None:
        before = self.state()
        rc = self.cli("migrate", "verify")
        if before == (27, False):
            assert rc == 0
            self.verified = 27
        elif before == (26, False):
            assert rc == 0  # no checks for 26: nothing to fail
            self.verified = 26
        Machine.steps_run += 1

    @rule(version=st.sampled_from([26, 27]))
    def wait(self, version: int) -> None:
        opened = self.gate(version)
        state = self.state()
        if self.verified is not None and state == (self.verified, False) \
                and self.verified >= version:
            assert opened, (version, state, self.verified)
        Machine.steps_run += 1

    def gate(self, version: int) -> bool:
        return self.cli("wait", "--database", "--version", str(version), "--timeout", "50ms",
                        "--interval", "10ms") == 0

    # -- invariants ---------------------------------------------------------------------
    @invariant()
    def recorded_state_is_the_database_state(self) -> None:
        version, dirty = self.state()
        last = self.last_run()
        if dirty:
            # only an unfinished run of 000027 leaves the flag, at that run's target
            assert last is not None and last[1] in ("running", "failed"), last
            assert version == (27 if last[0] == "up" else 26), (version, last)
            return
        open_items = self.open_items()
        assert (version, open_items) in ((26, 23), (27, 0)), (version, open_items)
        prints = self.world.prints(self.name)
        reference = self.world.v26 if version == 26 else self.world.v27
        assert rows_lost(reference, prints) == 0
        assert not diff_prints(reference, {k: v for k, v in prints.items() if k in reference})

    @invariant()
    def the_gate_opens_only_on_passed_checks(self) -> None:
        version, dirty = self.state()
        for want in (26, 27):
            if self.gate(want):
                assert not dirty and version is not None and version >= want
                results = run_checks(self.url, self.verify_checks[version])
                assert all(r.passed for r in results)
                if self.last_run() is not None:  # else: never migrated by schemaflow
                    assert self.verified == version, "opened without a recorded verification"


def _run(world: worlds.World, steps: int, examples: int, per_example: int) -> None:
    Machine.world = world
    Machine.steps_run = 0
    Machine.seen = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        Machine.tmp = Path(tmp)
        run_state_machine_as_test(Machine, settings=settings(
            max_examples=examples, stateful_step_count=per_example, deadline=None,
            database=None, suppress_health_check=list(HealthCheck), derandomize=CI))
        while Machine.steps_run < steps:  # hypothesis may end examples early
            run_state_machine_as_test(Machine, settings=settings(
                max_examples=2, stateful_step_count=per_example, deadline=None,
                database=None, suppress_health_check=list(HealthCheck), derandomize=CI))
    assert Machine.steps_run >= steps
    print(f"{Machine.steps_run} steps:", dict(Machine.seen))  # shown with -s
    assert Machine.seen["kill reached"] > 0 and Machine.seen["(27, True) -> (27, False)"] > 0


@pytest.mark.timeout(1200)  # about 2 minutes on an idle machine; room for a busy one
def test_recorded_state_matches_the_database(world: worlds.World) -> None:
    _run(world, DEFAULT_STEPS, examples=16, per_example=15)


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_recorded_state_matches_the_database_long(world: worlds.World) -> None:
    _run(world, 1000, examples=60, per_example=25)
