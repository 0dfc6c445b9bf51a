"""``schemaflow lint``: squawk on a migration directory, with the project's rule set and its
accepted exceptions (listed with their reasons in sql/SCHEMA_AUDIT_REPORT.md).

The rule set is squawk's default one. An exception names the file, the rule and the
statement's line as written, so it never hides the same warning on another statement or in
another file. squawk lints top-level statements only: DDL issued from ``DO`` blocks is
invisible to it.

squawk is not a runtime dependency (the image's Job and operator never lint): install it
with ``pip install 'schemaflow[lint]'`` (the squawk-cli wheel).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from schemaflow.engine.sources import FILE_NAME, default_sql_dir
from schemaflow.errors import EXIT_VERIFY_FAILED, ApplyFailed, MigrationSourceError, UsageError

SQUAWK_OPTIONS: tuple[str, ...] = ()  # squawk's default rules, no exclusions

_TIMEOUT = ("statement_timeout is the runner's (--statement-timeout / "
            "spec.safety.statementTimeout); a fixed one in the file would cancel legitimately "
            "long CONCURRENTLY builds and VALIDATEs on big tables. lock_timeout is set at the "
            "start of every transactional step.")
_LOCK = ("lock_timeout is set by set_config('lock_timeout', '3s', true) only when the session "
         "has none, so the runner's --lock-timeout (spec.safety.lockTimeout) wins and plain "
         "psql still gets 3s; squawk does not recognise set_config.")
_INT = ("bounded small value (score, weight, milliseconds, instance count), never an id or "
        "counter")
_BOOKKEEPING = ("schemaflow's own bookkeeping table in schemaflow_archive (rows written "
                "during down), never application data; up drops what an interrupted down left")
_UP = "000027_comprehensive_schema_alignment.up.sql"
_DOWN = "000027_comprehensive_schema_alignment.down.sql"
_SCHEMA = "CREATE SCHEMA IF NOT EXISTS schemaflow_archive;"

# (file name, rule, statement line as written, stripped) -> reason
ACCEPTED: dict[tuple[str, str, str], str] = {
    (_DOWN, "require-statement-timeout", _SCHEMA): _TIMEOUT,
    (_UP, "require-statement-timeout", _SCHEMA): _TIMEOUT,
    (_DOWN, "require-lock-timeout", _SCHEMA): _LOCK,
    (_UP, "require-lock-timeout", _SCHEMA): _LOCK,
    # the down migration's own bookkeeping table in schemaflow_archive: never application data
    (_DOWN, "ban-drop-table", "DROP TABLE IF EXISTS schemaflow_archive.m000027_touched;"):
        _BOOKKEEPING,
    (_UP, "ban-drop-table", "DROP TABLE IF EXISTS schemaflow_archive.m000027_touched;"):
        _BOOKKEEPING,
    **{(_UP, "prefer-bigint-over-int", line): _INT for line in (
        "ADD COLUMN IF NOT EXISTS risk_score integer,",
        "context_chars     integer NOT NULL DEFAULT 0 CHECK (context_chars >= 0),",
        "weight    integer NOT NULL DEFAULT 1 CHECK (weight > 0),",
        "decision_time_ms   integer CHECK (decision_time_ms >= 0),",
        "dependency_count            integer NOT NULL DEFAULT 0,",
        "deployment_complexity_score integer NOT NULL DEFAULT 0,",
        "complexity_reduction integer NOT NULL DEFAULT 0,",
        "instance_count     integer NOT NULL DEFAULT 1,",
        "max_instances      integer NOT NULL DEFAULT 10,",
        "min_instances      integer NOT NULL DEFAULT 1,",
    )},
}


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int  # 1-based
    rule: str
    message: str
    statement: str  # the line as written, stripped

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.path.name, self.rule, self.statement)

    def as_dict(self) -> dict[str, object]:
        return {"file": str(self.path), "line": self.line, "rule": self.rule,
                "message": self.message, "accepted": ACCEPTED.get(self.key)}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=None,
                        help="migration directory (default: the bundled sql/migrations, or "
                             "$SCHEMAFLOW_SQL_DIR/migrations)")
    parser.add_argument("--show-accepted", action="store_true",
                        help="also list the findings accepted as exceptions, with the reason")
    parser.add_argument("--output", choices=["text", "json"], default="text",
                        help="file:line lines, or one JSON line on stdout (default: text)")


def run(args: argparse.Namespace) -> int:
    directory: Path = args.dir or default_sql_dir() / "migrations"
    findings = lint_dir(directory)
    new = [f for f in findings if f.key not in ACCEPTED]
    if args.output == "json":
        print(json.dumps({"result": "Findings" if new else "Clean", "directory": str(directory),
                          "findings": [f.as_dict() for f in findings]}))
    else:
        for f in findings:
            accepted = ACCEPTED.get(f.key)
            if accepted is None:
                print(f"{f.path}:{f.line}: {f.rule}: {f.message}")
            elif args.show_accepted:
                print(f"{f.path}:{f.line}: {f.rule}: accepted: {accepted}")
        print(f"schemaflow lint: {len(new)} finding(s), {len(findings) - len(new)} accepted, "
              f"in {directory}", file=sys.stderr)
    # 3, as a failed verification: the files are readable, a check did not hold (1 is usage)
    return EXIT_VERIFY_FAILED if new else 0


def lint_dir(directory: Path) -> list[Finding]:
    """Every squawk warning on the migration files (up and down) of ``directory``."""
    if not directory.is_dir():
        raise MigrationSourceError(f"migration directory {directory} does not exist",
                                   hint="pass --dir")
    files = sorted(p for p in directory.iterdir() if p.is_file() and FILE_NAME.match(p.name)
                   and p.suffix == ".sql")
    return [f for path in files for f in lint_file(path)]


def lint_file(path: Path) -> list[Finding]:
    proc = subprocess.run([squawk(), *SQUAWK_OPTIONS, "--reporter", "json", str(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):  # 1: warnings found
        raise ApplyFailed(f"squawk failed on {path}: {proc.stderr.strip()[:500]}")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Finding(path, v["line"] + 1, v["rule_name"], v["message"],  # squawk counts from 0
                    lines[v["line"]].strip() if v["line"] < len(lines) else "")
            for v in json.loads(proc.stdout or "[]")]


def squawk() -> str:
    """The squawk of this Python environment (the wheel's script), else the one on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.exists() else shutil.which("squawk")
    if found is None:
        raise UsageError("squawk is not installed",
                         hint="pip install 'schemaflow[lint]' (the squawk-cli wheel)")
    return found
