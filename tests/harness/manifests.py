"""Manifests the end-to-end tests apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.cluster import NAMESPACE

SECRET_NAME = "app-db"
SECRET_KEY = "url"


def smig(name: str, **spec: Any) -> dict[str, Any]:
    """A SchemaMigration of the test database (its URL in Secret ``app-db``)."""
    body: dict[str, Any] = {"database": {"urlSecretRef": {"name": SECRET_NAME, "key": SECRET_KEY}}}
    body.update(spec)
    return {"apiVersion": "schemaflow.domainflow.io/v1alpha1", "kind": "SchemaMigration",
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": body}


# A small migration set of our own: version 26 (the "baseline") and 27 (an additive change
# with its verify check), enough to exercise every path of the operator quickly.
MIGRATIONS = {
    "000026_baseline.up.sql": "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);\n",
    "000026_baseline.down.sql": "DROP TABLE items;\n",
    "000027_add_note.up.sql": "ALTER TABLE items ADD COLUMN note text NOT NULL DEFAULT '';\n",
    "000027_add_note.down.sql": "ALTER TABLE items DROP COLUMN note;\n",
}
VERIFY = {
    "000027_add_note.verify.sql": (
        "-- check: items_note\n-- description: items.note exists\n"
        "SELECT 'items.note missing' AS problem WHERE NOT EXISTS (SELECT 1 FROM "
        "information_schema.columns WHERE table_name = 'items' AND column_name = 'note');\n"),
}


def write_sql(root: Path, migrations: dict[str, str], verify: dict[str, str]) -> Path:
    for sub, files in (("migrations", migrations), ("verify", verify)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / sub / name).write_text(text)
    return root
