"""No SQL built by string formatting in the package.

Identifiers go through ``psycopg.sql`` (``sql.Identifier``, ``sql.Literal``) and values go
as parameters. This scan reads every module of ``operator/schemaflow`` as a syntax tree and
fails on:

1. ``execute``/``executemany``/``copy``/``sql.SQL`` called with an f-string, a ``%``- or
   ``+``-built string, or ``str.format(...)``;
2. any f-string, ``"..." % x`` or ``"...".format(x)`` whose literal text reads like a SQL
   statement (built first, executed later).

Exceptions are listed in ``ALLOWED`` with the reason each is safe; an exception that no
longer matches anything fails too, so the list cannot rot.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "operator" / "schemaflow"

EXEC_NAMES = {"execute", "executemany", "copy", "SQL"}

SQL_START = re.compile(
    r"^\s*(SELECT|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|CREATE\s|ALTER\s|DROP\s|"
    r"SET\s+(LOCAL\s+|SESSION\s+)?[a-z_.]+\s*(=|TO\b)|GRANT\s|REVOKE\s|TRUNCATE\s|"
    r"LOCK\s+TABLE|COMMENT\s+ON|WITH\s+\w+\s+AS|COPY\s|DO\s+\$|CALL\s|RESET\s|"
    r"BEGIN\b|COMMIT\b|ROLLBACK\b|VALUES\s*\(|SHOW\s|NOTIFY\s|LISTEN\s)"
)
SQL_LOWER = re.compile(
    r"^\s*(select\s.+\sfrom\s|insert\s+into\s|update\s+\S+\s+set\s|delete\s+from\s|"
    r"(create|alter|drop)\s+(table|index|schema|sequence|view|function|trigger)\s|"
    r"set\s+(local\s+)?(lock_timeout|statement_timeout|search_path|role|application_name))",
    re.S,
)

# (path relative to operator/schemaflow, substring of the offending source line) -> reason.
# Keep this short; every entry must say why the formatted text cannot carry user input.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    source: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}: {self.source.strip()}"


def _literal_text(node: ast.AST) -> str | None:
    """The constant text of a str constant / f-string (placeholders as {})."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                parts.append(v.value)
            else:
                parts.append("{}")
        return "".join(parts)
    return None


def _formatted(node: ast.AST) -> tuple[str, str] | None:
    """(kind, literal text) when ``node`` builds a string by formatting."""
    if isinstance(node, ast.JoinedStr) and any(
        isinstance(v, ast.FormattedValue) for v in node.values
    ):
        return "f-string", _literal_text(node) or ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        text = _literal_text(node.left)
        if text is not None:
            return "%-formatting", text
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        for side in (node.left, node.right):
            text = _literal_text(side)
            if text is not None:
                return "string concatenation", text
            inner = _formatted(side)
            if inner:
                return inner
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        text = _literal_text(node.func.value)
        if text is not None:
            return "str.format", text
    return None


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _looks_like_sql(text: str) -> bool:
    return bool(SQL_START.search(text) or SQL_LOWER.search(text))


def scan_source(source: str, rel: str) -> list[Finding]:
    tree = ast.parse(source)
    lines = source.splitlines()
    found: dict[int, Finding] = {}

    def add(node: ast.AST, why: str) -> None:
        line = getattr(node, "lineno", 0)
        found.setdefault(line, Finding(rel, line, lines[line - 1] if line else "", why))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in EXEC_NAMES and node.args:
            fmt = _formatted(node.args[0])
            if fmt:
                add(node, f"{_call_name(node)}() given SQL built by {fmt[0]}")
        fmt = _formatted(node) if isinstance(node, (ast.JoinedStr, ast.BinOp, ast.Call)) else None
        if fmt and _looks_like_sql(fmt[1]):
            add(node, f"SQL text built by {fmt[0]}")
    return sorted(found.values(), key=lambda f: f.line)


def scan_package() -> tuple[list[Finding], set[tuple[str, str]]]:
    violations: list[Finding] = []
    used: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for f in scan_source(path.read_text(encoding="utf-8"), rel):
            key = next((k for k in ALLOWED if k[0] == rel and k[1] in f.source), None)
            if key:
                used.add(key)
            else:
                violations.append(f)
    return violations, used


def test_package_builds_no_sql_by_string_formatting() -> None:
    violations, _ = scan_package()
    assert not violations, (
        "SQL built by string formatting (use psycopg.sql.Identifier/Literal and parameters, "
        "or add an ALLOWED entry with a reason):\n" + "\n".join(map(str, violations))
    )


def test_allowlist_entries_are_all_still_needed() -> None:
    _, used = scan_package()
    stale = set(ALLOWED) - used
    assert not stale, f"ALLOWED entries that match nothing any more: {sorted(stale)}"


# -- the scanner itself must catch what it claims to catch -----------------------------
BAD_SNIPPETS = [
    'cur.execute(f"SELECT * FROM {table}")',
    'conn.execute("SELECT * FROM %s" % table)',
    'conn.execute("SELECT * FROM " + table)',
    'conn.execute("DELETE FROM {} WHERE id = 1".format(table))',
    'q = f"INSERT INTO {schema}.{table} (version, dirty) VALUES (1, false)"',
    'q = "UPDATE %s SET dirty = true" % name',
    "q = f\"SET lock_timeout = '{timeout}'\"",
    'q = f"set statement_timeout = {ms}"',
    'stmt = sql.SQL(f"CREATE TABLE {name} ()")',
    'conn.execute(f"LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE")',
    'q = "CREATE SCHEMA IF NOT EXISTS " + schema',
    'cur.executemany(f"INSERT INTO t VALUES ({x}, %s)", rows)',
]
GOOD_SNIPPETS = [
    'conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))',
    'conn.execute("SELECT version, dirty FROM t WHERE x = %s", (x,))',
    "conn.execute(\"SELECT set_config('lock_timeout', %s, false)\", (timeout,))",
    'log.info(f"applied {n} statements in {secs:.1f}s")',
    'msg = f"select a target between {lo} and {hi}"',
    'raise ApplyFailed(f"statement {i} failed: {err}")',
    'conn.execute(statement.text)',
]


@pytest.mark.parametrize("snippet", BAD_SNIPPETS)
def test_scanner_flags(snippet: str) -> None:
    assert scan_source(snippet, "x.py"), snippet


@pytest.mark.parametrize("snippet", GOOD_SNIPPETS)
def test_scanner_accepts(snippet: str) -> None:
    assert not scan_source(snippet, "x.py"), snippet
