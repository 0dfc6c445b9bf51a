"""The node of the e2e cluster, played by the tests: scheduler and kubelet for one Node.

No container runtime can run here, so a pod's container runs as a local process of the image
it names (``IMAGES``: our image's entrypoint is this checkout's ``schemaflow``), in a private
mount namespace (``unshare --mount``) where the pod's volumes are bind-mounted at their
mountPaths: emptyDir, configMap, and the projected service-account token the kubelet would
request through TokenRequest, beside ``ca.crt`` and ``namespace``. The terminationMessagePath
is a file of the node's. runAsNonRoot is checked against the pod's and the image's user,
but the process keeps the tests' uid: this machine's Python lives where only root may read.

What the node reports is what a kubelet reports: bindings through the binding subresource,
``PodScheduled=False/Unschedulable`` when the nodeSelector does not match, a waiting
container with ``ImagePullBackOff`` for an image the node cannot pull and
``CreateContainerConfigError`` for a missing Secret or key, then ``Running`` and
``terminated`` (exit code, reason, message of at most 4096 bytes) in pods/status, so the real
Job controller decides Complete or Failed. restartPolicy Always restarts the container
(restartCount). A pod being deleted has its process killed and is then deleted with grace 0.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expansion import expand, mapping_for
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PODEXEC = HERE / "podexec.py"
NODE_NAME = "e2e-node"
MAX_MESSAGE = 4096  # pkg/kubelet/container/runtime.go MaxContainerTerminationMessageLength
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class Image:
    """What the node knows of an image it can "pull": entrypoint, cmd, env, user."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    user: int = 65532


def schemaflow_image(sql_dir: Path) -> Image:
    """This checkout as the image the Dockerfile builds (same ENTRYPOINT, USER and ENV)."""
    venv_bin = Path(sys.executable).parent
    return Image(entrypoint=("schemaflow",), cmd=("--help",), env={
        "PATH": f"{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SCHEMAFLOW_SQL_DIR": str(sql_dir),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    })


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container_status(container: Any, restarts: int, state: dict[str, Any], *,
                      ready: bool = False, started: bool = False,
                      last: dict[str, Any] | None = None) -> dict[str, Any]:
    status = {"name": container.name, "image": container.image, "imageID": "",
              "ready": ready, "started": started, "restartCount": restarts, "state": state}
    if last is not None:
        status["lastState"] = {"terminated": last}
    return status


def _placed(phase: str, ip: str, started: str) -> dict[str, Any]:
    """The part of a pod's status a node sets once its first container started."""
    return {"phase": phase, "hostIP": "127.0.0.1", "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": started}


class ConfigError(Exception):
    """CreateContainerConfigError: the message the kubelet shows."""


@dataclass
class Running:
    pod_key: str
    proc: subprocess.Popen[bytes]
    root: Path
    started: str
    restarts: int = 0


