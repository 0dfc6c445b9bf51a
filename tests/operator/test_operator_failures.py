"""Apply failures: a migration whose SQL fails leaves the database unchanged, the resource
Failed with the reason, and the failure counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cluster import SMIGS, ApiThread, metric, metrics_text
from harness.manifests import smig, write_sql

BROKEN = {
    "000026_baseline.up.sql": "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);\n",
    "000026_baseline.down.sql": "DROP TABLE items;\n",
    # the first statement works, the second fails: the transaction must undo both
    "000027_broken.up.sql": ("ALTER TABLE items ADD COLUMN note text;\n"
                             "ALTER TABLE items ADD COLUMN no_such_type notatype;\n"),
    "000027_broken.down.sql": "ALTER TABLE items DROP COLUMN note;\n",
}


@pytest.fixture
def sql_dir(tmp_path: Path) -> Path:
    return write_sql(tmp_path / "sql", BROKEN, {})


def test_apply_failure(cluster: ApiThread, operator: Any, db26: Any,
                       operator_options: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("app"))
    obj = cluster.wait_phase("app", "Failed", "Succeeded", "RolledBack")
    status = obj["status"]
    assert status["phase"] == "Failed"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    applied = next(c for c in status["conditions"] if c["type"] == "Applied")
    assert (ready["status"], ready["reason"]) == ("False", "ApplyFailed")
    assert (applied["status"], applied["reason"]) == ("False", "ApplyFailed")
    assert "notatype" in status["message"]
    assert status["lastRun"]["exitCode"] == 2
    assert db26.query("SELECT version, dirty FROM schema_migrations") == [(26, False)]
    assert db26.query("SELECT count(*) FROM information_schema.columns "
                      "WHERE table_name = 'items' AND column_name = 'note'") == [(0,)]
    text = metrics_text(operator_options.metrics_port)
    assert metric(text, "schemaflow_migration_failures_total", name="app", phase="Migrating",
                  reason="ApplyFailed") == 1
    assert metric(text, "schemaflow_migration_duration_seconds_count", name="app",
                  direction="up", result="Failed") == 1
    assert metric(text, "schemaflow_rollbacks_total", name="app") is None
