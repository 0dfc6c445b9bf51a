"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver and
kube-controller-manager built from their Go modules by tests/gobin/build.sh.

The API server runs with RBAC, client-certificate and service-account authentication and an
audit log of every request; the controller manager runs every controller with a
service-account credential of its own, so the real Job, garbage-collector, TTL and namespace
controllers act on what the operator creates. No scheduler or kubelet: tests/e2e/node.py
plays them.

    python tests/e2e/controlplane.py up DIR     # start, print the admin kubeconfig path
    python tests/e2e/controlplane.py down DIR   # stop what `up` started
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD = REPO / "tests" / "gobin" / "build.sh"

# Everything the operator's identity does is logged at Metadata level (user, verb, resource,
# response code): enough to count 403s without logging bodies, which may carry Secrets.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    userGroups: ["system:nodes"]
  - level: Metadata
"""


def build_binaries() -> Path:
    """The directory of etcd, kube-apiserver, kube-controller-manager (built once, cached)."""
    out = subprocess.run(["bash", str(BUILD), "etcd", "kube"], check=True,
                         stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _cert(pki: Path, name: str, subject: str, *, server: bool = False) -> None:
    """``name.key``/``name.crt`` signed by the test CA (client cert unless ``server``)."""
    ext = pki / f"{name}.ext"
    if server:
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth\n"
                       "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,"
                       "DNS:kubernetes.default,DNS:kubernetes.default.svc\n")
    else:
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-subj", subject, "-out", f"{name}.csr", cwd=pki)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", ext.name, "-out", f"{name}.crt", cwd=pki)


def make_pki(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-days", "2",
             "-subj", "/CN=schemaflow-e2e-ca", "-out", "ca.crt", cwd=pki)
    _cert(pki, "apiserver", "/CN=kube-apiserver", server=True)
    _cert(pki, "admin", "/O=system:masters/CN=e2e-admin")
    _cert(pki, "controller-manager", "/CN=system:kube-controller-manager")
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def kubeconfig(path: Path, server: str, pki: Path, user: str) -> Path:
    """A kubeconfig for ``server`` with the client certificate ``pki/user.{crt,key}``."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "e2e",
        "clusters": [{"name": "e2e", "cluster": {
            "server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(pki / f"{user}.crt"),
            "client-key": str(pki / f"{user}.key")}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": user}}],
    }))
    return path


@dataclass
class ControlPlane:
    """Start with :meth:`up`, stop with :meth:`down`; ``workdir`` keeps certs, data and logs."""

    workdir: Path
    bin_dir: Path = field(default_factory=build_binaries)
    server: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.procs[name] = subprocess.Popen([str(self.bin_dir / name.split(".")[0]), *args],
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        (self.workdir / f"{name}.pid").write_text(str(self.procs[name].pid))

    def up(self, timeout: float = 120.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        make_pki(self.pki)
        (self.workdir / "audit-policy.yaml").write_text(AUDIT_POLICY)
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        self._start("etcd", [
            "--name", "e2e", "--data-dir", str(self.workdir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"e2e=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--log-level", "warn",
        ])
        pki = self.pki
        self.server = f"https://127.0.0.1:{api_port}"
        self._start("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-mode=blocking",
            "--v=1",
        ])
        kubeconfig(self.admin_kubeconfig, self.server, pki, "admin")
        cm = kubeconfig(self.workdir / "controller-manager.kubeconfig", self.server, pki,
                        "controller-manager")
        self._wait_ready(timeout)
        self._start("kube-controller-manager", [
            f"--kubeconfig={cm}", f"--authentication-kubeconfig={cm}",
            f"--authorization-kubeconfig={cm}",
            "--controllers=*", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
            "--v=1",
        ])
        (self.workdir / "server").write_text(self.server)

    def _wait_ready(self, timeout: float) -> None:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=ctx,
                                            timeout=5) as resp:
                    if resp.status == 200:
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"kube-apiserver not ready after {timeout:g}s: {last}")

    def down(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def _down_from_pidfiles(workdir: Path) -> None:
    for pidfile in workdir.glob("*.pid"):
        try:
            os.killpg(int(pidfile.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        pidfile.unlink()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print(__doc__, file=sys.stderr)
        return 1
    workdir = Path(argv[1]).resolve()
    if argv[0] == "down":
        _down_from_pidfiles(workdir)
        return 0
    plane = ControlPlane(workdir)
    plane.up()
    print(plane.admin_kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
