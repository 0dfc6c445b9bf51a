"""kmock's KubernetesEmulator, made faithful enough for kopf and for our assertions.

kmock 0.8 serves list/watch/create/patch/delete from memory but, unlike an API server,
it sets no namespace/uid/resourceVersion/generation/creationTimestamp,
answers a failed JSON-patch test with 500, ignores ``?resourceVersion=`` on watches (and can
lose events during the initial replay), returns a dummy list resourceVersion, says
``groupVersion: "/v1"`` in core discovery, has no ``/status`` subresource, ignores label and
field selectors and ``timeoutSeconds``, supports no ``generateName`` and no ``stringData``,
and validates nothing. This subclass keeps kmock's HTTP server, request parsing and
discovery, and replaces the object store with one that does all of the above the way the
API server does. Garbage collection is deliberately absent: the operator must delete its
own Jobs (the fake Job controller removes the pods of a deleted Job).

Every request is recorded (``calls``), and every object state the operator produces
(created or patched) is recorded (``sent``) for validation against the real schemas.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock

Key = tuple[str, str | None, str]  # (group/version/plural, namespace, name)
Listener = Callable[[str, str, dict[str, Any]], None]

# Resources with a status subresource: the main endpoint ignores status changes.
STATUS_SUBRESOURCE = {"schemaflow.domainflow.io/v1alpha1/schemamigrations", "batch/v1/jobs",
                      "v1/pods"}
RESOURCES: dict[str, kmock.ResourceInfo] = {
    "schemaflow.domainflow.io/v1alpha1/schemamigrations": kmock.ResourceInfo(
        kind="SchemaMigration", singular="schemamigration", namespaced=True,
        shortnames={"smig"}, subresources={"status"},
        verbs={"list", "watch", "get", "create", "patch", "update", "delete"}),
    "batch/v1/jobs": kmock.ResourceInfo(kind="Job", singular="job", namespaced=True,
                                        subresources={"status"},
                                        verbs={"list", "watch", "get", "create", "delete"}),
    "v1/pods": kmock.ResourceInfo(kind="Pod", singular="pod", namespaced=True,
                                  subresources={"status"}, verbs={"list", "get"}),
    "v1/secrets": kmock.ResourceInfo(kind="Secret", singular="secret", namespaced=True,
                                     verbs={"get", "list"}),
    "v1/events": kmock.ResourceInfo(kind="Event", singular="event", namespaced=True,
                                    verbs={"create", "list"}),
    "kopf.dev/v1/clusterkopfpeerings": kmock.ResourceInfo(
        kind="ClusterKopfPeering", singular="clusterkopfpeering", namespaced=False,
        verbs={"list", "watch", "get", "patch"}),
    "kopf.dev/v1/kopfpeerings": kmock.ResourceInfo(
        kind="KopfPeering", singular="kopfpeering", namespaced=True,
        verbs={"list", "watch", "get", "patch"}),
    "v1/namespaces": kmock.ResourceInfo(kind="Namespace", singular="namespace",
                                        namespaced=False, verbs={"list", "watch", "get"}),
}
KINDS = {key: (info.kind or "") for key, info in RESOURCES.items()}


@dataclass
class Call:
    """One request as the API server saw it (for RBAC and secret-hygiene checks)."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str | None
    status: int
    params: dict[str, str]
    body: Any


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def _label_match(labels: Mapping[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field_match(obj: Mapping[str, Any], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        path, value = term.replace("==", "=").split("=", 1)
        current: Any = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, Mapping) else None
        if str(current) != value:
            return False
    return True


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    """The API server the operator talks to in the end-to-end tests."""

    store: dict[Key, dict[str, Any]] = attrs.field(factory=dict, init=False)
    log: list[tuple[int, str, str, dict[str, Any]]] = attrs.field(factory=list, init=False)
    calls: list[Call] = attrs.field(factory=list, init=False)
    sent: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list, init=False)
    listeners: list[Listener] = attrs.field(factory=list, init=False)
    _rv: int = attrs.field(default=1000, init=False)
    _changed: asyncio.Condition | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, info in RESOURCES.items():
            self.resources[key] = info

    # -- the store, also used directly by the fake kubelet and the tests ---------------
    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _emit(self, etype: str, res: str, obj: dict[str, Any]) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self.log.append((self._rv, res, etype, copy.deepcopy(obj)))
        for listener in list(self.listeners):
            listener(etype, res, copy.deepcopy(obj))
        async with self.changed:
            self.changed.notify_all()

    async def create(self, res: str, namespace: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)
        if not meta.get("name"):
            raise kmock.KubernetesError(status=422, reason="Invalid", message="name is required")
        if namespace is not None:
            meta["namespace"] = namespace
        key: Key = (res, meta.get("namespace"), meta["name"])
        if key in self.store:
            raise kmock.KubernetesError(status=409, reason="AlreadyExists",
                                        message=f'{res} "{meta["name"]}" already exists')
        meta.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=_now())
        if res in STATUS_SUBRESOURCE:
            obj.pop("status", None)
        if "stringData" in obj:
            data = obj.setdefault("data", {})
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(v.encode()).decode()
        obj.setdefault("apiVersion", res.rsplit("/", 1)[0])
        obj.setdefault("kind", KINDS.get(res, ""))
        self.store[key] = obj
        await self._emit("ADDED", res, obj)
        return copy.deepcopy(obj)

    def get(self, res: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        obj = self.store.get((res, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, res: str, namespace: str | None = None, labels: str = "",
             fields: str = "") -> list[dict[str, Any]]:
        return [copy.deepcopy(obj) for (r, ns, _), obj in sorted(self.store.items(), key=str)
                if r == res and (namespace is None or ns == namespace)
                and _label_match(obj["metadata"].get("labels") or {}, labels)
                and _field_match(obj, fields)]

    async def update(self, res: str, namespace: str | None, name: str,
                     change: Callable[[dict[str, Any]], dict[str, Any]],
                     subresource: str | None = None) -> dict[str, Any]:
        key: Key = (res, namespace, name)
        if key not in self.store:
            raise kmock.KubernetesError(status=404, reason="NotFound", message=f"{name} not found")
        old = self.store[key]
        new = change(copy.deepcopy(old))
        if subresource == "status":
            new = dict(copy.deepcopy(old), status=new.get("status"))
            if new["status"] is None:
                new.pop("status")
        elif res in STATUS_SUBRESOURCE:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        for fixed in ("uid", "creationTimestamp", "namespace", "name", "generation"):
            if fixed in old["metadata"]:
                new["metadata"][fixed] = old["metadata"][fixed]
        strip = ("metadata", "status")
        if {k: v for k, v in new.items() if k not in strip} != \
                {k: v for k, v in old.items() if k not in strip}:
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        self.store[key] = new
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            del self.store[key]
            await self._emit("DELETED", res, new)
        else:
            await self._emit("MODIFIED", res, new)
        return copy.deepcopy(new)

    async def delete(self, res: str, namespace: str | None, name: str) -> dict[str, Any]:
        key: Key = (res, namespace, name)
        obj = self.store.get(key)
        if obj is None:
            raise kmock.KubernetesError(status=404, reason="NotFound", message=f"{name} not found")
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = _now()
                await self._emit("MODIFIED", res, obj)
            return copy.deepcopy(obj)
        del self.store[key]
        await self._emit("DELETED", res, obj)
        return copy.deepcopy(obj)

    # -- HTTP ----------------------------------------------------------------------------
    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is None or request.action is None or not request.resource.plural:
            return await super()._handle(request)
        res = "/".join(p for p in (request.resource.group, request.resource.version,
                                   request.resource.plural) if p)
        group = request.resource.group or ""
        plural = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        verb = request.action.value.lower()
        verb = {"fetch": "get", "update": "patch"}.get(verb, verb)
        call = Call(verb, group, plural, request.namespace, request.name, 200,
                    dict(request.params), request.data)
        self.calls.append(call)
        try:
            if request.action == kmock.action.WATCH:
                return await self._stream(request, res, self._watch(request, res))
            status, payload = await self._serve(request, res)
        except kmock.KubernetesError as exc:
            call.status = exc.status
            return await self._render_error(exc)
        call.status = status
        return aiohttp.web.json_response(payload, status=status)

    async def _serve(self, request: kmock.Request, res: str) -> tuple[int, Any]:
        action, ns, name = request.action, request.namespace, request.name
        if action == kmock.action.LIST:
            items = self.list(res, ns, request.params.get("labelSelector", ""),
                              request.params.get("fieldSelector", ""))
            return 200, {"apiVersion": "v1", "kind": "List", "items": items,
                         "metadata": {"resourceVersion": str(self._rv)}}
        if action == kmock.action.CREATE:
            obj = await self.create(res, ns, request.data)
            self.sent.append((res, obj))
            return 201, obj
        assert name is not None
        if action == kmock.action.FETCH:
            obj = self.get(res, ns, name)
            if obj is None:
                raise kmock.KubernetesError(status=404, reason="NotFound", message=f"{name} not found")
            return 200, obj
        if action == kmock.action.DELETE:
            return 200, await self.delete(res, ns, name)
        if action == kmock.action.UPDATE:
            obj = await self.update(res, ns, name, self._patcher(request), request.subresource)
            self.sent.append((res, obj))
            return 200, obj
        raise kmock.KubernetesError(status=405, reason="MethodNotAllowed", message=str(action))

    @staticmethod
    def _patcher(request: kmock.Request) -> Callable[[dict[str, Any]], dict[str, Any]]:
        content_type = request.headers.get("Content-Type", "")
        data = request.data

        def change(obj: dict[str, Any]) -> dict[str, Any]:
            if "json-patch" in content_type:
                try:
                    return jsonpatch.apply_patch(obj, data)  # type: ignore[no-any-return]
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                    raise kmock.KubernetesError(status=422, reason="Invalid",
                                                message=f"the patch failed: {exc}") from exc
            return merge(obj, data)  # type: ignore[no-any-return]

        return change

    async def _watch(self, request: kmock.Request, res: str) -> AsyncIterator[dict[str, Any]]:
        ns = request.namespace
        labels = request.params.get("labelSelector", "")
        fields = request.params.get("fieldSelector", "")
        since = request.params.get("resourceVersion", "")
        timeout = float(request.params.get("timeoutSeconds") or 3600)
        deadline = asyncio.get_running_loop().time() + timeout
        if since and since != "0":
            position = next((i for i, e in enumerate(self.log) if e[0] > int(since)), len(self.log))
        else:
            position = len(self.log)
            for obj in self.list(res, ns, labels, fields):
                yield {"type": "ADDED", "object": obj}
        while True:
            async with self.changed:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(
                        self.changed.wait_for(lambda p=position: len(self.log) > p), remaining)
                except TimeoutError:
                    return
            for _, r, etype, obj in self.log[position:]:
                position += 1
                if r == res and (ns is None or obj["metadata"].get("namespace") == ns) \
                        and _label_match(obj["metadata"].get("labels") or {}, labels) \
                        and _field_match(obj, fields):
                    yield {"type": etype, "object": obj}

    @staticmethod
    async def _stream(request: kmock.Request, res: str,
                      events: AsyncIterator[dict[str, Any]]) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)
        try:
            async for event in events:
                await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
        except ConnectionResetError:
            pass
        return response

    async def _serve_version(self, request: kmock.Request) -> Any:
        payload = await super()._serve_version(request)
        if isinstance(payload, dict) and payload.get("groupVersion", "").startswith("/"):
            payload["groupVersion"] = payload["groupVersion"][1:]  # core is "v1", not "/v1"
        return payload
