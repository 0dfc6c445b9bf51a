"""Hostile names for the version table (``--schema`` / ``--table``): SQL injection, quotes,
format-string markers, unicode, over-long names. Each run must use exactly that schema
and table (quoted as identifiers), apply the migration, and do nothing else: the canary
table and its rows survive, no other object appears.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg import sql
from relsupport import assert_no_secret, cli_env, migrate

CANARY_ROWS = 3
NAMES = [
    ('"; DROP TABLE canary; --', "schema_migrations"),
    ("public", '"; DROP TABLE canary; --'),
    ("x'); DROP TABLE canary; --", "t'; DELETE FROM canary; --"),
    ('Robert"); DROP TABLE canary;--', 'v"; TRUNCATE canary; SELECT "'),
    ("public", "schema_migrations; SELECT pg_sleep(30)"),
    ("public", "%s%s%(x)s %n {table} {0}"),
    ("sch\\e\\ma", "ta\nble"),
    ("déjà_vu_版本", "versión_表"),
    ("MixedCase Schema", "Version.Table"),
    ("public", "v" * 63),
    ("public", "$1 $$ $tag$ $"),
    ("pg_temp", "schema_migrations"),
]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "000001_t.up.sql").write_text("CREATE TABLE t1 (id int);\n")
    (d / "000001_t.down.sql").write_text("DROP TABLE t1;\n")
    return d


def _objects(db) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return set(db.query("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v', 'S', 'f', 'p') "
                        "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"))


@pytest.mark.parametrize(("schema", "table"), NAMES, ids=range(len(NAMES)))
def test_hostile_version_table_names(db18, tiny: Path, schema: str, table: str) -> None:  # type: ignore[no-untyped-def]
    db = db18
    with db.connect() as conn:
        conn.execute("CREATE TABLE canary (id int)")
        conn.execute("INSERT INTO canary SELECT generate_series(1, %s)", (CANARY_ROWS,))
        if schema not in ("public", "pg_temp"):
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    before = _objects(db)
    env = cli_env(db.url)
    common = ["--dir", str(tiny), "--schema", schema, "--table", table]
    if schema == "pg_temp":
        # a temporary schema is per session: refusing it or using it, never crashing
        r = migrate(env, "up", *common, "--preflight", "off")
        assert "Traceback" not in r.output, r
        assert db.query("SELECT count(*) FROM canary") == [(CANARY_ROWS,)]
        return
    r = migrate(env, "up", *common, "--preflight", "off")
    assert r.returncode == 0, r
    assert "Traceback" not in r.output
    ident = sql.Identifier(schema, table[:63])
    with db.connect() as conn:
        rows = conn.execute(sql.SQL("SELECT version, dirty FROM {}").format(ident)).fetchall()
    assert rows == [(1, False)]
    # nothing else happened: the canary is intact, only t1, the version table and the
    # history table (with its sequence) are new
    assert db.query("SELECT count(*) FROM canary") == [(CANARY_ROWS,)]
    new = _objects(db) - before
    # besides t1: the version table, one history table (its name derived from the version
    # table's, shortened to fit 63 bytes) and that table's serial sequence
    rest = {o for o in new if o[1] != "t1" and not o[1].endswith("_seq")} - {(schema, table[:63])}
    assert len(rest) == 1 and "schemaflow" in next(iter(rest))[1], new
    assert {o[0] for o in new if o[1] != "t1"} == {schema}, new
    assert ("public", "t1") in new
    # and the other commands agree on where the version lives
    st = migrate(env, "status", *common, "--output", "json")
    assert st.returncode == 0, st
    assert st.json()["toVersion"] == 1
    down = migrate(env, "down", *common, "--preflight", "off")
    assert down.returncode == 0, down
    assert db.query("SELECT to_regclass('public.t1')") == [(None,)]
    assert db.query("SELECT count(*) FROM canary") == [(CANARY_ROWS,)]
    assert_no_secret(r.output, st.output, down.output)


def test_missing_schema_is_a_clear_error(db18, tiny: Path) -> None:  # type: ignore[no-untyped-def]
    r = migrate(cli_env(db18.url), "up", "--dir", str(tiny), "--schema", "no such schema",
                "--preflight", "off")
    assert "Traceback" not in r.output, r
    if r.returncode != 0:
        assert "no such schema" in r.stderr, r
        assert db18.query("SELECT to_regclass('public.t1')") == [(None,)]
