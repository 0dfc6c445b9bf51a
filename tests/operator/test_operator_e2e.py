"""The operator for real (kopf against the API emulator), the real CLI run by the fake
kubelet, a real PostgreSQL: apply, verify, roll back, fail and recover, end to end.

Every test also checks, in the ``cluster`` fixture's teardown, that all the operator sent
validates against the real schemas, that it made only the API calls of ``kube.rbac``, and
that the database password appears nowhere.
"""

from __future__ import annotations

from typing import Any

from harness.cluster import JOBS, SMIGS, ApiThread, metric, metrics_text
from harness.manifests import smig

FAILING_CHECK = {"name": "always_fails", "description": "fails on purpose",
                 "sql": "SELECT 'planted problem' AS problem"}


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def reasons(cluster: ApiThread, name: str, last: str) -> list[str]:
    """Event reasons about ``name`` in order, once the Event ``last`` has been posted
    (kopf posts Events in the background). MigrationRunning is left out: a Job that ends
    between two reconciliations is never seen running."""
    cluster.wait_for(f"Event {last}", lambda: last in [r for _, r, _ in cluster.events(name)])
    return [reason for _, reason, _ in cluster.events(name) if reason != "MigrationRunning"]


def jobs(cluster: ApiThread) -> list[str]:
    return sorted(j["metadata"]["name"] for j in cluster.list(JOBS))


def test_apply_succeeds(cluster: ApiThread, operator: Any, db26: Any,
                        operator_options: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("app"))
    obj = cluster.wait_phase("app", "Succeeded", "Failed", "RolledBack")
    status = obj["status"]
    assert status["phase"] == "Succeeded", status
    assert db26.query("SELECT version, dirty FROM schema_migrations") == [(27, False)]
    assert db26.query("SELECT count(*) FROM items WHERE note = ''") == [(50,)]
    assert (status["fromVersion"], status["currentVersion"], status["targetVersion"]) == (26, 27, 27)
    assert status["observedGeneration"] == 1 and status["dirty"] is False
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "Applied": "True", "Verified": "True", "RolledBack": "False",
        "Progressing": "False"}
    assert all(c["observedGeneration"] == 1 and c["lastTransitionTime"] for c in status["conditions"])
    assert cond(obj, "Verified")["reason"] == "VerificationPassed"
    assert status["lastRun"]["job"] == "app-1-up" and status["lastRun"]["direction"] == "up"
    assert status["lastRun"]["finished"] and "durationSeconds" in status["lastRun"]
    assert status["verification"] == {"passed": 1, "failed": 0, "failures": []}
    assert [h["result"] for h in status["history"]] == ["Succeeded"]
    assert reasons(cluster, "app", "Succeeded") == ["MigrationStarted", "Succeeded"]

    job = cluster.get(JOBS, "app-1-up")
    assert job is not None
    assert job["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert job["metadata"]["labels"]["schemaflow.domainflow.io/migration"] == "app"
    assert job["spec"]["backoffLimit"] == 0
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:6] == ["schemaflow", "migrate", "up", "--target", "27", "--verify"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "app-db", "key": "url"}

    text = metrics_text(operator_options.metrics_port)
    assert metric(text, "schemaflow_schema_version", name="app", namespace="apps") == 27
    assert metric(text, "schemaflow_migration_phase", name="app", phase="Succeeded") == 1
    assert metric(text, "schemaflow_migration_phase", name="app", phase="Pending") == 0
    assert metric(text, "schemaflow_migration_duration_seconds_count", name="app",
                  direction="up", result="Succeeded") == 1
    assert (metric(text, "schemaflow_last_success_timestamp_seconds", name="app") or 0) > 0
    assert metric(text, "schemaflow_migration_failures_total", name="app") is None


def test_verification_failure_rolls_back(cluster: ApiThread, operator: Any, db26: Any,
                                         operator_options: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("app", verify={"extraChecks": [FAILING_CHECK]}))
    obj = cluster.wait_phase("app", "RolledBack", "Failed", "Succeeded")
    status = obj["status"]
    assert status["phase"] == "RolledBack", status
    assert db26.query("SELECT version, dirty FROM schema_migrations") == [(26, False)]
    assert db26.query("SELECT count(*) FROM items") == [(50,)]
    assert db26.query("SELECT count(*) FROM information_schema.columns "
                      "WHERE table_name = 'items' AND column_name = 'note'") == [(0,)]
    assert status["currentVersion"] == 26
    assert status["verification"]["failures"][0]["check"] == "always_fails"
    assert status["verification"]["failures"][0]["problems"] == ["planted problem"]
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
        "Ready": ("False", "RolledBack"), "Applied": ("False", "RolledBack"),
        "Verified": ("False", "VerificationFailed"), "RolledBack": ("True", "RolledBack"),
        "Progressing": ("False", "RunFinished")}
    assert [h["direction"] for h in status["history"]] == ["up", "down"]
    assert jobs(cluster) == ["app-1-down", "app-1-up"]
    assert reasons(cluster, "app", "RolledBack") == ["MigrationStarted", "RollingBack",
                                                     "RolledBack"]

    text = metrics_text(operator_options.metrics_port)
    assert metric(text, "schemaflow_rollbacks_total", name="app") == 1
    assert metric(text, "schemaflow_verification_failures_total", name="app") == 1
    assert metric(text, "schemaflow_schema_version", name="app") == 26
    assert metric(text, "schemaflow_migration_phase", name="app", phase="RolledBack") == 1
    assert metric(text, "schemaflow_migration_duration_seconds_count", name="app",
                  direction="down", result="Succeeded") == 1


