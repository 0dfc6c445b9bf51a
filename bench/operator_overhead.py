"""The operator's overhead on a real control plane: N SchemaMigrations across M namespaces,
the time from create to the migration Job, from the Job's end to the SchemaMigration's
phase, the operator's API requests while everything is at rest, and its peak memory.

The control plane is the e2e suite's (``tests/e2e/controlplane.py``: etcd, kube-apiserver
with RBAC and an audit log, kube-controller-manager with every controller), started afresh
per measurement. The chart's CRD, ServiceAccount and RBAC are applied from ``helm template``,
and the operator runs as a separate process, ``python -m schemaflow operator``, with a
kubeconfig holding a token of that ServiceAccount: it has the chart's rights and nothing
more, and the audit log tells its requests apart by user.

No container runs: the e2e node (``tests/e2e/node.py``) schedules the Jobs' pods and
heartbeats as a kubelet, but reports each container as exited 0 at once, with the JSON
report ``schemaflow migrate up`` writes to its termination message. The real Job controller
then decides Complete. Every timestamp is the moment one of this process's watches on the
API server sees the change (one clock and one path for both ends of each interval).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.report import pct

REPO = Path(__file__).resolve().parent.parent
E2E = REPO / "tests" / "e2e"
MIGRATION_LABEL = "schemaflow.domainflow.io/migration"


def available() -> str | None:
    if not (REPO / "operator" / "schemaflow" / "kube" / "main.py").exists():
        return "operator (schemaflow/kube/main.py) not present"
    if not (E2E / "controlplane.py").exists():
        return "the e2e control plane (tests/e2e/controlplane.py) not present"
    missing = [tool for tool in ("helm", "kubectl", "openssl") if shutil.which(tool) is None]
    return f"not on PATH: {', '.join(missing)}" if missing else None


def _rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB from /proc; (0, 0) when the process is gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _e2e() -> Any:
    """The e2e suite's modules (a directory of scripts, not a package)."""
    if str(E2E) not in sys.path:
        sys.path.insert(0, str(E2E))
    import controlplane
    import node
    import realcluster

    return controlplane, node, realcluster


def _report() -> str:
    """The termination message of a successful ``schemaflow migrate up --report``, built by
    the engine's own code (what ``jobview.parse_report`` reads)."""
    from schemaflow.engine.report import Report, bounded_json

    return bounded_json(Report(command="up", direction="up", from_version=26, to_version=27,
                               target_version=27, dirty=False,
                               verification={"passed": 39, "failed": 0, "failures": []}).as_dict())


def _instant_node(node_mod: Any) -> type:
    class InstantNode(node_mod.Node):
        """The e2e node (binding, lease and Ready heartbeat) whose containers exit 0 at
        once: pods/status gets phase Succeeded and a terminated container with the report,
        which is what the Job controller counts (pkg/controller/job/job_controller.go,
        trackJobStatusAndRemoveFinalizers: ``pod.Status.Phase == v1.PodSucceeded``) and
        what the operator reads (jobview.view_job: ``state.terminated``)."""

        message = _report()

        def _run_pod(self, key: str, pod: Any) -> None:
            now = node_mod._now()
            terminated = {"exitCode": 0, "reason": "Completed", "message": self.message,
                          "startedAt": now, "finishedAt": now}
            self._status(pod, {
                **node_mod._placed("Succeeded", self._pod_ip(key), now),
                "conditions": [{"type": "PodScheduled", "status": "True"},
                               {"type": "Ready", "status": "False", "reason": "PodCompleted"},
                               {"type": "ContainersReady", "status": "False",
                                "reason": "PodCompleted"}],
                "containerStatuses": [node_mod._container_status(
                    pod.spec.containers[0], 0, {"terminated": terminated})]})

    return InstantNode


class Watcher(threading.Thread):
    """Watches one resource cluster-wide as plain dicts, calling ``on(type, obj, t)`` with
    the monotonic time each event arrived."""

    def __init__(self, api: Any, group: str, version: str, plural: str,
                 on: Callable[[str, dict[str, Any], float], None]) -> None:
        super().__init__(name=f"watch-{plural}", daemon=True)
        self.api, self.args, self.on = api, (group, version, plural), on
        self.stopping = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        from kubernetes import client, watch

        custom = client.CustomObjectsApi(self.api)
        while not self.stopping.is_set():
            try:
                listed = custom.list_cluster_custom_object(*self.args)
                for obj in listed["items"]:
                    self.on("ADDED", obj, time.monotonic())
                self.ready.set()
                for event in watch.Watch().stream(
                        custom.list_cluster_custom_object, *self.args, timeout_seconds=600,
                        resource_version=listed["metadata"]["resourceVersion"]):
                    self.on(event["type"], event["object"], time.monotonic())
                    if self.stopping.is_set():
                        return
            except Exception as exc:  # noqa: BLE001 - relisted; duplicates keep first times
                if not self.stopping.is_set():
                    print(f"bench: {self.name} restarting: {exc}", file=sys.stderr)
                    time.sleep(0.2)


