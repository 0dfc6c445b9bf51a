"""``schemaflow audit --explain``: for each of the 23 mismatches, what the database holds
(absent / exact / drifted, with the difference / equivalent under another name) and what
``migrate up`` of 000027 will do about it.

The target shapes are read from the bundled up file itself (its ``m000027_target_columns``
and ``m000027_target_checks`` lists and its index list), so the explanation and the
migration cannot disagree about them. Read-only: catalog queries and constant expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemaflow.engine import db

UP_FILE = "000027_comprehensive_schema_alignment.up.sql"
ORDER = ("exact", "equivalent", "drifted", "absent")

_COLUMN_ROW = re.compile(r"\('(\w+)', '(\w+)', '([^']+)', (true|false), (?:NULL|'(?:[^']|'')*')\)")
_CHECK_ROW = re.compile(r"\('(\w+)', '(\w+)', '(\w+)',\s*'((?:[^']|'')*)', ARRAY\[([^\]]*)\]\)")
_INDEX_ROW = re.compile(r"\('(idx_\w+)', '(\w+)', ARRAY\[([^\]]*)\],\s*(NULL|'(?:[^']|'')*')\)")

COLUMN_SITES: dict[int, list[tuple[str, str]]] = {
    1: [("domain_generation_campaign_params", "created_at")],
    2: [("domain_generation_campaign_params", "updated_at")],
    3: [("campaign_jobs", "business_status")],
    7: [("campaign_jobs", "last_attempted_at")],
    8: [("campaign_jobs", "next_execution_at"), ("campaign_jobs", "locked_at"), ("campaign_jobs", "locked_by")],
    9: [("dns_validation_results", "business_status")],
    10: [("http_keyword_results", "business_status")],
}
RENAMES = {4: ("campaign_type", "job_type"), 5: ("payload", "job_payload"),
           6: ("worker_id", "processing_server_id")}
TABLE_SITES = {11: "keyword_rules", 12: "proxy_pool_memberships", 13: "security_events",
               14: "authorization_decisions", 15: "service_architecture_metrics",
               16: "service_dependencies", 17: "architecture_refactor_log",
               18: "communication_patterns", 19: "service_capacity_metrics"}
FKS = [("dns_validation_results", "dns_campaign_id"), ("http_keyword_results", "http_keyword_campaign_id"),
       ("campaign_jobs", "campaign_id")]
STATUS = {"campaigns": ("chk_campaigns_status_allowed",
                        [None, "", "Running", "RUNNING", "done", "Queued", "unknown"],
                        ["pending", "queued", "running", "pausing", "paused", "completed", "failed",
                         "cancelled", "archived"]),
          "campaign_jobs": ("chk_campaign_jobs_status_allowed",
                            [None, "", "Queued", "RUNNING", "done", "paused", "pausing", "archived", "unknown"],
                            ["pending", "queued", "running", "completed", "failed", "cancelled"])}
DNS_DERIVED = ["valid_dns", "invalid_dns", "pending_dns", "error_dns"]
_TRIGGER_SETS = r"new\s*\.\s*updated_at\s*:?="


@dataclass
class Site:
    """One object a mismatch is about: its state, what differs, what up does."""

    state: str
    found: str
    action: str


@dataclass
class Explanation:
    sites: list[Site] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        states = {s.state for s in self.sites} or {"exact"}
        state = "exact" if states == {"exact"} else "absent" if states == {"absent"} else \
            "equivalent" if states <= {"exact", "equivalent"} else "drifted"
        todo = [s.action for s in self.sites if s.action != "nothing"]
        return {"state": state, "found": [s.found for s in self.sites],
                "action": "; ".join(dict.fromkeys(todo)) or "nothing (only the bookkeeping)"}


def targets(up_file: Path) -> tuple[dict[str, list[tuple[str, str, bool]]], list[tuple[str, ...]],
                                    list[tuple[str, str, list[str], str | None]]]:
    """The declared columns, CHECKs and indexes, from the up file."""
    text = up_file.read_text(encoding="utf-8")
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for m in _COLUMN_ROW.finditer(text):
        columns.setdefault(m[1], []).append((m[2], m[3], m[4] == "true"))
    checks = [(m[1], m[2], m[3], m[4].replace("''", "'"),
               *[v.strip().strip("'") for v in m[5].split(",")]) for m in _CHECK_ROW.finditer(text)]
    indexes = [(m[1], m[2], [c.strip().strip("'") for c in m[3].split(",")],
                None if m[4] == "NULL" else m[4][1:-1].replace("''", "'")) for m in _INDEX_ROW.finditer(text)]
    return columns, checks, indexes


class _Catalog:
    def __init__(self, conn: db.Connection) -> None:
        self.conn = conn

    def one(self, query: Any, params: tuple[Any, ...] = ()) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return row[0] if row else None

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, params).fetchall()

    def column(self, table: str, col: str) -> tuple[str, bool] | None:
        row = self.conn.execute(
            "SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute WHERE attrelid = "
            "to_regclass(%s) AND attname = %s AND attnum > 0 AND NOT attisdropped", (table, col)).fetchone()
        return (row[0], row[1]) if row else None

    def refuses(self, table: str, col: str, expr: str, value: str | None) -> bool:
        typ = self.column(table, col)
        try:
            with self.conn.transaction(force_rollback=True):
                # the expression is the server's own constraint text, the type its format_type()
                ok = self.one(db.sql.SQL("SELECT ({}) IS NOT FALSE FROM (SELECT %s::{} AS {}) AS candidate").format(
                    db.sql.SQL(expr), db.sql.SQL(typ[0] if typ else "text"), db.sql.Identifier(col)), (value,))
        except db.Error:
            return True  # the type itself refuses the value
        return not ok

    def checks_on(self, table: str, col: str) -> list[tuple[str, str, bool]]:
        return [(r[0], r[1], r[2]) for r in self.rows(
            "SELECT c.conname, pg_get_expr(c.conbin, c.conrelid), c.convalidated FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.conrelid = to_regclass(%s) AND c.contype = 'c' AND cardinality(c.conkey) = 1 "
            "AND a.attname = %s ORDER BY 1", (table, col))]

    def equivalent_check(self, table: str, col: str, probes: list[str | None]) -> str | None:
        notnull = (self.column(table, col) or ("", False))[1]
        for name, expr, valid in self.checks_on(table, col):
            if valid and all((p is None and notnull) or self.refuses(table, col, expr, p) for p in probes):
                return name
        return None


def _column_site(cat: _Catalog, table: str, col: str, typ: str, not_null: bool) -> Site:
    have = cat.column(table, col)
    name = f"{table}.{col}"
    if have is None:
        return Site("absent", f"{name} absent", f"add {name} {typ} (nullable first: no rewrite)"
                    + (", then NOT NULL through a validated CHECK" if not_null else ""))
    diffs, actions = [], []
    if have[0] != typ:
        diffs.append(f"{name} {have[0]}, want {typ}")
        actions.append(f"convert {name} to text (binary-compatible: no rewrite)"
                       if typ == "text" and have[0].startswith("character varying")
                       else f"nothing online for {name}: verification will fail")
    if not_null and not have[1]:
        diffs.append(f"{name} nullable, want NOT NULL")
        actions.append(f"NOT NULL on {name} through a validated CHECK")
    if not diffs:
        return Site("exact", f"{name} {have[0]}{' NOT NULL' if have[1] else ''}", "nothing")
    return Site("drifted", "; ".join(diffs), "; ".join(actions))


def explain(conn: db.Connection, up_file: Path) -> dict[int, dict[str, Any]]:
    """Number -> {"state", "found", "action"} for the 23 mismatches."""
    cat = _Catalog(conn)
    columns, checks, indexes = targets(up_file)
    spec = {(t, c): (typ, nn) for t, cols in columns.items() for c, typ, nn in cols}
    out: dict[int, Explanation] = {n: Explanation() for n in range(1, 24)}
    timestamps = {"created_at", "updated_at"}
    for number, cols in COLUMN_SITES.items():
        for table, col in cols:
            typ, nn = spec.get((table, col), ("timestamp with time zone", False))
            # the parameter timestamps' NOT NULL has steps of its own, not the list's flag
            nn = nn or (table == "domain_generation_campaign_params" and col in timestamps)
            out[number].sites.append(_column_site(cat, table, col, typ, nn))
    _dns_values(cat, out[9])
    for number, (old, new) in RENAMES.items():
        if cat.column("campaign_jobs", new) is None and cat.column("campaign_jobs", old) is not None:
            out[number].sites.append(Site("absent", f"campaign_jobs.{old} (the old name)",
                                          f"rename campaign_jobs.{old} to {new} (metadata only)"))
        else:
            typ, nn = spec[("campaign_jobs", new)] if ("campaign_jobs", new) in spec else (
                "jsonb", False)
            out[number].sites.append(_column_site(cat, "campaign_jobs", new, typ, nn))
    for number, table in TABLE_SITES.items():
        _table_site(cat, table, columns.get(table, []), [c for c in checks if c[0] == table], out[number])
    for name, table, index_cols, pred in indexes:
        out[20].sites.append(_index_site(cat, name, table, index_cols, pred))
    for table, col in FKS:
        out[21].sites.append(_fk_site(cat, table, col))
    for (table,) in cat.rows("SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                             "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
                             "AND a.attname = 'updated_at' AND NOT a.attisdropped "
                             "AND c.relname <> 'schema_migrations' ORDER BY 1"):
        out[22].sites.append(_trigger_site(cat, table))
    for table in STATUS:
        out[23].sites.append(_status_site(cat, table))
    return {n: e.as_dict() for n, e in out.items()}


def _dns_values(cat: _Catalog, ex: Explanation) -> None:
    if cat.column("dns_validation_results", "business_status") is None:
        return
    for name, expr, _ in cat.checks_on("dns_validation_results", "business_status"):
        refused = [v for v in DNS_DERIVED if cat.refuses("dns_validation_results", "business_status", expr, v)]
        if refused:
            ex.sites.append(Site("drifted", f"CHECK {name} refuses {', '.join(refused)}",
                                 f"widen CHECK {name} to its union with the derived values "
                                 "(every value it allowed stays allowed; down restores it)"))
    nulls = cat.one("SELECT count(*) FROM dns_validation_results WHERE business_status IS NULL")
    if nulls:
        ex.sites.append(Site("drifted", f"{nulls} rows without business_status",
                             "derive business_status from validation_status where it is NULL "
                             "(batches; other values are kept)"))


def _table_site(cat: _Catalog, table: str, cols: list[tuple[str, str, bool]],
                checks: list[tuple[str, ...]], ex: Explanation) -> None:
    if cat.one("SELECT to_regclass(%s)", (table,)) is None:
        ex.sites.append(Site("absent", f"table {table} absent", f"the table {table} is created"))
        return
    for col, typ, nn in cols:
        ex.sites.append(_column_site(cat, table, col, typ, nn))
    for _t, col, conname, expr, *probes in checks:
        if cat.column(table, col) is None:
            continue
        eq = cat.equivalent_check(table, col, list(probes))
        if eq == conname:
            ex.sites.append(Site("exact", f"CHECK {conname}", "nothing"))
        elif eq:
            ex.sites.append(Site("equivalent", f"CHECK {conname}: equivalent exists as {eq}", "nothing"))
        else:
            ex.sites.append(Site("drifted", f"no CHECK ({expr}) on {table}.{col}",
                                 f"add CHECK ({expr}) NOT VALID, then VALIDATE"))


def _index_site(cat: _Catalog, name: str, table: str, cols: list[str], pred: str | None) -> Site:
    rows = cat.rows(
        "SELECT ic.relname, x.indisvalid FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid "
        "JOIN pg_am am ON am.oid = ic.relam WHERE x.indrelid = to_regclass(%s) AND am.amname = 'btree' "
        "AND x.indexprs IS NULL AND NOT x.indisunique AND pg_get_expr(x.indpred, x.indrelid) "
        "IS NOT DISTINCT FROM %s AND (SELECT array_agg(a.attname::text ORDER BY k.n) FROM "
        "unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) JOIN pg_attribute a "
        "ON a.attrelid = x.indrelid AND a.attnum = k.attnum) = %s ORDER BY 1", (table, pred, cols))
    valid = [r[0] for r in rows if r[1]]
    what = f"{table} ({', '.join(cols)}){' WHERE ' + pred if pred else ''}"
    if name in valid:
        return Site("exact", f"index {name} on {what}", "nothing")
    if valid:
        return Site("equivalent", f"index {name}: equivalent exists as {valid[0]}", "nothing (no duplicate built)")
    if cat.one("SELECT to_regclass(%s)", (name,)) is not None:
        return Site("drifted", f"index {name} exists with another definition or invalid",
                    "an invalid one is rebuilt concurrently; another definition stays, verification says")
    return Site("absent", f"index {name} on {what} absent", f"build {name} concurrently")


def _fk_site(cat: _Catalog, table: str, col: str) -> Site:
    row = cat.conn.execute(
        "SELECT c.conname, c.convalidated, c.confdeltype FROM pg_constraint c JOIN pg_attribute a "
        "ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] WHERE c.contype = 'f' AND c.conrelid = "
        "to_regclass(%s) AND c.confrelid = to_regclass('campaigns') AND a.attname = %s "
        "AND cardinality(c.conkey) = 1 ORDER BY c.convalidated DESC LIMIT 1", (table, col)).fetchone()
    orphans = cat.one(db.sql.SQL("SELECT count(*) FROM {} t WHERE NOT EXISTS "
                                 "(SELECT 1 FROM campaigns c WHERE c.id = t.{})").format(
        db.sql.Identifier(table), db.sql.Identifier(col)))
    archive = f"archive and delete {orphans} orphans" if orphans else ""
    if row is None:
        return Site("absent", f"no foreign key {table}.{col} -> campaigns",
                    ", ".join(filter(None, ["add it ON DELETE CASCADE NOT VALID", archive, "VALIDATE"])))
    name, valid, deltype = row
    if valid and deltype == "c":
        state = "exact" if name.startswith("fk_") else "equivalent"
        return Site(state, f"foreign key {table}.{col}" + ("" if state == "exact" else
                    f": equivalent exists as {name}"), "nothing")
    return Site("drifted", f"foreign key {name} is " + ("NOT VALID" if not valid else "not ON DELETE CASCADE"),
                ", ".join(filter(None, [archive, "VALIDATE" if not valid else "nothing online"])))


def _trigger_site(cat: _Catalog, table: str) -> Site:
    names = [r[0] for r in cat.rows(
        "SELECT g.tgname FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid WHERE g.tgrelid = "
        "to_regclass(%s) AND NOT g.tgisinternal AND g.tgenabled <> 'D' AND (g.tgtype & 19) = 19 "
        "AND p.prosrc ~* %s ORDER BY 1", (table, _TRIGGER_SETS))]
    if "set_updated_at" in names:
        return Site("exact", f"trigger {table}.set_updated_at", "nothing")
    if names:
        return Site("equivalent", f"trigger {table}.set_updated_at: equivalent exists as {names[0]}",
                    "nothing (no second trigger)")
    return Site("absent", f"no updated_at trigger on {table}", f"trigger set_updated_at is added on {table}")


def _status_site(cat: _Catalog, table: str) -> Site:
    target, probes, allowed = STATUS[table]
    bad = cat.one(db.sql.SQL("SELECT count(*) FROM {} WHERE status IS NULL OR NOT (status = ANY (%s))").format(
        db.sql.Identifier(table)), (allowed,))
    rewrite = f"archive and rewrite {bad} status values outside the set" if bad else ""
    eq = cat.equivalent_check(table, "status", probes)
    if eq == target:
        return Site("exact", f"CHECK {target}", rewrite or "nothing")
    if eq:
        return Site("equivalent", f"CHECK {target}: equivalent exists as {eq}", rewrite or "nothing (no second CHECK)")
    others = [n for n, _e, _v in cat.checks_on(table, "status")]
    action = ", ".join(filter(None, [rewrite, f"add CHECK {target} NOT VALID, then VALIDATE"]))
    if others:
        return Site("drifted", f"{table}.status: CHECK {', '.join(others)} is looser than the allowed set", action)
    return Site("absent", f"no CHECK on {table}.status" + (f"; {bad} values outside the set" if bad else ""), action)
