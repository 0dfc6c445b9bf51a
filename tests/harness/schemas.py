"""Validation against the real schemas, since the emulator validates nothing: our CRD's
openAPIV3Schema (with unknown fields rejected, as ``kubectl --validate=strict`` does) for
SchemaMigrations, kubernetes-validate --strict for built-in kinds."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRD_PATH = Path(__file__).resolve().parents[2] / "charts/schemaflow/files/schemamigrations.crd.yaml"
KUBERNETES_VERSION = "1.33"


def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())  # type: ignore[no-any-return]


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()
               if not k.startswith("x-kubernetes-")}
        if out.get("type") == "object" and "properties" in out \
                and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def smig_schema() -> dict[str, Any]:
    schema = copy.deepcopy(crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    strict = _strict(schema)
    strict["properties"]["metadata"] = {"type": "object"}  # ObjectMeta is the API server's
    return strict  # type: ignore[no-any-return]


def validate(obj: dict[str, Any]) -> None:
    """Raise when ``obj`` would not pass the API server's validation."""
    if obj.get("kind") == "SchemaMigration":
        jsonschema.validate(obj, smig_schema(), format_checker=jsonschema.FormatChecker())
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
