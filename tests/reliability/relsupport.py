"""Helpers of the reliability suite: run the real CLI as a process, read the version table,
fingerprint every table, build DomainFlow v26 template databases, hunt for the password.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]
SQL_DIR = REPO / "sql"
MIGRATIONS = SQL_DIR / "migrations"
SECRET = "SfSecretPw7Qz9Xv"  # tests/conftest.py's SECRET_PASSWORD
PY = sys.executable
BASELINE_TABLES_SCHEMA = "public"
ARCHIVE_SCHEMA = "schemaflow_archive"
ENGINE_TABLES = {"schema_migrations", "schemaflow_history"}


# -- the CLI -------------------------------------------------------------------------
def cli_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGPASSWORD")}
    env["DATABASE_URL"] = url
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def migrate_argv(*args: str) -> list[str]:
    return [PY, "-m", "schemaflow", "migrate", *args]


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return (f"$ {' '.join(self.argv[2:])}\nexit {self.returncode}\n--- stdout\n"
                f"{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}")


def run(argv: Sequence[str], env: dict[str, str], timeout: float = 180) -> Result:
    p = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=timeout,
                       cwd=REPO)
    return Result(list(argv), p.returncode, p.stdout, p.stderr)


def migrate(env: dict[str, str], *args: str, timeout: float = 180) -> Result:
    return run(migrate_argv(*args), env, timeout)


@dataclass
class Spawned:
    """A runner started in the background, its output going to files (a pipe nobody
    reads would fill up and stop it at a point of its own choosing)."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def output(self) -> tuple[str, str]:
        return (self.out.read_text(errors="replace"), self.err.read_text(errors="replace"))

    def kill(self) -> tuple[str, str]:
        """SIGKILL (no cleanup, no atexit: what the OOM killer or a node loss does)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        return self.output()

    def wait(self, timeout: float = 180) -> tuple[int, str, str]:
        rc = self.proc.wait(timeout=timeout)
        return (rc, *self.output())


def spawn(argv: Sequence[str], env: dict[str, str], logdir: Path, tag: str = "run") -> Spawned:
    logdir.mkdir(parents=True, exist_ok=True)
    out, err = logdir / f"{tag}.out", logdir / f"{tag}.err"
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(list(argv), env=env, stdout=fo, stderr=fe, cwd=REPO,
                                start_new_session=True)
    return Spawned(proc, out, err)


# -- the database --------------------------------------------------------------------
def query(conninfo: str, text: str | sql.Composable, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


def version_state(conninfo: str) -> tuple[int | None, bool]:
    """(version, dirty) straight from schema_migrations, as golang-migrate reads it."""
    rows = query(conninfo, "SELECT to_regclass('public.schema_migrations') IS NOT NULL")
    if not rows[0][0]:
        return None, False
    rows = query(conninfo, "SELECT version, dirty FROM public.schema_migrations LIMIT 1")
    return (rows[0][0], rows[0][1]) if rows else (None, False)


def wait_backends_gone(admin_postgres: str, dbname: str, timeout: float = 60,
                       ignore_pid: int | None = None) -> None:
    """After killing a client, its server backend may still be finishing a statement (a
    backend notices a vanished client only when it next talks to it): wait until no
    backend of ``dbname`` other than ours is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(admin_postgres,
                     "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                     "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                     "AND pid IS DISTINCT FROM %s", (dbname, ignore_pid))
        if rows[0][0] == 0:
            return
        time.sleep(0.05)
    left = query(admin_postgres, "SELECT pid, application_name, state, wait_event_type, wait_event, "
                 "left(query, 80) FROM pg_stat_activity WHERE datname = %s "
                 "AND pid <> pg_backend_pid()", (dbname,))
    raise TimeoutError(f"backends of {dbname} still alive after {timeout}s: {left}")


def create_from_template(admin_postgres: str, name: str, template: str) -> None:
    with psycopg.connect(admin_postgres, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))


