"""Scenarios 2 and 3: schemaflow and the real golang-migrate exclude each other through
the same advisory key, in both forms and both orders. golang-migrate waits forever in
pg_advisory_lock (database/postgres/postgres.go); schemaflow waits up to --lock-wait."""

from __future__ import annotations

import json

import pytest
from interop_helpers import FORMS, LOGGED, Gate, Tools, gm_key, scenario, sf_keys


@pytest.mark.parametrize("form", FORMS)
def test_golang_migrate_running_schemaflow_waits(tools: Tools, gate: Gate, form: str) -> None:
    """golang-migrate inside migration 2 (dirty 2): schemaflow's up, force and validate
    do not touch the database; status says a migration is running, not "force"."""
    tools.write(LOGGED)
    assert tools.gm(form, "up", "1").rc == 0
    gm = tools.gm_start(form, "up")
    pid = gate.wait_for(gm)
    gm_held = gate.keys_held(gm)
    assert gm_held == {gm_key(tools.db, form)} and gm_held <= sf_keys(tools.db)
    assert tools.version() == [(2, True)]

    up = tools.sf("up", "--lock-wait", "2s", "--preflight", "warn", "--output", "json")
    assert up.rc == 4, up.err
    doc = json.loads(up.out)
    assert doc["result"] == "LockNotAcquired" and doc["lockTimeLostSeconds"] == 2.0
    assert f"pid {pid} (application '{gm.app}'" in doc["error"]["message"]

    status = tools.sf("status", "--output", "json")
    assert status.rc == 0, status.err
    doc = json.loads(status.out)
    assert doc["dirty"] is True and "recovery" not in doc
    assert [(r["pid"], r["application"]) for r in doc["running"]] == [(pid, gm.app)]
    assert doc["running"][0]["connectedSeconds"] >= 0
    text = tools.sf("status").out
    assert f"RUNNING: a migration holds the migration lock: pid {pid}" in text
    assert "do not force" in text and "schemaflow migrate force" not in text

    force = tools.sf("force", "1", "--lock-wait", "1s", "--output", "json")
    assert force.rc == 4, force.err
    validate = tools.sf("validate", "--output", "json")
    assert validate.rc == 5 and "a migration is running now" in validate.out
    assert tools.version() == [(2, True)]

    gate.release()
    assert gm.wait().rc == 0
    assert tools.version() == [(3, False)] and tools.runs(2) == tools.runs(3) == 1
    scenario("2 golang-migrate holds the lock", form, "golang-migrate up (in migration 2) -> "
             "schemaflow up --lock-wait 2s, force 1, status, validate",
             f"up and force exit 4 naming pid {pid} ({gm.app}); status RUNNING; validate 5; "
             "golang-migrate finishes, each migration ran once", f"golang-migrate {sorted(gm_held)}")


@pytest.mark.parametrize("form", FORMS)
def test_schemaflow_running_golang_migrate_waits(tools: Tools, gate: Gate, form: str) -> None:
    tools.write(LOGGED)
    sf = tools.sf_start("up", "--preflight", "warn", "--output", "json")
    gate.wait_for(sf)
    sf_held = gate.keys_held(sf)
    assert sf_held == sf_keys(tools.db)
    gm = tools.gm_start(form, "up")
    # golang-migrate blocks in pg_advisory_lock on the key schemaflow holds
    gate.wait_for(gm, key=gm_key(tools.db, form))
    assert gm.running() and gm_key(tools.db, form) in sf_held
    gate.release()
    done = sf.wait()
    assert done.rc == 0, done.err
    gm_done = gm.wait()
    assert gm_done.rc == 0, gm_done.text
    assert "no change" in gm_done.text.lower()
    assert tools.version() == [(3, False)] and tools.runs(2) == tools.runs(3) == 1
    scenario("3 schemaflow holds the lock", form, "schemaflow up (in migration 2) -> "
             "golang-migrate up", "golang-migrate waits in pg_advisory_lock, then 'no change'; "
             "each migration ran once", f"schemaflow {sorted(sf_held)}; golang-migrate waits on "
             f"{gm_key(tools.db, form)}")
