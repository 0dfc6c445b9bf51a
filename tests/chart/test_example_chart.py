"""charts/examples/domainflow-app: both deploy-time gate forms render valid objects, the
hooks run in the right order with the right delete policies, and the containers' args are
valid `schemaflow wait` command lines."""

from __future__ import annotations

import argparse
from typing import Any

import kubernetes_validate
import pytest
from chartlib import EXAMPLE, by_kind

from schemaflow import wait

HOOK = "helm.sh/hook"
WEIGHT = "helm.sh/hook-weight"
POLICY = "helm.sh/hook-delete-policy"


def wait_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    wait.configure(p)
    return p


@pytest.fixture(scope="module")
def objs(render) -> list[dict[str, Any]]:
    return render({}, chart=EXAMPLE, release="shop", namespace="apps")


def test_lint(helm) -> None:
    assert "0 chart(s) failed" in helm("lint", "--strict", str(EXAMPLE)).stdout


def test_builtin_objects_are_valid(objs) -> None:
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["Deployment", "Job", "Role", "RoleBinding", "SchemaMigration", "Service",
                     "ServiceAccount"]
    for obj in objs:
        if obj["kind"] != "SchemaMigration":  # validated against the CRD in test_chart_crd
            kubernetes_validate.validate(obj, "1.33", strict=True)


def test_hook_order_and_delete_policies(objs) -> None:
    hooks = {o["kind"]: o["metadata"]["annotations"] for o in objs
             if HOOK in (o["metadata"].get("annotations") or {})}
    assert set(hooks) == {"ServiceAccount", "Role", "RoleBinding", "SchemaMigration", "Job"}
    for ann in hooks.values():
        assert ann[HOOK] == "pre-install,pre-upgrade"  # never post-*: see the README's traps
        assert "before-hook-creation" in ann[POLICY]
    w = {k: int(a[WEIGHT]) for k, a in hooks.items()}
    assert w["ServiceAccount"] == w["Role"] == w["RoleBinding"] < w["SchemaMigration"] < w["Job"]
    # RBAC goes once the gate passed; the wait Job is kept when it fails (its log says why);
    # the SchemaMigration is kept to be inspected
    assert "hook-succeeded" in hooks["Role"][POLICY]
    assert "hook-succeeded" in hooks["Job"][POLICY] and "hook-failed" not in hooks["Job"][POLICY]
    assert hooks["SchemaMigration"][POLICY] == "before-hook-creation"
    # the application objects are not hooks
    for o in objs:
        if o["kind"] in ("Deployment", "Service"):
            assert HOOK not in (o["metadata"].get("annotations") or {})


def test_hook_job_runs_wait_for_the_hooks_schemamigration(objs) -> None:
    (job,) = by_kind(objs, "Job")
    (smig,) = by_kind(objs, "SchemaMigration")
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (c,) = pod["containers"]
    assert c["args"][0] == "wait"
    args = wait_parser().parse_args(c["args"][1:])
    assert args.resource == smig["metadata"]["name"]
    assert args.namespace == smig["metadata"]["namespace"]
    assert args.timeout < spec["activeDeadlineSeconds"]
    assert c["image"] == smig["spec"]["job"]["image"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_init_container_waits_for_the_database_version(objs) -> None:
    (deploy,) = by_kind(objs, "Deployment")
    (smig,) = by_kind(objs, "SchemaMigration")
    (init,) = deploy["spec"]["template"]["spec"]["initContainers"]
    assert init["args"][0] == "wait"
    args = wait_parser().parse_args(init["args"][1:])
    assert args.database and args.target_version == smig["spec"]["targetVersion"]
    assert not args.exact  # newer schemas let older pods start (helm rollback)
    env = {e["name"]: e for e in init["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]  # never a literal URL
    assert "value" not in env["DATABASE_URL"]


@pytest.mark.parametrize("values,kinds", [
    ({"schemaflow": {"hook": {"enabled": False}}}, ["Deployment", "Service"]),
    ({"schemaflow": {"initContainer": {"enabled": False}}},
     ["Deployment", "Job", "Role", "RoleBinding", "SchemaMigration", "Service", "ServiceAccount"]),
])
def test_each_form_alone(render, values, kinds) -> None:
    objs = render(values, chart=EXAMPLE, release="shop", namespace="apps")
    assert sorted(o["kind"] for o in objs) == kinds
    (deploy,) = by_kind(objs, "Deployment")
    has_init = bool(deploy["spec"]["template"]["spec"].get("initContainers"))
    assert has_init == values["schemaflow"].get("initContainer", {}).get("enabled", True)


def test_readme_documents_the_traps() -> None:
    text = (EXAMPLE / "README.md").read_text().lower()
    for needle in ("post-install", "--wait", "deadlock", "pre-install hook cannot reach",
                   "helm rollback", "down"):
        assert needle in text, needle
