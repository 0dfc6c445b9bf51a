"""Fixtures of the e2e suite: one real control plane for the session (tests/e2e/controlplane.py),
the node the tests play (tests/e2e/node.py), the chart installed by real helm with its
operator Deployment run by that node under the chart's ServiceAccount, and per test a
namespace with DomainFlow's v26 database on the real PostgreSQL 18.

After every test: no request of the operator's identity was answered 403 (audit log), and the
database password appears in no container output, status, Event or Job.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

sys.path.insert(0, str(Path(__file__).resolve().parent))

from controlplane import ControlPlane  # noqa: E402
from node import Image, Node, schemaflow_image  # noqa: E402
from realcluster import (  # noqa: E402
    APP_IMAGE_REPOSITORY,
    APP_IMAGE_TAG,
    CHART,
    IMAGE,
    IMAGE_REPOSITORY,
    IMAGE_TAG,
    RELEASE_NS,
    Cluster,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
SECRET_NAME, SECRET_KEY = "app-db", "url"
_ns_counter = iter(range(1, 10_000))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # one control plane for the whole run: the e2e tests run last, together
    items.sort(key=lambda item: "tests/e2e/" in str(item.fspath))


@pytest.fixture(scope="session")
def plane() -> Iterator[ControlPlane]:
    workdir = Path(tempfile.mkdtemp(prefix="schemaflow-e2e-"))
    workdir.chmod(0o755)
    t0 = time.monotonic()
    cp = ControlPlane(workdir)
    try:
        cp.up()
        print(f"\ncontrol plane ready in {time.monotonic() - t0:.1f}s at {cp.server}")
        yield cp
    finally:
        cp.down()


@pytest.fixture(scope="session")
def cluster(plane: ControlPlane) -> Cluster:
    api = config.new_client_from_config(config_file=str(plane.admin_kubeconfig))
    home = plane.workdir / "helm"
    home.mkdir(exist_ok=True)
    return Cluster(api=api, kubeconfig=plane.admin_kubeconfig, audit_log=plane.audit_log,
                   helm_home=home)


@pytest.fixture(scope="session")
def node(plane: ControlPlane, cluster: Cluster) -> Iterator[Node]:
    app_image = Image(entrypoint=(sys.executable, "-c", "import time; time.sleep(86400)"))
    n = Node(cluster.api, plane.server, {
        IMAGE: schemaflow_image(REPO / "sql"),
        f"{APP_IMAGE_REPOSITORY}:{APP_IMAGE_TAG}": app_image}, plane.workdir / "node")
    n.start()
    try:
        yield n
    finally:
        n.stop()


def install_operator(cluster: Cluster, *values: str, replicas: int = 1) -> None:
    cluster.helm("upgrade", "--install", "schemaflow", str(CHART), "-n", RELEASE_NS,
                 "--create-namespace", "--set", f"image.repository={IMAGE_REPOSITORY}",
                 "--set", f"image.tag={IMAGE_TAG}",
                 # every pod of this node shares the host's network: bind each pod's own IP
                 "--set", "operator.bindAddress=$(POD_IP)",
                 "--set", f"replicaCount={replicas}", *values)
    wait_operator_ready(cluster, replicas)


def wait_operator_ready(cluster: Cluster, replicas: int, timeout: float = 90) -> None:
    apps = client.AppsV1Api(cluster.api)

    def ready() -> bool:
        dep = apps.read_namespaced_deployment("schemaflow", RELEASE_NS)
        return (dep.status.ready_replicas or 0) >= replicas and \
            (dep.status.updated_replicas or 0) >= replicas and \
            dep.status.observed_generation == dep.metadata.generation
    wait_for(ready, timeout, f"{replicas} ready operator replica(s)", poll=0.3)
    # and every one of them has logged in and is watching
    time.sleep(1.0)


@pytest.fixture(scope="session")
def operator_release(cluster: Cluster, node: Node) -> Cluster:
    install_operator(cluster)
    return cluster


@pytest.fixture
def app(request: pytest.FixtureRequest, operator_release: Cluster, node: Node,
        db18: Any) -> Iterator[App]:
    """A namespace whose Secret points at DomainFlow's v26 database (scale 0.1)."""
    from schemaflow.baseline import load_baseline

    load_baseline(db18.admin, scale=0.1)
    ns = operator_release.namespace(f"app-{next(_ns_counter)}")
    operator_release.secret(ns, SECRET_NAME, {SECRET_KEY: db18.url})
    since = operator_release.audit_offset()
    a = App(operator_release, node, ns, db18, since)
    yield a
    forbidden = operator_release.forbidden(since)
    assert forbidden == [], f"the operator's ServiceAccount was refused: {forbidden}"
    bad = operator_release.bad_requests(since)
    assert bad == [], f"the API server rejected the operator's requests: {bad[:3]}"
    a.check_hygiene()


class App:
    """One test's namespace and database."""

    def __init__(self, cluster: Cluster, node: Node, namespace: str, db: Any,
                 audit_since: int) -> None:
        self.cluster = cluster
        self.node = node
        self.ns = namespace
        self.db = db
        self.audit_since = audit_since

    def spec(self, **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {"database": {"urlSecretRef": {"name": SECRET_NAME,
                                                              "key": SECRET_KEY}},
                                "safety": {"preflight": "warn"}}
        spec.update(extra)
        return spec

    def version(self) -> list[tuple[int, bool]]:
        return [tuple(r) for r in self.db.query("SELECT version, dirty FROM schema_migrations")]

    def check_hygiene(self) -> None:
        password = self.db.server.password
        places = {
            "container output": self.node.logs(),
            # what the operator wrote (specs are the tests', some hostile on purpose)
            "SchemaMigration statuses and metadata": json.dumps([
                {k: v for k, v in obj.items() if k != "spec"}
                for obj in self.cluster.custom.list_namespaced_custom_object(
                    "schemaflow.domainflow.io", "v1alpha1", self.ns,
                    "schemamigrations")["items"]], default=str),
            "Events": json.dumps([e.message for e in
                                  self.cluster.core.list_namespaced_event(self.ns).items]),
            "Jobs": json.dumps(self.cluster.api.sanitize_for_serialization(
                self.cluster.batch.list_namespaced_job(self.ns)), default=str),
        }
        for place, text in places.items():
            assert password not in text, f"the database password leaked into {place}"
