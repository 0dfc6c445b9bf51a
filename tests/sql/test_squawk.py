"""squawk on both 000027 files: every warning must be one of the accepted ones below
(rule, file, the statement's line, reason) — a new warning fails the test. The same list,
with the same reasons, is in sql/SCHEMA_AUDIT_REPORT.md ("squawk exceptions").

Note: squawk lints top-level statements; DDL run from DO blocks (conditional renames,
NOT VALID constraints, triggers) is dynamic and invisible to it — those statements are
covered by the migration tests instead."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.sql.sqlhelpers import DOWN, UP

SQUAWK = Path(sys.executable).parent / "squawk"

TIMEOUT_REASON = ("statement_timeout is the runner's (--statement-timeout / "
                  "spec.safety.statementTimeout); a fixed one in the file would cancel "
                  "legitimately long CONCURRENTLY builds and VALIDATEs on big tables. "
                  "lock_timeout is set at the start of every transactional step.")
LOCK_REASON = ("lock_timeout is set by set_config('lock_timeout', '3s', true) only when the "
               "session has none, so the runner's --lock-timeout (spec.safety.lockTimeout) wins "
               "and plain psql still gets 3s; squawk does not recognise set_config.")
INT_REASON = "bounded small value (score, weight, milliseconds, instance count), never an id or counter"

# (file, rule, statement line as written) -> reason
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("down", "require-statement-timeout", "CREATE SCHEMA IF NOT EXISTS schemaflow_archive;"): TIMEOUT_REASON,
    ("up", "require-statement-timeout", "CREATE SCHEMA IF NOT EXISTS schemaflow_archive;"): TIMEOUT_REASON,
    ("down", "require-lock-timeout", "CREATE SCHEMA IF NOT EXISTS schemaflow_archive;"): LOCK_REASON,
    ("up", "require-lock-timeout", "CREATE SCHEMA IF NOT EXISTS schemaflow_archive;"): LOCK_REASON,
    ("up", "prefer-bigint-over-int", "ADD COLUMN IF NOT EXISTS risk_score integer,"): INT_REASON + " (0-100)",
    ("up", "prefer-bigint-over-int", "context_chars     integer NOT NULL DEFAULT 0 CHECK (context_chars >= 0),"): INT_REASON,
    ("up", "prefer-bigint-over-int", "weight    integer NOT NULL DEFAULT 1 CHECK (weight > 0),"): INT_REASON,
    ("up", "prefer-bigint-over-int", "decision_time_ms   integer CHECK (decision_time_ms >= 0),"): INT_REASON,
    ("up", "prefer-bigint-over-int", "dependency_count            integer NOT NULL DEFAULT 0,"): INT_REASON,
    ("up", "prefer-bigint-over-int", "deployment_complexity_score integer NOT NULL DEFAULT 0,"): INT_REASON,
    ("up", "prefer-bigint-over-int", "complexity_reduction integer NOT NULL DEFAULT 0,"): INT_REASON,
    ("up", "prefer-bigint-over-int", "instance_count     integer NOT NULL DEFAULT 1,"): INT_REASON,
    ("up", "prefer-bigint-over-int", "max_instances      integer NOT NULL DEFAULT 10,"): INT_REASON,
    ("up", "prefer-bigint-over-int", "min_instances      integer NOT NULL DEFAULT 1,"): INT_REASON,
}


def squawk_warnings(path: Path, direction: str) -> set[tuple[str, str, str]]:
    exe = str(SQUAWK) if SQUAWK.exists() else shutil.which("squawk")
    if exe is None:
        pytest.fail("squawk not installed (pip install squawk-cli, the test extra)")
    proc = subprocess.run([exe, "--reporter", "json", str(path)], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr  # 1: warnings found
    lines = path.read_text().splitlines()
    return {(direction, v["rule_name"], lines[v["line"]].strip())  # 0-based line numbers
            for v in json.loads(proc.stdout or "[]")}


def test_squawk_only_accepted_warnings() -> None:
    found = squawk_warnings(UP, "up") | squawk_warnings(DOWN, "down")
    new = found - set(ACCEPTED)
    assert not new, "new squawk warnings (fix them, or accept them here and in the report):\n" + \
        "\n".join(map(str, sorted(new)))
    stale = set(ACCEPTED) - found
    assert not stale, f"accepted warnings squawk no longer reports (remove them): {sorted(stale)}"


def test_report_lists_the_exceptions() -> None:
    report = (UP.parents[1] / "SCHEMA_AUDIT_REPORT.md").read_text()
    for (_direction, rule, statement) in ACCEPTED:
        m = re.search(r"(\w+)\s+integer", statement)
        key = m.group(1) if m else statement
        assert rule in report and key in report, (rule, key)
