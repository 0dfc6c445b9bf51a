"""The operator's failure paths on a real control plane: restarts in every phase, deletions
mid-run, pods that cannot start, Jobs the server refuses, migrations from a ConfigMap, the
kubeconfig login path, and the `schemaflow wait --resource` gate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from realcluster import IMAGE, RELEASE_NS, wait_for

from conftest import App

FAILING_CHECK = {"name": "always_fails", "sql": "SELECT 'planted problem' AS problem"}
# A migration directory of our own (ConfigMap source) whose version 2 takes a while.
SLOW_MIGRATIONS = {
    "000001_items.up.sql": "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);\n",
    "000001_items.down.sql": "DROP TABLE items;\n",
    "000002_slow.up.sql": ("ALTER TABLE items ADD COLUMN note text;\n"
                           "SELECT pg_sleep(6);\n"),
    "000002_slow.down.sql": "ALTER TABLE items DROP COLUMN note;\n",
    "000002_slow.verify.sql": ("-- check: note_column\n"
                               "SELECT 'items.note missing' WHERE NOT EXISTS (SELECT 1 FROM "
                               "information_schema.columns WHERE table_name = 'items' "
                               "AND column_name = 'note');\n"),
}


def configmap_app(app: App, files: dict[str, str] = SLOW_MIGRATIONS) -> dict[str, Any]:
    """The spec of a SchemaMigration from a ConfigMap holding ``files``, on the app's
    database emptied of DomainFlow's schema."""
    app.db.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    app.cluster.core.create_namespaced_config_map(app.ns, {
        "metadata": {"name": "migrations"}, "data": files})
    return app.spec(source={"type": "configMap", "configMapName": "migrations"},
                    targetVersion=2)


def operator_pods(app: App) -> list[str]:
    return [p.metadata.name for p in app.cluster.core.list_namespaced_pod(
        RELEASE_NS, label_selector="app.kubernetes.io/component=operator").items
        if p.metadata.deletion_timestamp is None]


def kill_operator(app: App) -> None:
    killed = app.node.kill("schemaflow-", signal.SIGKILL)
    assert killed, "no operator container was running"


def phase(app: App, name: str) -> str | None:
    return ((app.cluster.get_smig(app.ns, name) or {}).get("status") or {}).get("phase")


@pytest.mark.parametrize("at", ["Pending", "Migrating", "RollingBack"])
def test_operator_killed_in_each_phase_runs_each_job_once(app: App, at: str) -> None:
    spec = configmap_app(app)
    if at == "RollingBack":
        spec["verify"] = {"extraChecks": [FAILING_CHECK]}
        spec["targetVersion"] = 2
    app.cluster.smig(app.ns, "m", spec)
    wait_for(lambda: phase(app, "m") == at, 60, f"phase {at}", poll=0.02)
    t0 = time.monotonic()
    kill_operator(app)
    final = "RolledBack" if at == "RollingBack" else "Succeeded"
    obj = app.cluster.wait_phase(app.ns, "m", {final, "Failed"}, timeout=120)
    assert obj["status"]["phase"] == final, obj["status"]
    expected = ["m-1-down", "m-1-up"] if final == "RolledBack" else ["m-1-up"]
    assert app.cluster.jobs(app.ns) == expected
    started = [k for k in app.node.started_pods if k.startswith(f"{app.ns}/")]
    assert len(started) == len(expected), started
    # a rollback goes back to before the run: the database had no version
    assert app.version() == ([] if final == "RolledBack" else [(2, False)])
    print(f"\nkilled in {at}: {final} {time.monotonic() - t0:.1f}s after the kill")


def test_deleted_mid_run_waits_for_the_run(app: App) -> None:
    app.cluster.smig(app.ns, "m", configmap_app(app))
    wait_for(lambda: phase(app, "m") == "Migrating", 60, "Migrating", poll=0.05)
    app.cluster.custom.delete_namespaced_custom_object(
        "schemaflow.domainflow.io", "v1alpha1", app.ns, "schemamigrations", "m")
    # still there (Terminating) while its Job migrates, and it says why
    wait_for(lambda: any(r == "DeletionDeferred" for _, r, _ in app.cluster.events(app.ns, "m")),
             30, "a DeletionDeferred Event")
    assert app.cluster.get_smig(app.ns, "m") is not None
    wait_for(lambda: app.cluster.get_smig(app.ns, "m") is None, 60, "the deletion to finish")
    assert app.version() == [(2, False)]
    wait_for(lambda: app.cluster.jobs(app.ns) == [], 30, "its Jobs to be deleted")


