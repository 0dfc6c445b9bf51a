"""What the e2e tests do with the real cluster: helm, SchemaMigrations, Jobs, Events, and
the audit log of the operator's identity."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "schemaflow.domainflow.io", "v1alpha1", "schemamigrations"
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "schemaflow"
EXAMPLE_CHART = REPO / "charts" / "examples" / "domainflow-app"
IMAGE_REPOSITORY = "registry.e2e.local/schemaflow"
IMAGE_TAG = "e2e"
IMAGE = f"{IMAGE_REPOSITORY}:{IMAGE_TAG}"
# the example chart's application: a process that only stays up
APP_IMAGE_REPOSITORY = "registry.e2e.local/domainflow-api"
APP_IMAGE_TAG = "e2e"
RELEASE_NS = "schemaflow-system"
OPERATOR_SA = f"system:serviceaccount:{RELEASE_NS}:schemaflow"


@dataclass
class Cluster:
    api: client.ApiClient
    kubeconfig: Path
    audit_log: Path
    helm_home: Path

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    # -- helm and kubectl ---------------------------------------------------------------
    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
               "HELM_CACHE_HOME": str(self.helm_home / "cache"),
               "HELM_CONFIG_HOME": str(self.helm_home / "config"),
               "HELM_DATA_HOME": str(self.helm_home / "data")}
        done = subprocess.run(["helm", *args], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def kubectl(self, *args: str, stdin: str | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
                              input=stdin, capture_output=True, text=True, timeout=120,
                              check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    # -- objects --------------------------------------------------------------------------
    def namespace(self, name: str) -> str:
        self.core.create_namespace({"metadata": {"name": name}})
        # pods need the namespace's default ServiceAccount, made by its controller
        wait_for(lambda: _exists(lambda: self.core.read_namespaced_service_account(
            "default", name)), 30, f"ServiceAccount default in {name}")
        return name

    def secret(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        self.core.create_namespaced_secret(namespace, {
            "metadata": {"name": name}, "stringData": dict(data)})

    def smig(self, namespace: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL,
            {"apiVersion": f"{GROUP}/{VERSION}", "kind": "SchemaMigration",
             "metadata": {"name": name}, "spec": dict(spec)}))

    def get_smig(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace,
                                                                 PLURAL, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch_smig(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                                   dict(patch))

    def wait_phase(self, namespace: str, name: str, phases: set[str] | str,
                   timeout: float = 120) -> dict[str, Any]:
        wanted = {phases} if isinstance(phases, str) else phases
        box: dict[str, Any] = {}

        def done() -> bool:
            obj = self.get_smig(namespace, name) or {}
            box["obj"] = obj
            return (obj.get("status") or {}).get("phase") in wanted

        wait_for(done, timeout, lambda: f"{namespace}/{name} in {sorted(wanted)}; last status: "
                 f"{json.dumps((box.get('obj') or {}).get('status'), indent=1)[:3000]}")
        return dict(box["obj"])

    def jobs(self, namespace: str) -> list[str]:
        return sorted(j.metadata.name for j in self.batch.list_namespaced_job(namespace).items)

    def events(self, namespace: str, name: str) -> list[tuple[str, str, str]]:
        items = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}").items
        return [(e.type, e.reason, e.message) for e in items]

    # -- the audit log ----------------------------------------------------------------------
    def audit_offset(self) -> int:
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def audit_entries(self, since: int = 0, user: str = OPERATOR_SA) -> Iterator[dict[str, Any]]:
        with open(self.audit_log, "rb") as fh:
            fh.seek(since)
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if (entry.get("user") or {}).get("username") == user:
                    yield entry

    def forbidden(self, since: int = 0, user: str = OPERATOR_SA) -> list[str]:
        """Every request of ``user`` that RBAC refused (403 with the authorizer's "forbid"
        decision; a 403 for writing into a terminating namespace is not RBAC's)."""
        return [f"{e.get('verb')} {(e.get('objectRef') or {}).get('resource')}"
                f"/{(e.get('objectRef') or {}).get('subresource') or ''} "
                f"{(e.get('objectRef') or {}).get('namespace') or ''}"
                for e in self.audit_entries(since, user)
                if (e.get("responseStatus") or {}).get("code") == 403
                and (e.get("annotations") or {}).get("authorization.k8s.io/decision") == "forbid"]

    def bad_requests(self, since: int = 0, user: str = OPERATOR_SA) -> list[str]:
        """Every request of ``user`` the API server answered 400 (always the client's bug:
        e.g. kopf sending ``timeoutSeconds=300.0``)."""
        return [f"{e.get('verb')} {e.get('requestURI')}: "
                f"{(e.get('responseStatus') or {}).get('message')}"
                for e in self.audit_entries(since, user)
                if (e.get("responseStatus") or {}).get("code") == 400]


def _exists(read: Callable[[], Any]) -> bool:
    try:
        read()
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def wait_for(cond: Callable[[], bool], timeout: float, what: str | Callable[[], str],
             poll: float = 0.1) -> float:
    """Poll ``cond`` until true; returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        if cond():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for "
                                 f"{what() if callable(what) else what}")
        time.sleep(poll)
