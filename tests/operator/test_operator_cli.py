"""`schemaflow operator` exactly as the chart runs it (a process, kopf logging in from a
kubeconfig, one namespace), stopped by SIGTERM like a pod."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.cluster import SMIGS, ApiThread, metric, metrics_text
from harness.manifests import smig
from schemaflow.localpg import free_port


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: emulator, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: operator, user: {token: not-a-secret}}]\n"
        "contexts: [{name: test, context: {cluster: emulator, user: operator}}]\n"
        "current-context: test\n")
    return path


def test_schemaflow_operator_process(cluster: ApiThread, db26: Any, sql_dir: Path,
                                     tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(KUBECONFIG=str(kubeconfig(tmp_path / "kubeconfig", cluster.url)),
               SCHEMAFLOW_SQL_DIR=str(sql_dir), SCHEMAFLOW_IMAGE="schemaflow:cli-test")
    log = (tmp_path / "operator.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "schemaflow", "operator", "--namespace", "apps",
         "--metrics-port", str(port), "--interval", "0.3"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        cluster.create(SMIGS, smig("app"))
        obj = cluster.wait_phase("app", "Succeeded", "Failed", timeout=60)
        assert obj["status"]["phase"] == "Succeeded", obj["status"]
        job = cluster.get("batch/v1/jobs", "app-1-up")
        assert job is not None
        assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "schemaflow:cli-test"
        assert metric(metrics_text(port), "schemaflow_schema_version", name="app") == 27
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    log.seek(0)
    output = log.read()
    assert code == 0, output[-3000:]
    assert db26.server.password not in output
    assert "schemaflow.operator: apps/app: Succeeded: version 27 applied" in output
    assert "Timer 'reconcile' succeeded" not in output  # kopf's per-tick chatter is off
    assert db26.query("SELECT version FROM schema_migrations") == [(27,)]