def test_namespace_deleted_mid_run_leaves_a_recorded_state(app: App) -> None:
    app.cluster.smig(app.ns, "m", configmap_app(app))
    wait_for(lambda: phase(app, "m") == "Migrating", 60, "Migrating", poll=0.05)
    app.cluster.core.delete_namespace(app.ns)

    def gone() -> bool:
        try:
            app.cluster.core.read_namespace(app.ns)
            return False
        except ApiException as exc:
            return exc.status == 404
    took = wait_for(gone, 120, f"namespace {app.ns} to be deleted", poll=0.5)
    # 000002 is one transaction: killed, it is rolled back; finished, it is recorded
    assert app.version() in ([(1, False)], [(2, False)])
    status = subprocess.run([sys.executable, "-m", "schemaflow", "migrate", "status",
                             "--output", "json"], env=app.db.env(), capture_output=True,
                            text=True, check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    print(f"\nnamespace deleted mid-run: gone in {took:.1f}s, database at {app.version()}")


@pytest.mark.parametrize("problem", ["missing-secret", "unpullable-image", "unschedulable",
                                     "missing-service-account", "rejected-job"])
def test_pod_problems_reach_the_status_within_seconds(app: App, problem: str) -> None:
    spec = app.spec()
    expected = {"missing-secret": "CreateContainerConfigError",
                "unpullable-image": "ImagePullBackOff",
                "unschedulable": "Unschedulable",
                "missing-service-account": "FailedCreate",
                "rejected-job": "JobRejected"}[problem]
    if problem == "missing-secret":
        spec["database"] = {"urlSecretRef": {"name": "no-such-secret", "key": "url"}}
    elif problem == "unpullable-image":
        spec["job"] = {"image": "registry.e2e.local/does-not-exist:1"}
    elif problem == "unschedulable":
        spec["job"] = {"nodeSelector": {"disktype": "ssd"}}
    elif problem == "missing-service-account":
        spec["job"] = {"serviceAccountName": "no-such-sa"}
    else:  # requests above limits: the API server's own validation refuses the Job
        spec["job"] = {"resources": {"requests": {"memory": "2Gi"},
                                     "limits": {"memory": "1Gi"}}}
    t0 = time.monotonic()
    app.cluster.smig(app.ns, "m", spec)

    def surfaced() -> bool:
        obj = app.cluster.get_smig(app.ns, "m") or {}
        ready = next((c for c in (obj.get("status") or {}).get("conditions") or []
                      if c["type"] == "Ready"), {})
        return ready.get("reason") == expected
    took = wait_for(surfaced, 60, f"Ready reason {expected}")
    reasons = [r for t, r, _ in app.cluster.events(app.ns, "m") if t == "Warning"]
    assert expected in reasons
    assert app.version() == [(26, False)]
    print(f"\n{problem}: {expected} in the status {time.monotonic() - t0:.1f}s after create "
          f"(waited {took:.1f}s)")


def test_ttl_zero_is_refused_by_the_server(app: App) -> None:
    with pytest.raises(ApiException) as refused:
        app.cluster.smig(app.ns, "m", app.spec(job={"ttlSecondsAfterFinished": 0}))
    assert refused.value.status == 422
    assert "ttlSecondsAfterFinished" in str(refused.value.body)


def test_configmap_source_runs_its_own_checks(app: App) -> None:
    files = {k: v.replace("pg_sleep(6)", "pg_sleep(0)") for k, v in SLOW_MIGRATIONS.items()}
    app.cluster.smig(app.ns, "m", configmap_app(app, files))
    obj = app.cluster.wait_phase(app.ns, "m", {"Succeeded", "Failed", "RolledBack"})
    status = obj["status"]
    assert status["phase"] == "Succeeded", status
    assert status["verification"]["passed"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Verified"]["status"] == "True"


def test_no_checks_is_not_verified(app: App) -> None:
    files = {k: v.replace("pg_sleep(6)", "pg_sleep(0)") for k, v in SLOW_MIGRATIONS.items()
             if not k.endswith(".verify.sql")}
    app.cluster.smig(app.ns, "m", configmap_app(app, files))
    obj = app.cluster.wait_phase(app.ns, "m", {"Succeeded", "Failed", "RolledBack"})
    verified = next(c for c in obj["status"]["conditions"] if c["type"] == "Verified")
    assert (verified["status"], verified["reason"]) == ("Unknown", "NoChecks")


def _wait_resource(app: App, name: str, timeout: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(app.cluster.kubeconfig)}
    return subprocess.run([sys.executable, "-m", "schemaflow", "wait", "--resource", name,
                           "--namespace", app.ns, "--timeout", timeout], env=env,
                          capture_output=True, text=True, check=False, timeout=120)


def test_wait_resource_does_not_open_for_a_generation_that_never_ran(app: App) -> None:
    files = {k: v.replace("pg_sleep(6)", "pg_sleep(0)") for k, v in SLOW_MIGRATIONS.items()}
    app.cluster.smig(app.ns, "m", configmap_app(app, files) | {"targetVersion": 1})
    app.cluster.wait_phase(app.ns, "m", "Succeeded")
    assert _wait_resource(app, "m", "5").returncode == 0
    app.cluster.patch_smig(app.ns, "m", {"spec": {"targetVersion": 2, "suspend": True}})
    wait_for(lambda: ((app.cluster.get_smig(app.ns, "m") or {}).get("status") or {})
             .get("observedGeneration") == 2, 30, "observedGeneration 2")
    gated = _wait_resource(app, "m", "3")
    assert gated.returncode == 7, gated.stdout + gated.stderr
    app.cluster.patch_smig(app.ns, "m", {"spec": {"suspend": False}})
    app.cluster.wait_phase(app.ns, "m", "Succeeded", timeout=60)
    wait_for(lambda: app.version() == [(2, False)], 30, "version 2")
    assert _wait_resource(app, "m", "30").returncode == 0


def test_operator_outside_the_cluster_with_a_service_account_kubeconfig(
        app: App, tmp_path: Path) -> None:
    """The kubeconfig login path, with the chart's ServiceAccount token (TokenRequest)."""
    token = app.cluster.core.create_namespaced_service_account_token(
        "schemaflow", RELEASE_NS, {"spec": {"expirationSeconds": 3600}}).status.token
    server = app.cluster.api.configuration.host
    kubeconfig = tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: sa\nclusters:\n- name: e2e\n"
        f"  cluster: {{server: '{server}', certificate-authority: "
        f"'{app.cluster.api.configuration.ssl_ca_cert}'}}\n"
        f"users:\n- name: sa\n  user: {{token: '{token}'}}\n"
        "contexts:\n- name: sa\n  context: {cluster: e2e, user: sa}\n")
    # the chart's operator stops serving this namespace's run: scale it down first
    app.cluster.kubectl("-n", RELEASE_NS, "scale", "deployment/schemaflow", "--replicas=0")
    wait_for(lambda: operator_pods(app) == [], 60, "the chart's operator to stop")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env.update(KUBECONFIG=str(kubeconfig), SCHEMAFLOW_IMAGE=IMAGE)
    proc = subprocess.Popen([sys.executable, "-m", "schemaflow", "operator", "--metrics-port",
                             "0", "--namespace", app.ns], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        app.cluster.smig(app.ns, "m", app.spec())
        obj = app.cluster.wait_phase(app.ns, "m", {"Succeeded", "Failed", "RolledBack"})
        assert obj["status"]["phase"] == "Succeeded", obj["status"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        app.cluster.kubectl("-n", RELEASE_NS, "scale", "deployment/schemaflow", "--replicas=1")
        wait_for(lambda: len(operator_pods(app)) == 1, 60, "the chart's operator back")
    assert app.db.server.password not in out
    assert "403" not in out, out[-3000:]


def test_unreachable_database_is_retried_until_it_answers(app: App) -> None:
    """Exit 6 (nothing changed) runs again with a doubling delay, in a Job of the same name."""
    good = app.db.url
    closed = good.rsplit("@", 1)[0] + "@127.0.0.1:1/" + good.rsplit("/", 1)[1]
    app.cluster.core.patch_namespaced_secret("app-db", app.ns, {"stringData": {"url": closed}})
    app.cluster.smig(app.ns, "m", app.spec())

    def retrying() -> bool:
        status = (app.cluster.get_smig(app.ns, "m") or {}).get("status") or {}
        return bool((status.get("retry") or {}).get("attempt"))
    wait_for(retrying, 60, "a scheduled retry")
    app.cluster.core.patch_namespaced_secret("app-db", app.ns, {"stringData": {"url": good}})
    obj = app.cluster.wait_phase(app.ns, "m", {"Succeeded", "Failed", "RolledBack"},
                                 timeout=180)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert app.version() == [(27, False)]
    assert app.cluster.jobs(app.ns) == ["m-1-up"]


def test_deadline_exceeded_is_decided_by_the_real_job_controller(app: App) -> None:
    spec = configmap_app(app)
    spec["job"] = {"activeDeadlineSeconds": 3}
    app.cluster.smig(app.ns, "m", spec)
    obj = app.cluster.wait_phase(app.ns, "m", {"Failed", "Succeeded"}, timeout=90)
    assert obj["status"]["phase"] == "Failed", obj["status"]
    job = app.cluster.batch.read_namespaced_job("m-1-up", app.ns)
    assert any(c.type == "Failed" and c.reason == "DeadlineExceeded"
               for c in job.status.conditions or [])
    # the pod was stopped (SIGTERM from the node): version 2's transaction rolled back
    assert app.version() in ([(1, False)], [])


def test_rollback_failure_is_reported_with_the_recovery(app: App) -> None:
    files = {k: v.replace("pg_sleep(6)", "pg_sleep(0)") for k, v in SLOW_MIGRATIONS.items()}
    files["000002_slow.down.sql"] = "SELECT 1/0;\n"
    spec = configmap_app(app, files)
    spec["verify"] = {"extraChecks": [FAILING_CHECK]}
    app.cluster.smig(app.ns, "m", spec)
    obj = app.cluster.wait_phase(app.ns, "m", {"Failed", "RolledBack", "Succeeded"}, timeout=90)
    status = obj["status"]
    assert status["phase"] == "Failed", status
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "RollbackFailed"
    assert "schemaflow migrate status" in ready["message"]


def test_spec_change_mid_run_waits_for_the_run(app: App) -> None:
    app.cluster.smig(app.ns, "m", configmap_app(app))
    wait_for(lambda: phase(app, "m") == "Migrating", 60, "the first run", poll=0.05)
    check = {"name": "items_exist", "sql": "SELECT 'no items table' WHERE to_regclass('items') "
             "IS NULL"}
    app.cluster.patch_smig(app.ns, "m", {"spec": {"verify": {"extraChecks": [check]}}})

    def second_run_ended() -> bool:
        status = (app.cluster.get_smig(app.ns, "m") or {}).get("status") or {}
        return status.get("runGeneration") == 2 and status.get("phase") == "Succeeded"
    wait_for(second_run_ended, 120, "generation 2's run to succeed")
    assert app.version() == [(2, False)]
    assert app.cluster.jobs(app.ns) == ["m-1-up", "m-2-up"]


def test_metrics_on_the_pod_ip(app: App) -> None:
    import urllib.request

    app.cluster.smig(app.ns, "m", app.spec())
    app.cluster.wait_phase(app.ns, "m", "Succeeded")
    (pod,) = [p for p in app.cluster.core.list_namespaced_pod(
        RELEASE_NS, label_selector="app.kubernetes.io/component=operator").items
        if p.metadata.deletion_timestamp is None]
    url = f"http://{pod.status.pod_ip}:9090/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    line = next(ln for ln in text.splitlines() if ln.startswith("schemaflow_schema_version{")
                and f'namespace="{app.ns}"' in ln)
    assert line.endswith(" 27.0")
