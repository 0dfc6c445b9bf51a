"""The SchemaMigration API's names, and its CRD (the chart's
``files/schemamigrations.crd.yaml``, the one definition of the schema).

No Kubernetes client here: ``schemaflow wait`` imports the names without the operator's
dependencies. A test keeps the names equal to the CRD's.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

GROUP = "schemaflow.domainflow.io"
VERSION = "v1alpha1"
PLURAL = "schemamigrations"
KIND = "SchemaMigration"
CRD_FILE = "schemamigrations.crd.yaml"

# The image's wheel carries a copy made at build time (see the Dockerfile); a source
# checkout reads the chart's file itself.
_CANDIDATES = (Path(__file__).resolve().parent / "crd" / CRD_FILE,
               Path(__file__).resolve().parents[2] / "charts" / "schemaflow" / "files" / CRD_FILE)


@functools.cache
def crd_document() -> dict[str, Any]:
    import yaml

    for path in _CANDIDATES:
        if path.is_file():
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            assert isinstance(doc, dict)
            return doc
    raise FileNotFoundError(f"{CRD_FILE} not found in {', '.join(map(str, _CANDIDATES))}")


def spec_schema() -> dict[str, Any]:
    """The openAPIV3Schema of ``spec`` in the served version."""
    (version,) = [v for v in crd_document()["spec"]["versions"] if v["name"] == VERSION]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert isinstance(schema, dict)
    return schema


INT64 = (-(2**63), 2**63 - 1)


def structural(schema: Any) -> Any:
    """``schema`` with the API server's structural-schema semantics spelled out for
    jsonschema: unknown fields refused (strict field validation, kubectl's default), an
    ``x-kubernetes-int-or-string`` is an integer or a string, ``nullable`` accepts null,
    integers fit an int64. CEL rules (``x-kubernetes-validations``) are not evaluated."""
    if isinstance(schema, list):
        return [structural(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: structural(v) for k, v in schema.items()}
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("type") == "integer":
        out.setdefault("minimum", INT64[0])
        out.setdefault("maximum", INT64[1])
    if (out.get("type") == "object" and "properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out
