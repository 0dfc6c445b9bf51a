"""The operator as shipped (chart, RBAC, image entry point) on a real control plane: the
README's example, a rollback after failed verification, and what a real server rejects."""

from __future__ import annotations

import time

import pytest
from realcluster import wait_for

from conftest import App

FAILING_CHECK = {"name": "always_fails", "sql": "SELECT 'planted problem' AS problem"}


def test_readme_example_26_to_27(app: App) -> None:
    t0 = time.monotonic()
    app.cluster.smig(app.ns, "domainflow", app.spec(targetVersion=27))
    obj = app.cluster.wait_phase(app.ns, "domainflow", {"Succeeded", "Failed", "RolledBack"})
    elapsed = time.monotonic() - t0
    status = obj["status"]
    assert status["phase"] == "Succeeded", status
    assert app.version() == [(27, False)]
    assert status["currentVersion"] == 27 and status["verification"]["failed"] == 0
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Ready"] == "True" and conditions["Verified"] == "True"
    assert app.cluster.jobs(app.ns) == ["domainflow-1-up"]
    # the REAL Job controller decided the Job's outcome from the pod the node ran
    job = app.cluster.batch.read_namespaced_job("domainflow-1-up", app.ns)
    assert [c.type for c in job.status.conditions if c.status == "True"] == \
        ["SuccessCriteriaMet", "Complete"]
    reasons = [r for _, r, _ in app.cluster.events(app.ns, "domainflow")]
    assert "Succeeded" in reasons
    print(f"\nREADME example: create -> Succeeded in {elapsed:.1f}s")


def test_failed_verification_rolls_back_to_26(app: App) -> None:
    t0 = time.monotonic()
    app.cluster.smig(app.ns, "domainflow",
                     app.spec(verify={"extraChecks": [FAILING_CHECK]}))
    obj = app.cluster.wait_phase(app.ns, "domainflow", {"RolledBack", "Failed", "Succeeded"})
    elapsed = time.monotonic() - t0
    status = obj["status"]
    assert status["phase"] == "RolledBack", status
    assert app.version() == [(26, False)]
    assert status["currentVersion"] == 26
    assert app.cluster.jobs(app.ns) == ["domainflow-1-down", "domainflow-1-up"]
    assert status["verification"]["failures"][0]["check"] == "always_fails"
    print(f"\nfailed verification -> RolledBack in {elapsed:.1f}s")


@pytest.mark.parametrize("field", ["applicationNames", "extraChecks"])
def test_user_text_is_not_expanded_by_the_kubelet(app: App, field: str) -> None:
    """The kubelet expands $(VAR) in args and env values: a user's $(DATABASE_URL) must
    reach the container as written, never as the Secret's value."""
    probe = "$(DATABASE_URL)"
    if field == "extraChecks":
        spec = app.spec(verify={"extraChecks": [
            {"name": "echo_url", "sql": f"SELECT '{probe}' AS problem"}]})
    else:
        spec = app.spec(safety={"preflight": "warn", "applicationNames": [probe]})
    app.cluster.smig(app.ns, "probe", spec)
    obj = app.cluster.wait_phase(app.ns, "probe", {"Succeeded", "Failed", "RolledBack"})
    if field == "extraChecks":
        problems = obj["status"]["verification"]["failures"][0]["problems"]
        assert problems == [probe]
    # the fixture then checks that the password shows nowhere (status, Events, container
    # output, Jobs)


def test_unknown_fields_are_rejected_or_reported(app: App) -> None:
    """A real server prunes unknown fields (structural schema) unless the client asks for
    strict validation; kubectl asks by default, and --validate=false sends them anyway."""
    manifest = ("apiVersion: schemaflow.domainflow.io/v1alpha1\nkind: SchemaMigration\n"
                f"metadata: {{name: typo, namespace: {app.ns}}}\n"
                "spec:\n  database: {urlSecretRef: {name: app-db, key: url}}\n"
                "  targetVersoin: 99\n")
    strict = app.cluster.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert strict.returncode != 0
    assert 'unknown field "spec.targetVersoin"' in strict.stderr
    loose = app.cluster.kubectl("apply", "--validate=false", "-f", "-", stdin=manifest)
    assert loose.returncode == 0
    stored = app.cluster.get_smig(app.ns, "typo")
    assert stored is not None and "targetVersoin" not in stored["spec"]
    wait_for(lambda: ((app.cluster.get_smig(app.ns, "typo") or {}).get("status") or {})
             .get("phase") == "Succeeded", 120, "the pruned spec's run")
