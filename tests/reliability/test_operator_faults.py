"""The operator under faults, end to end: the emulated cluster (tests/harness) whose fake
kubelet runs the real CLI on DomainFlow v26 with the real 000027, through a proxy that can
stop the migration mid-apply or make the database unreachable.

- restarted while a Job is stopped mid-apply (database dirty at 27);
- the SchemaMigration deleted mid-run (its Job garbage-collected: the process killed),
  then created again;
- the spec changed mid-run;
- the database unreachable for a while, then back;
- hostile specs that get past a schema-less API server: each an InvalidSpec condition,
  never a Job.

Every scenario ends with the operator tests' own checks: every manifest sent validates,
only the RBAC-listed calls were made, and the password is in no log, Event, status, Job,
termination message, API request or metric.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))  # the `harness` package

from killpoints import KillPoint, enumerate_points  # noqa: E402
from pgproxy import PgProxy  # noqa: E402
from relsupport import (  # noqa: E402
    MIGRATIONS,
    SECRET,
    SQL_DIR,
    cli_env,
    diff_prints,
    invalid_indexes,
    migrate,
    version_state,
)
from test_hostile_spec import CASES, build, parser_error  # noqa: E402
from worlds import World, up_args  # noqa: E402

from harness.cluster import JOBS, SMIGS, ApiThread, LogCapture, OperatorThread  # noqa: E402
from harness.manifests import SECRET_KEY, SECRET_NAME, smig  # noqa: E402
from schemaflow.engine.sources import load_source  # noqa: E402
from schemaflow.kube.main import OperatorOptions  # noqa: E402
from schemaflow.localpg import free_port  # noqa: E402


def _operator_checks() -> Any:
    """check_sent / check_hygiene of tests/operator/conftest.py, reused as they are."""
    spec = importlib.util.spec_from_file_location("operator_e2e_checks",
                                                  TESTS / "operator" / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECKS = _operator_checks()


def _batch_point() -> KillPoint:
    """Mid-apply: paused at the second run of the first batch statement (one batch
    committed, the database dirty at 27) until the test resumes it."""
    p = next(p for p in enumerate_points(MIGRATIONS) if p.direction == "up" and p.category == "batch")
    return dataclasses.replace(p, mode="pause")


class Rig:
    def __init__(self, world: World, name: str, proxy: PgProxy, api: ApiThread,
                 options: OperatorOptions, logs: LogCapture) -> None:
        self.world, self.name, self.proxy, self.api, self.options = world, name, proxy, api, options
        self.logs = logs
        self.operators: list[OperatorThread] = []

    @property
    def admin(self) -> str:
        return self.world.conninfo(self.name)

    def start_operator(self) -> OperatorThread:
        op = OperatorThread(self.api.url, self.options).start()
        self.operators.append(op)
        return op

    def status(self, smig_name: str = "app") -> dict[str, Any]:
        obj = self.api.get(SMIGS, smig_name)
        return dict((obj or {}).get("status") or {})

    def jobs_created(self) -> list[str]:
        return [c.body["metadata"]["name"] for c in self.api.emulator.calls
                if (c.verb, c.resource, c.status) == ("create", "jobs", 201)]

    def job_done(self, job: str) -> bool:
        obj = self.api.get(JOBS, job) or {}
        return any(c["type"] in ("Complete", "Failed")
                   for c in (obj.get("status") or {}).get("conditions", []))

    def converged(self) -> None:
        """At 27, verified, the same data as a clean run, no invalid index."""
        assert version_state(self.admin) == (27, False)
        assert not invalid_indexes(self.admin)
        assert not diff_prints(self.world.v27, self.world.prints(self.name))


@pytest.fixture
def rig(world18: World, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    decide = getattr(request, "param", None)
    name = world18.fresh(26)
    logs = LogCapture()
    import logging

    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(logs)
    work = tmp_path / "kubelet"
    work.mkdir()
    options = OperatorOptions(
        metrics_host="127.0.0.1", metrics_port=free_port(), job_image="schemaflow:test",
        interval=0.3, pod_problem_timeout=2.0, watch_timeout=5,
        bundled_versions=lambda: load_source(MIGRATIONS).versions,
        extra_settings={"watching.reconnect_backoff": 0.1,
                        "persistence.consistency_timeout": 1.0})
    with PgProxy(world18.server.port, decide=decide or (lambda t, i: "pass")) as proxy:
        api = ApiThread(work, SQL_DIR)
        api.secret(SECRET_NAME, {SECRET_KEY: proxy.url(world18.url(name))})
        r = Rig(world18, name, proxy, api, options, logs)
        try:
            yield r
            CHECKS.check_sent(api)
            CHECKS.check_hygiene(api, logs, options.metrics_port, world18.server.password)
        finally:
            proxy.resume()
            for op in r.operators:
                if op._thread is not None and op._thread.is_alive():
                    op.stop()
            api.stop()
            root.removeHandler(logs)
            root.setLevel(old_level)
    world18.drop(name)


MID_APPLY = _batch_point()


@pytest.mark.parametrize("rig", [MID_APPLY.decider()], indirect=True, ids=["mid-apply"])
def test_restart_while_job_is_mid_apply(rig: Rig) -> None:
    op = rig.start_operator()
    rig.api.create(SMIGS, smig("app"))
    assert rig.proxy.held.wait(60), "the Job never reached the batch step"
    rig.api.wait_phase("app", "Migrating", timeout=30)
    assert version_state(rig.admin) == (27, True)  # honestly mid-apply
    op.stop()
    rig.proxy.resume()  # the Job finishes while no operator watches
    rig.api.wait_for(f"the Job to end: {rig.jobs_created()} {rig.api.kubelet.outputs}",
                     lambda: rig.job_done("app-1-up"), timeout=60)
    rig.start_operator()
    obj = rig.api.wait_phase("app", "Succeeded", "Failed", timeout=60)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert obj["status"]["currentVersion"] == 27
    assert rig.jobs_created() == ["app-1-up"]
    rig.converged()


@pytest.mark.parametrize("rig", [MID_APPLY.decider()], indirect=True, ids=["mid-apply"])
def test_resource_deleted_mid_run_then_recreated(rig: Rig) -> None:
    rig.start_operator()
    rig.api.create(SMIGS, smig("app"))
    assert rig.proxy.held.wait(60)
    rig.api.wait_phase("app", "Migrating", timeout=30)
    rig.api.delete(SMIGS, "app")
    # the deletion waits for the migration in flight (killing it would leave it dirty)
    time.sleep(1.0)
    assert rig.api.get(SMIGS, "app") is not None
    assert rig.jobs_created() == ["app-1-up"]
    rig.proxy.resume()
    rig.api.wait_for("the SchemaMigration to be gone (finalizer removed)",
                     lambda: rig.api.get(SMIGS, "app") is None, timeout=60)
    assert version_state(rig.admin) == (27, False)
    # created again: the operator converges (re-running the rerunnable file if dirty)
    rig.api.create(SMIGS, smig("app"))
    obj = rig.api.wait_phase("app", "Succeeded", "Failed", timeout=90)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    rig.converged()


@pytest.mark.parametrize("rig", [MID_APPLY.decider()], indirect=True, ids=["mid-apply"])
def test_spec_changed_mid_run(rig: Rig) -> None:
    rig.start_operator()
    rig.api.create(SMIGS, smig("app"))
    assert rig.proxy.held.wait(60)
    rig.api.wait_phase("app", "Migrating", timeout=30)
    rig.api.patch_spec("app", {"safety": {"lockTimeout": "4s"}, "verify": {"extraChecks": [
        {"name": "campaigns_present", "sql": "SELECT 'no campaigns' WHERE NOT EXISTS "
                                             "(SELECT 1 FROM campaigns)"}]}})
    time.sleep(1.0)
    # the run in flight is not disturbed and no second Job starts beside it
    assert rig.jobs_created() == ["app-1-up"]
    status = rig.status()
    assert status.get("runGeneration") == 1
    rig.proxy.resume()
    obj = rig.api.wait_phase("app", "Succeeded", "Failed", timeout=90)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert obj["status"]["observedGeneration"] == 2
    jobs = rig.jobs_created()
    assert jobs[0] == "app-1-up" and set(jobs) <= {"app-1-up", "app-2-up"}, jobs
    rig.converged()


def test_database_unreachable_for_a_while(rig: Rig) -> None:
    rig.proxy.refuse = True
    rig.start_operator()
    rig.api.create(SMIGS, smig("app"))
    # meanwhile: reported honestly, never Succeeded
    obj = rig.api.wait_for("the unreachable database to be reported", lambda: (
        rig.status().get("phase") in ("Failed", "Pending")
        and "nreachable" in str(rig.status().get("conditions"))) and rig.api.get(SMIGS, "app"),
        timeout=60)
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "DatabaseUnreachable", ready
    assert version_state(rig.admin) == (26, False)
    # the database comes back: exit 6 is transient, the operator must converge by itself
    rig.proxy.refuse = False
    obj = rig.api.wait_phase("app", "Succeeded", timeout=60)
    assert obj["status"]["currentVersion"] == 27
    rig.converged()


PARSER_REFUSED = [c for c in CASES if parser_error(build(c)) is not None
                  and not c.path.startswith("metadata.")]


def test_hostile_specs_become_invalid_spec_conditions(rig: Rig) -> None:
    """The emulator, like ``kubectl --validate=false`` on an old server, stores whatever it
    gets: the operator must refuse each spec with an InvalidSpec condition, and no Job."""
    rig.start_operator()
    names = []
    inline = "InlinePw4Kq8Zt"  # stands in for the password in the inline-credential cases
    for i, case in enumerate(PARSER_REFUSED):
        obj = json.loads(json.dumps(build(case)).replace(SECRET, inline))
        obj["metadata"] = {"name": f"bad{i}", "namespace": "apps"}
        if "spec" not in obj:
            continue  # the emulator needs a spec to store; the CRD rejects it anyway
        rig.api.create(SMIGS, obj)
        names.append((f"bad{i}", case.id))

    def all_reported() -> bool:
        for name, _ in names:
            status = rig.status(name)
            ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
            if ready.get("reason") != "InvalidSpec":
                return False
        return True

    rig.api.wait_for("InvalidSpec on every hostile resource", all_reported, timeout=120)
    for name, case_id in names:
        status = rig.status(name)
        assert status["phase"] == "Failed", (case_id, status)
        assert len(status.get("message") or "") <= 1024, (case_id, len(status["message"]))
    assert rig.jobs_created() == []
    assert len(names) >= 40, len(names)
    # an inline credential, refused, is not repeated anywhere the operator writes
    for name, case_id in names:
        assert inline not in json.dumps(rig.status(name)), case_id
    assert not [e for n, _ in names for e in rig.api.events(n) if inline in str(e)]
    assert not [line for line in rig.logs.lines if inline in line]
    # and nothing touched the database
    assert version_state(rig.admin) == (26, False)


def test_up_args_match_the_crash_suite() -> None:
    """The crash suite's CLI flags exist (a renamed flag would make it test nothing)."""
    r = migrate(cli_env("postgresql://x@127.0.0.1:1/x"), *up_args(), "--help")
    assert r.returncode == 0, r
