"""After a rollback: is the database what it was before up? The schema (``pg_dump
--schema-only``, the archive schema and the engine's history aside) and, per table, the
row count and an order-independent checksum of every row's text form, compared with the
version-26 template the run was cloned from.

The application kept writing meanwhile. Its rows are left out on both sides: the rows it
inserted (marked ``bench-…``), the jobs it claimed, and the campaigns whose counters it
incremented. Everything else must be identical, bit for bit.
"""

from __future__ import annotations

import difflib
import re
import subprocess
from typing import Any

import psycopg
from psycopg import sql

ARCHIVE_SCHEMA = "schemaflow_archive"
ENGINE_TABLES = ("schemaflow_history",)  # written by the engine; not in the template


def schema_dump(pg_dump: str, conninfo: str) -> str:
    args = [pg_dump, "--schema-only", "--no-owner", "-N", ARCHIVE_SCHEMA]
    for t in ENGINE_TABLES:
        args += ["-T", t, "-T", f"{t}_id_seq"]
    out = subprocess.run([*args, "-d", conninfo], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    # PostgreSQL 18's pg_dump writes a random \restrict key per dump
    return "".join(line for line in out.splitlines(keepends=True)
                   if not re.match(r"^\\(un)?restrict ", line))


def app_rows(conninfo: str, progress_campaigns: list[Any]) -> dict[str, list[Any]]:
    """Primary keys of the rows the application wrote, per table (read after the run)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cols = {r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.campaign_jobs'::regclass "
            "AND attnum > 0 AND NOT attisdropped")}
        worker = "worker_id" if "worker_id" in cols else "processing_server_id"
        payload = "payload" if "payload" in cols else "job_payload"
        jobs = [r[0] for r in conn.execute(sql.SQL(
            "SELECT id FROM campaign_jobs WHERE {w} LIKE 'bench-%%' OR {p} ? 'bench'").format(
            w=sql.Identifier(worker), p=sql.Identifier(payload)))]
        out = {"campaign_jobs": jobs, "campaigns": list(progress_campaigns)}
        for t in ("dns_validation_results", "http_keyword_results"):
            out[t] = [r[0] for r in conn.execute(sql.SQL(
                "SELECT id FROM {} WHERE domain_name LIKE 'bench-%%'").format(sql.Identifier(t)))]
        return out


ROW_HASH = "('x' || substr(md5(x::text), 1, 15))::bit(60)::bigint"
_full: dict[str, dict[str, list[int]]] = {}  # the template's sums, computed once per run


def checksums(conninfo: str, skip: dict[str, list[Any]], cache: bool = False) -> dict[str, list[int]]:
    """{table: [rows, checksum]} of every table of the public schema, ``skip``'s rows aside.
    The checksum is a sum of row hashes: the full sums less those of the skipped rows, so a
    database that does not change (the template) is read in full once."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        full = _full.get(conninfo) if cache else None
        if full is None:
            full = {}
            tables = [r[0] for r in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind = 'r' AND relname <> ALL(%s) ORDER BY 1", (list(ENGINE_TABLES),))]
            for t in tables:
                row = conn.execute(sql.SQL(f"SELECT count(*), coalesce(sum({ROW_HASH}), 0) "  # noqa: S608
                                           "FROM public.{} x").format(sql.Identifier(t))).fetchone()
                assert row is not None
                full[t] = [int(row[0]), int(row[1])]
            if cache:
                _full[conninfo] = full
        out = {t: list(v) for t, v in full.items()}
        for t, ids in skip.items():
            if t in out and ids:
                row = conn.execute(sql.SQL(f"SELECT count(*), coalesce(sum({ROW_HASH}), 0) "  # noqa: S608
                                           "FROM public.{} x WHERE x.id = ANY(%s)").format(
                    sql.Identifier(t)), (ids,)).fetchone()
                assert row is not None
                out[t] = [out[t][0] - int(row[0]), out[t][1] - int(row[1])]
    return out


def compare(pg_dump: str, before: str, after: str, progress_campaigns: list[Any]) -> dict[str, Any]:
    """Schema and rows of ``after`` against ``before`` (conninfo strings)."""
    skip = app_rows(after, progress_campaigns)
    s0, s1 = schema_dump(pg_dump, before), schema_dump(pg_dump, after)
    c0, c1 = checksums(before, skip, cache=True), checksums(after, skip)
    diff = list(difflib.unified_diff(s0.splitlines(), s1.splitlines(), "before up", "after down",
                                     n=0, lineterm=""))
    tables = sorted(set(c0) | set(c1))
    differ = [t for t in tables if c0.get(t) != c1.get(t)]
    return {
        "schemaIdentical": not diff,
        "schemaDiff": diff[:60],
        "rowsIdentical": not differ,
        "tablesCompared": len(tables),
        "rowsCompared": sum(v[0] for v in c0.values()),
        "tablesDiffering": {t: {"before": c0.get(t), "after": c1.get(t)} for t in differ},
        "appRowsLeftOut": {t: len(v) for t, v in skip.items()},
    }
