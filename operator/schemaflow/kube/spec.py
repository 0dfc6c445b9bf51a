"""A SchemaMigration's spec parsed into typed objects.

The API server prunes unknown fields and applies the CRD's defaults, but the operator does
not rely on either: a spec it cannot fully understand must become a clear ``InvalidSpec``
condition, never a half-understood Job. The defaults here mirror the CRD's (a test keeps
them in step with ``schemamigrations.crd.yaml``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DURATION = re.compile(r"^[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h)$")
CHECK_NAME = re.compile(r"^[a-z0-9_]+$")
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
PREFLIGHT_MODES = ("strict", "warn", "off")
SOURCE_TYPES = ("bundled", "configMap")


class SpecError(ValueError):
    """The spec cannot be run as written; the message says which field and why."""


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True)
class ExtraCheck:
    name: str
    sql: str
    description: str = ""


@dataclass(frozen=True)
class Safety:
    lock_timeout: str = "5s"
    lock_retries: int = 5
    statement_timeout: str = "0s"
    preflight: str = "strict"


@dataclass(frozen=True)
class JobOptions:
    image: str | None = None
    image_pull_policy: str | None = None
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    active_deadline_seconds: int = 3600
    service_account_name: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    ttl_seconds_after_finished: int = 86400


@dataclass(frozen=True)
class MigrationSpec:
    secret_ref: SecretRef
    target_version: int
    source_type: str = "bundled"
    config_map_name: str | None = None
    verify_enabled: bool = True
    extra_checks: tuple[ExtraCheck, ...] = ()
    rollback_on_verification_failure: bool = True
    safety: Safety = Safety()
    job: JobOptions = JobOptions()
    suspend: bool = False


def _section(value: Any, path: str, allowed: Collection[str]) -> Mapping[str, Any]:
    """A sub-object, with its unknown fields rejected (the emulator and old servers keep them)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path} must be an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise SpecError(f"unknown field {path}.{unknown[0]}")
    return value


def _typed(value: Any, kind: type | tuple[type, ...], path: str, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, bool) and kind is int:
        raise SpecError(f"{path} must be an integer")
    if not isinstance(value, kind):
        raise SpecError(f"{path} has the wrong type")
    return value


def _int(value: Any, path: str, default: int | None, low: int, high: int) -> int | None:
    number = _typed(value, int, path, default)
    if number is not None and not low <= number <= high:
        raise SpecError(f"{path} must be between {low} and {high}, not {number}")
    return number  # type: ignore[no-any-return]


def _duration(value: Any, path: str, default: str) -> str:
    text = _typed(value, str, path, default)
    if not DURATION.match(text):
        raise SpecError(f"{path} must be a non-negative duration such as 500ms, 5s or 1m, not {text!r}")
    return str(text)


def _name(value: Any, path: str, pattern: re.Pattern[str] = DNS_NAME) -> str:
    text = _typed(value, str, path, None)
    if not text or len(text) > 253 or not pattern.match(text):
        raise SpecError(f"{path} must be set to a valid name")
    return str(text)


def _checks(value: Any) -> tuple[ExtraCheck, ...]:
    items = _typed(value, list, "spec.verify.extraChecks", [])
    if len(items) > 50:
        raise SpecError("spec.verify.extraChecks has more than 50 checks")
    checks: list[ExtraCheck] = []
    for index, raw in enumerate(items):
        path = f"spec.verify.extraChecks[{index}]"
        item = _section(raw, path, ("name", "sql", "description"))
        name = _typed(item.get("name"), str, f"{path}.name", "")
        if not CHECK_NAME.match(name) or len(name) > 63:
            raise SpecError(f"{path}.name must match [a-z0-9_]+ (at most 63 characters)")
        sql = _typed(item.get("sql"), str, f"{path}.sql", "")
        if not sql.strip() or len(sql) > 16384:
            raise SpecError(f"{path}.sql must be a query of at most 16384 characters")
        description = _typed(item.get("description"), str, f"{path}.description", "")
        if "\n" in description:
            raise SpecError(f"{path}.description must be one line")
        if any(check.name == name for check in checks):
            raise SpecError(f"{path}.name {name!r} is used twice")
        checks.append(ExtraCheck(name=name, sql=sql, description=description))
    return tuple(checks)


