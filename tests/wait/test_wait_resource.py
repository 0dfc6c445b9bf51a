"""`schemaflow wait --resource`: exit codes against a Kubernetes API (kmock emulator) whose
SchemaMigration status the test sets, as the operator would."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from kapi import KubeApiThread

from schemaflow import errors
from schemaflow.wait import API_CALLS

NS = "apps"
_names = itertools.count()


def fresh_name() -> str:
    return f"m{next(_names)}"


def status(phase: str, generation: int = 1, **extra: Any) -> dict[str, Any]:
    # the operator records the generation whose run ended (runGeneration) beside the phase
    return {"phase": phase, "observedGeneration": generation, "runGeneration": generation,
            **extra}


def later(seconds: float, fn: Callable[[], None]) -> threading.Timer:
    t = threading.Timer(seconds, fn)
    t.start()
    return t


def wait_args(kube: KubeApiThread, name: str, timeout: float = 20) -> list[str]:
    return ["--resource", name, "--namespace", NS, "--api-url", kube.url,
            "--timeout", str(timeout), "--interval", "0.2"]


def test_succeeded_exits_0(kube: KubeApiThread, run_wait) -> None:
    name = fresh_name()
    kube.create(NS, name, status=status("Succeeded", currentVersion=27))
    r = run_wait(*wait_args(kube, name))
    assert r.code == errors.EXIT_OK, r.stderr
    assert "succeeded" in r.stderr and "27" in r.stderr


def test_waits_through_progress_then_succeeds(kube: KubeApiThread, tmp_path) -> None:
    """Pending -> Migrating -> Verifying -> Succeeded, each change made only once `wait` has
    reported the previous phase (so the changes reach it through its watch)."""
    name = fresh_name()
    kube.create(NS, name, status=status("Pending"))
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "DATABASE_URL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "schemaflow", "wait", *wait_args(kube, name, timeout=60)],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert proc.stderr is not None
    seen = []
    try:
        for current, following in (("Pending", "Migrating"), ("Migrating", "Verifying"),
                                   ("Verifying", "Succeeded")):
            line = proc.stderr.readline()
            seen.append(line)
            assert f"phase {current}" in line, seen
            kube.patch(NS, name, {"status": status(following, currentVersion=27)})
        assert proc.wait(30) == 0
        rest = proc.stderr.read()
    finally:
        proc.kill()
    assert "succeeded: schema at version 27" in rest


def test_failed_exits_2_with_reason(kube: KubeApiThread, run_wait) -> None:
    name = fresh_name()
    kube.create(NS, name, status=status("Migrating"))
    later(0.5, lambda: kube.patch(NS, name, {"status": status(
        "Failed", dirty=False, currentVersion=26,
        conditions=[{"type": "Ready", "status": "False", "reason": "LockNotAcquired",
                     "message": "advisory lock held by pid 4242"}])}))
    r = run_wait(*wait_args(kube, name))
    assert r.code == errors.EXIT_APPLY_FAILED == 2, r.stderr
    assert "failed" in r.stderr and "LockNotAcquired" in r.stderr and "pid 4242" in r.stderr


def test_rolled_back_exits_3_with_failed_checks(kube: KubeApiThread, run_wait) -> None:
    name = fresh_name()
    kube.create(NS, name, status=status(
        "RolledBack", currentVersion=26,
        conditions=[{"type": "Ready", "status": "False", "reason": "VerificationFailed"}],
        verification={"passed": 30, "failed": 1,
                      "failures": [{"check": "dgcp_created_at", "problems": ["x"]}]}))
    r = run_wait(*wait_args(kube, name), "--output", "json")
    assert r.code == errors.EXIT_VERIFY_FAILED == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["error"]["reason"] == "MigrationRolledBack"
    assert doc["error"]["exitCode"] == 3
    assert "dgcp_created_at" in doc["error"]["message"]


def test_old_generation_status_is_not_trusted(kube: KubeApiThread, run_wait) -> None:
    """Succeeded for generation 1 says nothing about generation 2 (a new deploy)."""
    name = fresh_name()
    kube.create(NS, name, generation=2, status=status("Succeeded", generation=1))
    r = run_wait(*wait_args(kube, name, timeout=1.5))
    assert r.code == errors.EXIT_WAIT_TIMEOUT == 7, r.stderr
    assert "generation 2 not yet observed" in r.stderr

    later(0.7, lambda: kube.patch(NS, name, {"status": status("Succeeded", generation=2)}))
    r = run_wait(*wait_args(kube, name))
    assert r.code == 0, r.stderr


def test_timeout_exits_7(kube: KubeApiThread, run_wait) -> None:
    name = fresh_name()
    kube.create(NS, name, status=status("Migrating"))
    r = run_wait(*wait_args(kube, name, timeout=1.5))
    assert r.code == 7, r.stderr
    assert "timed out after 1.5s" in r.stderr and "phase Migrating" in r.stderr
    assert 1.5 <= r.seconds < 15


def test_not_created_yet_then_created(kube: KubeApiThread, run_wait) -> None:
    name = fresh_name()
    r = run_wait(*wait_args(kube, name, timeout=1))
    assert r.code == 7 and "does not exist yet" in r.stderr
    later(0.6, lambda: kube.create(NS, name, status=status("Succeeded")))
    r = run_wait(*wait_args(kube, name))
    assert r.code == 0, r.stderr


def test_unreachable_api_times_out(run_wait) -> None:
    r = run_wait("--resource", "x", "--namespace", NS, "--api-url", "http://127.0.0.1:9",
                 "--timeout", "1", "--interval", "0.2")
    assert r.code == 7 and "Kubernetes API error" in r.stderr


def test_usage_errors_exit_1(run_wait) -> None:
    assert run_wait().code == 1  # neither --resource nor --database
    assert run_wait("--database").code == 1  # no --version
    assert run_wait("--resource", "x", "--timeout", "0").code == 1


def test_api_calls_are_exactly_what_wait_sends(kube: KubeApiThread, run_wait) -> None:
    """Derives the RBAC verbs from the requests the real `wait` made in this module (the
    kubernetes client's User-Agent), and checks them against wait.API_CALLS, which the
    example chart's Role is checked against in tests/chart."""
    name = fresh_name()
    kube.create(NS, name, status=status("Pending"))
    later(0.7, lambda: kube.patch(NS, name, {"status": status("Succeeded")}))
    assert run_wait(*wait_args(kube, name)).code == 0
    sent = kube.calls_by("OpenAPI-Generator")
    assert sent == set(API_CALLS), sent
    assert all(res != "secrets" for _, _, res in sent)


@pytest.mark.parametrize("phase,code", [("Succeeded", 0), ("Failed", 2), ("RolledBack", 3)])
def test_evaluate_is_pure(phase: str, code: int) -> None:
    from schemaflow.wait import evaluate

    obj = {"metadata": {"name": "a", "generation": 3},
           "status": {"phase": phase, "observedGeneration": 3, "runGeneration": 3}}
    v = evaluate(obj, "a")
    assert v.done and v.exit_code == code
    obj["status"]["observedGeneration"] = 2
    assert not evaluate(obj, "a").done
    # observed, but the phase is generation 2's result: generation 3 has not run
    obj["status"].update(observedGeneration=3, runGeneration=2)
    assert not evaluate(obj, "a").done
