"""A small async client for the few Kubernetes calls the operator makes itself (Jobs and
their pods); kopf does the rest (watching, patching SchemaMigrations, Events, peering).

Every call is listed in ``schemaflow.kube.rbac`` so the chart's RBAC follows the code.
Reads never touch Secrets: the Job gets the database URL straight from the Secret.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp


class KubeError(RuntimeError):
    """An API call failed with an unexpected HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Kubernetes API answered {status}: {message}")
        self.status = status


@dataclass
class Connection:
    """Where the API server is and how to authenticate; ``token`` is called per request so
    that rotated service-account tokens are picked up."""

    server: str
    token: Callable[[], str | None] = lambda: None
    ssl_context: ssl.SSLContext | bool = True


def connection_from_environment() -> Connection:
    """In-cluster service account first, then the kubeconfig (for running outside).

    The token is read through the client's own ``Configuration.auth_settings()``, which
    knows where its version keeps it (``api_key["BearerToken"]`` from 36.0.1 on,
    ``api_key["authorization"]`` before) and calls the in-cluster loader's refresh hook,
    so a rotated service-account token is picked up."""
    import kubernetes  # only in the operator process

    cfg = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=cfg)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=cfg)
    context: ssl.SSLContext | bool = False
    if cfg.verify_ssl:
        context = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.cert_file:
            context.load_cert_chain(cfg.cert_file, cfg.key_file)
    return Connection(server=cfg.host, token=functools.partial(authorization_header, cfg),
                      ssl_context=context)


def authorization_header(cfg: Any) -> str | None:
    """The ``Authorization`` header value the kubernetes client itself would send."""
    for setting in cfg.auth_settings().values():
        if setting.get("in") == "header" and setting.get("key", "").lower() == "authorization":
            value = setting.get("value")
            return str(value) if value else None
    return None


class KubeClient:
    """JSON over HTTP with the operator's credentials; one session per operator run."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       body: Any = None,
                       content_type: str = "application/json") -> tuple[int, Any]:
        if self._session is None:
            # few connections: each TLS one holds a 256 KiB buffer (asyncio's sslproto), and
            # the calls are short (no watches here), so a burst queues for a free one
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                                  connector=aiohttp.TCPConnector(limit=16))
        headers = {"Accept": "application/json", "Content-Type": content_type}
        token = self._conn.token()
        if token:
            headers["Authorization"] = token if " " in token else f"Bearer {token}"
        async with self._session.request(
            method, self._conn.server.rstrip("/") + path, params=params,
            data=None if body is None else json.dumps(body),
            headers=headers, ssl=self._conn.ssl_context,
        ) as response:
            data = await response.json(content_type=None)
            return response.status, data

    @staticmethod
    def _fail(status: int, data: Any) -> KubeError:
        message = data.get("message", "") if isinstance(data, dict) else str(data)
        return KubeError(status, str(message)[:300])

    async def create(self, path: str, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        """The created object, or None when it already exists (409): creation is idempotent."""
        status, data = await self._request("POST", path, body=manifest)
        if status == 409:
            return None
        if status >= 300:
            raise self._fail(status, data)
        return dict(data)

    async def get(self, path: str) -> dict[str, Any] | None:
        status, data = await self._request("GET", path)
        if status == 404:
            return None
        if status >= 300:
            raise self._fail(status, data)
        return dict(data)

    async def list(self, path: str, label_selector: str, *,
                   field_selector: str = "") -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector}
        if field_selector:
            params["fieldSelector"] = field_selector
        status, data = await self._request("GET", path, params=params)
        if status >= 300:
            raise self._fail(status, data)
        return list(data.get("items") or [])

    async def patch(self, path: str, body: Mapping[str, Any]) -> None:
        """A JSON merge patch; 404 is fine (the object went meanwhile)."""
        status, data = await self._request("PATCH", path, body=body,
                                           content_type="application/merge-patch+json")
        if status >= 300 and status != 404:
            raise self._fail(status, data)

    async def delete(self, path: str) -> None:
        """Delete with background propagation (the Job's pods go too); 404 is fine."""
        status, data = await self._request(
            "DELETE", path, body={"kind": "DeleteOptions", "apiVersion": "v1",
                                  "propagationPolicy": "Background"})
        if status >= 300 and status != 404:
            raise self._fail(status, data)


def jobs_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    return f"{base}/{name}" if name else base


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"
