"""Shared constants and helpers of the chart tests (imported by conftest and the tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "schemaflow"
EXAMPLE = REPO / "charts" / "examples" / "domainflow-app"
CRD_FILE = CHART / "files" / "schemamigrations.crd.yaml"
RELEASE, NAMESPACE = "sf", "schemaflow-system"

# The values matrix. "defaults" is cluster-wide (operator.clusterWide defaults to true).
MONITORING = {"serviceMonitor": {"enabled": True, "additionalLabels": {"release": "kps"}},
              "prometheusRule": {"enabled": True},
              "grafanaDashboard": {"create": True},
              "grafanaAlerts": {"create": True, "namespace": "grafana"}}
VALUES_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "monitoring": {"monitoring": MONITORING},
    "namespaced": {"operator": {"clusterWide": False, "watchNamespaces": ["team-a", "team-b"]}},
    "ha": {"replicaCount": 3, "monitoring": MONITORING},
    "ha-namespaced": {"replicaCount": 2, "operator": {"clusterWide": False}},
}


def ensure_tools() -> None:
    """helm (and promtool) come from scripts/tools.sh; run it once when missing."""
    if not (REPO / ".tools" / "bin" / "helm").exists() or shutil.which("promtool") is None:
        subprocess.run(["bash", str(REPO / "scripts" / "tools.sh")], check=True,
                       capture_output=True, text=True)


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o.get("kind") == kind]
