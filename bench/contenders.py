"""The ways of applying (and rolling back) 000027 that the benchmark compares.

- ``schemaflow``: the real CLI, ``schemaflow migrate up --verify`` on the bundled
  ``sql/migrations`` (online-safe: batched backfills, concurrent indexes, NOT VALID
  foreign keys validated separately, lock_timeout with retries). Lock wait comes from the
  CLI's JSON report (``lockTimeLostSeconds``).
- ``naive``: ``bench/reference/000027_naive.up.sql`` applied with the server's own
  ``psql -1 -f`` (the seed's option 2): one transaction, backfills by one UPDATE each,
  indexes without CONCURRENTLY, foreign keys validated at once. psql has no notion of lock
  wait, so it is measured by sampling ``pg_stat_activity`` (see ``monitor.py``).
- the rollback: ``schemaflow migrate down --target 26`` (what the operator's rollback Job
  runs) against ``reference/000027_naive.down.sql`` with ``psql -1 -f``; ``migrate plan``;
  and the automatic path: ``migrate up --verify --extra-checks`` with a check that fails
  (exit 3), then ``migrate down --target 26``, as the operator's two Jobs do.

Each runner takes the database URL from the environment (never from argv, where ``ps``
shows it) and returns a :class:`MigrationRun`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO / "sql" / "migrations"
VERIFY_DIR = REPO / "sql" / "verify"
NAIVE_SQL = Path(__file__).resolve().parent / "reference" / "000027_naive.up.sql"
NAIVE_DOWN_SQL = Path(__file__).resolve().parent / "reference" / "000027_naive.down.sql"
BEFORE_27 = "26"  # the version a rollback of 000027 returns to (DomainFlow's bundle starts at 27)
# an extra check that always fails: the automatic rollback's trigger
FAILING_CHECK = ("-- check: bench_forced_failure\n"
                 "-- description: fails on purpose, so that the automatic rollback runs\n"
                 "SELECT 'forced by the benchmark' AS problem;\n")
MIGRATION_APP_NAME = "bench-migration"  # NOT prefixed "bench-app" / "bench-monitor"


@dataclass
class MigrationRun:
    name: str
    command: list[str]
    exit_code: int | None = None
    start: float = 0.0  # run clock
    end: float = 0.0
    report: dict[str, Any] | None = None  # schemaflow's JSON result
    lock_wait: float | None = None  # as reported by the tool itself
    lock_wait_source: str = "n/a"
    backfill_rows: int | None = None
    backfill_seconds: float | None = None
    statements: list[dict[str, Any]] = field(default_factory=list)
    output_tail: str = ""
    phases: dict[str, Any] | None = None  # the automatic rollback: up's exit and both times
    skipped: str | None = None

    @property
    def wall(self) -> float:
        return self.end - self.start


def schemaflow_available() -> str | None:
    """None when the CLI can run ``migrate up``, else why not."""
    try:
        import schemaflow.migrate_cmd  # noqa: F401
    except ImportError as exc:
        return f"schemaflow CLI not available yet ({exc})"
    if not any(MIGRATIONS_DIR.glob("000027_*.up.sql")):
        return "sql/migrations/000027_*.up.sql not present yet"
    return None


def _tail(text: str, n: int = 2000) -> str:
    return text[-n:]


def _schemaflow(name: str, argv: list[str], url: str, workdir: Path,
                timeout: float) -> tuple[MigrationRun, subprocess.CompletedProcess[str] | None]:
    """Run ``python -m schemaflow migrate ARGV --output json --report FILE``; the caller sets
    the run's start and end on its clock."""
    report_path = workdir / f"{name}-report.json"
    report_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "schemaflow", "migrate", *argv, "--dir", str(MIGRATIONS_DIR),
           "--verify-dir", str(VERIFY_DIR), "--output", "json", "--report", str(report_path)]
    run = MigrationRun(name, [c if c != str(report_path) else "REPORT" for c in cmd])
    why = schemaflow_available()
    if why:
        run.skipped = why
        return run, None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["DATABASE_URL"] = url
    env["PGAPPNAME"] = MIGRATION_APP_NAME
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"),
                                                      env.get("PYTHONPATH", "")]))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)
    run.exit_code = proc.returncode
    run.output_tail = _tail(proc.stderr + proc.stdout)
    (workdir / f"{name}.out").write_text(proc.stdout)
    (workdir / f"{name}.err").write_text(proc.stderr)
    report: dict[str, Any] | None = None
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError):
        try:
            report = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            report = None
    run.report = report
    if report and report.get("lockTimeLostSeconds") is not None:
        run.lock_wait = float(report["lockTimeLostSeconds"])
        run.lock_wait_source = "schemaflow report lockTimeLostSeconds"
    run.statements = [{"where": f"{m.group('file')}:{m.group('line')}",
                       "batches": int(m.group("batches")), "seconds": float(m.group("secs"))}
                      for m in map(_DONE.match, proc.stderr.splitlines()) if m]
    return run, proc