def _job(value: Any) -> JobOptions:
    job = _section(value, "spec.job", (
        "image", "imagePullPolicy", "resources", "activeDeadlineSeconds", "serviceAccountName",
        "nodeSelector", "tolerations", "ttlSecondsAfterFinished"))
    resources = _section(job.get("resources"), "spec.job.resources", ("requests", "limits"))
    for part in ("requests", "limits"):
        _typed(resources.get(part), Mapping, f"spec.job.resources.{part}", {})
    policy = _typed(job.get("imagePullPolicy"), str, "spec.job.imagePullPolicy", None)
    if policy is not None and policy not in ("Always", "IfNotPresent", "Never"):
        raise SpecError("spec.job.imagePullPolicy must be Always, IfNotPresent or Never")
    account = job.get("serviceAccountName")
    return JobOptions(
        image=_typed(job.get("image"), str, "spec.job.image", None) or None,
        image_pull_policy=policy,
        resources=dict(resources),
        active_deadline_seconds=_int(job.get("activeDeadlineSeconds"),
                                     "spec.job.activeDeadlineSeconds", 3600, 1, 604800) or 3600,
        service_account_name=None if account is None else _name(account, "spec.job.serviceAccountName"),
        node_selector=dict(_typed(job.get("nodeSelector"), Mapping, "spec.job.nodeSelector", {})),
        tolerations=tuple(_typed(job.get("tolerations"), list, "spec.job.tolerations", [])),
        ttl_seconds_after_finished=_int(job.get("ttlSecondsAfterFinished"),
                                        "spec.job.ttlSecondsAfterFinished", 86400, 0, 31536000)
        or 0,
    )


def parse_spec(spec: Mapping[str, Any] | None, bundled_versions: Sequence[int]) -> MigrationSpec:
    """Validate ``spec`` and fill in the defaults; ``bundled_versions`` are those in the image."""
    top = _section(spec, "spec", (
        "database", "source", "targetVersion", "verify", "rollback", "safety", "job", "suspend"))
    database = _section(top.get("database"), "spec.database", ("urlSecretRef",))
    if not database.get("urlSecretRef"):
        raise SpecError("spec.database.urlSecretRef is required: the database URL must come from a Secret")
    ref = _section(database["urlSecretRef"], "spec.database.urlSecretRef", ("name", "key"))
    secret_ref = SecretRef(name=_name(ref.get("name"), "spec.database.urlSecretRef.name"),
                           key=_name(ref.get("key"), "spec.database.urlSecretRef.key", SECRET_KEY))

    source = _section(top.get("source"), "spec.source", ("type", "configMapName"))
    source_type = _typed(source.get("type"), str, "spec.source.type", "bundled")
    if source_type not in SOURCE_TYPES:
        raise SpecError("spec.source.type must be bundled or configMap")
    config_map = None
    if source_type == "configMap":
        config_map = _name(source.get("configMapName"), "spec.source.configMapName")

    target = _int(top.get("targetVersion"), "spec.targetVersion", None, 1, 2**63 - 1)
    if source_type == "bundled":
        if not bundled_versions:
            raise SpecError("the operator's image bundles no migrations")
        if target is None:
            target = max(bundled_versions)
        elif target not in bundled_versions:
            latest = max(bundled_versions)
            raise SpecError(f"spec.targetVersion {target} is not a bundled migration (latest is {latest})")
    elif target is None:
        raise SpecError("spec.targetVersion is required when the source is a ConfigMap")

    verify = _section(top.get("verify"), "spec.verify", ("enabled", "extraChecks"))
    rollback = _section(top.get("rollback"), "spec.rollback", ("onVerificationFailure",))
    safety = _section(top.get("safety"), "spec.safety",
                      ("lockTimeout", "lockRetries", "statementTimeout", "preflight"))
    preflight = _typed(safety.get("preflight"), str, "spec.safety.preflight", "strict")
    if preflight not in PREFLIGHT_MODES:
        raise SpecError("spec.safety.preflight must be strict, warn or off")
    return MigrationSpec(
        secret_ref=secret_ref,
        target_version=target,
        source_type=source_type,
        config_map_name=config_map,
        verify_enabled=_typed(verify.get("enabled"), bool, "spec.verify.enabled", True),
        extra_checks=_checks(verify.get("extraChecks")),
        rollback_on_verification_failure=_typed(rollback.get("onVerificationFailure"), bool,
                                                "spec.rollback.onVerificationFailure", True),
        safety=Safety(
            lock_timeout=_duration(safety.get("lockTimeout"), "spec.safety.lockTimeout", "5s"),
            lock_retries=_int(safety.get("lockRetries"), "spec.safety.lockRetries", 5, 0, 100) or 0,
            statement_timeout=_duration(safety.get("statementTimeout"),
                                        "spec.safety.statementTimeout", "0s"),
            preflight=preflight,
        ),
        job=_job(top.get("job")),
        suspend=_typed(top.get("suspend"), bool, "spec.suspend", False),
    )


def render_checks(checks: Sequence[ExtraCheck]) -> str:
    """The extra checks in the verify-file format the CLI reads (``-- check: name``...)."""
    parts = []
    for check in checks:
        header = f"-- check: {check.name}\n"
        if check.description:
            header += f"-- description: {check.description}\n"
        parts.append(header + check.sql.strip() + "\n")
    return "\n".join(parts)
