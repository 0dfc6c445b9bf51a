"""`schemaflow migrate create` and `schemaflow migrate history` on real files and a real
PostgreSQL 18: created files parse with the engine's own loader and run up, verify and down;
history lists every run with who, how long, checksum and result."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_helpers import Run

from schemaflow.engine.sources import load_source
from schemaflow.engine.verify import checks_for_version
from schemaflow.errors import EXIT_USAGE
from schemaflow.history_cmd import COLUMNS

Database = Any  # tests/conftest.py's Database


def test_create_in_an_empty_dir_then_up_verify_down(tmp_path: Path, db18: Database,
                                                     migrate: Callable[..., Run]) -> None:
    d = tmp_path / "sql" / "migrations"
    r = migrate(None, "create", "Add user email!", "--dir", str(d), "--output", "json")
    assert r.rc == 0, r.err
    doc = json.loads(r.out)
    assert r.out.count("\n") == 1 and doc["version"] == 1
    assert sorted(Path(f).name for f in doc["files"]) == [
        "000001_add_user_email.down.sql", "000001_add_user_email.up.sql",
        "000001_add_user_email.verify.sql"]
    source = load_source(d)  # the engine's own loader accepts them
    (m,) = source.migrations
    assert (m.version, m.name) == (1, "add_user_email")
    assert [s.kind for s in m.up.steps] == ["transaction"]
    (check,) = checks_for_version(tmp_path / "sql" / "verify", 1)
    assert check.name == "v1_add_user_email"

    r = migrate(db18.url, "up", "--dir", str(d), "--verify", "--output", "json")
    assert r.rc == 0, r.err
    doc = json.loads(r.out)
    assert doc["toVersion"] == 1 and doc["verification"]["passed"] == 1, doc
    r = migrate(db18.url, "down", "--dir", str(d), "--output", "json")
    assert r.rc == 0 and json.loads(r.out)["toVersion"] is None, r.err


def test_create_continues_the_numbering_and_never_overwrites(
        migrations_copy: Path, migrate: Callable[..., Run]) -> None:
    verify = migrations_copy.parent / "verify"
    r = migrate(None, "create", "next_thing", "--dir", str(migrations_copy))
    assert r.rc == 0, r.err
    assert (migrations_copy / "000028_next_thing.up.sql").is_file()
    assert (verify / "000028_next_thing.verify.sql").is_file()
    assert load_source(migrations_copy).latest == 28
    # the next version's verify file already exists (written by hand): refused, nothing
    # written, the user's file untouched
    (verify / "000029_again.verify.sql").write_text("-- the user's verify\n")
    r = migrate(None, "create", "again", "--dir", str(migrations_copy))
    assert r.rc == EXIT_USAGE and "refusing to overwrite" in r.err, r.err
    assert (verify / "000029_again.verify.sql").read_text() == "-- the user's verify\n"
    assert not (migrations_copy / "000029_again.up.sql").exists()
    # versions follow the migration files, at their width
    (migrations_copy / "000031_gap.up.sql").write_text("SELECT 1;\n")
    (migrations_copy / "000031_gap.down.sql").write_text("SELECT 1;\n")
    r = migrate(None, "create", "after_gap", "--dir", str(migrations_copy), "--output", "json")
    assert json.loads(r.out)["version"] == 32
    assert (migrations_copy / "000032_after_gap.down.sql").is_file()


def test_create_rejects_an_empty_name(tmp_path: Path, migrate: Callable[..., Run]) -> None:
    r = migrate(None, "create", "--- ", "--dir", str(tmp_path))
    assert r.rc == EXIT_USAGE and "no letter or digit" in r.err
    assert list(tmp_path.iterdir()) == []


def test_history_lists_every_run(db18: Database, basic_dir: Path,
                                 migrate: Callable[..., Run]) -> None:
    r = migrate(db18.url, "history", "--output", "json")
    assert r.rc == 0 and json.loads(r.out)["runs"] == [], r.err  # read-only: nothing created
    assert db18.query("SELECT to_regclass('schemaflow_history')") == [(None,)]

    assert migrate(db18.url, "up", "--dir", str(basic_dir)).rc == 0
    assert migrate(db18.url, "down", "--dir", str(basic_dir), "--steps", "2").rc == 0
    assert migrate(db18.url, "force", "--dir", str(basic_dir), "1").rc == 0
    r = migrate(db18.url, "history", "--output", "json")
    assert r.rc == 0, r.err
    assert r.out.count("\n") == 1
    runs = json.loads(r.out)["runs"]
    assert [(x["version"], x["direction"], x["result"]) for x in runs] == [
        (1, "up", "succeeded"), (2, "up", "succeeded"), (3, "up", "succeeded"),
        (3, "down", "succeeded"), (2, "down", "succeeded"), (1, "force", "succeeded")]
    up1 = runs[0]
    assert up1["application"] == "schemaflow" and up1["clientHost"] == "127.0.0.1"
    assert up1["installedBy"] == db18.url.split("//")[1].split(":")[0]  # the URL's role
    assert len(up1["checksum"]) == 64 and up1["durationSeconds"] >= 0
    assert runs[-1]["checksum"] is None  # force runs no file

    r = migrate(db18.url, "history", "--limit", "2")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split()[:2] == ["VERSION", "DIRECTION"] and len(lines) == 4
    assert lines[1].split()[:2] == ["2", "down"] and lines[2].split()[:2] == ["1", "force"]
    assert lines[3] == "  note: forced from 1" and " -0.0s" not in r.out
    assert all(len(line) <= 100 for line in lines)
    assert sum(w for _, w in COLUMNS) + len(COLUMNS) - 1 <= 100


def test_history_shows_a_failed_run_and_its_error(db18: Database, tmp_path: Path,
                                                  migrate: Callable[..., Run]) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "000001_bad.up.sql").write_text("CREATE TABLE t (id int);\nSELECT 1/0;\n")
    (d / "000001_bad.down.sql").write_text("DROP TABLE t;\n")
    assert migrate(db18.url, "up", "--dir", str(d)).rc != 0
    r = migrate(db18.url, "history")
    assert r.rc == 0, r.err
    assert r.out.splitlines()[1].split()[:2] == ["1", "up"] and "failed" in r.out
    assert "error: " in r.out and "division by zero" in r.out
    assert db18.server.password not in r.out + r.err


def test_history_of_an_older_schemaflow_reads_then_gains_the_who_columns(
        db18: Database, basic_dir: Path, migrate: Callable[..., Run]) -> None:
    # the history table as schemaflow 0.1.0 created it (engine/versions.py before the
    # installed_by/application/client_host columns), with one row it wrote
    db18.query("""CREATE TABLE schemaflow_history (id bigserial PRIMARY KEY, version bigint NOT
        NULL, direction text NOT NULL, previous_version bigint, checksum text, started
        timestamptz NOT NULL, finished timestamptz, result text NOT NULL, error text)""")
    db18.query("INSERT INTO schemaflow_history (version, direction, started, finished, result)"
               " VALUES (1, 'up', now() - interval '2 s', now(), 'succeeded')")
    r = migrate(db18.url, "history", "--output", "json")
    assert r.rc == 0, r.err
    (old,) = json.loads(r.out)["runs"]
    assert old["installedBy"] is None and old["durationSeconds"] == 2.0
    assert migrate(db18.url, "force", "--dir", str(basic_dir), "1").rc == 0
    runs = json.loads(migrate(db18.url, "history", "--output", "json").out)["runs"]
    assert [r["installedBy"] is None for r in runs] == [True, False]
    assert runs[1]["application"] == "schemaflow"


def test_history_says_whether_each_up_was_verified(db18: Database, tmp_path: Path,
                                                   migrate: Callable[..., Run]) -> None:
    d = tmp_path / "sql" / "migrations"
    assert migrate(None, "create", "one", "--dir", str(d)).rc == 0
    assert migrate(None, "create", "two", "--dir", str(d)).rc == 0
    # version 2's check fails: it returns a row
    verify2 = tmp_path / "sql" / "verify" / "000002_two.verify.sql"
    verify2.write_text("-- check: always_fails\nSELECT 'a problem' AS problem;\n")
    assert migrate(db18.url, "up", "--dir", str(d), "--target", "1", "--verify").rc == 0
    assert migrate(db18.url, "up", "--dir", str(d), "--verify").rc == 3
    runs = json.loads(migrate(db18.url, "history", "--output", "json").out)["runs"]
    ups = [(r["version"], r["verified"]) for r in runs if r["direction"] == "up"]
    assert ups == [(1, True), (2, False)], runs
    text = migrate(db18.url, "history").out.splitlines()
    assert [line.split()[6] for line in text[1:] if line.split()[1] == "up"] == ["yes", "FAILED"]
