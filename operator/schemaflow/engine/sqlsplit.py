"""Split a SQL script into statements, keeping the line each one starts on.

Statements run one at a time so that an error can be reported as ``file:line`` and so
that ``no-transaction`` steps can run each statement in autocommit. The scanner knows
enough of PostgreSQL's lexical rules not to split inside literals or comments: single
quotes (``''`` escapes), ``E''`` strings (backslash escapes), double-quoted identifiers,
dollar quotes (``$$`` and ``$tag$``), ``--`` comments and nested ``/* */`` comments, and,
like psql, ``BEGIN ... END`` bodies of ``CREATE FUNCTION/PROCEDURE ... BEGIN ATOMIC``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Statements that end (or hand off) the transaction they run in: refused where schemaflow
# owns the transaction (transaction steps, verification checks).
TX_CONTROL = re.compile(r"^(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|PREPARE\s+TRANSACTION)\b",
                        re.I)
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[^\W\d][\w$]*")
_SQL_BODY_START = (("create", "function"), ("create", "procedure"),
                   ("create", "or", "replace", "function"), ("create", "or", "replace", "procedure"))


@dataclass(frozen=True)
class Statement:
    """One statement without its terminating semicolon; ``line`` is 1-based in the file."""

    text: str
    line: int

    def line_of(self, position: int) -> int:
        """File line of a 1-based character ``position`` in ``text`` (PostgreSQL's error
        position), so a syntax error deep inside a long statement points at its line."""
        return self.line + self.text.count("\n", 0, max(position - 1, 0))


def split_sql(text: str, first_line: int = 1) -> list[Statement]:
    """Statements of ``text``; comment-only fragments are dropped. ``first_line`` is the
    file line ``text`` starts on (steps are split out of a file before this runs)."""
    out: list[Statement] = []
    i, n = 0, len(text)
    start: int | None = None  # offset of the first significant character of the statement
    words: list[str] = []  # leading keywords, to detect CREATE FUNCTION ... BEGIN ATOMIC
    begin_depth = paren_depth = 0

    def flush(end: int) -> None:
        nonlocal start, words, begin_depth, paren_depth
        if start is not None:
            body = text[start:end].rstrip()
            out.append(Statement(body, first_line + text.count("\n", 0, start)))
        start, words, begin_depth, paren_depth = None, [], 0, 0

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "-" and nxt == "-":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "/" and nxt == "*":
            i = _skip_block_comment(text, i)
            continue
        if c.isspace():
            i += 1
            continue
        if c == ";" and begin_depth == 0:
            flush(i)
            i += 1
            continue
        if start is None:
            start = i
        if c == "'":
            escaped = i > 0 and text[i - 1] in "eE" and (i < 2 or not _is_ident(text[i - 2]))
            i = _skip_quoted(text, i, "'", backslash=escaped)
        elif c == '"':
            i = _skip_quoted(text, i, '"', backslash=False)
        elif c == "$" and (i == 0 or not _is_ident(text[i - 1])):
            m = _DOLLAR_TAG.match(text, i)
            if m:
                end = text.find(m.group(0), m.end())
                i = n if end < 0 else end + len(m.group(0))
            else:
                i += 1
        elif c == "(":
            paren_depth += 1
            i += 1
        elif c == ")":
            paren_depth = max(paren_depth - 1, 0)
            i += 1
        elif _is_ident(c) and not c.isdigit() and (i == 0 or not _is_ident(text[i - 1])):
            m = _WORD.match(text, i)
            assert m is not None
            word = m.group(0).lower()
            if len(words) < 4:
                words.append(word)
            if paren_depth == 0 and any(tuple(words[: len(p)]) == p for p in _SQL_BODY_START):
                if word == "begin":
                    begin_depth += 1
                elif word == "case" and begin_depth > 0:
                    begin_depth += 1
                elif word == "end" and begin_depth > 0:
                    begin_depth -= 1
            i = m.end()
        else:
            i += 1
    flush(n)
    return out


def _is_ident(c: str) -> bool:
    return c.isalnum() or c in "_$"


def _skip_block_comment(text: str, i: int) -> int:
    depth, i, n = 0, i, len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _skip_quoted(text: str, i: int, quote: str, *, backslash: bool) -> int:
    """Offset just past the literal opened at ``i`` (doubled quotes are escapes)."""
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def nul_line(text: str) -> int | None:
    """The line of the first NUL character, if any. libpq sends a query as a C string, so
    text after a NUL would silently vanish: ``DELETE FROM t\0 WHERE false`` deletes every
    row. Files holding one are refused."""
    at = text.find("\0")
    return None if at < 0 else text.count("\n", 0, at) + 1
