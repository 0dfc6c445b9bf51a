"""Helpers for the DomainFlow 000027 SQL tests: the real CLI, the baseline, dumps and
checksums, and a step executor (built on the engine's own file parser) used only to
inject crashes between statements."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from schemaflow.engine.sources import parse_steps

REPO = Path(__file__).resolve().parents[2]
SQL = REPO / "sql"
MIGRATIONS = SQL / "migrations"
VERIFY_DIR = SQL / "verify"
UP = MIGRATIONS / "000027_comprehensive_schema_alignment.up.sql"
DOWN = MIGRATIONS / "000027_comprehensive_schema_alignment.down.sql"
VERIFY = VERIFY_DIR / "000027_comprehensive_schema_alignment.verify.sql"
ARCHIVE = "schemaflow_archive"
# tables the engine itself keeps next to schema_migrations
ENGINE_TABLES = ("schemaflow_history",)


def migrations_dir(tmp: Path, up_text: str | None = None) -> Path:
    """A copy of the bundled migration directory (only 000027: DomainFlow's 1..26 live in its
    own repository, the engine treats a database version below the first bundled file as
    its base), optionally with a modified up file."""
    d = tmp / "migrations"
    d.mkdir(parents=True, exist_ok=True)
    for p in MIGRATIONS.glob("000027_*"):
        shutil.copy(p, d / p.name)
    if up_text is not None:
        (d / UP.name).write_text(up_text, encoding="utf-8")
    return d


def cli(db, *args: str, mdir: Path, batch_size: int | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``schemaflow migrate ...`` against ``db`` (URL from the environment, as in the Job)."""
    cmd = [sys.executable, "-m", "schemaflow", "migrate", *args, "--dir", str(mdir),
           "--verify-dir", str(VERIFY_DIR)]
    if args and args[0] in ("up", "down"):
        cmd += ["--preflight", "off"]
        if batch_size:
            cmd += ["--batch-size", str(batch_size)]
    return subprocess.run(cmd, env=db.env(), capture_output=True, text=True, timeout=timeout)


class Crash(Exception):
    """Raised by ``apply_file`` to simulate a process killed between two statements."""


def apply_file(db, path: Path | str, *, batch_size: int | None = 50, crash_after: int | None = None,
               text: str | None = None) -> int:
    """Run a migration file the way the engine's step kinds define it (transaction /
    no-transaction autocommit / batch until 0 rows; ``batch_size=None`` leaves
    schemaflow.batch_size unset, as a plain runner would), stopping with ``Crash`` after
    ``crash_after`` committed units. Returns the number of units run."""
    p = Path(path)
    steps, _ = parse_steps(text if text is not None else p.read_text(), p.name)
    units = 0

    def tick() -> None:
        nonlocal units
        units += 1
        if crash_after is not None and units >= crash_after:
            raise Crash(units)

    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '5s'")
        for step in steps:
            if step.kind == "transaction":
                with conn.transaction():
                    for st in step.statements:
                        conn.execute(st.text)
                tick()
            elif step.kind == "no-transaction":
                for st in step.statements:
                    conn.execute(st.text)
                    tick()
            else:
                while True:
                    with conn.transaction():
                        if batch_size is not None:  # None: a runner that knows no batches
                            conn.execute("SELECT set_config('schemaflow.batch_size', %s, true)",
                                         (str(batch_size),))
                        n = conn.execute(step.statements[0].text).rowcount
                    tick()
                    if n == 0:
                        break
    return units


def load(db, scale: float = 0.2, variant: str = "synthetic") -> None:
    from schemaflow.baseline import load_baseline

    load_baseline(db.admin, scale, variant=variant)


# values the allowed status sets refuse (with NULL): a CHECK refusing all of them is
# equivalent to the target's (or stricter)
STATUS_PROBES = {"campaigns": [None, "", "Running", "RUNNING", "done", "Queued", "unknown"],
                 "campaign_jobs": [None, "", "Queued", "RUNNING", "done", "paused", "pausing",
                                   "archived", "unknown"]}


