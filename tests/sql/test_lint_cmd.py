"""`schemaflow lint` as a user runs it (a subprocess, the squawk-cli wheel of the test
extra): the bundled directory is clean with its accepted exceptions, a user's directory with
a bad migration fails with file:line findings, exceptions never leak to other files, and a
migration written by `schemaflow migrate create` lints clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from schemaflow.lint import ACCEPTED

REPO = Path(__file__).resolve().parents[2]


def lint(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schemaflow", "lint", *argv],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def test_bundled_dir_is_clean_with_its_exceptions() -> None:
    r = lint("--output", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("\n") == 1
    doc = json.loads(r.stdout)
    assert doc["result"] == "Clean" and len(doc["findings"]) == len(ACCEPTED)
    assert all(f["accepted"] for f in doc["findings"])
    r = lint("--show-accepted")
    assert r.returncode == 0 and r.stdout.count(": accepted: ") == len(ACCEPTED)


def test_user_dir_with_a_bad_migration(tmp_path: Path) -> None:
    (tmp_path / "000001_users.up.sql").write_text(
        "-- users\nCREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY);\n"
        "ALTER TABLE users ADD COLUMN email text NOT NULL;\n")
    (tmp_path / "000001_users.down.sql").write_text("DROP TABLE IF EXISTS users;\n")
    (tmp_path / "README.md").write_text("not a migration\n")
    r = lint("--dir", str(tmp_path))
    assert r.returncode == 3, r.stderr  # findings; 1 is a usage error
    lines = r.stdout.splitlines()
    assert f"{tmp_path / '000001_users.up.sql'}:3: adding-required-field: " in r.stdout, lines
    assert all(line.startswith(str(tmp_path / "000001_users.")) for line in lines)
    assert "1 finding" not in r.stderr and "finding(s)" in r.stderr


def test_exceptions_do_not_apply_to_another_file(tmp_path: Path) -> None:
    # the very statement accepted in 000027, in a user's file: reported
    (tmp_path / "000005_archive.up.sql").write_text(
        "CREATE SCHEMA IF NOT EXISTS schemaflow_archive;\n")
    (tmp_path / "000005_archive.down.sql").write_text("SELECT 1;\n")
    r = lint("--dir", str(tmp_path), "--output", "json")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert {(f["line"], f["rule"], f["accepted"]) for f in doc["findings"]} == {
        (1, "require-lock-timeout", None), (1, "require-statement-timeout", None)}


def test_a_created_migration_lints_clean(tmp_path: Path) -> None:
    made = subprocess.run([sys.executable, "-m", "schemaflow", "migrate", "create", "first",
                           "--dir", str(tmp_path / "migrations")],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    r = lint("--dir", str(tmp_path / "migrations"))
    assert r.returncode == 0, r.stdout


def test_missing_dir_is_a_usage_error(tmp_path: Path) -> None:
    r = lint("--dir", str(tmp_path / "nope"))
    assert r.returncode == 1 and "does not exist" in r.stderr
