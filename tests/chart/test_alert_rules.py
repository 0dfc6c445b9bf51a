"""Alert rules with the real promtool: every per-alert file (charts/schemaflow/files/alerts)
and the combined rules of the rendered PrometheusRule pass `promtool check rules`; each alert
fires on synthetic series that should fire it and stays silent on healthy ones (`promtool
test rules`); every alert links its runbook; the Grafana-managed copies carry the same
expressions."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartlib import CHART, REPO, VALUES_CASES, by_kind, ensure_tools

ALERT_DIR = CHART / "files" / "alerts"
RUNBOOKS = REPO / "docs" / "runbooks"
M = "schemaflow_migration_phase"
APP = 'namespace="apps",name="shop"'


def phase(p: str, values: str) -> dict[str, str]:
    return {"series": f'{M}{{{APP},phase="{p}"}}', "values": values}


def hist(direction: str, count: str, le600: str) -> list[dict[str, str]]:
    lab = f'{APP},direction="{direction}",result="Succeeded"'
    return [{"series": f"schemaflow_migration_duration_seconds_count{{{lab}}}", "values": count},
            {"series": f'schemaflow_migration_duration_seconds_bucket{{{lab},le="600.0"}}',
             "values": le600}]


def up(instance: str, values: str, ns: str = "schemaflow-system") -> dict[str, str]:
    return {"series": f'up{{job="schemaflow",namespace="{ns}",instance="{instance}"}}',
            "values": values}


APP_LABELS = {"namespace": "apps", "name": "shop"}
# alert -> list of (case name, input series, eval time, labels of each expected alert)
CASES: dict[str, list[tuple[str, list[dict[str, str]], str, list[dict[str, str]]]]] = {
    "SchemaflowMigrationFailed": [
        ("fires", [phase("Failed", "0 1x10"), phase("Succeeded", "0x11")], "5m", [APP_LABELS]),
        ("pending within for", [phase("Failed", "0 1x10")], "1m", []),
        ("silent when succeeded", [phase("Failed", "0x10"), phase("Succeeded", "1x10")], "5m", []),
        ("silent after a retry succeeded", [phase("Failed", "0 1 0x8")], "5m", []),
    ],
    "SchemaflowMigrationRolledBack": [
        ("fires", [phase("RolledBack", "0 1x5")], "2m", [APP_LABELS]),
        ("silent", [phase("RolledBack", "0x5"), phase("Succeeded", "1x5")], "2m", []),
    ],
    "SchemaflowMigrationStuck": [
        ("fires after 30m in Migrating", [phase("Migrating", "1x40")], "35m",
         [{**APP_LABELS, "phase": "Migrating"}]),
        ("fires for Pending too", [phase("Pending", "1x40")], "35m",
         [{**APP_LABELS, "phase": "Pending"}]),
        ("silent when it finished", [phase("Migrating", "1x20 0x20"),
                                     phase("Succeeded", "0x20 1x20")], "35m", []),
        ("silent for progress through phases", [phase("Preflight", "1x15 0x25"),
                                                phase("Migrating", "0x15 1x25")], "35m", []),
        ("silent for a final phase", [phase("Succeeded", "1x40")], "35m", []),
    ],
    "SchemaflowMigrationSlow": [
        ("fires on a first slow run", hist("up", "1x30", "0x30"), "10m",
         [{**APP_LABELS, "direction": "up"}]),
        ("fires on a later slow run", hist("down", "1x400 2x100", "1x500"), "450m",
         [{**APP_LABELS, "direction": "down"}]),
        ("silent for fast runs", hist("up", "1x400 2x100", "1x400 2x100"), "450m", []),
        ("silent once the slow run is 6h old", hist("up", "1x500", "0x500"), "450m", []),
    ],
    "SchemaflowDatabaseDirty": [
        ("fires", [phase("Failed", "0 1x5"), {
            "series": f'schemaflow_migration_failures_total{{{APP},phase="Migrating",'
                      f'reason="DirtyDatabase"}}', "values": "0 1x5"}], "3m", [APP_LABELS]),
        ("silent for other failures", [phase("Failed", "0 1x5"), {
            "series": f'schemaflow_migration_failures_total{{{APP},phase="Migrating",'
                      f'reason="ApplyFailed"}}', "values": "0 1x5"}], "3m", []),
        ("silent once recovered", [phase("Failed", "1x2 0x3"), phase("Succeeded", "0x2 1x3"), {
            "series": f'schemaflow_migration_failures_total{{{APP},phase="Migrating",'
                      f'reason="Dirty"}}', "values": "1x5"}], "4m", []),
    ],
    "SchemaflowOperatorDown": [
        ("fires when down", [up("a", "1x3 0x10")], "10m", [{"namespace": "schemaflow-system"}]),
        ("fires when not scraped", [phase("Succeeded", "1x10")], "10m", [{"job": "schemaflow"}]),
        ("silent when up", [up("a", "1x15")], "10m", []),
        ("silent while one HA replica is up", [up("a", "1x15"), up("b", "0x15")], "10m", []),
        ("silent during a short restart", [up("a", "1x3 0x3 1x6")], "10m", []),
    ],
}


def load_rule(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def alert_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(ALERT_DIR.glob("*.yaml"))}


def expected_annotations(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    def sub(text: str) -> str:
        return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""),
                      text)
    return {k: sub(v) for k, v in rule["annotations"].items()}


def promtool_tests(rules: dict[str, dict[str, Any]], rule_file: str) -> dict[str, Any]:
    tests = []
    for alert, cases in CASES.items():
        if alert not in rules:
            continue
        for _name, series, at, alerts in cases:
            exp = []
            for labels in alerts:
                full = {**labels, **rules[alert]["labels"]}
                exp.append({"exp_labels": full,
                            "exp_annotations": expected_annotations(rules[alert], full)})
            tests.append({"interval": "1m", "input_series": series, "alert_rule_test": [
                {"eval_time": at, "alertname": alert, "exp_alerts": exp}]})
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


@pytest.fixture(scope="module")
def promtool() -> str:
    ensure_tools()
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: scripts/tools.sh installs Debian's prometheus (as root)")
    return path


def run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_one_file_per_alert_and_a_case_for_each() -> None:
    files = alert_files()
    assert set(files) == set(CASES), "every alert has test cases, every case an alert"
    for stem, path in files.items():
        rule = load_rule(path)
        assert rule["alert"] == stem  # file named after its alert
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    for cases in CASES.values():
        assert any(c[3] for c in cases) and any(not c[3] for c in cases), "fire and silent"


@pytest.mark.parametrize("alert", sorted(CASES))
def test_runbook_linked_and_present(alert: str) -> None:
    url = load_rule(alert_files()[alert])["annotations"]["runbook_url"]
    assert url.endswith(f"/docs/runbooks/{alert}.md")
    page = RUNBOOKS / f"{alert}.md"
    assert page.exists(), page
    text = page.read_text()
    assert text.startswith(f"# {alert}") and "## Diagnose" in text and "## Fix" in text


@pytest.mark.parametrize("alert", sorted(CASES))
def test_each_alert_file(promtool: str, tmp_path: Path, alert: str) -> None:
    rule = load_rule(alert_files()[alert])
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "schemaflow", "rules": [rule]}]}))
    assert "SUCCESS: 1 rules found" in run([promtool, "check", "rules", "rules.yaml"], tmp_path)
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump(promtool_tests({alert: rule}, "rules.yaml"), sort_keys=False))
    out = run([promtool, "test", "rules", "tests.yaml"], tmp_path)
    assert "SUCCESS" in out


def test_combined_rules_from_the_rendered_prometheusrule(render, promtool: str,
                                                         tmp_path: Path) -> None:
    (pr,) = by_kind(render(VALUES_CASES["monitoring"]), "PrometheusRule")
    rules_file = tmp_path / "schemaflow.rules.yaml"
    rules_file.write_text(yaml.safe_dump(pr["spec"]))
    out = run([promtool, "check", "rules", rules_file.name], tmp_path)
    assert f"SUCCESS: {len(CASES)} rules found" in out
    rules = {r["alert"]: r for g in pr["spec"]["groups"] for r in g["rules"]}
    assert set(rules) == set(CASES)
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump(promtool_tests(rules, rules_file.name), sort_keys=False))
    assert "SUCCESS" in run([promtool, "test", "rules", "tests.yaml"], tmp_path)


def test_runbook_base_url_is_configurable(render) -> None:
    values = {"monitoring": {**VALUES_CASES["monitoring"]["monitoring"],
                             "runbookBaseURL": "https://wiki.example.com/runbooks/"}}
    (pr,) = by_kind(render(values), "PrometheusRule")
    for g in pr["spec"]["groups"]:
        for r in g["rules"]:
            assert r["annotations"]["runbook_url"] == \
                f"https://wiki.example.com/runbooks/{r['alert']}.md"


def test_grafana_alert_rules_mirror_the_prometheus_rules(render) -> None:
    objs = render(VALUES_CASES["monitoring"])
    (cm,) = [c for c in by_kind(objs, "ConfigMap") if c["metadata"]["name"].endswith("-grafana-alerts")]
    doc = yaml.safe_load(cm["data"]["schemaflow-alerts.yaml"])
    assert doc["apiVersion"] == 1
    (group,) = doc["groups"]
    assert group["folder"] and group["interval"] == "1m" and group["orgId"] == 1
    files = {k: load_rule(p) for k, p in alert_files().items()}
    assert {r["title"] for r in group["rules"]} == set(files)
    uids = [r["uid"] for r in group["rules"]]
    assert len(set(uids)) == len(uids) and all(len(u) <= 40 for u in uids)
    for r in group["rules"]:
        src = files[r["title"]]
        query, threshold = r["data"]
        assert r["condition"] == threshold["refId"] == "C"
        assert query["datasourceUid"] == "prometheus" and query["model"]["instant"] is True
        assert query["model"]["expr"] == f"({src['expr'].strip()}) * 0 + 1"
        assert threshold["datasourceUid"] == "__expr__"
        assert threshold["model"]["expression"] == "A"
        assert r["for"] == src["for"] and r["labels"] == src["labels"]
        assert r["annotations"] == src["annotations"]
        assert r["noDataState"] == "OK"  # the expressions return nothing when healthy


def test_dashboard_json(render) -> None:
    dash = json.loads((CHART / "files" / "dashboards" / "schemaflow.json").read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) >= 6
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == "${datasource}"
        assert p["targets"] and all(t["expr"] for t in p["targets"])
