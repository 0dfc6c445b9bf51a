"""The operator's overhead: N SchemaMigrations across M namespaces on the Kubernetes API
emulator, time from create to the migration Job's creation, and the operator's peak memory.

The emulator is the test harness's (``tests/harness/emulator.py``, a kmock subclass that
behaves like an API server) served over HTTP on 127.0.0.1 in a thread of this process. The
operator runs as it does in a cluster: a separate process, ``python -m schemaflow
operator``, configured by a kubeconfig that points at the emulator (``KUBECONFIG``), so its
memory is its own and is read from ``/proc/<pid>/status`` (``VmHWM``, the peak resident set
size, sampled with ``VmRSS`` while it runs). No fake kubelet runs: Jobs stay pending, which
is all this measurement needs (the time to react, not to migrate).

Timestamps come from the emulator's own event stream (a listener called when the object is
stored), so the create -> Job time includes the watch delivery, kopf's handling, and the
operator's API calls, and nothing of this process's HTTP client.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.report import pct

REPO = Path(__file__).resolve().parent.parent
SMIG = "schemaflow.domainflow.io/v1alpha1/schemamigrations"
JOBS = "batch/v1/jobs"
MIGRATION_LABEL = "schemaflow.domainflow.io/migration"


def available() -> str | None:
    if not (REPO / "operator" / "schemaflow" / "kube" / "main.py").exists():
        return "operator (schemaflow/kube/main.py) not present yet"
    if not (REPO / "tests" / "harness" / "emulator.py").exists():
        return "emulator harness (tests/harness/emulator.py) not present yet"
    return None


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


class EmulatorThread(threading.Thread):
    """The emulator on its own event loop, reachable over HTTP."""

    def __init__(self) -> None:
        super().__init__(name="bench-emulator", daemon=True)
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.emu: Any = None
        self.url = ""
        self.error: BaseException | None = None
        self._halt: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        import kmock

        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        from tests.harness.emulator import Emulator

        self.loop = asyncio.get_running_loop()
        self._halt = asyncio.Event()
        async with Emulator() as emu, kmock.Server(emu) as server:
            self.emu = emu
            self.url = str(server.url).rstrip("/")
            self.ready.set()
            await self._halt.wait()

    def call(self, coro: Any, timeout: float = 30) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self._halt is not None:
            self.loop.call_soon_threadsafe(self._halt.set)
        self.join(timeout=15)


def _kubeconfig(path: Path, url: str) -> None:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "bench", "user": {"token": "bench-token"}}],
        "contexts": [{"name": "bench", "context": {"cluster": "emulator", "user": "bench"}}],
    }))
    path.chmod(0o600)


def _smig(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "schemaflow.domainflow.io/v1alpha1", "kind": "SchemaMigration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"database": {"urlSecretRef": {"name": "domainflow-db", "key": "url"}},
                 "targetVersion": 27},
    }


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def measure(resources: int = 200, namespaces: int = 20, workdir: Path | None = None,
            timeout: float = 120.0, settle: float = 5.0, rate: float | None = None) -> dict[str, Any]:
    """``rate`` None: all resources created at once (burst); else that many per second."""
    why = available()
    if why:
        return {"skipped": why}
    workdir = workdir or Path("/tmp")
    emu_thread = EmulatorThread()
    emu_thread.start()
    emu_thread.ready.wait(30)
    if emu_thread.error or not emu_thread.url:
        return {"skipped": f"emulator did not start: {emu_thread.error!r}"}
    emu = emu_thread.emu
    created: dict[str, float] = {}
    jobs: dict[str, float] = {}
    first_watch: list[float] = []

    def listener(etype: str, res: str, obj: dict[str, Any]) -> None:
        now = time.monotonic()
        meta = obj.get("metadata", {})
        if etype != "ADDED":
            return
        if res == SMIG:
            created.setdefault(f"{meta.get('namespace')}/{meta.get('name')}", now)
        elif res == JOBS:
            owner = (meta.get("labels") or {}).get(MIGRATION_LABEL)
            key = f"{meta.get('namespace')}/{owner}"
            jobs.setdefault(key, now)

    emu.listeners.append(listener)
    ns_names = [f"bench-ns-{i:02d}" for i in range(namespaces)]

    async def setup() -> None:
        for ns in ns_names:
            await emu.create("v1/namespaces", None, {"metadata": {"name": ns}})
            await emu.create("v1/secrets", ns, {"metadata": {"name": "domainflow-db"},
                                                "stringData": {"url": "postgresql://x@db/x"}})

    emu_thread.call(setup())
    kubeconfig = workdir / "bench-kubeconfig.json"
    _kubeconfig(kubeconfig, emu_thread.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env["KUBECONFIG"] = str(kubeconfig)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"),
                                                      env.get("PYTHONPATH", "")]))
    log_path = workdir / "operator.log"
    cmd = [sys.executable, "-m", "schemaflow", "operator", "--metrics-port", "0"]
    t_launch = time.monotonic()
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True)
    peak_rss = 0
    rss_series: list[tuple[float, int]] = []

    def sample() -> None:
        nonlocal peak_rss
        rss, hwm = _rss_kib(proc.pid)
        peak_rss = max(peak_rss, hwm, rss)
        rss_series.append((round(time.monotonic() - t_launch, 2), rss))

    result: dict[str, Any] = {"resources": resources, "namespaces": namespaces,
                              "command": cmd[1:],
                              "mode": "burst" if rate is None else f"paced {rate:g}/s"}
    cpu_before = cpu_after = None
    try:
        # ready when kopf watches SchemaMigrations
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            sample()
            if any(c.verb == "watch" and c.resource.startswith("schemamigrations")
                   for c in list(emu.calls)):
                first_watch.append(time.monotonic())
                break
            time.sleep(0.05)
        if not first_watch:
            tail = log_path.read_text()[-1500:]
            return {**result, "skipped": f"operator never watched SchemaMigrations "
                    f"(exit {proc.poll()}): {tail}"}
        result["startupSeconds"] = round(first_watch[0] - t_launch, 2)
        time.sleep(1.0)
        sample()
        result["idleRssMiB"] = round(rss_series[-1][1] / 1024, 1)

        async def create_all() -> None:
            start = asyncio.get_running_loop().time()
            for i in range(resources):
                if rate is not None:
                    delay = start + i / rate - asyncio.get_running_loop().time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                ns = ns_names[i % namespaces]
                await emu.create(SMIG, ns, _smig(f"app-{i:03d}", ns))

        cpu_before = _cpu_seconds(proc.pid)
        emu_cpu0 = time.process_time()  # this process: mostly the emulator's thread
        t0 = time.monotonic()
        emu_thread.call(create_all(), timeout=60 + (3 * resources / rate if rate else 0))
        result["createSeconds"] = round(time.monotonic() - t0, 3)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            sample()
            if len(jobs) >= resources:
                break
            time.sleep(0.05)
        result["allJobsSeconds"] = round(time.monotonic() - t0, 3)
        cpu_after = _cpu_seconds(proc.pid)
        result["emulatorCpuSeconds"] = round(time.process_time() - emu_cpu0, 2)
        end = time.monotonic() + settle
        while time.monotonic() < end and proc.poll() is None:
            sample()
            time.sleep(0.1)
        sample()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        emu_thread.stop()
    lat = [jobs[k] - created[k] for k in created if k in jobs]
    result.update({
        "jobsCreated": len(lat),
        "missingJobs": resources - len(lat),
        "createToJobP50Seconds": None if not lat else round(pct(lat, 50) or 0, 3),
        "createToJobP99Seconds": None if not lat else round(pct(lat, 99) or 0, 3),
        "createToJobMaxSeconds": None if not lat else round(max(lat), 3),
        "peakRssMiB": round(peak_rss / 1024, 1),
        "cpuSecondsForAll": (None if cpu_before is None or cpu_after is None
                             else round(cpu_after - cpu_before, 2)),
        "rssSource": "/proc/<pid>/status VmHWM of the operator process",
        "apiCalls": len(emu.calls),
        "apiCallsByKind": dict(Counter(f"{c.verb} {c.resource}" for c in list(emu.calls))
                               .most_common(12)),
        "operatorExit": proc.returncode,
        "rssSeries": rss_series[::5],
    })
    if len(lat) < resources:
        result["logTail"] = log_path.read_text()[-1500:]
    return result


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(measure(), indent=1))