def create_database(admin_postgres: str, name: str) -> None:
    with psycopg.connect(admin_postgres, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_postgres: str, name: str) -> None:
    with psycopg.connect(admin_postgres, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def load_v26(conninfo: str, scale: float, variant: str = "synthetic") -> None:
    """DomainFlow at version 26 with generated data, shaped as ``variant`` (the SQL owner's
    loader, schemaflow.baseline)."""
    from schemaflow.baseline import load_baseline

    load_baseline(conninfo, scale, variant=variant)


# -- fingerprints --------------------------------------------------------------------
@dataclass(frozen=True)
class TablePrint:
    rows: int
    digest: str
    columns: tuple[str, ...]


def fingerprints(conninfo: str, schemas: Iterable[str] = (BASELINE_TABLES_SCHEMA,),
                 skip_tables: Iterable[str] = ENGINE_TABLES,
                 skip_columns: dict[str, set[str]] | None = None) -> dict[str, TablePrint]:
    """Per table: row count and md5 of the sorted rows, columns in name order (so a column
    dropped and re-added, or renamed back, still compares equal). ``skip_columns`` maps
    ``schema.table`` (or ``*``) to columns left out (values that depend on the clock)."""
    skip_columns = skip_columns or {}
    out: dict[str, TablePrint] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) ORDER BY 1, 2",
            (list(schemas),)).fetchall()
        for schema, table in tables:
            if table in set(skip_tables):
                continue
            key = f"{schema}.{table}"
            skip = skip_columns.get(key, set()) | skip_columns.get("*", set())
            cols = [r[0] for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attname",
                (sql.Identifier(schema, table).as_string(conn),)).fetchall() if r[0] not in skip]
            collist = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
            row = conn.execute(sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) "
                "FROM (SELECT ROW({})::text AS r FROM {}) s").format(
                    collist, sql.Identifier(schema, table))).fetchone()
            assert row is not None
            out[key] = TablePrint(int(row[0]), str(row[1]), tuple(cols))
    return out


def diff_prints(before: dict[str, TablePrint], after: dict[str, TablePrint]) -> list[str]:
    problems = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b is None:
            problems.append(f"{key}: new table ({a.rows if a else 0} rows)")
        elif a is None:
            problems.append(f"{key}: table gone ({b.rows} rows lost)")
        elif b != a:
            what = []
            if b.rows != a.rows:
                what.append(f"rows {b.rows} -> {a.rows}")
            if b.columns != a.columns:
                what.append(f"columns {set(b.columns) ^ set(a.columns)}")
            if not what:
                what.append("same count, different content")
            problems.append(f"{key}: {', '.join(what)}")
    return problems


def rows_lost(before: dict[str, TablePrint], after: dict[str, TablePrint]) -> int:
    return sum(max(0, b.rows - (after[k].rows if k in after else 0)) for k, b in before.items())


# -- secret hygiene ------------------------------------------------------------------
def assert_no_secret(*texts: str | bytes | None, where: str = "") -> None:
    import urllib.parse

    needles = {SECRET, urllib.parse.quote(SECRET, safe="")}
    for text in texts:
        if text is None:
            continue
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for needle in needles:
            assert needle not in text, f"password found in {where or 'output'}: ...{_around(text, needle)}..."


def _around(text: str, needle: str) -> str:
    i = text.find(needle)
    return text[max(0, i - 120): i + len(needle) + 40].replace(needle, "<PASSWORD>")


def column_digests(conninfo: str, schemas: Iterable[str]) -> dict[tuple[str, str], str]:
    """md5 of each column's sorted values: used to find the columns whose values depend on
    when the migration ran (two clean runs differ there), left out of the comparisons."""
    out: dict[tuple[str, str], str] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cols = conn.execute(
            "SELECT n.nspname, c.relname, a.attname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY 1, 2, 3", (list(schemas),)).fetchall()
        for schema, table, col in cols:
            row = conn.execute(sql.SQL(
                "SELECT md5(coalesce(string_agg(v, E'\\n' ORDER BY v), '')) "
                "FROM (SELECT {}::text AS v FROM {}) s").format(
                    sql.Identifier(col), sql.Identifier(schema, table))).fetchone()
            assert row is not None
            out[(f"{schema}.{table}", col)] = str(row[0])
    return out


def invalid_indexes(conninfo: str) -> list[str]:
    return [r[0] for r in query(conninfo, "SELECT indexrelid::regclass::text FROM pg_index "
                                "WHERE NOT indisvalid OR NOT indisready")]
