"""Shared helpers of the engine tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Three small migrations: one table, a column, a concurrent index (no-transaction steps).
BASIC = {
    "000001_items.up.sql": "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);\n",
    "000001_items.down.sql": "DROP TABLE items;\n",
    "000002_qty.up.sql": "ALTER TABLE items ADD COLUMN qty integer NOT NULL DEFAULT 0;\n",
    "000002_qty.down.sql": "ALTER TABLE items DROP COLUMN qty;\n",
    "000003_index.up.sql": "-- schemaflow:step no-transaction\n"
                           "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_qty ON items (qty);\n",
    "000003_index.down.sql": "-- schemaflow:step no-transaction\n"
                             "DROP INDEX CONCURRENTLY IF EXISTS items_qty;\n",
}


def write_dir(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@dataclass
class Run:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(env: dict[str, str], *argv: str, timeout: float = 60) -> Run:
    """The real command in a subprocess, as a Job runs it."""
    p = subprocess.run([sys.executable, "-m", "schemaflow", "migrate", *argv], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)