class Timeline:
    """First sighting of each milestone per SchemaMigration (``namespace/name``)."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.job_added: dict[str, float] = {}
        self.job_complete: dict[str, float] = {}
        self.succeeded: dict[str, float] = {}
        self.phases: Counter[str] = Counter()
        self._phase: dict[str, str] = {}
        self._lock = threading.Lock()

    def on_smig(self, etype: str, obj: dict[str, Any], t: float) -> None:
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        phase = (obj.get("status") or {}).get("phase") or ""
        with self._lock:
            if etype == "ADDED":
                self.created.setdefault(key, t)
            if phase == "Succeeded":
                self.succeeded.setdefault(key, t)
            if etype != "DELETED" and self._phase.get(key) != phase:
                self._phase[key] = phase
                self.phases = Counter(self._phase.values())

    def on_job(self, etype: str, obj: dict[str, Any], t: float) -> None:
        meta = obj["metadata"]
        owner = (meta.get("labels") or {}).get(MIGRATION_LABEL)
        if not owner:
            return
        key = f"{meta['namespace']}/{owner}"
        with self._lock:
            self.job_added.setdefault(key, t)
            # the Job controller's terminal condition (job_controller.go, enactJobFinished)
            if any(c.get("type") == "Complete" and c.get("status") == "True"
                   for c in (obj.get("status") or {}).get("conditions") or []):
                self.job_complete.setdefault(key, t)


def _latencies(start: dict[str, float], end: dict[str, float]) -> list[float]:
    return [end[k] - start[k] for k in start if k in end]


def _summary(prefix: str, lat: list[float]) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {f"{prefix}P50Seconds": r(pct(lat, 50)), f"{prefix}P99Seconds": r(pct(lat, 99)),
            f"{prefix}MaxSeconds": r(max(lat) if lat else None)}


def _audit(cluster: Any, since: int, user: str) -> list[dict[str, Any]]:
    """One entry per request of ``user`` in the audit log from byte ``since``. A watch is
    logged twice, at ResponseStarted and ResponseComplete, a short request once, at
    ResponseComplete (RequestReceived is omitted by the plane's policy): the first entry of
    each auditID stands for the request (staging/src/k8s.io/apiserver/pkg/apis/audit/v1/
    types.go, Event and Stage)."""
    seen: set[str] = set()
    out = []
    for entry in cluster.audit_entries(since, user):  # tests/e2e/realcluster.py
        if entry.get("auditID") not in seen:
            seen.add(entry.get("auditID"))
            out.append(entry)
    return out


def _received(entry: dict[str, Any]) -> float:
    """requestReceivedTimestamp (RFC 3339 with microseconds) as epoch seconds."""
    return datetime.fromisoformat(entry["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()


def _kind(entry: dict[str, Any]) -> str:
    ref = entry.get("objectRef")
    if not ref:  # a non-resource request (discovery, /version)
        return f"{entry.get('verb')} {entry.get('requestURI', '').split('?')[0]}"
    sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
    return f"{entry.get('verb')} {ref.get('resource')}{sub}"


def _smig(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "schemaflow.domainflow.io/v1alpha1", "kind": "SchemaMigration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"database": {"urlSecretRef": {"name": "domainflow-db", "key": "url"}},
                 "targetVersion": 27},
    }


def _install_chart(cluster: Any, rc: Any) -> None:
    """The chart's CRD, ServiceAccount and (cluster-wide) RBAC, as helm renders them."""
    cluster.kubectl("create", "namespace", rc.RELEASE_NS)
    rendered = cluster.helm("template", "schemaflow", str(rc.CHART), "-n", rc.RELEASE_NS,
                            "--show-only", "templates/crds.yaml",
                            "--show-only", "templates/serviceaccount.yaml",
                            "--show-only", "templates/rbac.yaml").stdout
    cluster.kubectl("apply", "-f", "-", stdin=rendered)
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                    f"crd/{rc.PLURAL}.{rc.GROUP}")


