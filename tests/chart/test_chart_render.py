"""The schemaflow chart with the real helm: lint and template across the values matrix,
every built-in object valid for Kubernetes 1.33 (strict), custom objects checked against
what is available offline, values.schema.json rejecting bad values, and the chart's
Deployment agreeing with the operator's command line."""

from __future__ import annotations

import argparse
import copy
import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from chartlib import CHART, NAMESPACE, RELEASE, VALUES_CASES, by_kind

# Every case has 3 CRDs: SchemaMigration (templates/) and kopf's two peering CRDs (crds/,
# installed whatever the values, so a later upgrade to replicaCount > 1 finds them).
# Kinds without a schema in kubernetes-validate: checked below by other means.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "KopfPeering", "ClusterKopfPeering"}

EXPECTED_KINDS: dict[str, dict[str, int]] = {
    "defaults": {"CustomResourceDefinition": 3, "ServiceAccount": 1, "ClusterRole": 1,
                 "ClusterRoleBinding": 1, "Service": 1, "Deployment": 1},
    "monitoring": {"CustomResourceDefinition": 3, "ServiceAccount": 1, "ClusterRole": 1,
                   "ClusterRoleBinding": 1, "Service": 1, "Deployment": 1, "ServiceMonitor": 1,
                   "PrometheusRule": 1, "ConfigMap": 2},
    "namespaced": {"CustomResourceDefinition": 3, "ServiceAccount": 1, "Role": 2,
                   "RoleBinding": 2, "Service": 1, "Deployment": 1},
    "ha": {"CustomResourceDefinition": 3, "ServiceAccount": 1, "ClusterRole": 1,
           "ClusterRoleBinding": 1, "Service": 1, "Deployment": 1, "ServiceMonitor": 1,
           "PrometheusRule": 1, "ConfigMap": 2, "ClusterKopfPeering": 1},
    "ha-namespaced": {"CustomResourceDefinition": 3, "ServiceAccount": 1, "Role": 1,
                      "RoleBinding": 1, "Service": 1, "Deployment": 1, "KopfPeering": 1},
}


def values_file(tmp_path, values: dict[str, Any]) -> str:
    p = tmp_path / "values.yaml"
    p.write_text(yaml.safe_dump(values))
    return str(p)


@pytest.mark.parametrize("case", VALUES_CASES)
def test_helm_lint(helm, tmp_path, case: str) -> None:
    out = helm("lint", "--strict", str(CHART), "-f", values_file(tmp_path, VALUES_CASES[case]))
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("case", VALUES_CASES)
def test_rendered_objects_are_valid(render, case: str) -> None:
    objs = render(VALUES_CASES[case])
    counts: dict[str, int] = {}
    for obj in objs:
        counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
        assert obj["metadata"]["name"]
        if obj["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, "1.33", strict=True)
    assert counts == EXPECTED_KINDS[case], counts
    print(f"\n[{case}] {len(objs)} objects: {counts}")  # shown with -s; cited in the report
    # no two objects of one kind share a (namespace, name)
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs]
    assert len(keys) == len(set(keys))
    # every namespaced object sits in a namespace
    for obj in objs:
        if obj["kind"] not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                               "ClusterKopfPeering"):
            assert obj["metadata"].get("namespace"), obj["kind"]


@pytest.mark.parametrize("case", ["ha", "ha-namespaced"])
def test_peering_objects_match_kopf_crds(render, case: str) -> None:
    """KopfPeering/ClusterKopfPeering: validated against the peering CRDs the chart renders
    (those CRDs are themselves validated as CustomResourceDefinitions above)."""
    objs = render(VALUES_CASES[case])
    crds = {c["spec"]["names"]["kind"]: c for c in by_kind(objs, "CustomResourceDefinition")}
    peerings = by_kind(objs, "KopfPeering") + by_kind(objs, "ClusterKopfPeering")
    assert peerings
    deploy = by_kind(objs, "Deployment")[0]
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    for p in peerings:
        crd = crds[p["kind"]]
        assert p["apiVersion"] == f"{crd['spec']['group']}/{crd['spec']['versions'][0]['name']}"
        assert ("namespace" in p["metadata"]) == (crd["spec"]["scope"] == "Namespaced")
        jsonschema.validate(p, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        assert args[args.index("--peering") + 1] == p["metadata"]["name"]
    assert deploy["spec"]["replicas"] > 1 and deploy["spec"]["strategy"]["type"] == "RollingUpdate"


def test_monitoring_objects(render) -> None:
    objs = render(VALUES_CASES["monitoring"])
    svc = by_kind(objs, "Service")[0]
    sm = by_kind(objs, "ServiceMonitor")[0]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kps"
    # selects the metrics Service by its labels, on its port name
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert {e["port"] for e in sm["spec"]["endpoints"]} == {p["name"] for p in svc["spec"]["ports"]}
    # job label = app.kubernetes.io/name = "schemaflow", which the OperatorDown alert uses
    assert svc["metadata"]["labels"][sm["spec"]["jobLabel"]] == "schemaflow"
    rule = by_kind(objs, "PrometheusRule")[0]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    names = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(names) == len(set(names)) == 6
    cms = {c["metadata"]["name"]: c for c in by_kind(objs, "ConfigMap")}
    dash = cms[f"{RELEASE}-schemaflow-dashboard"]
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dash["data"]["schemaflow.json"])["uid"] == "schemaflow"
    alerts = cms[f"{RELEASE}-schemaflow-grafana-alerts"]
    assert alerts["metadata"]["namespace"] == "grafana"
    assert alerts["metadata"]["labels"]["grafana_alert"] == "1"


