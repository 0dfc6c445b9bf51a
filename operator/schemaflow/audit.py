"""``schemaflow audit``: which of DomainFlow's 23 known schema mismatches are still open.

It runs the checks of ``sql/verify/000027_comprehensive_schema_alignment.verify.sql`` (the
same ones ``migrate up --verify`` runs, each in a rolled-back transaction) and groups them
by the ``mismatch:`` numbers they carry: an item is open when any of its checks fails.
Works on any database, migrated or not. Exit 0 when the audit ran, whatever it found;
with ``--fail-on-open`` exit 3 when an item is open.

The catalog alone cannot tell a database at 26 from one where an interrupted up already
moved rows into ``schemaflow_archive`` (orphans archived before the foreign keys exist):
``matches`` also reads what the archive holds, so it names a version only when schema and
data are both at it. That is the version ``migrate force`` may declare.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from schemaflow.errors import EXIT_OK, EXIT_VERIFY_FAILED, UsageError

VERIFY_FILE = "000027_comprehensive_schema_alignment.verify.sql"

# number -> (table(s), title), as in sql/SCHEMA_AUDIT_REPORT.md
MISMATCHES: dict[int, tuple[str, str]] = {
    1: ("domain_generation_campaign_params", "created_at timestamptz NOT NULL"),
    2: ("domain_generation_campaign_params", "updated_at timestamptz NOT NULL, kept by a trigger"),
    3: ("campaign_jobs", "business_status column"),
    4: ("campaign_jobs", "campaign_type renamed job_type"),
    5: ("campaign_jobs", "payload renamed job_payload (jsonb)"),
    6: ("campaign_jobs", "worker_id renamed processing_server_id"),
    7: ("campaign_jobs", "last_attempted_at column"),
    8: ("campaign_jobs", "scheduling columns next_execution_at, locked_at, locked_by"),
    9: ("dns_validation_results", "business_status, derived from validation_status"),
    10: ("http_keyword_results", "business_status column"),
    11: ("keyword_rules", "table of keyword-set rules"),
    12: ("proxy_pool_memberships", "junction of proxy pools and proxies"),
    13: ("security_events", "audit columns (session, resource, risk, source IP, ...)"),
    14: ("authorization_decisions", "table of authorization decisions"),
    15: ("service_architecture_metrics", "architecture monitoring table"),
    16: ("service_dependencies", "architecture monitoring table"),
    17: ("architecture_refactor_log", "architecture monitoring table"),
    18: ("communication_patterns", "architecture monitoring table"),
    19: ("service_capacity_metrics", "architecture monitoring table"),
    20: ("campaign_jobs, results, generated_domains", "indexes on the hot paths"),
    21: ("results, campaign_jobs", "foreign keys to campaigns, no orphans"),
    22: ("tables with updated_at", "BEFORE UPDATE triggers keep updated_at"),
    23: ("campaigns, campaign_jobs", "status values in the allowed sets"),
}


# What 000027 keeps in schemaflow_archive between runs. Up fills the first group and down
# empties it (rows moved out, values rewritten: down puts them back); down fills the second
# and up empties it (data written after up into what up created: up puts it back).
HELD_FOR_26 = ("m000027_rows", "m000027_status", "m000027_backfill")
HELD_FOR_27 = ("m000027_new_data", "m000027_new_rows")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url-file", type=Path, default=None,
                        help="read the database URL from this file instead of $DATABASE_URL")
    parser.add_argument("--verify-file", type=Path, default=None,
                        help=f"checks to run (default: the bundled sql/verify/{VERIFY_FILE})")
    parser.add_argument("--output", choices=["text", "json"], default="text",
                        help="a table, or one JSON line on stdout")
    parser.add_argument("--fail-on-open", action="store_true",
                        help="exit 3 when at least one mismatch is open")
    parser.add_argument("--statement-timeout", type=float, default=60.0,
                        help="seconds per check (default 60)")
    parser.add_argument("--explain", action="store_true",
                        help="for each mismatch, what the database holds (absent / exact / drifted, "
                        "with the difference / equivalent under another name) and what up will do")


def default_verify_file() -> Path:
    from schemaflow.engine.sources import default_sql_dir

    return default_sql_dir() / "verify" / VERIFY_FILE


def audit_database(url: str, verify_file: Path | None = None, *,
                   statement_timeout: float = 60.0, explain: bool = False) -> list[dict[str, Any]]:
    """One dict per mismatch (1..23): number, table, title, open, checks (names),
    failing (``[{"check", "problems"}]``), with ``explain`` also explain (``{"state",
    "found", "action"}``, see schemaflow.audit_explain)."""
    from schemaflow.engine.verify import load_checks, run_checks

    checks = load_checks(verify_file or default_verify_file())
    results = run_checks(url, checks, statement_timeout=statement_timeout)
    explained = _explain(url) if explain else {}
    items = []
    for number, (table, title) in MISMATCHES.items():
        mine = [r for r in results if number in r.check.mismatches]
        failing = [{"check": r.check.name,
                    "problems": [f"error: {r.error}"] if r.error else list(r.problems)}
                   for r in mine if not r.passed]
        items.append({"number": number, "table": table, "title": title,
                      # an item no check covers cannot be proven closed
                      "open": bool(failing) or not mine,
                      "checks": [r.check.name for r in mine], "failing": failing})
        if explain:
            items[-1]["explain"] = explained[number]
    return items


def archive_holdings(url: str) -> dict[str, int]:
    """Rows in each schemaflow_archive table of HELD_FOR_26 + HELD_FOR_27 that exists."""
    from psycopg import sql

    from schemaflow.engine import db

    session = db.connect(url)
    try:
        held = {}
        for table in HELD_FOR_26 + HELD_FOR_27:
            exists = session.conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                          (f"schemaflow_archive.{table}",)).fetchone()
            if exists and exists[0]:
                count = session.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier("schemaflow_archive", table))).fetchone()
                held[table] = int(count[0]) if count else 0
        return held
    finally:
        session.conn.close()


def matched_version(items: list[dict[str, Any]], held: dict[str, int]) -> int | None:
    """26 or 27 when schema and data are both wholly at that version, else None."""
    open_count = sum(1 for i in items if i["open"])
    if open_count == len(items) and not any(held.get(t) for t in HELD_FOR_26):
        return 26
    if open_count == 0 and not any(held.get(t) for t in HELD_FOR_27):
        return 27
    return None


def describe_match(items: list[dict[str, Any]], held: dict[str, int]) -> list[str]:
    """The closing lines of the text report: which version force may declare, or why none
    (wrapped at 100 columns)."""
    version = matched_version(items, held)
    if version is not None:
        return [f"as 000027 sees it: version {version} "
                f"({'all' if version == 26 else 'none'} open, nothing waiting in schemaflow_archive)"]
    open_count = sum(1 for i in items if i["open"])
    # all open (or none) and still no version: the archive holds what a run moved out
    tables = HELD_FOR_26 if open_count == len(items) else HELD_FOR_27 if open_count == 0 else ()
    waiting = ", ".join(f"{t} {n}" for t, n in held.items() if n and t in tables)
    if waiting:
        text = (f"no version: rows wait in schemaflow_archive to be put back ({waiting}); "
                "finish the interrupted run (`schemaflow migrate status` names it) rather "
                "than forcing a version")
    else:
        text = (f"neither version 26 nor 27 in full ({open_count} of {len(items)} open): "
                "`schemaflow audit --explain` says what up will do")
    return textwrap.wrap(text, 100, subsequent_indent="  ")


def _explain(url: str) -> dict[int, dict[str, Any]]:
    from schemaflow.audit_explain import UP_FILE, explain
    from schemaflow.engine import db
    from schemaflow.engine.sources import default_sql_dir

    session = db.connect(url)
    try:
        return explain(session.conn, default_sql_dir() / "migrations" / UP_FILE)
    finally:
        session.conn.close()


def _first_problem(item: dict[str, Any], width: int = 93) -> str:
    if not item["failing"]:
        return "" if item["checks"] else "no check covers this item"
    f = item["failing"][0]
    problem = f["problems"][0] if f["problems"] else ""
    more = len(item["failing"]) - 1
    suffix = f" (+{more} more)" if more else ""
    text = f"{f['check']}: {problem}"
    room = width - len(suffix)
    return (text if len(text) <= room else text[:room - 3] + "...") + suffix


def render_table(items: list[dict[str, Any]]) -> list[str]:
    """The text table: no line over 100 columns (the first failing check of an open item
    goes on its own indented line)."""
    lines = [f"{'#':>3}  {'state':5} {'table':32} mismatch"]
    for i in items:
        state = "OPEN" if i["open"] else "fixed"
        lines.append(f"{i['number']:>3}  {state:5} {i['table'][:32]:32} {i['title'][:56]}")
        if problem := _first_problem(i):
            lines.append(f"       {problem}")
        if "explain" in i:  # --explain: what is there, what up does (wrapped at 100)
            ex = i["explain"]
            lines += textwrap.wrap(f"{ex['state']}: " + "; ".join(ex["found"]), 100,
                                   initial_indent="       ", subsequent_indent="         ")
            lines += textwrap.wrap("up will: " + ex["action"], 100,
                                   initial_indent="       ", subsequent_indent="         ")
    return lines


def run(args: argparse.Namespace) -> int:
    from schemaflow.dburl import read_database_url
    from schemaflow.engine import db

    url = read_database_url(args.database_url_file)
    verify_file = args.verify_file or default_verify_file()
    if not verify_file.is_file():
        raise UsageError(f"verify file {verify_file} not found")
    items = audit_database(url, verify_file, statement_timeout=args.statement_timeout,
                           explain=args.explain)
    open_items = [i for i in items if i["open"]]
    held = archive_holdings(url)
    try:
        if args.output == "json":
            print(json.dumps({"total": len(items), "open": len(open_items),
                              "openNumbers": [i["number"] for i in open_items],
                              "archive": held, "matches": matched_version(items, held),
                              "mismatches": items}))
        else:
            for line in render_table(items):
                print(db.redact(line, url).rstrip())
            print(f"{len(open_items)} of {len(items)} mismatches open")
            for line in describe_match(items, held):
                print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader stopped reading (`audit | head -3`): no traceback, and no second
        # error when Python flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if args.fail_on_open and open_items:
        return EXIT_VERIFY_FAILED
    return EXIT_OK
