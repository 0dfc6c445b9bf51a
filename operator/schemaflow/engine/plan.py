"""Dry run: apply the pending migrations inside one transaction that is always rolled
back, and report what would change by diffing a catalog snapshot taken before and inside.

Steps marked to run outside a transaction run inside this one: ``CREATE INDEX
CONCURRENTLY`` / ``DROP INDEX CONCURRENTLY`` / ``REINDEX ... CONCURRENTLY`` lose the
CONCURRENTLY keyword (the plan says so), batch statements are repeated until they report 0
rows. The plan takes the same locks as the real run, under the same lock_timeout.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from schemaflow.engine import db
from schemaflow.engine.runner import BATCH_SETTING, sql_error
from schemaflow.engine.sources import Migration, MigrationFile
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


def dry_run(session: db.Session, migrations: list[Migration], batch_size: int,
            ignore: Collection[str]) -> Plan:
    """Apply the up files of ``migrations`` in a rolled-back transaction; ``ignore`` names
    tables (schema.table) left out of the diff, such as the version and history tables."""
    conn = session.conn
    plan = Plan()
    before = snapshot(conn, ignore)

    def attempt() -> Snapshot:
        plan.migrations, plan.notes, plan.concurrently = [], [], {}
        with conn.transaction(force_rollback=True):
            for mig in migrations:
                plan.migrations.append({"version": mig.version, "file": mig.up.path.name,
                                        "steps": [s.kind for s in mig.up.steps]})
                for step in mig.up.steps:
                    for st in step.statements:
                        _run(conn, mig.up, step.kind, st, batch_size, plan)
            return snapshot(conn, ignore)

    after = session.retry_locks(attempt, "plan")
    plan.changes = diff(before, after)
    return plan


def _run(conn: db.Connection, mf: MigrationFile, kind: str, st: Statement, batch_size: int,
         plan: Plan) -> None:
    text = st.text
    if kind != "transaction":
        rewritten = _CONCURRENTLY.sub(r"\1", text, count=1)
        if rewritten != text:
            plan.concurrently.setdefault(mf.path.name, []).append(st.line)
            text = rewritten
    try:
        if kind == "batch":
            conn.execute("SELECT set_config(%s, %s, true)", (BATCH_SETTING, str(batch_size)))
            batches = rows = 0
            while (count := conn.execute(text).rowcount) > 0:
                batches, rows = batches + 1, rows + count
            if rows:
                plan.notes.append(f"{mf.where(st.line)}: batch step would change {rows} rows "
                                  f"in {batches} batches of {batch_size}")
        else:
            conn.execute(text)
    except db.Error as exc:
        if db.sqlstate(exc) == db.LOCK_NOT_AVAILABLE:
            raise
        raise sql_error(mf, Statement(text, st.line), exc) from None