def test_verification_failure_without_rollback(cluster: ApiThread, operator: Any,
                                               db26: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("app", verify={"extraChecks": [FAILING_CHECK]},
                               rollback={"onVerificationFailure": False}))
    obj = cluster.wait_phase("app", "RolledBack", "Failed", "Succeeded")
    assert obj["status"]["phase"] == "Failed"
    assert cond(obj, "Verified")["status"] == "False"
    assert cond(obj, "RolledBack")["reason"] == "RollbackDisabled"
    assert db26.query("SELECT version FROM schema_migrations") == [(27,)]
    assert jobs(cluster) == ["app-1-up"]


def test_two_migrations_on_one_database(cluster: ApiThread, operator: Any, db26: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("first"))
    cluster.create(SMIGS, smig("second"))
    for name in ("first", "second"):
        obj = cluster.wait_phase(name, "Succeeded", "Failed", "RolledBack")
        assert obj["status"]["phase"] == "Succeeded", obj["status"]
        assert obj["status"]["currentVersion"] == 27
    assert db26.query("SELECT version, dirty FROM schema_migrations") == [(27, False)]
    assert db26.query("SELECT count(*) FROM items") == [(50,)]
    # one applied 26 -> 27; the other waited for the advisory lock and found nothing to do
    results = sorted(cluster.smig(n)["status"]["lastRun"]["result"] for n in ("first", "second"))
    assert results == ["NoChange", "Succeeded"]


