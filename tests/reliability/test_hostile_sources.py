"""Hostile migration directories: malformed names, duplicates, gaps, missing pairs, empty
and non-UTF-8 files, NUL bytes, bad markers, syntax errors. Each must end with a clear
error (the documented exit code, a message naming the file, no Python traceback) and
nothing applied: no version recorded, no object created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from relsupport import assert_no_secret, cli_env, migrate, version_state

GOOD_UP = "CREATE TABLE canary_{v} (id int);\n"
GOOD_DOWN = "DROP TABLE canary_{v};\n"


@dataclass(frozen=True)
class BadDir:
    id: str
    files: dict[str, bytes]
    exit_codes: frozenset[int]
    message: str  # a fragment the error must contain (case-insensitive)
    target: int | None = None
    extra: list[str] = field(default_factory=list)


def pair(version: int, name: str = "m", up: str | None = None, down: str | None = None,
         digits: int = 6) -> dict[str, bytes]:
    v = str(version).zfill(digits)
    return {
        f"{v}_{name}.up.sql": (up if up is not None else GOOD_UP.format(v=version)).encode(),
        f"{v}_{name}.down.sql": (down if down is not None else GOOD_DOWN.format(v=version)).encode(),
    }


USAGE, APPLY = frozenset({1}), frozenset({2})
CASES = [
    BadDir("name-dash", {"000001-m.up.sql": b"SELECT 1;", "000001-m.down.sql": b"SELECT 1;"},
           USAGE, "malformed"),
    BadDir("name-no-direction", {**pair(1), "000002_m.sql": b"SELECT 1;"}, USAGE, "malformed"),
    BadDir("name-letters", {**pair(1), "abc_m.up.sql": b"SELECT 1;"}, USAGE, "malformed"),
    BadDir("name-uppercase-direction", {**pair(1), "000002_m.UP.sql": b"SELECT 1;"}, USAGE,
           "malformed"),
    BadDir("name-shell", {**pair(1), "000002_$(reboot);.up.sql": b"SELECT 1;"}, USAGE,
           "no down file"),
    BadDir("duplicate-version", {**pair(1, "a"), **pair(1, "b")}, USAGE, "duplicate"),
    BadDir("duplicate-zero-padding", {**pair(1, "a", digits=6), **pair(1, "a", digits=2)},
           USAGE, "duplicate"),
    BadDir("duplicate-backup-copy", {**pair(1), "000001_m.up.sql.orig": GOOD_UP.encode()},
           USAGE, "duplicate"),
    BadDir("missing-down", {"000001_m.up.sql": b"CREATE TABLE canary_1 (id int);"}, USAGE,
           "no down file"),
    BadDir("missing-up", {"000001_m.down.sql": b"DROP TABLE canary_1;"}, USAGE, "no up file"),
    BadDir("pair-names-differ", {"000001_a.up.sql": b"SELECT 1;", "000001_b.down.sql": b"SELECT 1;"},
           USAGE, "different names"),
    BadDir("gap-target", {**pair(1), **pair(3)}, USAGE, "does not exist", target=2),
    BadDir("target-beyond-latest", {**pair(1)}, USAGE, "does not exist", target=2),
    BadDir("empty-file", {**pair(1), **pair(2, up="")}, USAGE, "no sql statement"),
    BadDir("comment-only-file", {**pair(1), **pair(2, up="-- nothing\n/* here */\n")}, USAGE,
           "no sql statement"),
    BadDir("whitespace-only-file", {**pair(1), **pair(2, up="\n\n   \t\n")}, USAGE,
           "no sql statement"),
    BadDir("latin1-file", {**pair(1), "000002_m.up.sql": "-- caf\xe9\nSELECT 1;".encode("latin-1"),
                           "000002_m.down.sql": b"SELECT 1;"}, USAGE, "utf-8"),
    BadDir("utf16-file", {**pair(1), "000002_m.up.sql": "SELECT 1;".encode("utf-16"),
                          "000002_m.down.sql": b"SELECT 1;"}, USAGE, "utf-8"),
    # libpq sends a query as a C string: text after a NUL byte would silently vanish
    # ("DELETE FROM t\0 WHERE false" deletes every row); the file must be refused.
    BadDir("nul-byte", {**pair(1, up="CREATE TABLE canary_1 (id int);\n"
                                     "INSERT INTO canary_1 VALUES (1), (2), (3);"),
                        **pair(2, up="DELETE FROM canary_1\x00 WHERE false;")},
           USAGE, "000002_m.up.sql"),
    BadDir("unknown-step-kind", {**pair(1), **pair(2, up="-- schemaflow:step parallel\nSELECT 1;")},
           USAGE, "unknown step kind"),
    BadDir("batch-two-statements",
           {**pair(1), **pair(2, up="-- schemaflow:step batch\nSELECT 1;\nSELECT 2;")}, USAGE,
           "exactly one statement"),
    BadDir("rerunnable-after-sql", {**pair(1), **pair(2, up="SELECT 1;\n-- schemaflow:rerunnable\n")},
           USAGE, "rerunnable"),
    BadDir("syntax-error", {**pair(1), **pair(2, up="CREATE TABLE canary_2 (id int);\n"
                                                  "CREATE TABEL oops (id int);\n")},
           APPLY, "000002_m.up.sql:2"),
    BadDir("unterminated-quote", {**pair(1), **pair(2, up="CREATE TABLE canary_2 (id int);\n"
                                                        "SELECT 'abc;\n")}, APPLY, "000002_m.up.sql"),
    BadDir("unterminated-dollar", {**pair(1), **pair(2, up="CREATE TABLE canary_2 (id int);\n"
                                                         "DO $$ BEGIN PERFORM 1; END;\n")},
           APPLY, "000002_m.up.sql"),
    BadDir("runtime-error", {**pair(1), **pair(2, up="CREATE TABLE canary_2 (id int);\n"
                                                   "SELECT 1/0;\n")}, APPLY, "division by zero"),
    BadDir("version-overflow", {**pair(1), **pair(99999999999999999999)}, USAGE | APPLY,
           "99999999999999999999"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_migration_directory(db18, tmp_path: Path, case: BadDir) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "migrations"
    d.mkdir()
    for name, content in case.files.items():
        (d / name).write_bytes(content)
    args = ["up", "--dir", str(d), "--verify-dir", str(tmp_path / "verify"), "--preflight", "off"]
    if case.target is not None:
        args += ["--target", str(case.target)]
    r = migrate(cli_env(db18.url), *args)
    assert r.returncode in case.exit_codes, r
    assert case.message.lower() in r.stderr.lower(), r
    assert "Traceback" not in r.output, r
    assert_no_secret(r.output)
    # nothing applied: an invalid directory is refused as a whole before connecting; a
    # failing migration (2) leaves the previous one (1) in place and nothing of its own
    version = version_state(db18.admin)
    if case.exit_codes == USAGE:
        assert version[0] is None, version
        assert db18.query("SELECT relname FROM pg_class WHERE relname LIKE 'canary%'") == []
    else:
        assert version in ((None, False), (1, False)), version
        assert db18.query("SELECT relname FROM pg_class WHERE relname IN "
                          "('canary_2', 'oops')") == []


def test_gaps_are_allowed_like_golang_migrate(db18, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """golang-migrate accepts non-contiguous versions (timestamps): so must we."""
    d = tmp_path / "migrations"
    d.mkdir()
    for name, content in {**pair(1), **pair(5)}.items():
        (d / name).write_bytes(content)
    r = migrate(cli_env(db18.url), "up", "--dir", str(d), "--preflight", "off")
    assert r.returncode == 0, r
    assert version_state(db18.admin) == (5, False)


def test_syntax_error_in_non_transactional_file_is_reported_dirty(db18, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A file with no-transaction steps cannot be all-or-nothing: it must stop dirty at
    its version with a recovery hint naming the commands (exit 2), and the recovery works."""
    d = tmp_path / "migrations"
    d.mkdir()
    up = ("-- schemaflow:rerunnable\nCREATE TABLE IF NOT EXISTS canary_1 (id int);\n"
          "-- schemaflow:step no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "
          "canary_1_i ON canary_1 (id);\nCREATE TABEL oops ();\n")
    for name, content in pair(1, up=up, down="DROP TABLE IF EXISTS canary_1;").items():
        (d / name).write_bytes(content.encode() if isinstance(content, str) else content)
    env = cli_env(db18.url)
    r = migrate(env, "up", "--dir", str(d), "--preflight", "off")
    assert r.returncode == 2, r
    assert "000001_m.up.sql:5" in r.stderr, r
    assert version_state(db18.admin) == (1, True)
    assert "schemaflow migrate" in r.stderr, r  # the recovery is printed
    # following it: fix the file, run up again (rerunnable)
    (d / "000001_m.up.sql").write_text(up.replace("CREATE TABEL oops ();\n", ""))
    r = migrate(env, "up", "--dir", str(d), "--preflight", "off")
    assert r.returncode == 0, r
    assert version_state(db18.admin) == (1, False)