def _operator_kubeconfig(cluster: Any, rc: Any, plane: Any, path: Path) -> None:
    """A kubeconfig with a token of the chart's ServiceAccount (TokenRequest)."""
    token = cluster.kubectl("create", "token", "schemaflow", "-n", rc.RELEASE_NS,
                            "--duration=2h").stdout.strip()
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "bench", "cluster": {
            "server": plane.server, "certificate-authority": str(plane.pki / "ca.crt")}}],
        "users": [{"name": "schemaflow", "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "schemaflow"}}],
    }))
    path.chmod(0o600)


def measure(resources: int = 200, namespaces: int = 20, workdir: Path | None = None,
            timeout: float = 180.0, rate: float | None = None, idle: float = 60.0,
            settle: float = 10.0, operator_args: tuple[str, ...] = (),
            keep: bool = False) -> dict[str, Any]:
    """``rate`` None: all resources created at once (burst); else that many per second.
    ``idle``: seconds of API requests counted once every resource is Succeeded (after
    ``settle`` more seconds for the last events to pass). ``keep``: leave the work
    directory (audit log, logs of the operator and the control plane)."""
    why = available()
    if why:
        return {"skipped": why}
    controlplane, node_mod, rc = _e2e()
    from kubernetes import client, config

    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-", dir=workdir))
    result: dict[str, Any] = {"resources": resources, "namespaces": namespaces,
                              "mode": "burst" if rate is None else f"paced {rate:g}/s"}
    plane = controlplane.ControlPlane(workdir / "plane")
    t0 = time.monotonic()
    try:
        plane.up()
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the rest of bench runs
        plane.down()
        return {**result, "skipped": f"control plane did not start: {exc}"[:500]}
    result["controlPlaneStartSeconds"] = round(time.monotonic() - t0, 1)
    api = config.new_client_from_config(config_file=str(plane.admin_kubeconfig))
    cluster = rc.Cluster(api=api, kubeconfig=plane.admin_kubeconfig, audit_log=plane.audit_log,
                         helm_home=workdir / "helm")
    node = _instant_node(node_mod)(api, plane.server, {}, workdir / "node")
    timeline = Timeline()
    watchers = [Watcher(api, rc.GROUP, rc.VERSION, rc.PLURAL, timeline.on_smig),
                Watcher(api, "batch", "v1", "jobs", timeline.on_job)]
    proc: subprocess.Popen[bytes] | None = None
    peak = [0]
    rss_series: list[tuple[float, int]] = []
    stop_sampling = threading.Event()
    try:
        _install_chart(cluster, rc)
        kubeconfig = workdir / "operator.kubeconfig"
        _operator_kubeconfig(cluster, rc, plane, kubeconfig)
        ns_names = [f"bench-ns-{i:02d}" for i in range(namespaces)]
        for ns in ns_names:
            cluster.namespace(ns)  # waits for its default ServiceAccount (pods need it)
        node.start()
        for w in watchers:
            w.start()
            w.ready.wait(30)

        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env["KUBECONFIG"] = str(kubeconfig)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"),
                                                          env.get("PYTHONPATH", "")]))
        cmd = [sys.executable, "-m", "schemaflow", "operator", "--metrics-port", "0",
               *operator_args]
        result["command"] = cmd[1:]
        audit_start = plane.audit_log.stat().st_size
        t_launch = time.monotonic()
        with open(workdir / "operator.log", "wb") as logf:
            proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                    cwd=REPO, start_new_session=True)

        def sample() -> None:
            while not stop_sampling.is_set():
                rss, hwm = _rss_kib(proc.pid)
                peak[0] = max(peak[0], hwm, rss)
                rss_series.append((round(time.monotonic() - t_launch, 1), rss))
                stop_sampling.wait(0.5)

        threading.Thread(target=sample, daemon=True, name="rss").start()
        # ready once kopf watches both SchemaMigrations and Jobs (the audit log says so)
        deadline = time.monotonic() + 60
        watching: set[str] = set()
        while time.monotonic() < deadline and proc.poll() is None and len(watching) < 2:
            watching = {(e.get("objectRef") or {}).get("resource", "")
                        for e in _audit(cluster, audit_start, rc.OPERATOR_SA)
                        if e.get("verb") == "watch"} & {rc.PLURAL, "jobs"}
            time.sleep(0.2)
        if len(watching) < 2:
            tail = (workdir / "operator.log").read_text(errors="replace")[-1500:]
            return {**result, "skipped": f"operator never watched (exit {proc.poll()}): {tail}"}
        result["startupSeconds"] = round(time.monotonic() - t_launch, 2)
        time.sleep(1.0)
        result["idleRssMiB"] = round(_rss_kib(proc.pid)[0] / 1024, 1)

        creator = config.new_client_from_config(config_file=str(plane.admin_kubeconfig))
        custom = client.CustomObjectsApi(creator)

        def create(i: int) -> None:
            ns = ns_names[i % namespaces]
            custom.create_namespaced_custom_object(rc.GROUP, rc.VERSION, ns, rc.PLURAL,
                                                   _smig(f"app-{i:03d}", ns))

        cpu0 = _cpu_seconds(proc.pid)
        t0 = time.monotonic()
        if rate is None:  # as fast as a few clients can: the API server's pace, not ours
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(create, range(resources)))
        else:
            for i in range(resources):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                create(i)
        result["createSeconds"] = round(time.monotonic() - t0, 3)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and \
                len(timeline.succeeded) < resources:
            if len(timeline.job_added) >= resources and "allJobsSeconds" not in result:
                result["allJobsSeconds"] = round(time.monotonic() - t0, 3)
            time.sleep(0.05)
        result["allSucceededSeconds"] = round(time.monotonic() - t0, 3)
        cpu1 = _cpu_seconds(proc.pid)
        result["phases"] = dict(timeline.phases)
        busy_requests = _audit(cluster, audit_start, rc.OPERATOR_SA)

        # at rest: every resource Succeeded; count what the operator still asks for
        time.sleep(settle)
        idle_from = plane.audit_log.stat().st_size
        t_idle, cpu_idle0 = time.time(), _cpu_seconds(proc.pid)
        time.sleep(idle)
        t_idle_end, cpu_idle1 = time.time(), _cpu_seconds(proc.pid)
        idle_requests = [e for e in _audit(cluster, idle_from, rc.OPERATOR_SA)
                         if t_idle <= _received(e) < t_idle_end]
        everything = _audit(cluster, audit_start, rc.OPERATOR_SA)
    finally:
        stop_sampling.set()
        for w in watchers:
            w.stopping.set()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        node.stop()
        plane.down()

    def rounded(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 2)

    create_to_job = _latencies(timeline.created, timeline.job_added)
    end_to_phase = _latencies(timeline.job_complete, timeline.succeeded)
    result.update({
        "jobsCreated": len(create_to_job),
        "missingJobs": resources - len(create_to_job),
        **_summary("createToJob", create_to_job),
        "jobsComplete": len(timeline.job_complete),
        "phasesSucceeded": len(end_to_phase),
        **_summary("jobEndToPhase", end_to_phase),
        "peakRssMiB": round(peak[0] / 1024, 1),
        "cpuSecondsForAll": rounded(cpu0, cpu1),
        "idleSeconds": round(t_idle_end - t_idle, 1),
        "idleApiRequests": len(idle_requests),
        "idleApiRequestsPerSecond": round(len(idle_requests) / (t_idle_end - t_idle), 3),
        "idleApiRequestsByKind": dict(Counter(_kind(e) for e in idle_requests)),
        "idleCpuSeconds": rounded(cpu_idle0, cpu_idle1),
        "apiCalls": len(busy_requests),
        "apiCallsByKind": dict(Counter(_kind(e) for e in busy_requests).most_common(12)),
        "apiRefused": sorted({f"{_kind(e)} {e['responseStatus']['code']}" for e in everything
                              if (e.get("responseStatus") or {}).get("code", 200) >= 400
                              and e["responseStatus"]["code"] not in (404, 409)}),
        "rssSource": "/proc/<pid>/status VmHWM of the operator process",
        "operatorExit": proc.returncode if proc is not None else None,
        "rssSeries": rss_series[::10],
    })
    if len(end_to_phase) < resources:
        result["logTail"] = (workdir / "operator.log").read_text(errors="replace")[-1500:]
    if keep:
        result["workdir"] = str(workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.operator_overhead",
                                description=__doc__.splitlines()[0])
    p.add_argument("--resources", type=int, default=200)
    p.add_argument("--namespaces", type=int, default=20)
    p.add_argument("--rate", type=float, default=None,
                   help="SchemaMigrations created per second (default: all at once)")
    p.add_argument("--idle", type=float, default=60.0,
                   help="seconds of rest over which API requests are counted (60)")
    p.add_argument("--operator-arg", action="append", default=[],
                   help="extra argument for `schemaflow operator` (repeatable)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work directory (audit log, logs) and print its path")
    a = p.parse_args(argv)
    print(json.dumps(measure(a.resources, a.namespaces, rate=a.rate, idle=a.idle,
                             operator_args=tuple(a.operator_arg), keep=a.keep), indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
