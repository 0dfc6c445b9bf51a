"""Failures: a migration whose SQL fails leaves the database unchanged, the resource Failed
with the reason, and the failure counted; a failed rollback says where the database is and
how to recover."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cluster import SMIGS, ApiThread, metric, metrics_text
from harness.manifests import MIGRATIONS, VERIFY, smig, write_sql

BROKEN = {
    "000026_baseline.up.sql": "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);\n",
    "000026_baseline.down.sql": "DROP TABLE items;\n",
    # the first statement works, the second fails: the transaction must undo both
    "000027_broken.up.sql": ("ALTER TABLE items ADD COLUMN note text;\n"
                             "ALTER TABLE items ADD COLUMN no_such_type notatype;\n"),
    "000027_broken.down.sql": "ALTER TABLE items DROP COLUMN note;\n",
}
BROKEN_DOWN = {
    **MIGRATIONS,
    "000027_add_note.down.sql": "ALTER TABLE items DROP COLUMN no_such_column;\n",
}
FAILING_CHECK = {"name": "always_fails", "sql": "SELECT 'planted problem' AS problem"}


@pytest.fixture
def sql_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    migrations = BROKEN_DOWN if getattr(request, "param", "") == "broken-down" else BROKEN
    return write_sql(tmp_path / "sql", migrations, VERIFY)


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


@pytest.mark.parametrize("sql_dir", ["broken-down"], indirect=True)
def test_rollback_failure(cluster: ApiThread, operator: Any, db26: Any,
                          operator_options: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("app", verify={"extraChecks": [FAILING_CHECK]}))
    obj = cluster.wait_phase("app", "Failed", "Succeeded", "RolledBack")
    status = obj["status"]
    assert status["phase"] == "Failed"
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Ready"] == ("False", "RollbackFailed")
    assert conditions["RolledBack"] == ("False", "RollbackFailed")
    assert conditions["Verified"] == ("False", "VerificationFailed")
    assert "database at version 27, dirty=False" in status["message"]
    assert "schemaflow migrate force" in status["message"]
    assert db26.query("SELECT version, dirty FROM schema_migrations") == [(27, False)]
    text = metrics_text(operator_options.metrics_port)
    assert metric(text, "schemaflow_migration_failures_total", name="app", phase="RollingBack",
                  reason="RollbackFailed") == 1
    assert metric(text, "schemaflow_rollbacks_total", name="app") is None

