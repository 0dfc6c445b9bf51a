"""up/down/status/force and golang-migrate compatibility, on PostgreSQL 18 and 15."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_helpers import Run, write_dir

Migrate = Callable[..., Run]
Database = Any  # tests/conftest.py's Database fixture type
GOLANG_MIGRATE_DDL = ('CREATE TABLE IF NOT EXISTS "public"."schema_migrations" '
                      "(version bigint not null primary key, dirty boolean not null)")


def version_rows(db: Database) -> list[tuple]:
    return db.query("SELECT version, dirty FROM schema_migrations")


def test_up_down_status_force(db: Database, basic_dir: Path, migrate: Migrate) -> None:
    d = ["--dir", str(basic_dir)]
    r = migrate(db.url, "up", *d, "--target", "2", "--output", "json")
    assert r.rc == 0, r.err
    doc = r.json()
    assert (doc["fromVersion"], doc["toVersion"], doc["result"]) == (None, 2, "Succeeded")
    assert version_rows(db) == [(2, False)]

    r = migrate(db.url, "status", *d, "--output", "json")
    assert r.json()["pending"] == [3] and r.json()["drift"] == []

    r = migrate(db.url, "up", *d)
    assert r.rc == 0, r.err
    assert version_rows(db) == [(3, False)]
    assert db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_qty'::regclass") == [(True,)]

    assert migrate(db.url, "up", *d, "--output", "json").json()["result"] == "NoChange"

    r = migrate(db.url, "down", *d)  # one step by default
    assert r.rc == 0, r.err
    assert version_rows(db) == [(2, False)]
    assert db.query("SELECT to_regclass('items_qty')") == [(None,)]

    r = migrate(db.url, "down", *d, "--target", "0")
    assert r.rc == 0, r.err
    assert version_rows(db) == [] and db.query("SELECT to_regclass('items')") == [(None,)]

    r = migrate(db.url, "status", *d)
    assert r.rc == 0 and "version none (clean)" in r.out and "pending: 1, 2, 3" in r.out

    r = migrate(db.url, "force", *d, "2")
    assert r.rc == 0, r.err
    assert version_rows(db) == [(2, False)]
    history = db.query("SELECT version, direction, result FROM schemaflow_history ORDER BY id")
    assert history[0] == (1, "up", "succeeded") and history[-1] == (2, "force", "succeeded")
    assert [h[1] for h in history].count("down") == 3

    r = migrate(db.url, "force", *d, "-1")
    assert r.rc == 0 and version_rows(db) == []


def test_golang_migrate_version_table(db: Database, basic_dir: Path, migrate: Migrate) -> None:
    # a database golang-migrate brought to version 1: its DDL, its TRUNCATE + INSERT
    with db.connect() as conn:
        conn.execute("CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL)")
        conn.execute(GOLANG_MIGRATE_DDL)
        with conn.transaction():
            conn.execute('TRUNCATE "public"."schema_migrations"')
            conn.execute('INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (%s, %s)',
                         (1, False))
    r = migrate(db.url, "status", "--dir", str(basic_dir), "--output", "json")
    assert (r.json()["fromVersion"], r.json()["pending"]) == (1, [2, 3])
    assert migrate(db.url, "up", "--dir", str(basic_dir)).rc == 0
    # what golang-migrate reads back: `SELECT version, dirty FROM ... LIMIT 1`, one row
    assert version_rows(db) == [(3, False)]


def test_version_table_we_create_is_golang_migrates(db: Database, basic_dir: Path,
                                                    migrate: Migrate) -> None:
    assert migrate(db.url, "up", "--dir", str(basic_dir), "--target", "1").rc == 0
    cols = db.query("""SELECT column_name, data_type, is_nullable FROM information_schema.columns
                       WHERE table_name = 'schema_migrations' ORDER BY ordinal_position""")
    assert cols == [("version", "bigint", "NO"), ("dirty", "boolean", "NO")]
    pk = db.query("""SELECT a.attname FROM pg_index i JOIN pg_attribute a
                       ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                     WHERE i.indrelid = 'schema_migrations'::regclass AND i.indisprimary""")
    assert pk == [("version",)]
    # golang-migrate's own statements work on it
    with db.connect() as conn:
        conn.execute(GOLANG_MIGRATE_DDL)
        conn.execute('TRUNCATE "public"."schema_migrations"')
        conn.execute('INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (1, false)')
    assert migrate(db.url, "up", "--dir", str(basic_dir)).rc == 0
    assert version_rows(db) == [(3, False)]


def test_custom_schema_and_table(db: Database, basic_dir: Path, migrate: Migrate) -> None:
    db.query('CREATE SCHEMA "Ops"')
    args = ["--dir", str(basic_dir), "--schema", "Ops", "--table", "mig versions"]
    assert migrate(db.url, "up", *args, "--target", "1").rc == 0
    assert db.query('SELECT version, dirty FROM "Ops"."mig versions"') == [(1, False)]
    assert db.query("SELECT to_regclass('public.schema_migrations')") == [(None,)]
    assert db.query("""SELECT to_regclass('"Ops"."mig versions_schemaflow_history"') IS NOT NULL""") == [(True,)]
    r = migrate(db.url, "status", *args, "--output", "json")
    assert r.json()["fromVersion"] == 1


def test_sql_error_names_file_and_line(db: Database, basic_dir: Path, migrate: Migrate) -> None:
    write_dir(basic_dir, {"000004_bad.up.sql": "ALTER TABLE items ADD COLUMN ok int;\n\n"
                                               "SELECT 1,\n  2 FROM items WHERE (;\n",
                          "000004_bad.down.sql": "SELECT 1;"})
    r = migrate(db.url, "up", "--dir", str(basic_dir))
    assert r.rc == 2
    assert "000004_bad.up.sql:4" in r.err and "syntax error" in r.err
    assert version_rows(db) == [(3, False)]
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'ok'") == [(0,)]


def test_bundle_starting_above_the_database(db: Database, tmp_path: Path, migrate: Migrate) -> None:
    """DomainFlow's case: the database is at 26 (golang-migrate), the bundle holds only 27."""
    d = ["--dir", str(write_dir(tmp_path / "m", {
        "000027_x.up.sql": "CREATE TABLE x (id int);", "000027_x.down.sql": "DROP TABLE x;"}))]
    with db.connect() as conn:
        conn.execute(GOLANG_MIGRATE_DDL)
        conn.execute("INSERT INTO schema_migrations VALUES (26, false)")
    assert migrate(db.url, "up", *d).rc == 0
    assert version_rows(db) == [(27, False)]
    assert migrate(db.url, "down", *d).rc == 0  # the history says 27 was applied from 26
    assert version_rows(db) == [(26, False)]
    # applied by someone else (no history): the previous version must be given
    db.query("CREATE TABLE x (id int); UPDATE schema_migrations SET version = 27")
    db.query("DELETE FROM schemaflow_history")
    r = migrate(db.url, "down", *d)
    assert r.rc == 1 and "cannot tell which version precedes 27" in r.err and "--target" in r.err
    assert migrate(db.url, "down", *d, "--target", "26").rc == 0
    assert version_rows(db) == [(26, False)]
    # golang-migrate left it dirty at 27: the hint never suggests "no version" (-1)
    db.query("UPDATE schema_migrations SET version = 27, dirty = true")
    r = migrate(db.url, "up", *d)
    assert r.rc == 5
    assert "`schemaflow migrate force 27`" in r.err
    assert "`schemaflow migrate force <the version before 27>`" in r.err
    # status shows the same way out before anything is re-run
    r = migrate(db.url, "status", *d)
    assert r.rc == 0 and "DIRTY:" in r.out and "`schemaflow migrate force 27`" in r.out
    assert migrate(db.url, "status", *d, "--output", "json").json()["recovery"]["hint"]
    # the base below the bundle is a valid force target; a typo above it is not
    assert migrate(db.url, "force", *d, "26").rc == 0
    assert version_rows(db) == [(26, False)]
    r = migrate(db.url, "force", *d, "270")
    assert r.rc == 1 and "270 does not exist" in r.err and version_rows(db) == [(26, False)]


def test_concurrent_index_outside_marker_says_how_to_fix(db: Database, tmp_path: Path,
                                                          migrate: Migrate) -> None:
    d = write_dir(tmp_path / "m", {
        "1_a.up.sql": "CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY a_id ON a (id);",
        "1_a.down.sql": "DROP TABLE a;"})
    r = migrate(db.url, "up", "--dir", str(d))
    assert r.rc == 2 and "1_a.up.sql:2:" in r.err
    assert "-- schemaflow:step no-transaction" in r.err
    assert db.query("SELECT to_regclass('a')") == [(None,)]
