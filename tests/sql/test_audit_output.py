"""`schemaflow audit` output on a real PostgreSQL 18 database that has none of the 23 fixes
(an empty one: every item is open, each with a failing check): the table fits 100
columns, and --output json is one line."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any

from tests.conftest import MIGRATIONS_DIR
from tests.sql.sqlhelpers import Crash, apply_file, load

Database = Any


def test_table_fits_100_columns_and_json_is_one_line(db18: Database) -> None:
    text = subprocess.run([sys.executable, "-m", "schemaflow", "audit"], env=db18.env(),
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[-2:] == ["23 of 23 mismatches open", "as 000027 sees it: version 26 (all open, "
                          "nothing waiting in schemaflow_archive)"]
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert sum(line.split()[1:2] == ["OPEN"] for line in lines) == 23
    js = subprocess.run([sys.executable, "-m", "schemaflow", "audit", "--output", "json"],
                        env=db18.env(), capture_output=True, text=True, timeout=120)
    assert js.returncode == 0 and js.stdout.count("\n") == 1
    assert json.loads(js.stdout)["open"] == 23 and json.loads(js.stdout)["matches"] == 26


def test_an_interrupted_up_names_no_version(db18: Database) -> None:
    """Up stopped after archiving orphans but before any mismatch is closed: the catalog
    alone looks like 26, yet forcing 26 would lose the archived rows. Audit names no
    version and says why."""
    load(db18, 0.05)
    up = MIGRATIONS_DIR / "000027_comprehensive_schema_alignment.up.sql"
    for _ in range(500):  # each try resumes the batches and stops one batch further
        with contextlib.suppress(Crash):
            apply_file(db18, up, batch_size=50, crash_after=3)
        if db18.query("SELECT count(*) FROM schemaflow_archive.m000027_rows")[0][0]:
            break
    held = db18.query("SELECT count(*) FROM schemaflow_archive.m000027_rows")[0][0]
    assert held > 0
    doc = json.loads(subprocess.run([sys.executable, "-m", "schemaflow", "audit", "--output", "json"],
                                    env=db18.env(), capture_output=True, text=True, timeout=120).stdout)
    assert doc["open"] == 23 and doc["matches"] is None and doc["archive"]["m000027_rows"] == held
    text = subprocess.run([sys.executable, "-m", "schemaflow", "audit"], env=db18.env(),
                          capture_output=True, text=True, timeout=120).stdout
    tail = " ".join(" ".join(text.splitlines()[-3:]).split())  # wrapped at 100 columns
    assert f"m000027_rows {held}" in tail and "finish the interrupted run" in tail
