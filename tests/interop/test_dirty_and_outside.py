"""Scenario 4 and changes made outside schemaflow, with the real golang-migrate: a dirty
version table left by either tool and the recovery each prints; version -1 dirty (a
failed rollback of the first migration); a file golang-migrate re-applied after an edit."""

from __future__ import annotations

import json

import pytest
from interop_helpers import (
    FORMS,
    LOGGED,
    Gate,
    Tools,
    gm_key,
    no_transaction,
    scenario,
    sf_keys,
    slow,
)

# golang-migrate's refusal of a dirty database (migrate.go v4.20.1: ErrDirty.Error())
GM_DIRTY = "Dirty database version {}. Fix and force version."


@pytest.mark.parametrize("form", FORMS)
def test_dirty_left_by_golang_migrate(tools: Tools, gate: Gate, form: str) -> None:
    files = dict(LOGGED)
    files["2_two.up.sql"] = slow("INSERT INTO runs (version) VALUES (2);\nSELECT 1/0;\n")
    tools.write(files)
    assert tools.gm(form, "up", "1").rc == 0
    gm = tools.gm_start(form, "up")
    gate.wait_for(gm)
    gm_held = gate.keys_held(gm)
    assert gm_held == {gm_key(tools.db, form)} and gm_held <= sf_keys(tools.db)
    gate.release()
    failed = gm.wait()
    assert failed.rc == 1 and "division by zero" in failed.text
    assert tools.version() == [(2, True)]
    again = tools.gm(form, "up")
    assert again.rc == 1 and GM_DIRTY.format(2) in again.text

    doc = json.loads(tools.sf("status", "--output", "json").out)
    assert doc["dirty"] is True and "running" not in doc
    assert "no schemaflow history: golang-migrate?" in doc["recovery"]["interrupted"]
    hint = doc["recovery"]["hint"]
    assert "`schemaflow migrate force 2`" in hint and "`schemaflow migrate force 1`" in hint
    up = tools.sf("up", "--preflight", "warn", "--output", "json")
    assert up.rc == 5 and json.loads(up.out)["error"]["hint"] == hint
    assert tools.sf("validate").rc == 5

    # the transaction rolled back: migration 2 is absent, so version 1 is the truth
    assert tools.runs(2) == 0
    assert tools.sf("force", "1").rc == 0
    files["2_two.up.sql"] = "INSERT INTO runs (version) VALUES (2);\n"
    tools.write(files)
    assert tools.gm(form, "up").rc == 0
    assert tools.version() == [(3, False)] and tools.runs(2) == 1
    scenario("4a dirty by golang-migrate", form, "golang-migrate up fails in 2 -> schemaflow "
             "status, up, validate -> schemaflow force 1 -> golang-migrate up",
             f"golang-migrate: '{GM_DIRTY.format(2)}'; schemaflow exit 5, hint: {hint}",
             f"golang-migrate {sorted(gm_held)}")


@pytest.mark.parametrize("form", FORMS)
def test_dirty_left_by_schemaflow(tools: Tools, gate: Gate, form: str) -> None:
    files = dict(LOGGED)
    files["2_two.up.sql"] = no_transaction(slow("INSERT INTO runs (version) VALUES (2);\n"
                                                "SELECT 1/0;\n"))
    tools.write(files)
    assert tools.sf("up", "--target", "1", "--preflight", "warn").rc == 0
    sf = tools.sf_start("up", "--preflight", "warn", "--output", "json")
    gate.wait_for(sf)
    sf_held = gate.keys_held(sf)
    assert sf_held == sf_keys(tools.db) and gm_key(tools.db, form) in sf_held
    gate.release()
    failed = sf.wait()
    assert failed.rc == 2
    hint = json.loads(failed.out)["error"]["hint"]
    assert "left dirty at version 2" in hint and "`schemaflow migrate force 1`" in hint
    assert tools.version() == [(2, True)]

    gm = tools.gm(form, "up")
    assert gm.rc == 1 and GM_DIRTY.format(2) in gm.text
    # the INSERT ran on its own (no-transaction) before the failure: undo it, then force
    tools.db.query("DELETE FROM runs WHERE version = 2")
    assert tools.gm(form, "force", "1").rc == 0
    assert tools.version() == [(1, False)]
    doc = json.loads(tools.sf("status", "--output", "json").out)
    assert (doc["fromVersion"], doc["dirty"]) == (1, False) and "outside schemaflow" in doc["outside"]
    files["2_two.up.sql"] = "INSERT INTO runs (version) VALUES (2);\n"
    tools.write(files)
    assert tools.sf("up", "--preflight", "warn").rc == 0
    assert tools.version() == [(3, False)] and tools.runs(2) == 1
    scenario("4b dirty by schemaflow", form, "schemaflow up fails in 2 -> golang-migrate up, "
             "force 1 -> schemaflow status, up", f"schemaflow exit 2, hint: {hint}; "
             f"golang-migrate: '{GM_DIRTY.format(2)}'; status notes the outside force",
             f"schemaflow {sorted(sf_held)}")


