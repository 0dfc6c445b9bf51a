"""Scenario 1: the version table, both ways, with the real golang-migrate in both forms:
golang-migrate up -> schemaflow status/up -> golang-migrate version/down, and the
advisory key each tool holds while migrating, read from pg_locks."""

from __future__ import annotations

import json

import pytest
from interop_helpers import FORMS, LOGGED, Gate, Tools, gm_key, scenario, sf_keys


@pytest.mark.parametrize("form", FORMS)
def test_version_table_both_ways(tools: Tools, gate: Gate, form: str) -> None:
    tools.write(LOGGED)
    keys = sf_keys(tools.db)

    gm = tools.gm_start(form, "up", "2")
    gate.wait_for(gm)
    gm_held = gate.keys_held(gm)
    gate.release()
    done = gm.wait()
    assert done.rc == 0, done.text
    assert gm_held == {gm_key(tools.db, form)} and gm_held <= keys
    assert tools.version() == [(2, False)] and tools.runs(2) == 1

    status = tools.sf("status", "--output", "json")
    assert status.rc == 0, status.err
    doc = json.loads(status.out)
    assert (doc["fromVersion"], doc["dirty"], doc["pending"]) == (2, False, [3])
    assert "outside schemaflow" in doc["outside"]

    gate2 = Gate(tools.db)
    try:
        sf = tools.sf_start("up", "--preflight", "warn", "--output", "json")
        gate2.wait_for(sf)
        sf_held = gate2.keys_held(sf)
    finally:
        gate2.close()
    done = sf.wait()
    assert done.rc == 0, done.err
    assert sf_held == keys
    assert tools.version() == [(3, False)] and tools.runs(3) == 1
    assert "outside" not in json.loads(tools.sf("status", "--output", "json").out)

    version = tools.gm(form, "version")
    assert version.rc == 0 and version.text.split() == ["3"], version.text
    down = tools.gm(form, "down", "1")
    assert down.rc == 0, down.text
    assert tools.version() == [(2, False)] and tools.runs(3) == 0
    doc = json.loads(tools.sf("status", "--output", "json").out)
    assert (doc["fromVersion"], doc["pending"]) == (2, [3]) and "outside" in doc
    scenario("1 version table", form, "golang-migrate up 2 -> schemaflow status, up -> "
             "golang-migrate version, down 1", "shared; each run once",
             f"golang-migrate {sorted(gm_held)}; schemaflow {sorted(sf_held)}")