class Node:
    """Start with :meth:`start`; ``images`` are the images this node can pull."""

    def __init__(self, api: client.ApiClient, server: str, images: Mapping[str, Image],
                 workdir: Path) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.coord = client.CoordinationV1Api(api)
        self.server = server
        self.images = dict(images)
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        self.running: dict[str, Running] = {}
        self.outputs: dict[str, Path] = {}  # pod key -> its container log
        self.started_pods: list[str] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pod_threads: list[threading.Thread] = []  # _run_pod / _terminate
        # pod IPs in a loopback /24 of this node's own, so two runs never share a port
        self._subnet = f"127.{secrets.randbelow(250) + 2}.{secrets.randbelow(250) + 2}"
        self._next_ip = 10
        self._pod_ips: dict[str, str] = {}
        self._handled: set[str] = set()
        self._terminating: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._register()
        for target in (self._watch_pods, self._heartbeat):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for run in list(self.running.values()):
                self._kill(run, signal.SIGKILL)
            pods = list(self._pod_threads)
        # no pod thread may still be reporting when the interpreter exits (a daemon thread
        # woken during finalization can abort the process)
        deadline = time.monotonic() + 15
        for thread in pods:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._pod_threads = [t for t in self._pod_threads if t.is_alive()] + [thread]
        thread.start()

    def _register(self) -> None:
        labels = {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64"}
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": NODE_NAME, "labels": labels}}
        try:
            self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        self._patch_node_status()

    def _patch_node_status(self) -> None:
        now = _now()
        capacity = {"cpu": "8", "memory": "32Gi", "pods": "250"}
        self.core.patch_node_status(NODE_NAME, {"status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": NODE_NAME}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "nodeInfo": {"kubeletVersion": "v1.36.3", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "e2e://local",
                         "kernelVersion": "", "osImage": "", "kubeProxyVersion": "",
                         "machineID": "", "systemUUID": "", "bootID": ""},
        }})

    def _heartbeat(self) -> None:
        """The node lease and Ready condition, renewed every 10 s as a kubelet does."""
        while True:
            try:
                self._renew_lease()
                self._patch_node_status()
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried next period
                print(f"node: heartbeat failed: {exc}", file=sys.stderr)
            if self._stop.wait(10):
                return

    def _renew_lease(self) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {"holderIdentity": NODE_NAME, "leaseDurationSeconds": 40, "renewTime": now}
        try:
            self.coord.patch_namespaced_lease(NODE_NAME, "kube-node-lease", {"spec": spec})
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coord.create_namespaced_lease("kube-node-lease", {
                "metadata": {"name": NODE_NAME, "namespace": "kube-node-lease"}, "spec": spec})

    # -- the pod loop ---------------------------------------------------------------------
    def _watch_pods(self) -> None:
        while not self._stop.is_set():
            try:
                pods = self.core.list_pod_for_all_namespaces()
                for pod in pods.items:
                    self._safe_on_pod(pod)
                for event in watch.Watch().stream(
                        self.core.list_pod_for_all_namespaces, timeout_seconds=30,
                        resource_version=pods.metadata.resource_version):
                    if self._stop.is_set():
                        return
                    if event["type"] != "DELETED":
                        self._safe_on_pod(event["object"])
            except Exception as exc:  # noqa: BLE001 - the watch restarts with a fresh list
                if not self._stop.is_set():
                    print(f"node: pod watch restarting: {exc}", file=sys.stderr)
                    time.sleep(0.5)

    def _safe_on_pod(self, pod: Any) -> None:
        try:
            self._on_pod(pod)
        except ApiException as exc:
            if exc.status not in (404, 409):
                print(f"node: {pod.metadata.namespace}/{pod.metadata.name}: {exc.status} "
                      f"{exc.reason}", file=sys.stderr)

    def _on_pod(self, pod: Any) -> None:
        key = f"{pod.metadata.namespace}/{pod.metadata.name}/{pod.metadata.uid}"
        if pod.metadata.deletion_timestamp is not None:
            with self._lock:
                start = pod.spec.node_name == NODE_NAME and key not in self._terminating
                self._terminating.add(key)
            if start:  # its own thread: the grace period must not hold up the watch
                self._spawn(self._terminate, key, pod)
            return
        if not pod.spec.node_name:
            self._schedule(pod)
            return
        if pod.spec.node_name != NODE_NAME or pod.status.phase in ("Succeeded", "Failed"):
            return
        with self._lock:
            if key in self._handled:
                return
            self._handled.add(key)
        self._spawn(self._run_pod, key, pod)

    def _schedule(self, pod: Any) -> None:
        """The default scheduler's outcome for a one-node cluster: bind, or Unschedulable."""
        wanted = pod.spec.node_selector or {}
        node = self.core.read_node(NODE_NAME)
        labels = node.metadata.labels or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            conditions = pod.status.conditions or []
            if any(c.type == "PodScheduled" and c.status == "False" for c in conditions):
                return
            self.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {
                "status": {"conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "lastTransitionTime": _now(),
                    "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node "
                               "affinity/selector. preemption: 0/1 nodes are available: 1 "
                               "Preemption is not helpful for scheduling."}]}})
            return
        self.core.create_namespaced_pod_binding(pod.metadata.name, pod.metadata.namespace, {
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME}},
            _preload_content=False)

    # -- running a pod ----------------------------------------------------------------------
    def _pod_ip(self, key: str) -> str:
        with self._lock:
            if key not in self._pod_ips:
                self._next_ip += 1
                if self._next_ip > 254:
                    self._subnet = f"127.{secrets.randbelow(250) + 2}.{secrets.randbelow(250) + 2}"
                    self._next_ip = 10
                self._pod_ips[key] = f"{self._subnet}.{self._next_ip}"
            return self._pod_ips[key]

    def _status(self, pod: Any, status: dict[str, Any]) -> None:
        """Report ``status`` as a kubelet's status manager does: retried when the API server
        drops the connection (urllib3 does not retry a PATCH), dropped once the pod is gone.
        The merge patch carries the whole status, so sending it twice is harmless."""
        for attempt in range(5):
            try:
                self.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace,
                                                      {"status": status})
                return
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            except (HTTPError, OSError):
                if attempt == 4:
                    raise
                if self._stop.wait(0.2 * (attempt + 1)):
                    return  # the node is going: nobody reads this pod's status any more

    def _waiting(self, pod: Any, container: Any, reason: str, message: str,
                 field: str = "containerStatuses") -> None:
        self._status(pod, {
            "phase": "Pending", "hostIP": "127.0.0.1",
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            field: [_container_status(container, 0, {"waiting": {"reason": reason,
                                                                 "message": message}})]})

    def _prepare(self, pod: Any, container: Any, pod_root: Path,
                 field: str) -> tuple[dict[str, Any], Path] | None:
        """The container's process spec and its own directory, or None after reporting why
        it cannot start (image, config) as a kubelet does."""
        image = self.images.get(container.image)
        if image is None:
            self._waiting(pod, container, "ErrImagePull", f'failed to pull and unpack image '
                          f'"{container.image}": not found', field)
            self._waiting(pod, container, "ImagePullBackOff",
                          f'Back-off pulling image "{container.image}"', field)
            return None
        croot = pod_root / f"c-{container.name}"
        croot.mkdir(mode=0o755)
        try:
            return self._container_spec(pod, container, image, pod_root, croot), croot
        except ConfigError as exc:
            self._waiting(pod, container, "CreateContainerConfigError", str(exc), field)
            return None

    def _exit(self, key: str, run: Running, container: Any, croot: Path) -> dict[str, Any] | None:
        """Wait for the container; its terminated state, or None when the pod is going."""
        code = run.proc.wait()
        with self._lock:
            self.running.pop(key, None)
            gone = key not in self._handled
        exit_code = 128 - code if code < 0 else code
        if gone:
            return None
        return {"exitCode": exit_code, "startedAt": run.started, "finishedAt": _now(),
                "reason": "Completed" if exit_code == 0 else "Error",
                "message": self._message(container, croot, exit_code)}

    def _run_init(self, key: str, pod: Any, container: Any, pod_root: Path) -> bool:
        """One init container to completion (restarted on failure unless restartPolicy is
        Never); False when the pod will not go on."""
        prepared = self._prepare(pod, container, pod_root, "initContainerStatuses")
        if prepared is None:
            return False
        spec, croot = prepared
        restarts = 0
        while not self._stop.is_set():
            run = self._launch(key, spec, croot, restarts)
            self._status(pod, {
                **_placed("Pending", spec["podIP"], run.started),
                "conditions": [{"type": "PodScheduled", "status": "True"},
                               {"type": "Initialized", "status": "False",
                                "reason": "ContainersNotInitialized"}],
                "initContainerStatuses": [_container_status(
                    container, restarts, {"running": {"startedAt": run.started}},
                    started=True)]})
            terminated = self._exit(key, run, container, croot)
            if terminated is None:
                return False
            ended = _container_status(container, restarts, {"terminated": terminated},
                                      ready=terminated["exitCode"] == 0)
            if terminated["exitCode"] == 0:
                self._status(pod, {"initContainerStatuses": [ended]})
                return True
            if pod.spec.restart_policy == "Never":
                self._status(pod, {"phase": "Failed", "initContainerStatuses": [ended]})
                return False
            restarts += 1
            self._status(pod, {"initContainerStatuses": [_container_status(
                container, restarts, {"waiting": {"reason": "CrashLoopBackOff"}},
                last=terminated)]})
            time.sleep(min(10.0, 0.5 * restarts))
        return False

    def _run_pod(self, key: str, pod: Any) -> None:
        pod_root = Path(tempfile.mkdtemp(prefix="pod-", dir=self.workdir))
        os.chmod(pod_root, 0o755)
        for init in pod.spec.init_containers or []:
            if not self._run_init(key, pod, init, pod_root):
                return
        container = pod.spec.containers[0]
        prepared = self._prepare(pod, container, pod_root, "containerStatuses")
        if prepared is None:
            return
        spec, croot = prepared
        restarts = 0
        while not self._stop.is_set():
            run = self._launch(key, spec, croot, restarts)
            self._status(pod, {
                **_placed("Running", spec["podIP"], run.started),
                "conditions": [{"type": "PodScheduled", "status": "True"},
                               {"type": "Initialized", "status": "True"},
                               {"type": "ContainersReady", "status": "True"},
                               {"type": "Ready", "status": "True"}],
                "containerStatuses": [_container_status(
                    container, restarts, {"running": {"startedAt": run.started}},
                    ready=True, started=True)]})
            terminated = self._exit(key, run, container, croot)
            if terminated is None:
                return
            exit_code = terminated["exitCode"]
            policy = pod.spec.restart_policy or "Always"
            if policy == "Always" or (policy == "OnFailure" and exit_code != 0):
                restarts += 1
                self._status(pod, {"containerStatuses": [_container_status(
                    container, restarts, {"waiting": {"reason": "CrashLoopBackOff"}},
                    last=terminated)]})
                time.sleep(min(10.0, 0.5 * restarts))
                continue
            self._status(pod, {
                "phase": "Succeeded" if exit_code == 0 else "Failed",
                "conditions": [{"type": "Ready", "status": "False",
                                "reason": "PodCompleted"},
                               {"type": "ContainersReady", "status": "False",
                                "reason": "PodCompleted"}],
                "containerStatuses": [_container_status(
                    container, restarts, {"terminated": terminated})]})
            return

    def _message(self, container: Any, root: Path, exit_code: int) -> str:
        """The termination message as the kubelet reads it (File, or FallbackToLogsOnError)."""
        data = (root / "termination-log").read_bytes()[:MAX_MESSAGE]
        if not data and exit_code != 0 and \
                container.termination_message_policy == "FallbackToLogsOnError":
            data = (root / "container.log").read_bytes()[-2048:]
        return data.decode("utf-8", errors="replace")

    def _launch(self, key: str, spec: dict[str, Any], root: Path, restarts: int) -> Running:
        (root / "termination-log").write_bytes(b"")
        os.chmod(root / "termination-log", 0o666)
        (root / "spec.json").write_text(json.dumps(spec))
        log = open(root / "container.log", "ab")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", sys.executable, str(PODEXEC),
             str(root / "spec.json")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        run = Running(key, proc, root, _now(), restarts)
        with self._lock:
            self.running[key] = run
            self.outputs[key] = root / "container.log"
            self.started_pods.append(key)
        return run

    # -- the container's environment and volumes -------------------------------------------
    def _container_spec(self, pod: Any, container: Any, image: Image, pod_root: Path,
                        croot: Path) -> dict[str, Any]:
        ns = pod.metadata.namespace
        pod_ip = self._pod_ip(f"{ns}/{pod.metadata.name}/{pod.metadata.uid}")
        security = pod.spec.security_context
        csec = container.security_context
        user = (csec.run_as_user if csec and csec.run_as_user is not None else None) or \
            (security.run_as_user if security and security.run_as_user is not None else None) \
            or image.user
        non_root = bool((csec and csec.run_as_non_root) or (security and security.run_as_non_root))
        if non_root and user == 0:
            raise ConfigError("container has runAsNonRoot and image will run as root")
        service_env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                       "KUBERNETES_SERVICE_PORT": self.server.rsplit(":", 1)[1],
                       "KUBERNETES_SERVICE_PORT_HTTPS": self.server.rsplit(":", 1)[1]}
        env: dict[str, str] = {}
        mapping = mapping_for(env, service_env)
        for var in container.env or []:
            if var.value:
                env[var.name] = expand(var.value, mapping)
            elif var.value_from is not None:
                env[var.name] = self._value_from(pod, var.value_from, pod_ip)
            else:
                env[var.name] = ""
        final = {**image.env, **service_env, **env}
        final.setdefault("HOSTNAME", pod.metadata.name)
        argmap = mapping_for(final)
        command = [expand(c, argmap) for c in (container.command or [])] or \
            list(image.entrypoint)
        args = [expand(a, argmap) for a in (container.args or [])] if container.command or \
            container.args else list(image.cmd)
        if not container.command and container.args:
            command = list(image.entrypoint)
        mounts = self._mounts(pod, container, pod_root)
        (croot / "termination-log").write_bytes(b"")
        mounts.append({"source": str(croot / "termination-log"),
                       "target": container.termination_message_path or "/dev/termination-log",
                       "readOnly": False})
        image_paths = sorted({str(REPO), sys.prefix, sys.base_prefix})
        return {"argv": command + args, "env": final,
                "imagePaths": image_paths,
                "mounts": mounts, "podIP": pod_ip, "workingDir": container.working_dir or "/"}

    def _value_from(self, pod: Any, source: Any, pod_ip: str) -> str:
        ns = pod.metadata.namespace
        for ref, kind, read in ((source.secret_key_ref, "Secret", self._secret_data),
                                (source.config_map_key_ref, "ConfigMap", self._config_map_data)):
            if ref is not None:
                data = read(ns, ref.name)
                if ref.key not in data:
                    raise ConfigError(f"couldn't find key {ref.key} in {kind} {ns}/{ref.name}")
                return data[ref.key]
        if source.field_ref is not None:
            path = source.field_ref.field_path
            values = {"metadata.name": pod.metadata.name, "metadata.namespace": ns,
                      "metadata.uid": pod.metadata.uid, "spec.nodeName": NODE_NAME,
                      "spec.serviceAccountName": pod.spec.service_account_name or "default",
                      "status.podIP": pod_ip, "status.hostIP": "127.0.0.1"}
            return values[path]
        raise ConfigError("unsupported valueFrom")

    def _secret_data(self, ns: str, name: str) -> dict[str, str]:
        try:
            secret = self.core.read_namespaced_secret(name, ns)
        except ApiException as exc:
            if exc.status == 404:
                raise ConfigError(f'secret "{name}" not found') from None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def _config_map_data(self, ns: str, name: str) -> dict[str, str]:
        try:
            cm = self.core.read_namespaced_config_map(name, ns)
        except ApiException as exc:
            if exc.status == 404:
                raise ConfigError(f'configmap "{name}" not found') from None
            raise
        return dict(cm.data or {})

    def _mounts(self, pod: Any, container: Any, root: Path) -> list[dict[str, Any]]:
        volumes = {v.name: v for v in pod.spec.volumes or []}
        mounts = []
        for vm in container.volume_mounts or []:
            source = root / "volumes" / vm.name
            if not source.exists():
                self._materialize(pod, volumes[vm.name], source)
            if vm.sub_path:
                source = source / vm.sub_path
            mounts.append({"source": str(source), "target": vm.mount_path,
                           "readOnly": bool(vm.read_only)})
        return mounts

    def _materialize(self, pod: Any, volume: Any, target: Path) -> None:
        target.mkdir(parents=True)
        ns = pod.metadata.namespace
        if volume.empty_dir is not None:
            os.chmod(target, 0o1777)
            return
        os.chmod(target, 0o755)
        files: dict[str, bytes] = {}
        if volume.config_map is not None:
            files.update(self._config_map_files(ns, volume.config_map))
        elif volume.projected is not None:
            for source in volume.projected.sources:
                if source.service_account_token is not None:
                    files[source.service_account_token.path] = self._token(pod, source)
                elif source.config_map is not None:
                    files.update(self._config_map_files(ns, source.config_map))
                elif source.downward_api is not None:
                    for item in source.downward_api.items:
                        files[item.path] = {"metadata.namespace": ns,
                                            "metadata.name": pod.metadata.name}[
                            item.field_ref.field_path].encode()
        else:
            raise ConfigError(f"volume {volume.name}: type not supported by the e2e node")
        for name, data in files.items():
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            os.chmod(path, 0o644)

    def _config_map_files(self, ns: str, ref: Any) -> dict[str, bytes]:
        data = {k: v.encode() for k, v in self._config_map_data(ns, ref.name).items()}
        if ref.items:
            return {item.path: data[item.key] for item in ref.items}
        return data

    def _token(self, pod: Any, source: Any) -> bytes:
        """A bound token for the pod's service account, as the kubelet requests it."""
        sa = pod.spec.service_account_name or "default"
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [source.service_account_token.audience] if
            source.service_account_token.audience else None,
            "expirationSeconds": source.service_account_token.expiration_seconds or 3607,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name,
                               "uid": pod.metadata.uid}}}
        answer = self.core.create_namespaced_service_account_token(sa, pod.metadata.namespace,
                                                                   request)
        return str(answer.status.token).encode()

    # -- stopping -------------------------------------------------------------------------
    def _kill(self, run: Running, sig: int) -> None:
        try:
            os.killpg(run.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self, name_prefix: str, sig: int = signal.SIGKILL) -> list[str]:
        """Signal the running containers whose pod name starts with ``name_prefix``."""
        with self._lock:
            hits = [r for k, r in self.running.items() if k.split("/")[1].startswith(name_prefix)]
        for run in hits:
            self._kill(run, sig)
        return [r.pod_key for r in hits]

    def _terminate(self, key: str, pod: Any) -> None:
        with self._lock:
            self._handled.discard(key)
            run = self.running.get(key)
        if run is not None:
            self._kill(run, signal.SIGTERM)
            try:
                run.proc.wait(timeout=pod.metadata.deletion_grace_period_seconds or 1)
            except subprocess.TimeoutExpired:
                self._kill(run, signal.SIGKILL)
                run.proc.wait()
        try:
            # in the body: with a body the API server ignores the query's gracePeriodSeconds
            self.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace,
                                            body=client.V1DeleteOptions(
                                                grace_period_seconds=0,
                                                preconditions={"uid": pod.metadata.uid}))
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    def logs(self) -> str:
        """Every container's output so far (for the secret-hygiene checks)."""
        with self._lock:
            paths = list(self.outputs.values())
        return "\n".join(p.read_text(errors="replace") for p in paths if p.exists())
