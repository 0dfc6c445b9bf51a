"""RBAC covers exactly the API calls the code makes: the operator's (schemaflow.kube.rbac,
which the operator's end-to-end tests check against the requests it really sends) and the
wait Job's (schemaflow.wait.API_CALLS, checked against the requests `wait` really sends in
tests/wait). Nothing more, no wildcards, no Secrets."""

from __future__ import annotations

from typing import Any

import pytest
from chartlib import EXAMPLE, NAMESPACE, VALUES_CASES, by_kind

from schemaflow import wait
from schemaflow.kube import rbac

Call = tuple[str, str, str]


def granted(rules: list[dict[str, Any]]) -> set[Call]:
    out: set[Call] = set()
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        assert "*" not in rule.get("apiGroups", []), rule
        assert not rule.get("nonResourceURLs"), rule
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add((verb, group, res))
    return out


def expected(cluster_wide: bool, peering: bool) -> set[Call]:
    calls = set(rbac.API_CALLS)
    if peering:
        # kopf peers through ClusterKopfPeering when serving all namespaces, else through a
        # KopfPeering in each served namespace: only that one is granted.
        kind = "clusterkopfpeerings" if cluster_wide else "kopfpeerings"
        calls |= {c for c in rbac.PEERING_API_CALLS if c[2] == kind}
    return calls


@pytest.mark.parametrize("case", VALUES_CASES)
def test_operator_rbac_is_exactly_its_api_calls(render, case: str) -> None:
    values = VALUES_CASES[case]
    cluster_wide = values.get("operator", {}).get("clusterWide", True)
    # peering rights whatever replicaCount (the old replicas of a 2 -> 1 upgrade still need
    # them to leave the peering: the e2e HA test saw their 403s before)
    peering = True
    objs = render(values)
    want = expected(cluster_wide, peering)
    sa = by_kind(objs, "ServiceAccount")[0]["metadata"]
    if cluster_wide:
        (role,) = by_kind(objs, "ClusterRole")
        (binding,) = by_kind(objs, "ClusterRoleBinding")
        assert not by_kind(objs, "Role") and not by_kind(objs, "RoleBinding")
        pairs = [(role, binding)]
    else:
        roles = {r["metadata"]["namespace"]: r for r in by_kind(objs, "Role")}
        bindings = {b["metadata"]["namespace"]: b for b in by_kind(objs, "RoleBinding")}
        assert not by_kind(objs, "ClusterRole") and not by_kind(objs, "ClusterRoleBinding")
        namespaces = values["operator"].get("watchNamespaces") or [NAMESPACE]
        assert set(roles) == set(bindings) == set(namespaces)
        pairs = [(roles[ns], bindings[ns]) for ns in namespaces]
    for role, binding in pairs:
        assert granted(role["rules"]) == want, sorted(granted(role["rules"]) ^ want)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                      "kind": role["kind"], "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["name"],
                                        "namespace": sa["namespace"]}]


def test_operator_never_touches_secrets() -> None:
    for _, _, res in (*rbac.API_CALLS, *rbac.PEERING_API_CALLS, *wait.API_CALLS):
        assert res not in ("secrets", "*")


def test_rbac_can_be_left_out(render) -> None:
    kinds = {o["kind"] for o in render({"rbac": {"create": False}})}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def test_wait_job_rbac_is_exactly_waits_api_calls(render) -> None:
    objs = render({}, chart=EXAMPLE, release="shop", namespace="apps")
    (role,) = by_kind(objs, "Role")
    (binding,) = by_kind(objs, "RoleBinding")
    (sa,) = by_kind(objs, "ServiceAccount")
    (job,) = by_kind(objs, "Job")
    assert granted(role["rules"]) == set(wait.API_CALLS)
    assert role["metadata"]["namespace"] == "apps"  # a Role, only the release namespace
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": "apps"}]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    # the app's own pods get no Kubernetes API access at all (the initContainer needs none)
    (deploy,) = by_kind(objs, "Deployment")
    assert deploy["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
