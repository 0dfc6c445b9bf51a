"""Verification checks: parsing ``*.verify.sql`` files and running each check in a
transaction that is always rolled back.

Format (docs/architecture.md): a check starts at ``-- check: <name>``; the ``-- key: value``
lines right after it are metadata (``mismatch: 1`` or ``mismatch: 3,20``,
``description: ...``); the body is one or more statements and the rows returned by the
LAST statement are the problems (none = the check holds). A check whose SQL raises an
error fails with that error. Rolling back lets checks exercise the application's own
queries (inserts included) without leaving a trace.

Public API (also used by ``schemaflow audit``): ``load_checks``, ``parse_checks``,
``checks_for_version``, ``run_checks``, ``summarize``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemaflow.engine import db
from schemaflow.engine.sqlsplit import TX_CONTROL, nul_line, split_sql
from schemaflow.errors import MigrationSourceError

_CHECK = re.compile(r"^--\s*check:\s*(?P<name>\S*)\s*$")
_META = re.compile(r"^--\s*(?P<key>[a-z][a-z_-]*):\s*(?P<value>.*?)\s*$")
_NAME = re.compile(r"^[a-z0-9_]+$")
_VERIFY_FILE = re.compile(r"^(?P<version>[0-9]+)_.*\.verify\.sql$")
MAX_PROBLEMS_PER_CHECK = 20


@dataclass(frozen=True)
class Check:
    """One named check. ``source``/``line`` locate its ``-- check:`` line for messages."""

    name: str
    sql: str
    mismatches: list[int] = field(default_factory=list)
    description: str = ""
    source: str = "<string>"
    line: int = 1


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: the problem rows rendered as short strings, or the error."""

    check: Check
    problems: list[str]
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and not self.problems


def check_sql_problem(sql_text: str) -> str | None:
    """What makes ``sql_text`` unfit to run as a check, or None: a NUL (libpq would drop the
    text after it), or a statement that would end the check's rolled-back transaction and
    make its writes stick. The CLI and the operator's spec parser both ask this."""
    nul_at = nul_line(sql_text)
    if nul_at is not None:
        return f"line {nul_at} holds a NUL character"
    for st in split_sql(sql_text):
        if TX_CONTROL.match(st.text):
            return (f"transaction control ({st.text.split()[0]}) is not allowed; a check runs "
                    "in a transaction that is always rolled back, and ending it would let the "
                    "check change the database: remove the statement")
    return None


def parse_checks(text: str, source: str = "<string>") -> list[Check]:
    """Checks of one verify file's text; raises MigrationSourceError naming file:line."""
    if (nul_at := nul_line(text)) is not None:
        raise MigrationSourceError(f"{source}:{nul_at}: contains a NUL byte",
                                   hint="PostgreSQL would silently ignore the text after it: "
                                   "remove it")
    checks: list[Check] = []
    current: dict[str, Any] | None = None
    in_meta = False
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        sql_text = "\n".join(body).strip()
        if not split_sql(sql_text):
            raise MigrationSourceError(f"{source}:{current['line']}: check "
                                       f"{current['name']!r} has no SQL")
        if (problem := check_sql_problem(sql_text)) is not None:
            raise MigrationSourceError(f"{source}:{current['line']}: check "
                                       f"{current['name']!r}: {problem}")
        checks.append(Check(sql=sql_text, **current))

    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _CHECK.match(line.strip())
        if m:
            close()
            name = m.group("name")
            if not _NAME.match(name):
                raise MigrationSourceError(f"{source}:{lineno}: check name {name!r} must match "
                                           "[a-z0-9_]+")
            if any(c.name == name for c in checks):
                raise MigrationSourceError(f"{source}:{lineno}: duplicate check name {name!r}")
            current, in_meta, body = {"name": name, "source": source, "line": lineno}, True, []
            continue
        meta = _META.match(line.strip()) if in_meta else None
        if current is not None and meta:
            _set_meta(current, meta.group("key"), meta.group("value"), f"{source}:{lineno}")
            continue
        in_meta = False
        if current is None:
            if split_sql(line):
                raise MigrationSourceError(f"{source}:{lineno}: SQL before the first "
                                           "'-- check: <name>' line")
            continue
        body.append(line)
    close()
    return checks


