"""The kubelet and Job controller of the tests: nothing else runs Jobs in the emulator.

When a Job appears, its container's command runs as a local process (``schemaflow`` -> this
Python's ``-m schemaflow``) with the Job's env, ``secretKeyRef`` resolved from the
emulator's Secrets, against the test PostgreSQL. The container's ``/dev/termination-log``
is a temp file whose content becomes the pod's ``state.terminated.message`` (at most 4096
bytes, as the kubelet does), and the Job gets the conditions a Job controller would set
(Complete / Failed with BackoffLimitExceeded or DeadlineExceeded).

Pod problems are played too: a missing Secret or key leaves the container waiting with
CreateContainerConfigError, an image whose name contains ``unpullable`` with
ImagePullBackOff. ``hold(direction)`` keeps new Jobs of that direction pending (no pod
started) until ``release(direction)``, so tests can stop the operator in any phase.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import os
import secrets
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.emulator import Emulator

JOBS = "batch/v1/jobs"
PODS = "v1/pods"
SECRETS = "v1/secrets"
TERMINATION_LOG = "/dev/termination-log"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubelet:
    """Runs every Job created in ``api`` once, like a node with a Job controller."""

    def __init__(self, api: Emulator, workdir: Path, base_env: Mapping[str, str]) -> None:
        self.api = api
        self.workdir = workdir
        self.base_env = dict(base_env)
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.started: list[str] = []  # Job names whose container process started, in order
        self.outputs: list[str] = []  # stdout+stderr of every container, for hygiene checks
        self._holds: dict[str, threading.Event] = {}
        api.listeners.append(self._on_change)

    # -- test controls (thread-safe) ---------------------------------------------------
    def hold(self, direction: str) -> None:
        self._holds.setdefault(direction, threading.Event()).clear()

    def release(self, direction: str) -> None:
        self._holds.setdefault(direction, threading.Event()).set()

    def _held(self, direction: str) -> bool:
        event = self._holds.get(direction)
        return event is not None and not event.is_set()

    # -- the controller loop -------------------------------------------------------------
    def _on_change(self, etype: str, res: str, obj: dict[str, Any]) -> None:
        if res != JOBS:
            return
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if etype == "ADDED" and key not in self.tasks:
            self.tasks[key] = asyncio.get_running_loop().create_task(self._run_job(obj))
        elif etype == "DELETED":
            task = self.tasks.pop(key, None)  # a Job created again under this name runs again
            if task is not None and not task.done():
                task.cancel()
            asyncio.get_running_loop().create_task(self._delete_pods(*key))

    async def _delete_pods(self, namespace: str, job: str) -> None:
        for pod in self.api.list(PODS, namespace, f"batch.kubernetes.io/job-name={job}"):
            await self.api.delete(PODS, namespace, pod["metadata"]["name"])

    async def _set_pod(self, namespace: str, pod: str, status: dict[str, Any]) -> None:
        await self.api.update(PODS, namespace, pod, lambda o: dict(o, status=status), "status")

    async def _set_job(self, namespace: str, job: str, status: dict[str, Any]) -> None:
        if self.api.get(JOBS, namespace, job) is not None:
            await self.api.update(JOBS, namespace, job, lambda o: dict(o, status=status), "status")

    async def _run_job(self, job: dict[str, Any]) -> None:
        meta, spec = job["metadata"], job["spec"]
        namespace, name = meta["namespace"], meta["name"]
        template = spec["template"]
        container = template["spec"]["containers"][0]
        direction = template["metadata"]["labels"].get("schemaflow.domainflow.io/direction", "")
        pod_name = f"{name}-{secrets.token_hex(3)}"
        labels = dict(template["metadata"].get("labels") or {})
        labels.update({"batch.kubernetes.io/job-name": name, "job-name": name,
                       "batch.kubernetes.io/controller-uid": meta["uid"],
                       "controller-uid": meta["uid"]})
        await self.api.create(PODS, namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "labels": labels, "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": meta["uid"],
                "controller": True, "blockOwnerDeletion": True}]},
            "spec": template["spec"]})
        start = _now()
        await self._set_job(namespace, name, {"active": 1, "startTime": start})
        waiting = {"name": container["name"], "ready": False, "restartCount": 0,
                   "image": container["image"], "imageID": ""}
        await self._set_pod(namespace, pod_name, {"phase": "Pending", "containerStatuses": [
            {**waiting, "state": {"waiting": {"reason": "ContainerCreating"}}}]})
        while self._held(direction):
            await asyncio.sleep(0.05)
        problem = self._problem(namespace, container)
        if problem is not None:
            await self._set_pod(namespace, pod_name, {"phase": "Pending", "containerStatuses": [
                {**waiting, "state": {"waiting": {"reason": problem[0], "message": problem[1]}}}]})
            return  # stuck for good, as on a node: the Job's deadline or the operator ends it
        deadline = float(spec.get("activeDeadlineSeconds") or 3600)
        await self._set_pod(namespace, pod_name, {"phase": "Running", "startTime": start,
                                                  "containerStatuses": [{
                                                      **waiting, "ready": True, "started": True,
                                                      "state": {"running": {"startedAt": _now()}}}]})
        report = self.workdir / f"{pod_name}.termination-log"
        report.write_text("")
        self.started.append(name)
        try:
            code = await asyncio.wait_for(self._exec(namespace, container, report), deadline)
        except TimeoutError:
            await self.api.delete(PODS, namespace, pod_name)
            await self._set_job(namespace, name, {"failed": 1, "startTime": start, "conditions": [
                self._condition("FailureTarget", "DeadlineExceeded"),
                self._condition("Failed", "DeadlineExceeded")]})
            return
        message = report.read_bytes()[:4096].decode(errors="replace")
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                      "startedAt": start, "finishedAt": _now(), "message": message}
        await self._set_pod(namespace, pod_name, {
            "phase": "Succeeded" if code == 0 else "Failed", "startTime": start,
            "containerStatuses": [{**waiting, "state": {"terminated": terminated}}]})
        if code == 0:
            conditions = [self._condition("SuccessCriteriaMet", "CompletionsReached"),
                          self._condition("Complete", "CompletionsReached")]
            await self._set_job(namespace, name, {"succeeded": 1, "startTime": start,
                                                  "completionTime": _now(),
                                                  "conditions": conditions})
        else:
            conditions = [self._condition("FailureTarget", "BackoffLimitExceeded"),
                          self._condition("Failed", "BackoffLimitExceeded")]
            await self._set_job(namespace, name, {"failed": 1, "startTime": start,
                                                  "conditions": conditions})

    @staticmethod
    def _condition(type_: str, reason: str) -> dict[str, Any]:
        return {"type": type_, "status": "True", "reason": reason,
                "lastProbeTime": _now(), "lastTransitionTime": _now()}

    def _problem(self, namespace: str, container: Mapping[str, Any]) -> tuple[str, str] | None:
        if "unpullable" in container["image"]:
            return "ImagePullBackOff", f'Back-off pulling image "{container["image"]}"'
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref is None:
                continue
            secret = self.api.get(SECRETS, namespace, ref["name"])
            if secret is None:
                return "CreateContainerConfigError", f'secret "{ref["name"]}" not found'
            if ref["key"] not in (secret.get("data") or {}):
                return ("CreateContainerConfigError",
                        f'couldn\'t find key {ref["key"]} in Secret {namespace}/{ref["name"]}')
        return None

    def _env(self, namespace: str, container: Mapping[str, Any]) -> dict[str, str]:
        env = dict(self.base_env)
        for item in container.get("env") or []:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref is None:
                env[item["name"]] = item.get("value", "")
                continue
            secret = self.api.get(SECRETS, namespace, ref["name"]) or {}
            env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        return env

    async def _exec(self, namespace: str, container: Mapping[str, Any], report: Path) -> int:
        command = list(container["command"])
        if command[0] == "schemaflow":
            command[:1] = [sys.executable, "-m", "schemaflow"]
        command = [str(report) if arg == TERMINATION_LOG else arg for arg in command]
        process = await asyncio.create_subprocess_exec(
            *command, env=self._env(namespace, container), cwd=self.workdir,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await process.communicate()
        except asyncio.CancelledError:
            process.kill()
            await process.wait()
            raise
        self.outputs.append(output.decode(errors="replace"))
        return process.returncode if process.returncode is not None else 1


def base_env(sql_dir: Path) -> dict[str, str]:
    """The container's environment besides the Job's own env: enough to find Python."""
    keep = ("PATH", "LANG", "LC_ALL", "VIRTUAL_ENV", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["HOME"] = "/tmp"
    env["SCHEMAFLOW_SQL_DIR"] = str(sql_dir)
    return env