@pytest.mark.parametrize("form", FORMS)
def test_dirty_at_minus_one(tools: Tools, form: str) -> None:
    """golang-migrate writes -1 (NilVersion) dirty before rolling back the first migration
    (migrate.go: SetVersion(migr.TargetVersion, true)); a failed rollback leaves it."""
    files = dict(LOGGED)
    files["1_runs.down.sql"] = "DROP TABLE runs;\nSELECT 1/0;\n"
    tools.write(files)
    assert tools.gm(form, "up", "1").rc == 0
    failed = tools.gm(form, "down", "1")
    assert failed.rc == 1 and "division by zero" in failed.text
    assert tools.version() == [(-1, True)]
    again = tools.gm(form, "down", "1")
    assert GM_DIRTY.format(-1) in again.text

    doc = json.loads(tools.sf("status", "--output", "json").out)
    assert (doc["fromVersion"], doc["dirty"]) == (None, True)
    assert "rollback of the first migration" in doc["recovery"]["interrupted"]
    hint = doc["recovery"]["hint"]
    assert ("if the rollback of the first migration (1) is complete run "
            "`schemaflow migrate force -1`, if its changes are absent run "
            "`schemaflow migrate force 1`") in hint
    # the rollback's transaction rolled back: the table is there, so 1 is the truth
    assert tools.db.query("SELECT to_regclass('runs') IS NOT NULL") == [(True,)]
    assert tools.sf("force", "1").rc == 0
    version = tools.gm(form, "version")
    assert version.rc == 0 and version.text.split() == ["1"]
    scenario("4c dirty -1 by golang-migrate", form, "golang-migrate down 1 of the first fails "
             "-> schemaflow status, force 1 -> golang-migrate version",
             f"golang-migrate: '{GM_DIRTY.format(-1)}'; schemaflow hint: {hint}", "-")


@pytest.mark.parametrize("form", FORMS)
def test_file_reapplied_by_golang_migrate_after_edit(tools: Tools, form: str) -> None:
    tools.write(LOGGED)
    assert tools.sf("up", "--target", "2", "--preflight", "warn").rc == 0
    edited = dict(LOGGED)
    edited["2_two.up.sql"] = "INSERT INTO runs (version) VALUES (2), (2);\n"
    tools.write(edited)
    assert tools.gm(form, "down", "1").rc == 0
    assert tools.gm(form, "up", "1").rc == 0
    assert tools.version() == [(2, False)] and tools.runs(2) == 2

    doc = json.loads(tools.sf("status", "--output", "json").out)
    assert [d["file"] for d in doc["drift"]] == ["2_two.up.sql"]
    assert "outside schemaflow" in doc["outside"]
    up = tools.sf("up", "--preflight", "warn", "--output", "json")
    assert up.rc == 2
    error = json.loads(up.out)["error"]
    assert error["reason"] == "ChecksumDrift"
    assert "changed outside schemaflow" in error["message"] and "re-applied" in error["message"]
    assert "--allow-checksum-drift" in error["hint"]
    validate = tools.sf("validate", "--output", "json")
    assert validate.rc == 2 and json.loads(validate.out)["error"]["reason"] == "ChecksumDrift"
    assert tools.sf("up", "--allow-checksum-drift", "--preflight", "warn").rc == 0
    assert tools.version() == [(3, False)]
    scenario("outside: edited file re-applied", form, "schemaflow up 2 -> edit 2 -> "
             "golang-migrate down 1, up 1 -> schemaflow status, up, validate",
             "status: drift + outside note; up exit 2 saying the table changed outside "
             "schemaflow; validate 2", "-")
