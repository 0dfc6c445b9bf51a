"""A plain kmock KubernetesEmulator in its own thread and loop, serving SchemaMigrations,
for `schemaflow wait --resource`. The tests play the operator: they create the object and
then set its status with HTTP requests, as the operator would (so watches see the events).

kmock 0.8 sets no generation/resourceVersion and ignores field selectors and
``?resourceVersion=``: the tests set ``metadata.generation`` themselves, and
``wait`` filters watch events by name and re-reads with GET, so neither gap matters here.
Every request is recorded, so the tests derive the verbs ``wait`` needs from what it sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from typing import Any

import attrs
import kmock
from kmock._internal.enums import action as Action

GROUP, VERSION, PLURAL = "schemaflow.domainflow.io", "v1alpha1", "schemamigrations"
RESOURCE = f"{GROUP}/{VERSION}/{PLURAL}"


# kmock's reading of a request -> the RBAC verb it needs
VERBS = {Action.FETCH: "get", Action.LIST: "list", Action.WATCH: "watch",
         Action.CREATE: "create", Action.DELETE: "delete"}


@attrs.define(kw_only=True)
class RecordingEmulator(kmock.KubernetesEmulator):
    """Records (verb, group, resource, user agent) of every Kubernetes request."""

    seen: list[tuple[str, str, str, str]] = attrs.field(factory=list, init=False)

    async def _handle(self, request: kmock.Request) -> Any:
        if request.resource is not None:
            verb = VERBS.get(request.action)
            if verb is None:  # UPDATE: PATCH or PUT
                verb = "patch" if str(request.method).upper().endswith("PATCH") else "update"
            res = request.resource
            plural = str(getattr(res, "plural", "") or "")
            if request.subresource:
                plural += f"/{request.subresource}"
            agent = request.headers.get("User-Agent", "") if request.headers else ""
            self.seen.append((verb, str(getattr(res, "group", "") or ""), plural, agent))
        return await super()._handle(request)


class KubeApiThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self.url = ""
        self.emulator: kmock.KubernetesEmulator | None = None
        self._thread = threading.Thread(target=self._main, name="kmock", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("kmock did not start")

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        async with RecordingEmulator() as api, kmock.Server(api) as server:
            api.resources[RESOURCE] = kmock.ResourceInfo(
                kind="SchemaMigration", singular="schemamigration", namespaced=True,
                shortnames={"smig"}, subresources={"status"},
                verbs={"list", "watch", "get", "create", "patch", "delete"})
            self.emulator, self.url = api, str(server.url).rstrip("/")
            self._started.set()
            await self._stopping.wait()

    def stop(self) -> None:
        assert self._stopping is not None
        self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(15)

    # -- the test plays the operator -----------------------------------------------------
    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/merge-patch+json" if method == "PATCH"
                     else "application/json", "User-Agent": "test-operator"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local emulator
            return json.loads(resp.read() or b"null")

    def create(self, namespace: str, name: str, generation: int = 1,
               status: dict[str, Any] | None = None, spec: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchemaMigration",
            "metadata": {"name": name, "namespace": namespace, "generation": generation,
                         "resourceVersion": "1"},
            "spec": spec or {"database": {"urlSecretRef": {"name": "db", "key": "url"}},
                             "targetVersion": 27},
        }
        if status is not None:
            body["status"] = status
        self._send("POST", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}", body)

    def patch(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self._send("PATCH", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}",
                   body)

    def calls_by(self, agent_prefix: str) -> set[tuple[str, str, str]]:
        """(verb, group, resource) of every request sent with that User-Agent prefix."""
        assert self.emulator is not None
        return {(v, g, r) for v, g, r, a in list(self.emulator.seen) if a.startswith(agent_prefix)}