def _set_meta(check: dict[str, Any], key: str, value: str, where: str) -> None:
    if key == "mismatch":
        try:
            check["mismatches"] = [int(v) for v in re.split(r"[,\s]+", value) if v]
        except ValueError:
            raise MigrationSourceError(f"{where}: 'mismatch:' takes numbers like 3,20") from None
    elif key == "description":
        check["description"] = value
    # other keys are free-form notes for humans; they do not change how a check runs


def load_checks(path: Path | str) -> list[Check]:
    """Checks of one verify file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MigrationSourceError(f"verify file {p} not found") from None
    except UnicodeDecodeError:
        raise MigrationSourceError(f"{p}: not valid UTF-8") from None
    return parse_checks(text, str(p))


def checks_for_version(verify_dir: Path, version: int) -> list[Check]:
    """All checks of ``<verify_dir>/<version>_*.verify.sql`` (version compared as a number,
    so ``000027_x.verify.sql`` belongs to 27). No file means no checks."""
    if not verify_dir.is_dir():
        return []
    out: list[Check] = []
    for p in sorted(verify_dir.iterdir()):
        m = _VERIFY_FILE.match(p.name)
        if m and int(m.group("version")) == version:
            out.extend(load_checks(p))
    return out


def run_checks(target: db.Session | str, checks: Sequence[Check], *,
               statement_timeout: float = 60.0) -> list[CheckResult]:
    """Run each check in its own rolled-back transaction. ``target`` is an open session or
    a database URL (then a session is opened and closed here). ``statement_timeout``
    (seconds, 0 = none) bounds each check."""
    if isinstance(target, str):
        session = db.connect(target)
        try:
            return run_checks(session, checks, statement_timeout=statement_timeout)
        finally:
            session.conn.close()
    return [_run_one(target.conn, c, statement_timeout) for c in checks]


def _run_one(conn: db.Connection, check: Check, statement_timeout: float) -> CheckResult:
    t0 = time.monotonic()
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('statement_timeout', %s, true)",
                         (f"{int(statement_timeout * 1000)}ms",))
            cur = None
            for st in split_sql(check.sql):
                # prepared (extended protocol): the server runs exactly one statement, so
                # text the splitter took for one statement cannot smuggle in a COMMIT
                cur = conn.execute(st.text, prepare=True)
            rows = cur.fetchall() if cur is not None and cur.description else []
            names = [d.name for d in cur.description] if cur is not None and cur.description else []
    except db.Error as exc:
        d = db.error_details(exc)
        return CheckResult(check, [], error=d["message"], seconds=time.monotonic() - t0)
    problems = [_render(names, r) for r in rows[:MAX_PROBLEMS_PER_CHECK]]
    if len(rows) > MAX_PROBLEMS_PER_CHECK:
        problems.append(f"... and {len(rows) - MAX_PROBLEMS_PER_CHECK} more")
    return CheckResult(check, problems, seconds=time.monotonic() - t0)


def _render(names: list[str], row: Sequence[Any]) -> str:
    """One problem row as a short line: the value alone, or ``col=value, ...``."""
    if len(row) == 1:
        return str(row[0])
    return ", ".join(f"{n}={v}" for n, v in zip(names, row, strict=False))


def summarize(results: Sequence[CheckResult]) -> dict[str, Any]:
    """The ``verification`` object of the JSON result."""
    failures = [
        {"check": r.check.name, "mismatches": r.check.mismatches,
         "problems": [f"error: {r.error}"] if r.error else r.problems}
        for r in results if not r.passed
    ]
    return {"passed": len(results) - len(failures), "failed": len(failures), "failures": failures}
