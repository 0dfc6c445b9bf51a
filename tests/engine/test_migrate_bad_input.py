"""Bad input through the real command: each exits with its code and says what to fix,
and the password never shows."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import run_cli, write_dir

from schemaflow.localpg import free_port

SECRET_PASSWORD = "SfSecretPw7Qz9Xv"  # the test servers' password (tests/conftest.py)
Database = Any


def no_secret(*texts: str) -> bool:
    return all(SECRET_PASSWORD not in t for t in texts)


def test_no_database_url(basic_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    r = run_cli(env, "up", "--dir", str(basic_dir))
    assert r.rc == 1
    assert "DATABASE_URL" in r.err and "--database-url-file" in r.err


def test_unreachable_database(basic_dir: Path) -> None:
    url = f"postgresql://app:{SECRET_PASSWORD}@127.0.0.1:{free_port()}/app"
    r = run_cli(dict(os.environ, DATABASE_URL=url), "up", "--dir", str(basic_dir),
                "--output", "json")
    assert r.rc == 6
    assert r.json()["result"] == "Unreachable" and "cannot connect" in r.json()["error"]["message"]
    assert no_secret(r.out, r.err)


def test_wrong_password(db18: Database, basic_dir: Path, tmp_path: Path) -> None:
    url = db18.server.url(db18.name, password=SECRET_PASSWORD + "x")
    report = tmp_path / "termination-log"
    r = run_cli(dict(os.environ, DATABASE_URL=url), "up", "--dir", str(basic_dir),
                "--report", str(report))
    assert r.rc == 6
    assert "password authentication failed" in r.err and "credentials" in r.err
    assert no_secret(r.out, r.err, report.read_text())


def test_database_url_file(db18: Database, basic_dir: Path, tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    url_file.write_text(db18.url + "\n")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    r = run_cli(env, "status", "--dir", str(basic_dir), "--database-url-file", str(url_file))
    assert r.rc == 0 and "version none (clean)" in r.out


@pytest.mark.parametrize(("files", "message"), [
    ({"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "SELECT 1;", "2_b_up.sql": "SELECT 1;"},
     "2_b_up.sql: malformed migration file name"),
    ({"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "SELECT 1;", "001_b.up.sql": "SELECT 1;",
      "001_b.down.sql": "SELECT 1;"}, "duplicate migration version 1"),
    ({"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "SELECT 1;", "2_b.up.sql": "SELECT 1;"},
     "migration 2 has no down file (found 2_b.up.sql)"),
])
def test_invalid_migration_directory(db18: Database, tmp_path: Path, files: dict[str, str],
                                     message: str) -> None:
    r = run_cli(db18.env(), "up", "--dir", str(write_dir(tmp_path / "m", dict(files))))
    assert r.rc == 1
    assert message in r.err and "hint:" in r.err


def test_syntax_error_names_file_and_line(db18: Database, tmp_path: Path) -> None:
    d = write_dir(tmp_path / "m", {"1_a.up.sql": "CREATE TABLE a (id int);\n-- c\nSELEC 1;\n",
                                   "1_a.down.sql": "DROP TABLE a;"})
    r = run_cli(db18.env(), "up", "--dir", str(d))
    assert r.rc == 2
    assert "1_a.up.sql:3: syntax error" in r.err and "rolled back" in r.err
    assert db18.query("SELECT to_regclass('a')") == [(None,)]


def test_nonexistent_target(db18: Database, basic_dir: Path) -> None:
    r = run_cli(db18.env(), "up", "--dir", str(basic_dir), "--target", "99")
    assert r.rc == 1
    assert "version 99 does not exist" in r.err and "available versions: 1, 2, 3" in r.err


def test_malformed_database_url(basic_dir: Path, migrate: Callable[..., Any]) -> None:
    r = migrate(f"garbage password={SECRET_PASSWORD}", "status", "--dir", str(basic_dir))
    assert r.rc == 1 and "DATABASE_URL is not a valid connection string" in r.err
    assert no_secret(r.out, r.err)
