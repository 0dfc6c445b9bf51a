"""The chart's CRD is the operator's file (templated from it, never copied), kept on
uninstall; sample SchemaMigrations (NOTES.txt, the example chart, the docs) validate
against its schema with unknown fields rejected as `kubectl --validate=strict` does, and a
set of invalid ones is rejected."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import pytest
import yaml
from chartlib import CHART, CRD_FILE, EXAMPLE, VALUES_CASES, by_kind


def strict(schema: Any) -> Any:
    """The CRD's structural schema with unknown fields rejected (the API server with
    fieldValidation=Strict, kubectl's default), except where the schema preserves them."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (out.get("type") == "object" and "properties" in out
                and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def validator(crd: dict[str, Any]) -> jsonschema.protocols.Validator:
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("case", VALUES_CASES)
def test_chart_crd_is_the_operators_file(render, crd: dict[str, Any], case: str) -> None:
    (rendered,) = [c for c in by_kind(render(VALUES_CASES[case]), "CustomResourceDefinition")
                   if c["metadata"]["name"] == crd["metadata"]["name"]]
    assert rendered["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    got = copy.deepcopy(rendered)
    # the chart only adds its labels and the keep annotation
    assert crd["metadata"]["labels"].items() <= got["metadata"]["labels"].items()
    got["metadata"]["labels"] = crd["metadata"]["labels"]
    del got["metadata"]["annotations"]["helm.sh/resource-policy"]
    if not got["metadata"]["annotations"]:
        del got["metadata"]["annotations"]
    assert got == crd


def test_chart_does_not_carry_a_copy_of_the_crd() -> None:
    """Templated from files/, never pasted into templates/ or crds/ (crds/ holds only kopf's
    peering CRDs, which Helm must install before the peering object)."""
    for path in [*(CHART / "templates").rglob("*"), *(CHART / "crds").rglob("*")]:
        if path.is_file():
            text = path.read_text()
            assert "openAPIV3Schema" not in text or "schemaflow.domainflow.io" not in text, path
    assert 'Files.Get "files/schemamigrations.crd.yaml"' in (CHART / "templates" / "crds.yaml").read_text()


def _schemamigration_crds(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in by_kind(objs, "CustomResourceDefinition")
            if c["spec"]["group"] == "schemaflow.domainflow.io"]


def test_crds_can_be_left_out(render) -> None:
    objs = render({"crds": {"create": False}})
    assert not _schemamigration_crds(objs)
    objs = render({"crds": {"keep": False}})
    (c,) = _schemamigration_crds(objs)
    assert "helm.sh/resource-policy" not in (c["metadata"].get("annotations") or {})


def notes_sample() -> dict[str, Any]:
    text = (CHART / "templates" / "NOTES.txt").read_text()
    m = re.search(r"<<'YAML'.*?\n(.*?)\n\s*YAML\n", text, re.S)
    assert m, "NOTES.txt shows a sample SchemaMigration"
    lines = m.group(1).splitlines()
    indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
    return yaml.safe_load("\n".join(x[indent:] for x in lines))


MINIMAL = {"apiVersion": "schemaflow.domainflow.io/v1alpha1", "kind": "SchemaMigration",
           "metadata": {"name": "m", "namespace": "apps"},
           "spec": {"database": {"urlSecretRef": {"name": "db", "key": "url"}}}}
FULL = {**MINIMAL, "spec": {
    "database": {"urlSecretRef": {"name": "domainflow-db", "key": "url"}},
    "source": {"type": "configMap", "configMapName": "migrations"},
    "targetVersion": 27,
    "verify": {"enabled": True, "extraChecks": [
        {"name": "no_orphans", "description": "d", "sql": "SELECT 1 WHERE false"}]},
    "rollback": {"onVerificationFailure": False},
    "safety": {"lockTimeout": "500ms", "lockRetries": 10, "statementTimeout": "10m",
               "preflight": "warn"},
    "job": {"image": "registry.local/schemaflow:0.1.0", "imagePullPolicy": "Always",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": 1}},
            "activeDeadlineSeconds": 600, "serviceAccountName": "migrator",
            "nodeSelector": {"pool": "batch"},
            "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
            "ttlSecondsAfterFinished": 3600},
    "suspend": False}}


def test_samples_validate(render, validator) -> None:
    example = [o for o in render({}, chart=EXAMPLE, release="shop", namespace="apps")
               if o["kind"] == "SchemaMigration"]
    assert len(example) == 1
    for sample in [notes_sample(), MINIMAL, FULL, *example]:
        errors = [e.message for e in validator.iter_errors(sample)]
        assert not errors, (sample["metadata"]["name"], errors)


def _with(path: str, value: Any, delete: bool = False) -> dict[str, Any]:
    obj = copy.deepcopy(FULL)
    *parents, last = path.split(".")
    node = obj
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if delete:
        del node[last]
    else:
        node[last] = value
    return obj


INVALID = {
    "no spec": _with("spec", None, delete=True),
    "no database": _with("spec.database", None, delete=True),
    "secret ref without key": _with("spec.database.urlSecretRef.key", None, delete=True),
    "inline credentials": _with("spec.database.url", "postgresql://u:p@h/db"),
    "password field": _with("spec.database.password", "p"),
    "bad secret name": _with("spec.database.urlSecretRef.name", "Bad_Name"),
    "target 0": _with("spec.targetVersion", 0),
    "target as string": _with("spec.targetVersion", "27"),
    "unknown source": _with("spec.source.type", "git"),
    "lock timeout prose": _with("spec.safety.lockTimeout", "5 seconds"),
    "too many retries": _with("spec.safety.lockRetries", 1000),
    "preflight maybe": _with("spec.safety.preflight", "maybe"),
    "deadline 0": _with("spec.job.activeDeadlineSeconds", 0),
    "pull policy": _with("spec.job.imagePullPolicy", "Sometimes"),
    "check name": _with("spec.verify.extraChecks.0.name", "Bad-Name"),
    "check without sql": _with("spec.verify.extraChecks.0.sql", None, delete=True),
    "verify as string": _with("spec.verify.enabled", "yes"),
    "unknown spec field": _with("spec.dryRun", True),
    "toleration operator": _with("spec.job.tolerations.0.operator", "Maybe"),
    "resource quantity": _with("spec.job.resources.requests.cpu", "lots"),
}


@pytest.mark.parametrize("name", INVALID)
def test_invalid_samples_are_rejected(validator, name: str) -> None:
    assert list(validator.iter_errors(INVALID[name])), f"{name} was accepted"


def test_crd_file_is_a_valid_crd() -> None:
    import kubernetes_validate

    kubernetes_validate.validate(yaml.safe_load(CRD_FILE.read_text()), "1.33", strict=True)
