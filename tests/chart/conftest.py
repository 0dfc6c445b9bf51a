"""Chart test fixtures: the real helm (from scripts/tools.sh), rendering with a values
matrix, and the operator's CRD."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chartlib import CHART, CRD_FILE, NAMESPACE, RELEASE, REPO, ensure_tools  # noqa: E402


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    ensure_tools()
    binary = REPO / ".tools" / "bin" / "helm"
    home = tmp_path_factory.mktemp("helm-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env.update(HELM_CACHE_HOME=str(home / "cache"), HELM_CONFIG_HOME=str(home / "config"),
               HELM_DATA_HOME=str(home / "data"), KUBECONFIG=str(home / "none"))

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(binary), *args], capture_output=True, text=True, env=env,
                              timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stderr}")
        return proc
    return run


@pytest.fixture(scope="session")
def render(helm, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., list[dict[str, Any]]]:
    cache: dict[str, list[dict[str, Any]]] = {}
    tmp = tmp_path_factory.mktemp("values")

    def render_(values: dict[str, Any], chart: Path = CHART, release: str = RELEASE,
                namespace: str = NAMESPACE) -> list[dict[str, Any]]:
        key = repr((values, str(chart), release, namespace))
        if key not in cache:
            vfile = tmp / f"v{len(cache)}.yaml"
            vfile.write_text(yaml.safe_dump(values))
            # --include-crds: what `helm install` sends, crds/ (kopf's peering CRDs) first
            out = helm("template", release, str(chart), "-n", namespace, "--include-crds",
                       "-f", str(vfile)).stdout
            cache[key] = [d for d in yaml.safe_load_all(out) if d]
        return cache[key]
    return render_


@pytest.fixture(scope="session")
def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_FILE.read_text())
