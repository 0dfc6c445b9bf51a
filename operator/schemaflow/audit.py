"""``schemaflow audit``: which of DomainFlow's 23 known schema mismatches are still open.

It runs the checks of ``sql/verify/000027_comprehensive_schema_alignment.verify.sql`` (the
same ones ``migrate up --verify`` runs, each in a rolled-back transaction) and groups them
by the ``mismatch:`` numbers they carry: an item is open when any of its checks fails.
Works on any database, migrated or not. Exit 0 when the audit ran, whatever it found;
with ``--fail-on-open`` exit 3 when an item is open.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from schemaflow.errors import EXIT_OK, EXIT_VERIFY_FAILED, UsageError

VERIFY_FILE = "000027_comprehensive_schema_alignment.verify.sql"

# number -> (table(s), title), as in DOMAINFLOW.md and sql/SCHEMA_AUDIT_REPORT.md
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


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url-file", type=Path, default=None,
                        help="read the database URL from this file instead of $DATABASE_URL")
    parser.add_argument("--verify-file", type=Path, default=None,
                        help=f"checks to run (default: the bundled sql/verify/{VERIFY_FILE})")
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.add_argument("--fail-on-open", action="store_true",
                        help="exit 3 when at least one mismatch is open")
    parser.add_argument("--statement-timeout", type=float, default=60.0,
                        help="seconds per check (default 60)")


def default_verify_file() -> Path:
    from schemaflow.engine.sources import default_sql_dir

    return default_sql_dir() / "verify" / VERIFY_FILE


def audit_database(url: str, verify_file: Path | None = None, *,
                   statement_timeout: float = 60.0) -> list[dict[str, Any]]:
    """One dict per mismatch (1..23): number, table, title, open, checks (names),
    failing (``[{"check", "problems"}]``)."""
    from schemaflow.engine.verify import load_checks, run_checks

    checks = load_checks(verify_file or default_verify_file())
    results = run_checks(url, checks, statement_timeout=statement_timeout)
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
    return items


def _first_problem(item: dict[str, Any]) -> str:
    if not item["failing"]:
        return "" if item["checks"] else "no check covers this item"
    f = item["failing"][0]
    problem = f["problems"][0] if f["problems"] else ""
    text = f"{f['check']}: {problem}"
    more = len(item["failing"]) - 1
    return (text[:90] + "...") if len(text) > 93 else text + (f" (+{more} more)" if more else "")


def run(args: argparse.Namespace) -> int:
    from schemaflow.engine import db
    from schemaflow.migrate_cmd import database_url

    url = database_url(args)
    verify_file = args.verify_file or default_verify_file()
    if not verify_file.is_file():
        raise UsageError(f"verify file {verify_file} not found")
    items = audit_database(url, verify_file, statement_timeout=args.statement_timeout)
    open_items = [i for i in items if i["open"]]
    if args.output == "json":
        print(json.dumps({"total": len(items), "open": len(open_items),
                          "openNumbers": [i["number"] for i in open_items], "mismatches": items},
                         indent=2))
    else:
        print(f"{'#':>3}  {'state':6} {'table':40} {'mismatch':58} first failing check")
        for i in items:
            state = "OPEN" if i["open"] else "fixed"
            line = f"{i['number']:>3}  {state:6} {i['table'][:40]:40} {i['title'][:58]:58} {_first_problem(i)}"
            print(db.redact(line, url).rstrip())
        print(f"{len(open_items)} of {len(items)} mismatches open")
    sys.stdout.flush()
    if args.fail_on_open and open_items:
        return EXIT_VERIFY_FAILED
    return EXIT_OK
