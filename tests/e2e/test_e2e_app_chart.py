"""The example application chart through real `helm install` and `helm upgrade`: its
pre-install/pre-upgrade hook creates the SchemaMigration and a Job running
`schemaflow wait --resource` under its own ServiceAccount; the app's pods wait in an
initContainer (`schemaflow wait --database`). A failing upgrade leaves the Deployment as it
was."""

from __future__ import annotations

import time

from kubernetes import client
from realcluster import (
    APP_IMAGE_REPOSITORY,
    APP_IMAGE_TAG,
    EXAMPLE_CHART,
    IMAGE_REPOSITORY,
    IMAGE_TAG,
)

from conftest import App


def _release(app: App, action: str, *values: str) -> tuple[int, str, float]:
    t0 = time.monotonic()
    done = app.cluster.helm(
        action, "shop", str(EXAMPLE_CHART), "-n", app.ns, "--wait", "--timeout", "180s",
        "--set", f"schemaflow.image.repository={IMAGE_REPOSITORY}",
        "--set", f"schemaflow.image.tag={IMAGE_TAG}",
        "--set", f"app.image.repository={APP_IMAGE_REPOSITORY}",
        "--set", "app.replicas=1",
        "--set", "schemaflow.hook.timeoutSeconds=120",
        "--set", "schemaflow.initContainer.timeoutSeconds=120", *values, check=False,
        timeout=400)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - t0


def test_install_upgrade_and_a_failing_upgrade(app: App) -> None:
    for name in ("domainflow-db-migrator", "domainflow-db-app"):
        app.cluster.secret(app.ns, name, {"url": app.db.url})
    code, out, took_install = _release(app, "install", "--set", f"app.image.tag={APP_IMAGE_TAG}")
    assert code == 0, out
    assert app.version() == [(27, False)]
    apps = client.AppsV1Api(app.cluster.api)
    dep = apps.read_namespaced_deployment("shop-domainflow-app", app.ns)
    assert dep.status.available_replicas == 1
    smig = app.cluster.get_smig(app.ns, "shop-domainflow-app-schema")
    assert smig is not None and smig["status"]["phase"] == "Succeeded"
    waiter = f"system:serviceaccount:{app.ns}:shop-domainflow-app-schema-wait"
    assert app.cluster.forbidden(app.audit_since, waiter) == []
    assert any(True for _ in app.cluster.audit_entries(app.audit_since, waiter))

    code, out, took_upgrade = _release(app, "upgrade", "--set", f"app.image.tag={APP_IMAGE_TAG}")
    assert code == 0, out
    assert app.version() == [(27, False)]
    before = apps.read_namespaced_deployment("shop-domainflow-app", app.ns)

    # version 28 is not in the image: the hook's SchemaMigration is InvalidSpec, the wait Job
    # exits non-zero, helm stops before touching the Deployment (whose image would change)
    code, out, took_failed = _release(app, "upgrade", "--set", "schemaflow.targetVersion=28",
                                      "--set", "app.image.tag=would-change")
    assert code != 0, out
    after = apps.read_namespaced_deployment("shop-domainflow-app", app.ns)
    assert after.metadata.generation == before.metadata.generation
    assert after.spec.template.spec.containers[0].image == \
        f"{APP_IMAGE_REPOSITORY}:{APP_IMAGE_TAG}"
    assert app.version() == [(27, False)]
    print(f"\napp chart: install {took_install:.1f}s, upgrade {took_upgrade:.1f}s, failing "
          f"upgrade refused in {took_failed:.1f}s")