def test_invalid_specs_are_reported_and_others_served(cluster: ApiThread, operator: Any,
                                                      db26: Any) -> None:
    operator()
    ref = {"urlSecretRef": {"name": "app-db", "key": "url"}}
    bad = {
        "no-secret": ({"database": {}}, "urlSecretRef is required"),
        "not-bundled": ({"database": ref, "targetVersion": 99}, "not a bundled migration"),
        "negative": ({"database": ref, "safety": {"lockTimeout": "-5s"}}, "non-negative duration"),
        "unknown": ({"database": ref, "paralel": True}, "unknown field spec.paralel"),
    }
    for name, (spec, _) in bad.items():
        cluster.create(SMIGS, {"apiVersion": "schemaflow.domainflow.io/v1alpha1",
                               "kind": "SchemaMigration", "metadata": {"name": name},
                               "spec": spec})
    cluster.create(SMIGS, smig("good"))
    assert cluster.wait_phase("good", "Succeeded", "Failed")["status"]["phase"] == "Succeeded"
    for name, (_, message) in bad.items():
        obj = cluster.wait_phase(name, "Failed")
        ready = cond(obj, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
        assert message in ready["message"]
        reasons(cluster, name, "InvalidSpec")
        assert cluster.events(name) == [("Warning", "InvalidSpec", obj["status"]["message"])]
    assert jobs(cluster) == ["good-1-up"]

    # fixing the spec (a new generation) starts a run
    cluster.patch_spec("not-bundled", {"targetVersion": 27})
    obj = cluster.wait_phase("not-bundled", "Succeeded", "Failed")
    assert obj["status"]["phase"] == "Succeeded" and obj["status"]["observedGeneration"] == 2
    assert obj["status"]["lastRun"]["result"] == "NoChange"
    assert reasons(cluster, "not-bundled", "Succeeded")[0] == "InvalidSpec"


def test_missing_secret_fails_after_a_bound(cluster: ApiThread, operator: Any, db26: Any,
                                            operator_options: Any) -> None:
    operator()
    spec = smig("app")
    spec["spec"]["database"]["urlSecretRef"]["name"] = "nowhere"
    cluster.create(SMIGS, spec)
    stuck = cluster.wait_for("the pod problem in the status", lambda: (
        "CreateContainerConfigError" in str((cluster.smig("app").get("status") or {})
                                            .get("message"))))
    assert stuck
    assert cond(cluster.smig("app"), "Progressing")["message"].endswith('secret "nowhere" not found')
    obj = cluster.wait_phase("app", "Failed", timeout=20)
    assert cond(obj, "Ready")["reason"] == "CreateContainerConfigError"
    assert "Job deleted" in obj["status"]["message"]
    assert jobs(cluster) == []
    assert db26.query("SELECT version FROM schema_migrations") == [(26,)]
    text = metrics_text(operator_options.metrics_port)
    assert metric(text, "schemaflow_migration_failures_total", name="app", phase="Pending",
                  reason="CreateContainerConfigError") == 1


def test_suspend_then_resume(cluster: ApiThread, operator: Any, db26: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("app", suspend=True))
    cluster.wait_for("Suspended", lambda: any(
        c["reason"] == "Suspended" for c in (cluster.smig("app").get("status") or {})
        .get("conditions", [])))
    assert jobs(cluster) == []
    cluster.patch_spec("app", {"suspend": False})
    obj = cluster.wait_phase("app", "Succeeded", "Failed")
    assert obj["status"]["phase"] == "Succeeded"
    assert db26.query("SELECT version FROM schema_migrations") == [(27,)]


def test_spec_change_mid_run_waits_for_the_run(cluster: ApiThread, operator: Any,
                                               db26: Any) -> None:
    assert cluster.kubelet is not None
    cluster.kubelet.hold("up")
    operator()
    cluster.create(SMIGS, smig("app"))
    cluster.wait_for("the first Job", lambda: jobs(cluster) == ["app-1-up"])
    cluster.patch_spec("app", {"safety": {"lockTimeout": "2s"}})
    cluster.kubelet.release("up")
    obj = cluster.wait_phase("app", "Succeeded", "Failed")
    assert obj["status"]["observedGeneration"] == 2
    assert jobs(cluster) == ["app-1-up", "app-2-up"]
    assert [(h["generation"], h["result"]) for h in obj["status"]["history"]] == [
        (1, "Succeeded"), (2, "NoChange")]
    assert cluster.kubelet.started == ["app-1-up", "app-2-up"]


def test_deletion_mid_run_leaves_no_jobs(cluster: ApiThread, operator: Any, db26: Any) -> None:
    assert cluster.kubelet is not None
    cluster.kubelet.hold("up")
    operator()
    cluster.create(SMIGS, smig("app"))
    cluster.wait_for("the Job", lambda: jobs(cluster) == ["app-1-up"])
    cluster.delete(SMIGS, "app")
    cluster.wait_for("the resource to go", lambda: cluster.get(SMIGS, "app") is None)
    assert jobs(cluster) == []
    assert cluster.list("v1/pods") == []
    cluster.kubelet.release("up")
    assert cluster.kubelet.started == []
    assert db26.query("SELECT version FROM schema_migrations") == [(26,)]


def test_unpullable_image_fails_after_a_bound(cluster: ApiThread, operator: Any,
                                              db26: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("app", job={"image": "registry.example/unpullable:1"}))
    obj = cluster.wait_phase("app", "Failed", timeout=20)
    assert cond(obj, "Ready")["reason"] == "ImagePullBackOff"
    assert jobs(cluster) == []
    assert db26.query("SELECT version FROM schema_migrations") == [(26,)]


def test_deadline_exceeded(cluster: ApiThread, operator: Any, db26: Any) -> None:
    slow = {"name": "slow", "sql": "SELECT 'slow' AS problem FROM pg_sleep(5) "
                                   "WHERE random() < 0"}
    operator()
    cluster.create(SMIGS, smig("app", verify={"extraChecks": [slow]},
                               job={"activeDeadlineSeconds": 1}))
    obj = cluster.wait_phase("app", "Failed", "Succeeded", timeout=20)
    assert obj["status"]["phase"] == "Failed"
    assert cond(obj, "Ready")["reason"] == "DeadlineExceeded"
    assert "ended without a result" in obj["status"]["message"]


def test_unreachable_database_is_retried(cluster: ApiThread, operator: Any, db26: Any) -> None:
    """Exit 6 changes nothing and may pass: the same Job runs again until the database
    answers (here: the Secret is fixed meanwhile)."""
    import base64

    from harness.emulator import merge
    from schemaflow.localpg import free_port

    closed = db26.url.replace(f":{db26.server.port}/", f":{free_port()}/")
    cluster.secret("flaky-db", {"url": closed})
    spec = smig("app")
    spec["spec"]["database"]["urlSecretRef"] = {"name": "flaky-db", "key": "url"}
    operator()
    cluster.create(SMIGS, spec)
    # one snapshot of the status while a retry is scheduled (once its Job is re-created the
    # Ready condition says RunInProgress again)
    status = cluster.wait_for("a retry to be scheduled", lambda: (
        lambda st: st if (st.get("retry") or {}).get("after") else None)(
            cluster.smig("app").get("status") or {}))
    retrying = status["retry"]
    assert retrying["attempt"] >= 1 and retrying["direction"] == "up"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "DatabaseUnreachable"
    good = base64.b64encode(db26.url.encode()).decode()
    cluster.call(cluster.emulator.update("v1/secrets", "apps", "flaky-db",
                                         lambda o: merge(o, {"data": {"url": good}})))
    obj = cluster.wait_phase("app", "Succeeded", "Failed", timeout=30)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert "retry" not in obj["status"]
    assert db26.query("SELECT version FROM schema_migrations") == [(27,)]
    assert set(cluster.kubelet.started) == {"app-1-up"} and len(cluster.kubelet.started) >= 2
