"""The operator stopped and restarted in each phase reaches the same end state, and one run
never gets two Jobs (deterministic names + idempotent creation + the status as the record)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.cluster import JOBS, SMIGS, ApiThread
from harness.manifests import smig

FAILING_CHECK = {"name": "always_fails", "sql": "SELECT 'planted problem' AS problem"}
# Keeps the up Job's process running for a while, so the operator can be stopped mid-run.
SLOW_CHECK = {"name": "slow", "sql": "SELECT 'slow' AS problem FROM pg_sleep(2) "
                                     "WHERE random() < 0"}


def job_done(cluster: ApiThread, name: str) -> bool:
    job = cluster.get(JOBS, name)
    return job is not None and any(c["type"] in ("Complete", "Failed")
                                   for c in (job.get("status") or {}).get("conditions", []))


def created_jobs(cluster: ApiThread) -> list[str]:
    """Jobs the API server actually created (a repeated create answers 409)."""
    return [c.body["metadata"]["name"] for c in cluster.emulator.calls
            if (c.verb, c.resource, c.status) == ("create", "jobs", 201)]


@pytest.mark.parametrize("stop_in", ["Pending", "Migrating", "RollingBack", "Succeeded"])
def test_restart_in_each_phase(cluster: ApiThread, operator: Any, db26: Any,
                               stop_in: str) -> None:
    kubelet = cluster.kubelet
    assert kubelet is not None
    checks = {"Migrating": [SLOW_CHECK], "RollingBack": [FAILING_CHECK]}.get(stop_in, [])
    expected = "RolledBack" if stop_in == "RollingBack" else "Succeeded"
    held = {"Pending": "up", "RollingBack": "down"}.get(stop_in)
    if held:
        kubelet.hold(held)
    first = operator()
    cluster.create(SMIGS, smig("app", verify={"extraChecks": checks}))
    cluster.wait_phase("app", stop_in, timeout=30)
    first.stop()
    if held:
        kubelet.release(held)
    last_job = "app-1-down" if stop_in == "RollingBack" else "app-1-up"
    cluster.wait_for("the Job to end while the operator is down",
                     lambda: job_done(cluster, last_job), timeout=30)
    events_before = len(cluster.events("app"))

    operator()
    obj = cluster.wait_phase("app", expected, "Failed", timeout=30)
    assert obj["status"]["phase"] == expected, obj["status"]
    version = 26 if expected == "RolledBack" else 27
    assert db26.query("SELECT version, dirty FROM schema_migrations") == [(version, False)]
    assert obj["status"]["currentVersion"] == version
    expected_jobs = ["app-1-up", "app-1-down"] if expected == "RolledBack" else ["app-1-up"]
    assert created_jobs(cluster) == expected_jobs
    assert kubelet.started == expected_jobs
    if stop_in == "Succeeded":
        time.sleep(1.0)  # a few reconciliations: nothing new may happen
        assert len(cluster.events("app")) == events_before
        assert len(obj["status"]["history"]) == 1
