"""The real payload: DomainFlow's database at version 26 (``sql/baseline``), migration
000027 with its verify checks from ``sql/``, applied by the operator through the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cluster import SMIGS, ApiThread, metric, metrics_text
from harness.manifests import smig

REPO_SQL = Path(__file__).resolve().parents[2] / "sql"
FAILING_CHECK = {"name": "always_fails", "sql": "SELECT 'planted problem' AS problem"}
TABLES = ("campaigns", "domain_generation_campaign_params", "generated_domains",
          "dns_validation_results", "http_keyword_results", "campaign_jobs", "audit_logs")

pytestmark = pytest.mark.skipif(
    not list((REPO_SQL / "migrations").glob("000027_*.up.sql")),
    reason="DomainFlow's migration 000027 is not in sql/ yet")


@pytest.fixture
def sql_dir() -> Path:
    return REPO_SQL


@pytest.fixture
def db26(db18: Any, sql_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from schemaflow.baseline import load_baseline

    monkeypatch.setenv("SCHEMAFLOW_SQL_DIR", str(sql_dir))
    load_baseline(db18.admin, scale=1.0)
    return db18


def contents(db: Any) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row's text form, per table."""
    return {t: db.query(f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' "  # noqa: S608
                        f"ORDER BY x::text), '')) FROM {t} x")[0] for t in TABLES}


def test_domainflow_26_to_27(cluster: ApiThread, operator: Any, db26: Any,
                             operator_options: Any) -> None:
    operator()
    cluster.create(SMIGS, smig("domainflow"))
    obj = cluster.wait_phase("domainflow", "Succeeded", "Failed", "RolledBack", timeout=120)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    assert db26.query("SELECT version, dirty FROM schema_migrations") == [(27, False)]
    assert obj["status"]["verification"]["failed"] == 0
    assert obj["status"]["verification"]["passed"] > 10
    text = metrics_text(operator_options.metrics_port)
    assert metric(text, "schemaflow_schema_version", name="domainflow") == 27


def test_domainflow_rolled_back_with_data_intact(cluster: ApiThread, operator: Any,
                                                 db26: Any) -> None:
    before = contents(db26)
    operator()
    cluster.create(SMIGS, smig("domainflow", verify={"extraChecks": [FAILING_CHECK]}))
    obj = cluster.wait_phase("domainflow", "RolledBack", "Failed", "Succeeded", timeout=120)
    assert obj["status"]["phase"] == "RolledBack", obj["status"]
    assert db26.query("SELECT version, dirty FROM schema_migrations") == [(26, False)]
    assert contents(db26) == before
