"""Every metric the dashboard and the alerts query is one the operator exports (read from
schemaflow.kube.metrics by exercising every recorder), with labels it really carries; plus
`up`, which Prometheus adds to every scraped target."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from chartlib import CHART, REPO, VALUES_CASES, by_kind

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "inf", "nan", "atan2"}
SCRAPE_LABELS = {"job", "instance"}  # added by Prometheus to every series


def exported() -> dict[str, set[str]]:
    """metric sample name -> its label names, from a live registry of the operator's metrics."""
    from prometheus_client import CollectorRegistry

    from schemaflow.kube.metrics import Metrics
    from schemaflow.kube.status import Phase

    reg = CollectorRegistry()
    m = Metrics(reg)
    first = next(iter(Phase))
    m.run_finished("ns", "n", "up", "Succeeded", 1.0)
    m.failed("ns", "n", first, "ApplyFailed")
    m.rolled_back("ns", "n")
    m.verification_failed("ns", "n")
    m.succeeded("ns", "n", 1.0)
    m.set_version("ns", "n", 27)
    m.set_phase("ns", "n", first)
    names: dict[str, set[str]] = {}
    for family in reg.collect():
        for s in family.samples:
            names.setdefault(s.name, set()).update(s.labels)
    names["up"] = set()
    for labels in names.values():
        labels |= SCRAPE_LABELS
    # the operator's namespace label, on `up`, comes from the scrape (ServiceMonitor)
    names["up"] |= {"namespace", "pod", "service"}
    return names


def strip(expr: str) -> str:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges, $__rate_interval
    expr = re.sub(r"\boffset\s+\S+", " ", expr)
    return expr


def queried(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names used on it) for every selector in a PromQL expression."""
    expr = strip(expr)
    out: list[tuple[str, set[str]]] = []
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr):
        labels = {lm.group(1) for lm in re.finditer(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)",
                                                    m.group(2))}
        out.append((m.group(1), labels))
    rest = re.sub(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{[^}]*\}", " ", expr)
    rest = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", rest)
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", rest):
        name = m.group(1)
        if name.lower() not in KEYWORDS:
            out.append((name, set()))
    return out


def dashboard_exprs() -> list[str]:
    dash = json.loads((CHART / "files" / "dashboards" / "schemaflow.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    for var in dash["templating"]["list"]:
        q = var.get("query")
        if isinstance(q, dict) and "label_values" in q.get("query", ""):
            inner = re.match(r"label_values\((.*),\s*\w+\)$", q["query"])
            assert inner, q
            exprs.append(inner.group(1))
    return exprs


def alert_exprs() -> list[str]:
    return [yaml.safe_load(p.read_text())["expr"]
            for p in sorted((CHART / "files" / "alerts").glob("*.yaml"))]


def test_parser_sees_metrics() -> None:
    got = queried('sum by (le) (rate(x_bucket{a="1"}[5m])) / on (b) y offset 1h > bool 0')
    assert got == [("x_bucket", {"a"}), ("y", set())]


@pytest.mark.parametrize("source", ["alerts", "dashboard", "grafana-alerts"])
def test_every_queried_metric_is_exported(render, source: str) -> None:
    metrics = exported()
    if source == "alerts":
        exprs = alert_exprs()
    elif source == "dashboard":
        exprs = dashboard_exprs()
    else:
        (cm,) = [c for c in by_kind(render(VALUES_CASES["monitoring"]), "ConfigMap")
                 if c["metadata"]["name"].endswith("-grafana-alerts")]
        doc = yaml.safe_load(cm["data"]["schemaflow-alerts.yaml"])
        exprs = [d["model"]["expr"] for r in doc["groups"][0]["rules"] for d in r["data"]
                 if "expr" in d["model"]]
    seen: set[str] = set()
    for expr in exprs:
        for name, labels in queried(expr):
            if name == "time" or name.startswith("$"):
                continue
            assert name in metrics, f"{name} (in {expr!r}) is not exported by the operator"
            assert labels <= metrics[name], f"{name} has no label(s) {labels - metrics[name]}"
            seen.add(name)
    assert seen, "no metric found"


def test_the_design_metrics_are_all_used_somewhere() -> None:
    """Each metric docs/operator.md names is exported and shown on the dashboard or alerted on."""
    names = set(exported())
    text = " ".join(alert_exprs() + dashboard_exprs())
    for base in ("schemaflow_migration_duration_seconds", "schemaflow_migration_failures_total",
                 "schemaflow_rollbacks_total", "schemaflow_verification_failures_total",
                 "schemaflow_schema_version", "schemaflow_migration_phase",
                 "schemaflow_last_success_timestamp_seconds"):
        assert any(n.startswith(base) for n in names), base
        assert base in text, f"{base} is neither on the dashboard nor in an alert"


def test_runbooks_cover_exactly_the_alerts() -> None:
    alerts = {p.stem for p in (CHART / "files" / "alerts").glob("*.yaml")}
    pages = {p.stem for p in (REPO / "docs" / "runbooks").glob("*.md")} - {"README"}
    assert pages == alerts
    index = (REPO / "docs" / "runbooks" / "README.md").read_text()
    for a in alerts:
        assert f"{a}.md" in index