def run_schemaflow(url: str, clock_zero: float, workdir: Path,
                   extra_args: list[str] | None = None, timeout: float = 3600,
                   name: str = "schemaflow") -> MigrationRun:
    """``migrate up --verify``: the application is connected on purpose, so preflight
    reports it and does not stop (``--preflight warn``)."""
    start = time.monotonic() - clock_zero
    run, proc = _schemaflow(name, ["up", "--verify", "--preflight", "warn", *(extra_args or [])],
                            url, workdir, timeout)
    run.start, run.end = start, time.monotonic() - clock_zero
    if proc is not None:
        run.backfill_seconds = schemaflow_backfill_seconds(proc.stderr)
    return run


def run_schemaflow_down(url: str, clock_zero: float, workdir: Path, timeout: float = 3600,
                        name: str = "schemaflow-down") -> MigrationRun:
    start = time.monotonic() - clock_zero
    run, _ = _schemaflow(name, ["down", "--target", BEFORE_27], url, workdir, timeout)
    run.start, run.end = start, time.monotonic() - clock_zero
    return run


def run_plan(url: str, clock_zero: float, workdir: Path, timeout: float = 3600) -> MigrationRun:
    start = time.monotonic() - clock_zero
    run, _ = _schemaflow("plan", ["plan", "--preflight", "warn"], url, workdir, timeout)
    run.start, run.end = start, time.monotonic() - clock_zero
    return run


def run_auto_rollback(url: str, clock_zero: float, workdir: Path,
                      timeout: float = 3600) -> MigrationRun:
    """The operator's automatic path: up fails verification (exit 3), then down. One
    window from the start of up to the end of down; the up's own figures in ``report``."""
    checks = workdir / "bench-failing.verify.sql"
    checks.write_text(FAILING_CHECK)
    up = run_schemaflow(url, clock_zero, workdir, ["--extra-checks", str(checks)], timeout,
                        name="auto-rollback-up")
    if up.skipped or up.exit_code != 3:  # no rollback to measure
        up.name = "auto-rollback"
        return up
    down = run_schemaflow_down(url, clock_zero, workdir, timeout, name="auto-rollback-down")
    down.name = "auto-rollback"
    down.command = [*up.command, "&&", *down.command]
    down.start = up.start
    down.phases = {"upExitCode": up.exit_code, "upSeconds": round(up.wall, 3),
                   "downSeconds": round(down.end - up.end, 3),
                   "upFailedChecks": [f.get("check") for f in
                                      ((up.report or {}).get("verification") or {}).get("failures", [])]}
    down.output_tail = up.output_tail[-700:] + "\n---\n" + down.output_tail
    return down


BACKFILL_TABLE = "dns_validation_results"  # the 1M-row backfill: business_status (mismatch 9)
_DONE = re.compile(r"^\s*(?P<file>\S+\.(?:up|down)\.sql):(?P<line>\d+): (?P<batches>\d+) batches, "
                   r"(?P<rows>\d+) rows(?: by the statement, \d+ rows written in all tables)?, "
                   r"(?P<secs>\d+(?:\.\d+)?)s \(done\)")


