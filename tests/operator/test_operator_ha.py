"""`schemaflow operator` options: kopf peering for HA, the liveness endpoint, and every
metric of docs/operator.md exported with bounded labels."""

from __future__ import annotations

import dataclasses
import urllib.request
from typing import Any

from harness.cluster import SMIGS, ApiThread, OperatorThread, metrics_text, samples
from harness.manifests import smig
from schemaflow.kube.main import OperatorOptions
from schemaflow.localpg import free_port

PEERINGS = "kopf.dev/v1/clusterkopfpeerings"
METRICS = {"schemaflow_migration_duration_seconds", "schemaflow_migration_failures_total",
           "schemaflow_rollbacks_total", "schemaflow_verification_failures_total",
           "schemaflow_schema_version", "schemaflow_migration_phase",
           "schemaflow_last_success_timestamp_seconds"}


def test_peering_liveness_and_metrics(cluster: ApiThread, operator_options: OperatorOptions,
                                      db26: Any) -> None:
    cluster.create(PEERINGS, {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                              "metadata": {"name": "schemaflow"}}, namespace=None)  # type: ignore[arg-type]
    port = free_port()
    options = dataclasses.replace(operator_options, peering="schemaflow",
                                  liveness=f"http://127.0.0.1:{port}/healthz")
    op = OperatorThread(cluster.url, options).start()
    try:
        cluster.create(SMIGS, smig("app"))
        assert cluster.wait_phase("app", "Succeeded", "Failed")["status"]["phase"] == "Succeeded"
        peering = cluster.get(PEERINGS, "schemaflow", namespace=None)  # type: ignore[arg-type]
        assert peering is not None and peering.get("status"), "kopf did not announce itself"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        text = metrics_text(options.metrics_port)
    finally:
        op.stop()
    names = {name for name, _, _ in samples(text)}
    families = {n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
                .removesuffix("_created") for n in names if n.startswith("schemaflow_")}
    assert families == METRICS - {"schemaflow_migration_failures_total",
                                  "schemaflow_rollbacks_total",
                                  "schemaflow_verification_failures_total"}  # no failures yet
    for name, labels, _ in samples(text):
        if name.startswith("schemaflow_"):
            assert set(labels) <= {"namespace", "name", "direction", "result", "phase",
                                   "reason", "le"}, (name, labels)
