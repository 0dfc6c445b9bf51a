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

from schemaflow.engine.verify import check_sql_problem

DURATION = re.compile(r"^[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h)$")
CHECK_NAME = re.compile(r"^[a-z0-9_]+$")
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
                      r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
PREFLIGHT_MODES = ("strict", "warn", "off")
TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute", "")
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
    lock_retries: int = 10
    statement_timeout: str = "0s"
    preflight: str = "strict"
    application_names: tuple[str, ...] = ()


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
    unknown = sorted(str(key) for key in set(value) - set(allowed))
    if unknown:
        shown = unknown[0] if len(unknown[0]) <= 40 else unknown[0][:40] + "..."
        raise SpecError(f"unknown field {path}.{shown}")
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


def _shown(value: str) -> str:
    """A user value quoted in a message: short, so a hostile spec cannot flood the status."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _duration(value: Any, path: str, default: str) -> str:
    text = _typed(value, str, path, default)
    if len(text) > 32 or not DURATION.match(text):
        raise SpecError(f"{path} must be a non-negative duration such as 500ms, 5s or 1m, "
                        f"not {_shown(text)}")
    return str(text)


def _name(value: Any, path: str, pattern: re.Pattern[str] = DNS_NAME) -> str:
    text = _typed(value, str, path, None)
    if not text or len(text) > 253 or not pattern.match(text):
        raise SpecError(f"{path} must be set to a valid name")
    return str(text)


def _text(value: Any, path: str, max_length: int) -> str | None:
    text = _typed(value, str, path, None)
    if text is not None and (not text or len(text) > max_length or "\x00" in text):
        raise SpecError(f"{path} must be 1 to {max_length} characters")
    return text  # type: ignore[no-any-return]


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
        if "\n" in description or len(description) > 512:
            raise SpecError(f"{path}.description must be one line of at most 512 characters")
        if (problem := check_sql_problem(sql)) is not None:
            raise SpecError(f"{path}.sql: {problem}")
        if any(check.name == name for check in checks):
            raise SpecError(f"{path}.name {name!r} is used twice")
        checks.append(ExtraCheck(name=name, sql=sql, description=description))
    return tuple(checks)


def _application_names(value: Any) -> tuple[str, ...]:
    names = _typed(value, list, "spec.safety.applicationNames", [])
    if len(names) > 20:
        raise SpecError("spec.safety.applicationNames has more than 20 patterns")
    for index, name in enumerate(names):
        if not isinstance(name, str) or not 0 < len(name) <= 63 or not name.isprintable():
            raise SpecError(f"spec.safety.applicationNames[{index}] must be a LIKE pattern of "
                            "1 to 63 printable characters")
    return tuple(names)


def _resources(value: Any) -> dict[str, dict[str, Any]]:
    resources = _section(value, "spec.job.resources", ("requests", "limits"))
    out: dict[str, dict[str, Any]] = {}
    for part in ("requests", "limits"):
        amounts = _typed(resources.get(part), Mapping, f"spec.job.resources.{part}", None)
        if amounts is None:
            continue
        for name, amount in amounts.items():
            if isinstance(amount, bool) or not isinstance(amount, int | str) or \
                    not QUANTITY.match(str(amount)) or len(str(name)) > 253:
                raise SpecError(f"spec.job.resources.{part} has an invalid quantity")
        out[part] = dict(amounts)
    return out


def _tolerations(value: Any) -> tuple[dict[str, Any], ...]:
    items = _typed(value, list, "spec.job.tolerations", [])
    if len(items) > 32:
        raise SpecError("spec.job.tolerations has more than 32 entries")
    out = []
    for index, raw in enumerate(items):
        path = f"spec.job.tolerations[{index}]"
        item = _section(raw, path, ("key", "operator", "value", "effect", "tolerationSeconds"))
        for text in ("key", "value"):
            if item.get(text) not in (None, ""):
                _text(item.get(text), f"{path}.{text}", 316)
        if item.get("operator", "Equal") not in TOLERATION_OPERATORS:
            raise SpecError(f"{path}.operator must be Exists or Equal")
        if item.get("effect", "") not in TAINT_EFFECTS:
            raise SpecError(f"{path}.effect must be NoSchedule, PreferNoSchedule or NoExecute")
        _int(item.get("tolerationSeconds"), f"{path}.tolerationSeconds", None, 0, 2**63 - 1)
        out.append(dict(item))
    return tuple(out)


def _node_selector(value: Any) -> dict[str, str]:
    selector = _typed(value, Mapping, "spec.job.nodeSelector", {})
    if not all(isinstance(k, str) and isinstance(v, str) and len(k) <= 316 and len(v) <= 63
               for k, v in selector.items()):
        raise SpecError("spec.job.nodeSelector must map label names to label values")
    return dict(selector)


def _job(value: Any) -> JobOptions:
    job = _section(value, "spec.job", (
        "image", "imagePullPolicy", "resources", "activeDeadlineSeconds", "serviceAccountName",
        "nodeSelector", "tolerations", "ttlSecondsAfterFinished"))
    policy = _typed(job.get("imagePullPolicy"), str, "spec.job.imagePullPolicy", None)
    if policy is not None and policy not in ("Always", "IfNotPresent", "Never"):
        raise SpecError("spec.job.imagePullPolicy must be Always, IfNotPresent or Never")
    account = job.get("serviceAccountName")
    return JobOptions(
        image=_text(job.get("image"), "spec.job.image", 512),
        image_pull_policy=policy,
        resources=_resources(job.get("resources")),
        active_deadline_seconds=_int(job.get("activeDeadlineSeconds"),
                                     "spec.job.activeDeadlineSeconds", 3600, 1, 604800) or 3600,
        service_account_name=None if account is None else _name(account, "spec.job.serviceAccountName"),
        node_selector=_node_selector(job.get("nodeSelector")),
        tolerations=_tolerations(job.get("tolerations")),
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
                      ("lockTimeout", "lockRetries", "statementTimeout", "preflight",
                       "applicationNames"))
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
            lock_retries=_int(safety.get("lockRetries"), "spec.safety.lockRetries", 10, 0, 100) or 0,
            statement_timeout=_duration(safety.get("statementTimeout"),
                                        "spec.safety.statementTimeout", "0s"),
            preflight=preflight,
            application_names=_application_names(safety.get("applicationNames")),
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
