"""The CRD, the spec parser and the Job builder, without a cluster: every manifest the
operator can build validates against the real Kubernetes schemas."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from harness.emulator import merge
from harness.manifests import smig
from harness.schemas import crd, validate
from schemaflow import cli
from schemaflow.engine.db import Settings
from schemaflow.kube import objects
from schemaflow.kube.spec import SpecError, parse_spec, render_checks
from schemaflow.kube.status import merge_patch

BUNDLED = [26, 27]
FULL_SPEC: dict[str, Any] = {
    "database": {"urlSecretRef": {"name": "app-db", "key": "url"}},
    "source": {"type": "configMap", "configMapName": "migrations"},
    "targetVersion": 27,
    "verify": {"enabled": True, "extraChecks": [
        {"name": "no_orphans", "description": "no orphan rows", "sql": "SELECT 1 WHERE false"}]},
    "rollback": {"onVerificationFailure": True},
    "safety": {"lockTimeout": "500ms", "lockRetries": 3, "statementTimeout": "10m",
               "preflight": "warn", "applicationNames": ["domainflow-worker%", "domainflow-api"]},
    "job": {"image": "registry.example/schemaflow:1", "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"memory": "256Mi"}},
            "activeDeadlineSeconds": 600, "serviceAccountName": "migrator",
            "nodeSelector": {"pool": "batch"},
            "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
            "ttlSecondsAfterFinished": 3600},
    "suspend": False,
}
OWNER = {"metadata": {"name": "app", "namespace": "apps", "uid": "0b7c6f1e-1111-2222-3333-444455556666"}}


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, schema)]
    for name, sub in (schema.get("properties") or {}).items():
        out += walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        out += walk(schema["items"], f"{path}[]")
    return out


def test_crd_is_complete() -> None:
    doc = crd()
    version = doc["spec"]["versions"][0]
    assert doc["spec"]["names"]["shortNames"] == ["smig"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Phase", "Current", "Target", "Verified", "Age"]
    schema = version["schema"]["openAPIV3Schema"]
    for path, node in walk(schema):
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        if path not in ("", ".metadata") and path.count(".") and not path.endswith("[]"):
            assert node.get("description"), f"no description on {path}"


def test_crd_is_a_valid_kubernetes_object() -> None:
    validate(crd())


def test_crd_defaults_match_the_parser() -> None:
    spec_schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    parsed = parse_spec({"database": FULL_SPEC["database"]}, BUNDLED)
    props = spec_schema["properties"]
    assert parsed.safety.lock_timeout == props["safety"]["properties"]["lockTimeout"]["default"]
    assert parsed.safety.lock_retries == props["safety"]["properties"]["lockRetries"]["default"]
    assert parsed.safety.statement_timeout == props["safety"]["properties"]["statementTimeout"]["default"]
    assert parsed.safety.preflight == props["safety"]["properties"]["preflight"]["default"]
    assert parsed.verify_enabled is props["verify"]["properties"]["enabled"]["default"]
    assert parsed.rollback_on_verification_failure is \
        props["rollback"]["properties"]["onVerificationFailure"]["default"]
    job = props["job"]["properties"]
    assert parsed.job.active_deadline_seconds == job["activeDeadlineSeconds"]["default"]
    assert parsed.job.ttl_seconds_after_finished == job["ttlSecondsAfterFinished"]["default"]
    assert parsed.source_type == props["source"]["properties"]["type"]["default"]
    assert parsed.suspend is props["suspend"]["default"]
    assert parsed.target_version == 27  # default: latest bundled


def test_every_crd_field_is_understood() -> None:
    """A spec using every field of the CRD passes both the CRD and the parser."""
    manifest = smig("app", **{k: v for k, v in FULL_SPEC.items() if k != "database"})
    validate(manifest)
    parsed = parse_spec(FULL_SPEC, BUNDLED)
    assert parsed.job.service_account_name == "migrator"
    assert parsed.extra_checks[0].name == "no_orphans"


@pytest.mark.parametrize(("change", "message"), [
    ({"database": {"urlSecretRef": None}}, "urlSecretRef is required"),
    ({"targetVersion": 99}, "not a bundled migration"),
    ({"safety": {"lockTimeout": "-5s"}}, "non-negative duration"),
    ({"safety": {"statementTimeout": "5 minutes"}}, "non-negative duration"),
    ({"safety": {"lockRetries": -1}}, "between 0 and 100"),
    ({"job": {"activeDeadlineSeconds": 0}}, "between 1 and 604800"),
    ({"paralel": 2}, "unknown field spec.paralel"),
    ({"job": {"imagePullSecrets": []}}, "unknown field spec.job.imagePullSecrets"),
    ({"verify": {"extraChecks": [{"name": "Bad Name", "sql": "SELECT 1"}]}}, "must match"),
    ({"safety": {"applicationNames": [""]}}, "applicationNames\\[0\\] must be a LIKE pattern"),
    ({"source": {"type": "configMap"}}, "configMapName must be set"),
])
def test_invalid_specs(change: dict[str, Any], message: str) -> None:
    spec = merge(copy.deepcopy({"database": FULL_SPEC["database"]}), change)
    with pytest.raises(SpecError, match=message):
        parse_spec(spec, BUNDLED)
    if "targetVersion" in change or "source" in change:
        return  # only the operator knows what is bundled; CEL rules are not checked here
    with pytest.raises(jsonschema.ValidationError):
        validate(smig("app", **{k: v for k, v in spec.items() if k != "database"})
                 | {"spec": spec})


@pytest.mark.parametrize("spec", [{"database": FULL_SPEC["database"]}, FULL_SPEC])
@pytest.mark.parametrize("direction", ["up", "down"])
def test_job_manifest_validates_and_is_hardened(spec: dict[str, Any], direction: str) -> None:
    job = objects.job_manifest(owner=OWNER, generation=3, direction=direction, target=26,
                               spec=parse_spec(spec, BUNDLED), default_image="schemaflow:1")
    validate(job)
    assert job["metadata"]["name"] == f"app-3-{direction}"
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert "--report" in container["command"] and "/dev/termination-log" in container["command"]
    assert job["metadata"]["ownerReferences"][0]["uid"] == OWNER["metadata"]["uid"]
    assert {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {
        "name": "app-db", "key": "url"}}} in container["env"]


def test_extra_checks_reach_the_up_job_in_the_verify_format() -> None:
    parsed = parse_spec(FULL_SPEC, BUNDLED)
    job = objects.job_manifest(owner=OWNER, generation=1, direction="up", target=27,
                               spec=parsed, default_image="x")
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SCHEMAFLOW_EXTRA_CHECKS"] == render_checks(parsed.extra_checks)
    assert env["SCHEMAFLOW_EXTRA_CHECKS"].startswith("-- check: no_orphans\n-- description: ")


@pytest.mark.parametrize("sql", ["COMMIT;\nDELETE FROM campaigns;\nSELECT 1 WHERE false",
                                 "ROLLBACK; DROP TABLE campaigns; SELECT 1", "END", "begin; select 1",
                                 "SELECT 1;\nPREPARE TRANSACTION 'x'", "SELECT 1\x00 WHERE false"])
def test_extra_checks_that_could_escape_their_rollback_are_invalid(sql: str) -> None:
    """The CRD cannot see into SQL: the parser refuses, with the field's path, a check that
    would end its rolled-back transaction (or hide text behind a NUL)."""
    spec = merge(copy.deepcopy({"database": FULL_SPEC["database"]}),
                 {"verify": {"extraChecks": [{"name": "sneaky", "sql": sql}]}})
    with pytest.raises(SpecError, match=r"spec\.verify\.extraChecks\[0\]\.sql: "):
        parse_spec(spec, BUNDLED)


def test_the_up_job_command_is_one_the_cli_accepts_with_the_spec_values() -> None:
    """The Job's command parsed by the real CLI parser: every flag exists and carries the
    spec's value; the CRD's defaults are the CLI's."""
    parsed = parse_spec(FULL_SPEC, BUNDLED)
    job = objects.job_manifest(owner=OWNER, generation=1, direction="up", target=27,
                               spec=parsed, default_image="x")
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[0] == "schemaflow"
    args = cli.build_parser("migrate").parse_args(command[1:])
    assert (args.action, args.target, args.verify) == ("up", 27, True)
    assert (args.lock_timeout, args.lock_retries, args.statement_timeout) == (0.5, 3, 600.0)
    assert args.preflight == "warn"
    assert args.app_patterns == ["domainflow-worker%", "domainflow-api"]
    defaults = cli.build_parser("migrate").parse_args(["migrate", "up"])
    plain = parse_spec({"database": FULL_SPEC["database"]}, BUNDLED).safety
    assert plain.lock_retries == defaults.lock_retries == Settings().lock_retries
    assert cli.build_parser("migrate").parse_args(
        ["migrate", "up", "--lock-timeout", plain.lock_timeout]).lock_timeout == defaults.lock_timeout


