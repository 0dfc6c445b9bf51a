"""A SchemaMigration's spec, validated with the CRD's own openAPIV3Schema and parsed into
typed objects.

The API server prunes unknown fields and applies the CRD's defaults, but the operator does
not rely on either (the emulator, old servers and ``kubectl --validate=false`` don't): a
spec it cannot fully understand becomes a clear ``InvalidSpec`` condition, never a
half-understood Job. So the spec is checked here against the same schema (``schemaflow.crd``),
defaults come from it, and only what a schema cannot express is checked by hand: the CRD's
two CEL rules, the bundled versions, unique check names, and check SQL that would escape its
rolled-back transaction. Messages name the field and never echo a value (a value may be a
credential pasted in the wrong place).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from schemaflow.crd import spec_schema, structural
from schemaflow.engine.verify import check_sql_problem


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


# What a field must look like, in words, where the schema's pattern or length says it badly.
_WORDS = {
    "safety.lockTimeout": "a non-negative duration such as 500ms, 5s or 1m",
    "safety.statementTimeout": "a non-negative duration such as 500ms, 5s or 1m",
    "safety.applicationNames": "a LIKE pattern of 1 to 63 printable characters",
    "verify.extraChecks.name": "lower case: must match [a-z0-9_]+ (at most 63 characters)",
    "verify.extraChecks.description": "one line of at most 512 characters",
    "verify.extraChecks.sql": "a query of at most 16384 characters",
    "job.image": "1 to 512 printable characters",
}


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    schema = structural(spec_schema())
    return jsonschema.Draft4Validator(schema)  # OpenAPI 3.0's keywords are draft 4's


def parse_spec(spec: Mapping[str, Any] | None, bundled_versions: Sequence[int]) -> MigrationSpec:
    """Validate ``spec`` and fill in the defaults; ``bundled_versions`` are those in the image."""
    top = _without_nulls(spec or {})
    errors = sorted(_validator().iter_errors(top), key=lambda e: (list(map(str, e.path)),
                                                                   e.validator != "required"))
    if errors:
        raise SpecError(_message(errors[0]))
    schema = spec_schema()["properties"]
    ref = top["database"]["urlSecretRef"]
    source = _with_defaults(top.get("source"), schema["source"])
    config_map = source.get("configMapName")
    if source["type"] == "configMap" and config_map is None:
        raise SpecError("spec.source.configMapName must be set when type is configMap")
    target: int | None = top.get("targetVersion")
    if source["type"] == "bundled":
        if not bundled_versions:
            raise SpecError("the operator's image bundles no migrations")
        if target is None:
            target = max(bundled_versions)
        elif target not in bundled_versions:
            raise SpecError(f"spec.targetVersion {target} is not a bundled migration "
                            f"(latest is {max(bundled_versions)})")
    elif target is None:
        raise SpecError("spec.targetVersion is required when the source is a ConfigMap")
    verify = _with_defaults(top.get("verify"), schema["verify"])
    rollback = _with_defaults(top.get("rollback"), schema["rollback"])
    safety = _with_defaults(top.get("safety"), schema["safety"])
    job = _with_defaults(top.get("job"), schema["job"])
    return MigrationSpec(
        secret_ref=SecretRef(name=ref["name"], key=ref["key"]),
        target_version=target,
        source_type=source["type"],
        config_map_name=config_map if source["type"] == "configMap" else None,
        verify_enabled=verify["enabled"],
        extra_checks=_checks(verify.get("extraChecks", [])),
        rollback_on_verification_failure=rollback["onVerificationFailure"],
        safety=Safety(lock_timeout=safety["lockTimeout"], lock_retries=safety["lockRetries"],
                      statement_timeout=safety["statementTimeout"],
                      preflight=safety["preflight"],
                      application_names=tuple(safety.get("applicationNames", ()))),
        job=JobOptions(
            image=job.get("image"), image_pull_policy=job.get("imagePullPolicy"),
            resources={k: dict(v) for k, v in job.get("resources", {}).items()},
            active_deadline_seconds=job["activeDeadlineSeconds"],
            service_account_name=job.get("serviceAccountName"),
            node_selector=dict(job.get("nodeSelector", {})),
            tolerations=tuple(dict(t) for t in job.get("tolerations", ())),
            ttl_seconds_after_finished=job["ttlSecondsAfterFinished"]),
        suspend=top.get("suspend", schema["suspend"]["default"]),
    )


def _checks(items: list[dict[str, Any]]) -> tuple[ExtraCheck, ...]:
    checks: list[ExtraCheck] = []
    for index, item in enumerate(items):
        path = f"spec.verify.extraChecks[{index}]"
        if (problem := check_sql_problem(item["sql"])) is not None:
            raise SpecError(f"{path}.sql: {problem}")
        if any(check.name == item["name"] for check in checks):
            raise SpecError(f"{path}.name {item['name']!r} is used twice")
        checks.append(ExtraCheck(item["name"], item["sql"], item.get("description", "")))
    return tuple(checks)


def _without_nulls(value: Any) -> Any:
    """The API server drops null fields that are not nullable before validating; so do we."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _with_defaults(value: Mapping[str, Any] | None, schema: Mapping[str, Any]) -> dict[str, Any]:
    """A validated section with the CRD's defaults for the fields it leaves out."""
    out = {name: prop["default"] for name, prop in schema.get("properties", {}).items()
           if "default" in prop}
    out.update(value or {})
    return out


def _message(err: jsonschema.ValidationError) -> str:
    path = "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{_short(str(p))}"
                            for p in err.absolute_path)
    words = _WORDS.get(".".join(p for p in err.absolute_path if isinstance(p, str)))
    schema, kind = err.schema if isinstance(err.schema, Mapping) else {}, err.validator
    if kind == "required":
        missing = [r for r in err.validator_value if r not in err.instance]
        what = f"{path}.{missing[0]}" if missing else path
        if what == "spec.database.urlSecretRef":
            return f"{what} is required: the database URL must come from a Secret"
        return f"{what} is required"
    if kind == "additionalProperties":
        unknown = sorted(set(err.instance) - set(schema.get("properties", {})))
        return f"unknown field {path}.{_short(str(unknown[0]))}" if unknown else \
            f"{path} has an unknown field"
    if kind in ("minimum", "maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        return f"{path} must be between {low} and {high}"
    if kind in ("pattern", "minLength", "maxLength") and words:
        return f"{path} must be {words}"
    if kind == "pattern":
        return f"{path} must match {str(err.validator_value)[:80]}"
    if kind in ("minLength", "maxLength"):
        return f"{path} must be {schema.get('minLength', 0)} to {schema.get('maxLength')} " \
               "characters"
    if kind == "enum":
        return f"{path} must be one of {', '.join(map(str, err.validator_value)) or 'empty'}"
    if kind == "maxItems":
        return f"{path} has more than {err.validator_value} entries"
    if kind in ("type", "anyOf"):
        return f"{path} has the wrong type"
    return f"{path} is invalid ({kind})"


def _short(name: str) -> str:
    """A user-chosen key quoted in a message: short, so a hostile spec cannot flood the status."""
    return name if len(name) <= 40 else name[:40] + "..."


def render_checks(checks: Sequence[ExtraCheck]) -> str:
    """The extra checks in the verify-file format the CLI reads (``-- check: name``...)."""
    parts = []
    for check in checks:
        header = f"-- check: {check.name}\n"
        if check.description:
            header += f"-- description: {check.description}\n"
        parts.append(header + check.sql.strip() + "\n")
    return "\n".join(parts)
