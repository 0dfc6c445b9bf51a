"""Five runners at once, plus a session holding golang-migrate's advisory lock (as the
application's own ``migrate up`` would): exactly one applies 000027, the others wait and
find nothing to do (exit 0, NoChange) or give up on the lock (exit 4); the end state is
exactly a clean run's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest
from relsupport import (
    assert_no_secret,
    cli_env,
    diff_prints,
    migrate_argv,
    query,
    spawn,
    version_state,
)
from worlds import World, up_args

from schemaflow.engine.advisory import migration_lock_keys

RUNNERS = 5


def _golang_migrate_lock(w: World, name: str, variant: int) -> psycopg.Connection:
    """A session holding the key golang-migrate takes: variant 0 when the application
    opened the driver with an empty config (CURRENT_DATABASE()), 1 when it used a URL."""
    keys = migration_lock_keys(name, "public", "schema_migrations")
    conn = psycopg.connect(w.conninfo(name), autocommit=True, application_name="migrate")
    conn.execute("SELECT pg_advisory_lock(%s)", (keys[variant],))
    return conn


def _results(runs: list, timeout: float = 120) -> list[tuple[int, dict, str]]:  # type: ignore[type-arg]
    out = []
    for run in runs:
        rc, stdout, stderr = run.wait(timeout)
        doc = json.loads(stdout) if stdout.strip().startswith("{") else {}
        out.append((rc, doc, stderr))
    return out


@pytest.mark.parametrize("variant", [0, 1], ids=["key-current-database", "key-url-path"])
def test_five_runners_one_applies(world: World, tmp_path: Path, variant: int) -> None:
    w = world
    name = w.fresh(26)
    holder = _golang_migrate_lock(w, name, variant)
    env = cli_env(w.url(name))
    runs = [spawn(migrate_argv(*up_args(), "--lock-wait", "60", "--output", "json"), env,
                  tmp_path, tag=f"r{i}") for i in range(RUNNERS)]
    time.sleep(2.0)
    # while golang-migrate holds its lock nobody applies anything
    assert all(r.proc.poll() is None for r in runs), [r.output() for r in runs]
    assert version_state(w.conninfo(name)) == (26, False)
    holder.close()  # the application's migrate ends: its session and lock go away
    results = _results(runs)
    codes = sorted(rc for rc, _, _ in results)
    assert set(codes) <= {0, 4}, results
    applied = [doc for rc, doc, _ in results if rc == 0 and doc.get("result") == "Succeeded"]
    assert len(applied) == 1, [(rc, doc.get("result"), err[-300:]) for rc, doc, err in results]
    assert applied[0]["fromVersion"] == 26 and applied[0]["toVersion"] == 27
    for rc, doc, _ in results:
        if rc == 0 and doc is not applied[0]:
            assert doc.get("result") == "NoChange", doc
            assert doc.get("verification", {}).get("failed") == 0, doc
    # history: one up of 27, state: exactly a clean run's
    ups = query(w.conninfo(name), "SELECT count(*) FROM public.schemaflow_history "
                "WHERE version = 27 AND direction = 'up' AND result = 'succeeded'")
    assert ups == [(1,)]
    assert version_state(w.conninfo(name)) == (27, False)
    assert not diff_prints(w.v27, w.prints(name))
    assert_no_secret(*(err for _, _, err in results), *(json.dumps(d) for _, d, _ in results))
    w.drop(name)


def test_lock_held_past_the_wait_nothing_applied(world: World, tmp_path: Path) -> None:
    """golang-migrate keeps the lock longer than --lock-wait: all five exit 4, name the
    holder, and nothing is applied."""
    w = world
    name = w.fresh(26)
    holder = _golang_migrate_lock(w, name, 1)
    pid = holder.info.backend_pid
    env = cli_env(w.url(name))
    runs = [spawn(migrate_argv(*up_args(), "--lock-wait", "2", "--output", "json"), env,
                  tmp_path, tag=f"r{i}") for i in range(RUNNERS)]
    results = _results(runs)
    holder.close()
    for rc, doc, err in results:
        assert rc == 4, (rc, doc, err)
        assert doc.get("result") == "LockNotAcquired", doc
        assert f"pid {pid}" in doc["error"]["message"], doc
    assert version_state(w.conninfo(name)) == (26, False)
    assert not diff_prints(w.v26, {k: v for k, v in w.prints(name).items() if k in w.v26})
    assert query(w.conninfo(name), "SELECT to_regnamespace('schemaflow_archive')") == [(None,)]
    w.drop(name)
