"""Dry run: apply the pending migrations in transactions that are always rolled back, and
report what would change by diffing a catalog snapshot taken before and inside them.

Users run plan against production, so it must stall nobody: the steps of each transaction
get at most PLAN_BUDGET seconds (or lock_timeout, if lower), and its closing catalog
snapshot at most as long again: no lock it takes is held longer than twice the budget, 1 s,
and a writer queued behind one waits about the budget. The steps run one after another in
one transaction while they fit in that budget (later steps see the earlier ones' effects,
as in a real run). When a step runs out of time, a new transaction starts at it, without the earlier steps' effects; a step that then
fails (it needed them) or does not fit alone is reported as "not evaluated" in the notes,
and the next transaction starts after it. An error in the first transaction, which holds
every earlier effect, is the real run's error and fails the plan.

Steps marked to run outside a transaction run inside one here: ``CREATE INDEX
CONCURRENTLY`` / ``DROP INDEX CONCURRENTLY`` / ``REINDEX ... CONCURRENTLY`` lose the
CONCURRENTLY keyword (the plan says so), batch statements are repeated until they report 0
rows. Nothing is created: no version or history table either.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from schemaflow.engine import db
from schemaflow.engine.progress import rows_written
from schemaflow.engine.runner import BATCH_SETTING, sql_error
from schemaflow.engine.sources import Migration, MigrationFile, Step
from schemaflow.engine.sqlsplit import Statement

_CONCURRENTLY = re.compile(
    r"^(\s*(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\s+(?:\(.*?\)\s*)?"
    r"(?:INDEX|TABLE|SCHEMA|DATABASE|SYSTEM)))\s+CONCURRENTLY\b",
    re.I | re.S)

# name -> query returning (key, description) for every object of that kind
SNAPSHOT_QUERIES: dict[str, str] = {
    "schema": """SELECT nspname, '' FROM pg_namespace
        WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND nspname NOT LIKE 'pg_temp%'
          AND nspname NOT LIKE 'pg_toast_temp%'""",
    "table": """SELECT n.nspname || '.' || c.relname,
            CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
              WHEN 'v' THEN 'view ' || md5(pg_get_viewdef(c.oid))
              WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')""",
    "column": """SELECT n.nspname || '.' || c.relname || '.' || a.attname,
            format_type(a.atttypid, a.atttypmod)
            || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
            || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')""",
    "index": """SELECT n.nspname || '.' || i.relname,
            pg_get_indexdef(i.oid) || CASE WHEN x.indisvalid THEN '' ELSE ' (INVALID)' END
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')""",
    "constraint": """SELECT n.nspname || '.' || c.relname || '.' || k.conname,
            pg_get_constraintdef(k.oid)
            || CASE WHEN k.convalidated THEN '' ELSE ' (NOT VALIDATED)' END
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE k.contype <> 'n' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')""",
    "trigger": """SELECT n.nspname || '.' || c.relname || '.' || t.tgname,
            pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')""",
    "function": """SELECT n.nspname || '.' || p.proname
              || '(' || pg_get_function_identity_arguments(p.oid) || ')',
            pg_get_function_result(p.oid) || ' md5:' || left(md5(coalesce(p.prosrc, '')), 12)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')""",
}

Snapshot = dict[str, dict[str, str]]


@dataclass
class Plan:
    migrations: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    concurrently: dict[str, list[int]] = field(default_factory=dict)  # file -> lines

    def as_dict(self) -> dict[str, Any]:
        notes = list(self.notes)
        for name, lines in self.concurrently.items():
            notes.append(f"{name}: CONCURRENTLY dropped for the dry run at lines "
                         f"{', '.join(map(str, lines))} (the real run builds those indexes "
                         "without blocking writes)")
        return {"migrations": self.migrations, "changes": self.changes, "notes": notes}


def snapshot(conn: db.Connection, ignore: Collection[str] = ()) -> Snapshot:
    """Every catalog object of interest, as kind -> {qualified name: definition}."""
    snap: Snapshot = {}
    for kind, query in SNAPSHOT_QUERIES.items():
        rows = conn.execute(query).fetchall()
        snap[kind] = {str(k): str(v or "") for k, v in rows
                      if not any(str(k) == t or str(k).startswith(t + ".") for t in ignore)}
    return snap


def diff(before: Snapshot, after: Snapshot) -> list[dict[str, str]]:
    """Objects added, removed or altered, in catalog order (schemas, tables, columns...)."""
    changes: list[dict[str, str]] = []
    for kind in SNAPSHOT_QUERIES:
        b, a = before.get(kind, {}), after.get(kind, {})
        for name in sorted(a.keys() - b.keys()):
            changes.append({"kind": kind, "name": name, "change": "added", "definition": a[name]})
        for name in sorted(b.keys() - a.keys()):
            changes.append({"kind": kind, "name": name, "change": "removed", "definition": b[name]})
        for name in sorted(k for k in a.keys() & b.keys() if a[k] != b[k]):
            changes.append({"kind": kind, "name": name, "change": "altered",
                            "definition": f"{b[name]} -> {a[name]}"})
    return changes