def duplicates(db) -> list[str]:
    """Objects that duplicate another by definition: indexes (same table, columns, predicate,
    uniqueness, expressions, method), updated_at triggers (two BEFORE UPDATE row triggers
    whose functions set NEW.updated_at on one table), CHECKs (same expression on one table;
    two status CHECKs that each refuse every drifted value)."""
    out = [f"index {r[0]} duplicates {r[1]}" for r in db.query("""
        SELECT max(ic.relname), min(ic.relname) FROM pg_index x
        JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relnamespace = 'public'::regnamespace
        GROUP BY x.indrelid, x.indkey::text, ic.relam, x.indisunique, pg_get_expr(x.indpred, x.indrelid),
                 pg_get_expr(x.indexprs, x.indrelid)
        HAVING count(*) > 1""")]
    out += [f"table {r[0]} has updated_at triggers {r[1]}" for r in db.query("""
        SELECT g.tgrelid::regclass::text, string_agg(g.tgname, ', ' ORDER BY g.tgname)
        FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
        WHERE NOT g.tgisinternal AND (g.tgtype & 19) = 19 AND p.prosrc ~* 'new\\s*\\.\\s*updated_at\\s*:?='
        GROUP BY g.tgrelid HAVING count(*) > 1""")]
    out += [f"CHECK {r[1]} on {r[0]} duplicates another" for r in db.query("""
        SELECT c.conrelid::regclass::text, string_agg(c.conname, ', ') FROM pg_constraint c
        WHERE c.contype = 'c' AND c.connamespace = 'public'::regnamespace
        GROUP BY c.conrelid, pg_get_expr(c.conbin, c.conrelid) HAVING count(*) > 1""")]
    for table, probes in STATUS_PROBES.items():
        notnull = db.query("SELECT attnotnull FROM pg_attribute WHERE attrelid = %s::regclass "
                           "AND attname = 'status'", (table,))[0][0]
        equivalent = []
        for name, expr in db.query(
                "SELECT c.conname, pg_get_expr(c.conbin, c.conrelid) FROM pg_constraint c "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
                "WHERE c.conrelid = %s::regclass AND c.contype = 'c' AND a.attname = 'status' "
                "AND cardinality(c.conkey) = 1", (table,)):
            accepted = [v for v in probes if not (v is None and notnull) and db.query(
                f"SELECT ({expr}) IS NOT FALSE FROM (SELECT %s::text AS status) AS c",  # noqa: S608 - the server's own CHECK
                (v,))[0][0]]
            if not accepted:
                equivalent.append(name)
        if len(equivalent) > 1:
            out.append(f"{table}.status: equivalent CHECKs {', '.join(sorted(equivalent))}")
    return out


def schema_dump(db) -> str:
    """pg_dump --schema-only of the server's own version, the archive schema and the
    engine's bookkeeping aside; random \\restrict keys (PostgreSQL 18) removed."""
    args = [db.server.tool("pg_dump"), "--schema-only", "--no-owner", "-N", ARCHIVE]
    for t in ENGINE_TABLES:
        args += ["-T", t, "-T", f"{t}_id_seq"]
    out = subprocess.run([*args, db.admin], capture_output=True, text=True, check=True).stdout
    return "".join(line for line in out.splitlines(keepends=True)
                   if not re.match(r"^\\(un)?restrict ", line))


def user_tables(db) -> list[str]:
    return [r[0] for r in db.query(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relkind = 'r' AND c.relname NOT IN ('schemaflow_history') ORDER BY 1")]


def checksums(db, tables: list[str] | None = None) -> dict[str, tuple[int, str]]:
    """Per-table row count and md5 of all rows (text form) in primary-key order."""
    out = {}
    for t in tables or user_tables(db):
        pk = db.query(
            "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) FROM pg_index i, "
            "unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a "
            "ON a.attrelid = %s::regclass AND a.attnum = k.attnum "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary", (t, t))[0][0]
        n, h = db.query(
            f'SELECT count(*), md5(coalesce(string_agg(x::text, E\'\\n\' ORDER BY {pk}), \'\')) '  # noqa: S608
            f'FROM public."{t}" x')[0]
        out[t] = (n, h)
    return out


def run_verify(db) -> dict[str, list[str]]:
    """Failing checks of the bundled verify file (engine.verify), name -> problems."""
    from schemaflow.engine.verify import load_checks, run_checks

    results = run_checks(db.url, load_checks(VERIFY))
    return {r.check.name: ([f"error: {r.error}"] if r.error else r.problems)
            for r in results if not r.passed}


def audit_open(db) -> list[int]:
    from schemaflow.audit import audit_database

    return [item["number"] for item in audit_database(db.url) if item["open"]]