def test_long_names_are_shortened_uniquely() -> None:
    long_a, long_b = "a" * 70 + "x", "a" * 70 + "y"
    names = {objects.job_name(n, 12, "down") for n in (long_a, long_b)}
    assert len(names) == 2 and all(len(n) <= 63 and n.endswith("-12-down") for n in names)
    assert objects.job_name(long_a, 12, "down") == objects.job_name(long_a, 12, "down")
    assert len(objects.label_value("b" * 200)) <= 63


def test_merge_patch_round_trips() -> None:
    old = {"phase": "Pending", "lastRun": {"job": "a", "finished": "t"}, "gone": 1}
    new = {"phase": "Succeeded", "lastRun": {"job": "a"}, "history": [{"x": 1}]}
    assert merge(old, merge_patch(old, new)) == new


def test_kopf_logs_and_annotations_never_carry_a_password() -> None:
    import logging

    import kopf

    from schemaflow.kube.main import OperatorOptions, RedactingFilter, build_settings

    password = "Pw-3xample"
    body = {"apiVersion": "schemaflow.domainflow.io/v1alpha1", "kind": "SchemaMigration",
            "metadata": {"name": "x", "namespace": "ns"},
            "spec": {"database": {"password": password,
                                  "url": f"postgresql://u:{password}@db:5432/app"}}}
    record = logging.LogRecord("kopf.objects", logging.DEBUG, __file__, 1,
                               "Creation is in progress: %r", (body,), None)
    RedactingFilter().filter(record)
    assert password not in record.getMessage() and "'password': '***'" in record.getMessage()

    storage = build_settings(OperatorOptions()).persistence.diffbase_storage
    essence = storage.build(body=kopf.Body(body))
    assert "spec" not in essence and password not in str(essence)