PLAN_BUDGET = 0.5  # seconds a plan transaction's steps may run while holding their locks
# a step that did not fit in the budget: our statement_timeout, lock_timeout, a deadlock
_OUT_OF_TIME = {db.QUERY_CANCELED, db.LOCK_NOT_AVAILABLE, db.DEADLOCK_DETECTED}


class _OutOfTime(Exception):
    """The budget ran out between two statements (reads as a statement timeout)."""

    sqlstate = db.QUERY_CANCELED


@dataclass
class _Stopped:
    index: int  # of the step that failed
    statement: Statement
    exc: BaseException


def dry_run(session: db.Session, migrations: list[Migration], batch_size: int,
            ignore: Collection[str]) -> Plan:
    """Apply the up files of ``migrations`` in rolled-back transactions; ``ignore`` names
    tables (schema.table) left out of the diff, such as the version and history tables."""
    conn = session.conn
    plan = Plan()
    s = session.settings
    budget = min(PLAN_BUDGET, s.lock_timeout or PLAN_BUDGET)
    if s.statement_timeout:
        budget = min(budget, s.statement_timeout)
    before = snapshot(conn, ignore)
    seen = len(session.notices)
    steps = [(mig.up, step) for mig in migrations for step in mig.up.steps]
    plan.migrations = [{"version": m.version, "file": m.up.path.name,
                        "steps": [st.kind for st in m.up.steps]} for m in migrations]
    changes: dict[tuple[str, str], dict[str, str]] = {}
    start = 0
    while start < len(steps):
        stop, after = _transaction(conn, steps, start, budget, batch_size, plan, ignore)
        for c in diff(before, after):
            changes[(c["kind"], c["name"])] = c
        if stop is None:
            break
        mf, step = steps[stop.index]
        code = db.sqlstate(stop.exc)
        if start == 0 and code not in _OUT_OF_TIME:
            raise sql_error(mf, stop.statement, stop.exc)
        if stop.index > start and code in _OUT_OF_TIME:
            start = stop.index  # again, first in a transaction of its own
            continue
        why = (f"it does not fit in the plan's {budget:g}s lock budget" if code in _OUT_OF_TIME
               else "it needs the effect of earlier steps the plan could not keep within "
               f"its {budget:g}s lock budget ({db.error_details(stop.exc)['message']})")
        plan.notes.append(f"{mf.where(step.line)}: {step.kind} step not evaluated: {why}")
        start = stop.index + 1
    # what the migrations said they found (e.g. "equivalent exists as <name>"), once each
    plan.notes.extend(dict.fromkeys(session.notices[seen:]))
    plan.changes = sorted(changes.values(), key=lambda c: (
        list(SNAPSHOT_QUERIES).index(c["kind"]), c["change"] != "added", c["name"]))
    plan.notes.insert(0, f"dry run in rolled-back transactions whose steps got at most "
                      f"{budget:g}s each: no lock was held for a whole migration")
    return plan


def _transaction(conn: db.Connection, steps: list[tuple[MigrationFile, Step]], start: int,
                 budget: float, batch_size: int, plan: Plan, ignore: Collection[str]
                 ) -> tuple[_Stopped | None, Snapshot]:
    """Run steps from ``start`` in one rolled-back transaction until they are done or one
    fails (rolled back to its savepoint); returns why it stopped and the catalog then."""
    deadline = time.monotonic() + budget
    stopped: _Stopped | None = None
    with conn.transaction(force_rollback=True):
        for k in range(start, len(steps)):
            mf, step = steps[k]
            st = step.statements[0]
            try:
                with conn.transaction():  # a savepoint: the steps before stay
                    for st in step.statements:
                        _run(conn, mf, step.kind, st, batch_size, plan, deadline)
            except (db.Error, _OutOfTime) as exc:
                stopped = _Stopped(k, st, exc)
                break
        conn.execute("SELECT set_config('statement_timeout', %s, true)",
                     (f"{int(budget * 1000)}ms",))
        after = snapshot(conn, ignore)
    return stopped, after


def _run(conn: db.Connection, mf: MigrationFile, kind: str, st: Statement, batch_size: int,
         plan: Plan, deadline: float) -> None:
    text = st.text
    if kind != "transaction":
        rewritten = _CONCURRENTLY.sub(r"\1", text, count=1)
        if rewritten != text:
            lines = plan.concurrently.setdefault(mf.path.name, [])
            if st.line not in lines:
                lines.append(st.line)
            text = rewritten

    def execute() -> Any:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise _OutOfTime
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{left}ms",))
        return conn.execute(text)

    if kind == "batch":
        conn.execute("SELECT set_config(%s, %s, true)", (BATCH_SETTING, str(batch_size)))
        batches, before = 0, rows_written(conn)
        while execute().rowcount > 0:
            batches += 1
        if batches:
            plan.notes.append(f"{mf.where(st.line)}: batch step would write "
                              f"{rows_written(conn) - before} rows in {batches} batches of "
                              f"{batch_size}")
    else:
        execute()