def _backfill_step_ranges(up_file: Path) -> list[tuple[int, int]]:
    """Line ranges of the batch steps that write dns_validation_results.business_status
    (the backfill proper, and any step that restores values, usually 0 batches)."""
    lines = up_file.read_text().splitlines()
    marks = [i + 1 for i, line in enumerate(lines) if line.strip().startswith("-- schemaflow:step")]
    marks.append(len(lines) + 1)
    out = []
    for a, b in zip(marks, marks[1:], strict=False):
        body = "\n".join(lines[a - 1:b - 1])
        if "schemaflow:step batch" in lines[a - 1] and \
                re.search(rf"UPDATE\s+{BACKFILL_TABLE}\b[^;]*SET\s+business_status", body):
            out.append((a, b))
    return out


def schemaflow_backfill_seconds(stderr: str) -> float | None:
    """Seconds the CLI reports for those steps (their "(done)" progress lines)."""
    ups = sorted(MIGRATIONS_DIR.glob("000027_*.up.sql"))
    ranges = _backfill_step_ranges(ups[0]) if ups else []
    total = None
    for line in stderr.splitlines():
        m = _DONE.match(line)
        if m and any(a <= int(m.group("line")) < b for a, b in ranges):
            total = (total or 0.0) + float(m.group("secs"))
    return total


_TIME = re.compile(r"^Time: (\d+(?:\.\d+)?) ms")
_TAG = re.compile(r"^(UPDATE \d+|INSERT \d+ \d+|DELETE \d+|SELECT \d+|CREATE [A-Z]+|ALTER [A-Z]+|"
                  r"DROP [A-Z]+|DO|SET|COMMENT|BEGIN|COMMIT)$")


def parse_psql_timing(output: str) -> list[dict[str, Any]]:
    """psql --echo-queries with \\timing on: [{query, tag, rows, ms}] per statement."""
    out: list[dict[str, Any]] = []
    text: list[str] = []
    tag: tuple[str, int | None] = ("?", None)
    for line in output.splitlines():
        m = _TIME.match(line)
        if m:
            out.append({"query": " ".join(" ".join(text).split())[:200], "tag": tag[0],
                        "rows": tag[1], "ms": float(m.group(1))})
            text, tag = [], ("?", None)
            continue
        if _TAG.match(line):
            parts = line.split()
            rows = int(parts[-1]) if parts[-1].isdigit() else None
            tag = (" ".join(p for p in parts if not p.isdigit()), rows)
        else:
            text.append(line)
    return out


def run_naive(url: str, psql: str, clock_zero: float, workdir: Path,
              timeout: float = 3600, sql_file: Path = NAIVE_SQL,
              name: str = "naive") -> MigrationRun:
    u = urlsplit(url)
    cmd = [psql, "-X", "-1", "-v", "ON_ERROR_STOP=1", "--echo-queries",
           "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432),
           "-U", unquote(u.username or "postgres"), "-d", unquote(u.path.lstrip("/")),
           "-c", r"\timing on", "-f", str(sql_file)]
    run = MigrationRun(name, [*cmd])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = unquote(u.password or "")  # env, not argv
    env["PGAPPNAME"] = MIGRATION_APP_NAME
    run.start = time.monotonic() - clock_zero
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    run.end = time.monotonic() - clock_zero
    run.exit_code = proc.returncode
    run.output_tail = _tail(proc.stderr)
    (workdir / f"{name}.out").write_text(proc.stdout)
    (workdir / f"{name}.err").write_text(proc.stderr)
    run.statements = parse_psql_timing(proc.stdout)
    ups = [s for s in run.statements
           if s["tag"] == "UPDATE" and s["query"].startswith(f"UPDATE {BACKFILL_TABLE}")]
    if ups:
        run.backfill_seconds = sum(s["ms"] for s in ups) / 1000.0
    run.lock_wait_source = "pg_stat_activity sampling"
    return run

