"""Fixtures for `schemaflow wait`: a kmock Kubernetes API in a thread, and a runner for the
real CLI in a subprocess (real exit codes, real stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kapi import KubeApiThread  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeApiThread]:
    api = KubeApiThread()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def run_wait(tmp_path: Path) -> Callable[..., Result]:
    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        import time

        base = {k: v for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
        base["KUBECONFIG"] = str(tmp_path / "no-kubeconfig")  # never a real cluster
        base.update(env or {})
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "schemaflow", "wait", *args],
                              capture_output=True, text=True, env=base, timeout=timeout,
                              cwd=tmp_path)
        return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)
    return run
