"""`schemaflow audit` output on a real PostgreSQL 18 database that has none of the 23 fixes
(an empty one: every item is open, each with a failing check): the table fits 100
columns, and --output json is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

Database = Any


def test_table_fits_100_columns_and_json_is_one_line(db18: Database) -> None:
    text = subprocess.run([sys.executable, "-m", "schemaflow", "audit"], env=db18.env(),
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[-1] == "23 of 23 mismatches open"
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert sum(line.split()[1:2] == ["OPEN"] for line in lines) == 23
    js = subprocess.run([sys.executable, "-m", "schemaflow", "audit", "--output", "json"],
                        env=db18.env(), capture_output=True, text=True, timeout=120)
    assert js.returncode == 0 and js.stdout.count("\n") == 1
    assert json.loads(js.stdout)["open"] == 23
