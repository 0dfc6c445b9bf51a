"""`migrate validate` (the CI gate) against `migrate status` (informational, exit 0), and
the note status gives when schema_migrations was changed outside schemaflow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import Run

from schemaflow import cli

Migrate = Callable[..., Run]
Database = Any


def test_validate_gates_what_status_only_reports(db18: Database, basic_dir: Path,
                                                 migrate: Migrate) -> None:
    d = ("--dir", str(basic_dir), "--output", "json")
    assert migrate(db18.url, "validate", *d).rc == 0
    assert migrate(db18.url, "up", "--target", "1", *d).rc == 0
    assert migrate(db18.url, "validate", *d).rc == 0
    r = migrate(db18.url, "validate", "--no-pending", *d)
    assert r.rc == 2 and r.json()["error"]["reason"] == "PendingMigrations"
    assert "2, 3" in r.json()["error"]["message"]
    status = migrate(db18.url, "status", *d)
    assert status.rc == 0 and status.json()["pending"] == [2, 3]
    assert "outside" not in status.json()

    (basic_dir / "000001_items.up.sql").write_text("CREATE TABLE items (id bigint);\n")
    r = migrate(db18.url, "validate", *d)
    assert r.rc == 2 and r.json()["error"]["reason"] == "ChecksumDrift"
    status = migrate(db18.url, "status", *d)
    assert status.rc == 0 and [x["file"] for x in status.json()["drift"]] == ["000001_items.up.sql"]

    db18.query("UPDATE schema_migrations SET dirty = true")
    r = migrate(db18.url, "validate", *d)
    assert r.rc == 5 and r.json()["result"] == "Dirty"
    assert "`schemaflow migrate force 1`" in r.json()["error"]["hint"]
    status = migrate(db18.url, "status", *d)
    assert status.rc == 0 and status.json()["recovery"]["hint"] == r.json()["error"]["hint"]
    # the UPDATE wrote no history row: status says the table changed outside schemaflow
    assert "outside schemaflow" in status.json()["outside"]
    text = migrate(db18.url, "status", "--dir", str(basic_dir)).out
    assert "OUTSIDE: schema_migrations was last changed outside schemaflow" in text

    db18.query("UPDATE schema_migrations SET version = 9, dirty = false")
    assert migrate(db18.url, "validate", *d).rc == 1  # a version the directory lacks


def test_status_help_says_it_is_informational(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["migrate", "status", "--help"])
    assert exc.value.code == 0
    assert "informational: exits 0" in " ".join(capsys.readouterr().out.split())


def test_outside_note_only_for_changes_schemaflow_did_not_make(
        db18: Database, basic_dir: Path, migrate: Migrate) -> None:
    d = ("--dir", str(basic_dir), "--output", "json")

    def outside() -> bool:
        r = migrate(db18.url, "status", *d)
        assert r.rc == 0, r.err
        return "outside" in r.json()

    # up (3 is a no-transaction file: dirty, then clean), verify, force, down to nothing
    for argv in (["up", "--target", "2"], ["up"], ["verify"], ["force", "2"],
                 ["down", "--target", "0"]):
        assert migrate(db18.url, *argv, *d).rc == 0, argv
        assert not outside(), argv
    assert migrate(db18.url, "up", *d).rc == 0
    db18.query("DELETE FROM schema_migrations")  # golang-migrate's down of everything
    assert outside()
    db18.query("INSERT INTO schema_migrations VALUES (3, false)")
    assert outside()
