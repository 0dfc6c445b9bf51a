"""``schemaflow migrate history``: every run recorded in the history table, oldest first,
as Flyway's ``info`` lists them: version, direction, when, how long, by whom, the file's
checksum, whether the version's checks passed, and the result.

Read-only: nothing is created or locked, so it is safe against a production database while
a migration runs. Each row is read whole (``to_jsonb``), so columns a newer schemaflow
added show up and an older history table without them still reads.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemaflow.dburl import read_database_url
from schemaflow.engine import db
from schemaflow.engine.versions import DEFAULT_TABLE, VersionTable, resolve_schema

# (heading, width) of the text table; 98 columns in all, so it fits a 100-column terminal
COLUMNS = (("VERSION", 7), ("DIRECTION", 9), ("STARTED (UTC)", 19), ("DURATION", 8),
           ("RESULT", 9), ("VERIFIED", 8), ("BY", 18), ("CHECKSUM", 12))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url-file", type=Path, default=None,
                        help="read the database URL from this file (default: $DATABASE_URL)")
    parser.add_argument("--schema", default=None,
                        help="schema of the version table (default: current_schema())")
    parser.add_argument("--table", default=DEFAULT_TABLE,
                        help=f"version table name (default: {DEFAULT_TABLE}); the history "
                             "table is named after it")
    parser.add_argument("--limit", type=int, default=0, metavar="N",
                        help="only the N most recent runs (default: 0 = all)")
    parser.add_argument("--output", choices=["text", "json"], default="text",
                        help="a table, or one JSON line on stdout (default: text)")


def run(args: argparse.Namespace) -> int:
    url = read_database_url(args.database_url_file)
    session = db.connect(url)
    try:
        vt = VersionTable(resolve_schema(session.conn, args.schema), args.table)
        runs = read_history(session.conn, vt, args.limit)
    except db.Error as exc:
        from schemaflow.errors import ApplyFailed

        raise ApplyFailed(f"cannot read the history: {db.redact(str(exc).strip(), url)}") \
            from None
    finally:
        session.conn.close()
    if args.output == "json":
        print(json.dumps({"historyTable": f"{vt.schema}.{vt.history_name}", "runs": runs}))
    else:
        print(render(runs, f"{vt.schema}.{vt.history_name}"))
    return 0


def read_history(conn: db.Connection, vt: VersionTable, limit: int = 0) -> list[dict[str, Any]]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                          (vt.history.as_string(conn),)).fetchone()
    if not exists or not exists[0]:
        return []
    query = db.sql.SQL("SELECT to_jsonb(h) FROM (SELECT * FROM {} ORDER BY id DESC {}) h "
                       "ORDER BY h.id").format(
        vt.history, db.sql.SQL("LIMIT {}").format(limit) if limit > 0 else db.sql.SQL(""))
    return _mark_verified([_run_doc(row[0]) for row in conn.execute(query).fetchall()])


def _mark_verified(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``verified`` of a successful up: the result of the first ``verify`` row of its
    version before the version changes again (True/False), None when its checks never ran
    (or ran outside the rows shown)."""
    for i, run in enumerate(runs):
        if run["verified"] is not None or run["direction"] != "up" \
                or run["result"] != "succeeded":
            continue
        for later in runs[i + 1:]:
            if later["direction"] == "verify" and later["version"] == run["version"]:
                run["verified"] = later["result"] == "succeeded"
                break
            if later["direction"] != "verify" and later["result"] == "succeeded":
                break
    return runs


def _run_doc(row: dict[str, Any]) -> dict[str, Any]:
    started, finished = _time(row.get("started")), _time(row.get("finished"))
    # a forced row's start is the client's clock, its end the server's: never below 0
    duration = max(0.0, (finished - started).total_seconds()) if started and finished \
        else None
    return {
        "id": row.get("id"), "version": row.get("version"), "direction": row.get("direction"),
        "previousVersion": row.get("previous_version"),
        "started": row.get("started"), "finished": row.get("finished"),
        "durationSeconds": None if duration is None else round(duration, 3),
        "installedBy": row.get("installed_by"), "application": row.get("application"),
        "clientHost": row.get("client_host"), "checksum": row.get("checksum"),
        "verified": row.get("verified"), "result": row.get("result"), "error": row.get("error"),
    }


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def render(runs: list[dict[str, Any]], table: str) -> str:
    if not runs:
        return f"no runs recorded in {table} (it is written by schemaflow migrate up/down/force)"
    lines = [_line(heading for heading, _ in COLUMNS)]
    for r in runs:
        started = _time(r["started"])
        who = "@".join(str(x) for x in (r["installedBy"], r["clientHost"]) if x) or "-"
        duration = r["durationSeconds"]
        verified = {True: "yes", False: "FAILED"}.get(r["verified"], "-")
        lines.append(_line((
            str(r["version"]), str(r["direction"]),
            started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if started else "-",
            "-" if duration is None else f"{duration:.1f}s",
            str(r["result"]), verified, who, (r["checksum"] or "-")[:12])))
        if r["error"]:  # force records what it replaced here
            label = "error" if r["result"] == "failed" else "note"
            lines.append(f"  {label}: {r['error'].splitlines()[0][:90]}")
    return "\n".join(lines)


def _line(cells: Any) -> str:
    parts = [str(c)[:w].ljust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)]
    return " ".join(parts).rstrip()
