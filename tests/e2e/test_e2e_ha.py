"""Two operator replicas from the chart (kopf peering): installed by `helm install` in one
go, one active and one standing by, and the standby takes over when the active one dies."""

from __future__ import annotations

import signal
import time

from realcluster import RELEASE_NS

from conftest import App, install_operator


def test_two_replicas_one_active_then_failover(app: App) -> None:
    cluster = app.cluster
    # a first install with replicaCount=2: the peering CRDs and object in one release
    cluster.helm("uninstall", "schemaflow", "-n", RELEASE_NS, "--wait")
    cluster.kubectl("delete", "crd", "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")
    try:
        install_operator(cluster, replicas=2)
        pods = {p.metadata.name: p for p in cluster.core.list_namespaced_pod(
            RELEASE_NS, label_selector="app.kubernetes.io/component=operator").items
            if p.metadata.deletion_timestamp is None}
        assert len(pods) == 2
        t0 = time.monotonic()
        app.cluster.smig(app.ns, "first", app.spec())
        cluster.wait_phase(app.ns, "first", "Succeeded", timeout=60)
        served = time.monotonic() - t0
        logs = {name: _log(app, name) for name in pods}
        assert not any("Possibly conflicting operators" in text for text in logs.values()), logs
        # kopf starts each replica paused until the peering says it is the highest. Started
        # together, the later one may resume before the earlier one's peering record exists,
        # then pause in its favour (kopf/_core/engines/peering.py logs both): what counts is
        # each replica's last transition.
        active_ones = [name for name, text in logs.items() if _last_transition(text) == "Resuming"]
        assert len(active_ones) == 1, logs
        (active,) = active_ones
        # the active replica dies; the standby resumes and serves the next run
        app.node.kill(active, signal.SIGKILL)
        t1 = time.monotonic()
        cluster.smig(app.ns, "second", app.spec())
        cluster.wait_phase(app.ns, "second", {"Succeeded", "Failed"}, timeout=120)
        failover = time.monotonic() - t1
        print(f"\nHA: 2 replicas, 1 active; first run served in {served:.1f}s, "
              f"after killing the active replica a new run (already at 27) ended in {failover:.1f}s")
    finally:
        install_operator(cluster, replicas=1)


def _log(app: App, pod: str) -> str:
    paths = [p for key, p in app.node.outputs.items() if key.split("/")[1] == pod]
    return "\n".join(p.read_text(errors="replace") for p in paths)


def _last_transition(log: str) -> str | None:
    """"Resuming" or "Pausing": the last peering transition kopf logged, if any."""
    marks = [line for line in log.splitlines()
             if "Resuming operations" in line or "Pausing operations" in line]
    return None if not marks else ("Resuming" if "Resuming operations" in marks[-1] else "Pausing")