def test_monitoring_is_off_by_default(render) -> None:
    kinds = {o["kind"] for o in render({})}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap"}


def test_disabled_alerts_are_left_out(render) -> None:
    objs = render({"monitoring": {**VALUES_CASES["monitoring"]["monitoring"],
                                  "disabledAlerts": ["SchemaflowMigrationSlow"]}})
    rule = by_kind(objs, "PrometheusRule")[0]
    names = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "SchemaflowMigrationSlow" not in names and len(names) == 5


@pytest.mark.parametrize("case", VALUES_CASES)
def test_operator_pod_is_hardened(render, case: str) -> None:
    deploy = by_kind(render(VALUES_CASES[case]), "Deployment")[0]
    pod = deploy["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"] and sc.get("privileged") is False
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz"
    assert not any(e.get("valueFrom", {}).get("secretKeyRef") for e in c.get("env", []))


@pytest.mark.parametrize("case", VALUES_CASES)
def test_deployment_args_are_the_operators_command_line(render, case: str) -> None:
    """The args parse with the operator's real parser, and the probe/metrics ports are
    the ones the operator is told to listen on."""
    from schemaflow.kube import main as opmain

    objs = render(VALUES_CASES[case])
    deploy = by_kind(objs, "Deployment")[0]
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    assert c["args"][0] == "operator"
    parser = argparse.ArgumentParser(exit_on_error=False)
    opmain.configure(parser)
    ns = parser.parse_args(c["args"][1:])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ns.liveness == f"http://0.0.0.0:{ports['healthz']}/healthz"
    assert ns.metrics_port == ports["metrics"]
    assert c["livenessProbe"]["httpGet"]["port"] == "healthz"
    svc = by_kind(objs, "Service")[0]
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    values = VALUES_CASES[case]
    cluster_wide = values.get("operator", {}).get("clusterWide", True)
    if cluster_wide:
        assert ns.namespaces == []
    else:
        want = values["operator"].get("watchNamespaces") or [NAMESPACE]
        assert ns.namespaces == want
    assert (ns.peering is not None) == (values.get("replicaCount", 1) > 1)
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SCHEMAFLOW_IMAGE"] == c["image"]  # Jobs run the operator's own image


BAD_VALUES = [
    ({"replicaCount": 0}, "/replicaCount"),
    ({"unknownTopLevel": True}, "additional properties"),
    ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"image": {"repository": "x", "digest": "md5:abc"}}, "/image/digest"),
    ({"operator": {"clusterWide": "yes"}}, "/operator/clusterWide"),
    ({"operator": {"watchNamespaces": ["Team_A"]}}, "/operator/watchNamespaces/0"),
    ({"operator": {"metricsPort": 70000}}, "/operator/metricsPort"),
    ({"operator": {"watchNamespace": ["a"]}}, "additional properties"),  # typo
    ({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    ({"resources": {"limits": {"memory": "lots"}}}, "/resources/limits/memory"),
    ({"monitoring": {"serviceMonitor": {"interval": 30}}}, "/monitoring/serviceMonitor/interval"),
    ({"monitoring": {"prometheusRule": {"enable": True}}}, "additional properties"),
    ({"monitoring": {"disabledAlerts": ["NoSuchAlert"]}}, "/monitoring/disabledAlerts/0"),
    ({"monitoring": {"runbookBaseURL": "docs/runbooks"}}, "/monitoring/runbookBaseURL"),
    ({"service": {"type": "ExternalName"}}, "/service/type"),
    ({"crds": {"create": "true"}}, "/crds/create"),
]


@pytest.mark.parametrize("bad,where", BAD_VALUES, ids=[w for _, w in BAD_VALUES])
def test_values_schema_rejects(helm, tmp_path, bad: dict[str, Any], where: str) -> None:
    proc = helm("template", RELEASE, str(CHART), "-f", values_file(tmp_path, bad), check=False)
    assert proc.returncode != 0, f"accepted {bad}"
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert where in proc.stderr, proc.stderr


def test_values_yaml_itself_satisfies_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.validate(yaml.safe_load((CHART / "values.yaml").read_text()), schema)
    for case in VALUES_CASES.values():
        merged = copy.deepcopy(yaml.safe_load((CHART / "values.yaml").read_text()))
        _deep_update(merged, case)
        jsonschema.validate(merged, schema)


def _deep_update(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v
