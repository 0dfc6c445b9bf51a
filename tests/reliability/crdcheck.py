"""Validate SchemaMigration objects the way the API server would, offline.

``jsonschema`` against the CRD's ``openAPIV3Schema``, adjusted for the API server's
structural-schema semantics by ``schemaflow.crd.structural`` (the operator's spec parser
uses the same function):

- an object schema with ``properties`` and no ``additionalProperties`` and no
  ``x-kubernetes-preserve-unknown-fields`` does not keep unknown fields: with strict field
  validation (kubectl's default since 1.27) they are rejected, so here
  ``additionalProperties: false``;
- ``x-kubernetes-int-or-string`` accepts an integer or a string;
- ``nullable: true`` accepts null;
- integers must fit in an int64 (the server stores them so);
- ``metadata.name`` must be a DNS-1123 subdomain of at most 253 characters (the server's
  own name validation, not part of the CRD schema).

Not modelled: the CRD's CEL rules (``x-kubernetes-validations``; the operator's parser
checks both by hand), defaults.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from schemaflow.crd import structural

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "charts" / "schemaflow" / "files" / "schemamigrations.crd.yaml"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@cache
def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text(encoding="utf-8"))
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
    # metadata is validated by the server itself, not by the CRD schema
    schema.setdefault("properties", {})["metadata"] = {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return structural(schema)  # type: ignore[no-any-return]


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Every reason the API server would refuse ``obj`` (empty: it would be accepted)."""
    errors = []
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        errors.append(f"metadata.name: Invalid value: {str(name)[:60]!r}: a DNS-1123 subdomain")
    validator = jsonschema.Draft202012Validator(crd_schema())
    for err in validator.iter_errors(obj):
        path = ".".join(str(p) for p in err.absolute_path) or "<root>"
        errors.append(f"{path}: {err.message[:200]}")
    return errors


def schema_has_path(dotted: str) -> bool:
    """Whether ``spec.safety.lockTimeout``-like path is a declared property of the CRD."""
    node: Any = crd_schema()
    for part in dotted.split("."):
        if part.isdigit():
            node = node.get("items", {})
            continue
        props = node.get("properties") or {}
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return False
    return True
