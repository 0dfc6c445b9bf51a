"""Threads for the end-to-end tests: the API emulator with its fake kubelet in one thread
and event loop, the real operator (``schemaflow.kube.main.serve``) in another, so either can
be stopped and restarted on its own (kopf must not share the emulator's event loop).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import kmock

from harness.emulator import Emulator
from harness.kubelet import FakeKubelet, base_env
from schemaflow.kube.client import Connection
from schemaflow.kube.main import OperatorOptions, serve

T = TypeVar("T")
SMIGS = "schemaflow.domainflow.io/v1alpha1/schemamigrations"
JOBS = "batch/v1/jobs"
EVENTS = "v1/events"
NAMESPACE = "apps"


class ApiThread:
    """The emulated cluster: API server + kubelet/Job controller, in their own loop."""

    def __init__(self, workdir: Path, sql_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self.api: Emulator | None = None
        self.kubelet: FakeKubelet | None = None
        self.url = ""
        self._workdir, self._sql_dir = workdir, sql_dir
        self._thread = threading.Thread(target=self._main, name="k8s-api", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the API emulator did not start")

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        async with Emulator() as api, kmock.Server(api) as server:
            self.api, self.url = api, str(server.url).rstrip("/")
            self.kubelet = FakeKubelet(api, self._workdir, base_env(self._sql_dir))
            self._started.set()
            await self._stopping.wait()
            for task in self.kubelet.tasks.values():
                task.cancel()
            await asyncio.gather(*self.kubelet.tasks.values(), return_exceptions=True)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def sync(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()
        return self.call(wrapper())

    def stop(self) -> None:
        assert self._stopping is not None
        self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(30)

    # -- conveniences for tests ---------------------------------------------------------
    @property
    def emulator(self) -> Emulator:
        assert self.api is not None
        return self.api

    def create(self, res: str, body: dict[str, Any], namespace: str = NAMESPACE) -> dict[str, Any]:
        return self.call(self.emulator.create(res, namespace, body))

    def get(self, res: str, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
        return self.sync(lambda: self.emulator.get(res, namespace, name))

    def list(self, res: str, namespace: str | None = NAMESPACE, labels: str = "") -> list[dict[str, Any]]:
        return self.sync(lambda: self.emulator.list(res, namespace, labels))

    def patch_spec(self, name: str, spec: dict[str, Any], namespace: str = NAMESPACE) -> None:
        from harness.emulator import merge

        self.call(self.emulator.update(SMIGS, namespace, name,
                                       lambda o: merge(o, {"spec": spec})))

    def delete(self, res: str, name: str, namespace: str = NAMESPACE) -> None:
        self.call(self.emulator.delete(res, namespace, name))

    def secret(self, name: str, data: dict[str, str], namespace: str = NAMESPACE) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.create("v1/secrets", {"apiVersion": "v1", "kind": "Secret",
                                   "metadata": {"name": name}, "data": encoded}, namespace)

    def smig(self, name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
        obj = self.get(SMIGS, name, namespace)
        assert obj is not None, f"SchemaMigration {name} is gone"
        return obj

    def events(self, name: str) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the Events about ``name``, in the order posted."""
        return [(e.get("type", ""), e.get("reason", ""), e.get("message", ""))
                for _, res, etype, e in list(self.emulator.log)
                if res == EVENTS and etype == "ADDED"
                and (e.get("involvedObject") or {}).get("name") == name]

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def wait_phase(self, name: str, *phases: str, timeout: float = 60) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            obj = self.get(SMIGS, name)
            if obj is not None and (obj.get("status") or {}).get("phase") in phases \
                    and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]:
                return obj
            return None
        try:
            return self.wait_for(f"{name} in {phases}", check, timeout)  # type: ignore[no-any-return]
        except AssertionError:
            status = (self.get(SMIGS, name) or {}).get("status")
            raise AssertionError(f"{name} not in {phases} after {timeout}s: {status}") from None


class LogCapture(logging.Handler):
    """Every log record of the process (the operator's thread included), formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class OperatorThread:
    """The real operator, as ``schemaflow operator`` runs it, against the emulator."""

    def __init__(self, url: str, options: OperatorOptions) -> None:
        self.url, self.options = url, options
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def start(self) -> OperatorThread:
        import kopf

        url = self.url

        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url)

        ready = threading.Event()
        self._stop = threading.Event()

        def main() -> None:
            try:
                asyncio.run(serve(self.options, Connection(server=url), login,
                                  stop_flag=self._stop, ready_flag=ready))
            except BaseException as exc:  # surfaced by stop()
                self.error = exc
                ready.set()

        self._thread = threading.Thread(target=main, name="operator", daemon=True)
        self._thread.start()
        if not ready.wait(20):
            raise RuntimeError("the operator did not become ready")
        if self.error is not None:
            raise RuntimeError("the operator failed to start") from self.error
        return self

    def stop(self) -> None:
        assert self._thread is not None
        self._stop.set()
        self._thread.join(30)
        if self._thread.is_alive():
            raise RuntimeError("the operator did not stop within 30s")
        if self.error is not None:
            raise RuntimeError("the operator crashed") from self.error


def metrics_text(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, dict(sample.labels), float(sample.value)


def metric(text: str, metric_name: str, /, **labels: str) -> float | None:
    """The value of the first sample ``metric_name`` whose labels include ``labels``."""
    for sample_name, sample_labels, value in samples(text):
        if sample_name == metric_name and all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


