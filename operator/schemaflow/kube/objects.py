"""Pure builders of the manifests the operator sends: no I/O, so they are unit-tested and
validated against the real Kubernetes schemas without a cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from schemaflow.crd import GROUP, KIND, VERSION
from schemaflow.crd import PLURAL as PLURAL  # re-exported for the handlers
from schemaflow.kube.spec import MigrationSpec, render_checks

API_VERSION = f"{GROUP}/{VERSION}"
MANAGED_BY = "app.kubernetes.io/managed-by"
FINALIZER = f"{GROUP}/finalizer"  # kopf's (main.build_settings): cleanup runs before deletion
MIGRATION_LABEL = f"{GROUP}/migration"
DIRECTION_LABEL = f"{GROUP}/direction"
GENERATION_LABEL = f"{GROUP}/generation"
TERMINATION_LOG = "/dev/termination-log"
CONTAINER = "migrate"
SQL_MOUNT = "/var/run/schemaflow/sql"
MAX_NAME = 63
# set on a SchemaMigration when one of its Jobs changes, so that it is reconciled at once
JOB_SEEN = f"{GROUP}/job-seen"


def smig_path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


def job_name(name: str, generation: int, direction: str) -> str:
    """``<name>-<generation>-<direction>``; over 63 characters the name part is cut and a
    hash of the full name keeps it unique (Job names end up in pod labels, limited to 63)."""
    suffix = f"-{generation}-{direction}"
    full = f"{name}{suffix}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(suffix) - len(digest) - 1
    return f"{name[:keep].rstrip('-.')}-{digest}{suffix}"


def label_value(name: str) -> str:
    """``name`` as a label value (at most 63 characters, object names may have 253)."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:MAX_NAME - 9].rstrip('-.')}-{digest}"


def selector(name: str) -> str:
    """Label selector of every Job made for the SchemaMigration ``name``."""
    return f"{MANAGED_BY}=schemaflow,{MIGRATION_LABEL}={label_value(name)}"


def kubelet_literal(text: str) -> str:
    """``text`` as the kubelet must pass it on: it expands ``$(VAR)`` in command, args and
    env values (``$$`` stays one ``$``), so a user's ``$(DATABASE_URL)`` would otherwise
    reach the container as the Secret's value."""
    return text.replace("$", "$$")


def _command(direction: str, target: int, spec: MigrationSpec) -> list[str]:
    command = ["schemaflow", "migrate", direction, "--target", str(target)]
    if direction == "up" and spec.verify_enabled:
        command.append("--verify")
    command += [
        "--report", TERMINATION_LOG, "--output", "json",
        "--lock-timeout", spec.safety.lock_timeout,
        "--lock-retries", str(spec.safety.lock_retries),
        "--statement-timeout", spec.safety.statement_timeout,
    ]
    if spec.source_type == "configMap":
        # the ConfigMap holds the checks beside the migrations
        command += ["--verify-dir", f"{SQL_MOUNT}/migrations"]
    if direction == "up":
        command += ["--preflight", spec.safety.preflight]
        for pattern in spec.safety.application_names:
            command += ["--app-pattern", pattern]
    return [kubelet_literal(part) for part in command]


def _env(direction: str, spec: MigrationSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {
            "name": spec.secret_ref.name, "key": spec.secret_ref.key}}},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    if spec.source_type == "configMap":
        env.append({"name": "SCHEMAFLOW_SQL_DIR", "value": SQL_MOUNT})
    if direction == "up" and spec.verify_enabled and spec.extra_checks:
        env.append({"name": "SCHEMAFLOW_EXTRA_CHECKS", "value": render_checks(spec.extra_checks)})
    return [{**var, "value": kubelet_literal(var["value"])} if "value" in var else var
            for var in env]


def job_manifest(*, owner: Mapping[str, Any], generation: int, direction: str, target: int,
                 spec: MigrationSpec, default_image: str) -> dict[str, Any]:
    """The migration Job of one run of the SchemaMigration ``owner`` (its metadata needs a uid).

    backoffLimit 0: a failed migration must be looked at, not retried blindly; the database
    URL reaches the container only from the Secret, so the operator never reads it.
    """
    meta = owner["metadata"]
    labels = {
        MANAGED_BY: "schemaflow",
        MIGRATION_LABEL: label_value(meta["name"]),
        DIRECTION_LABEL: direction,
        GENERATION_LABEL: str(generation),
    }
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if spec.source_type == "configMap":
        volumes.append({"name": "migrations", "configMap": {"name": spec.config_map_name}})
        mounts.append({"name": "migrations", "mountPath": f"{SQL_MOUNT}/migrations",
                       "readOnly": True})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.job.image or default_image,
        "command": _command(direction, target, spec),
        "env": _env(direction, spec),
        "volumeMounts": mounts,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if spec.job.image_pull_policy:
        container["imagePullPolicy"] = spec.job.image_pull_policy
    if spec.job.resources:
        container["resources"] = {k: dict(v) for k, v in spec.job.resources.items()}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": volumes,
    }
    if spec.job.service_account_name:
        pod_spec["serviceAccountName"] = spec.job.service_account_name
    if spec.job.node_selector:
        pod_spec["nodeSelector"] = dict(spec.job.node_selector)
    if spec.job.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in spec.job.tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(meta["name"], generation, direction),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": API_VERSION, "kind": KIND, "name": meta["name"],
                "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": spec.job.active_deadline_seconds,
            "ttlSecondsAfterFinished": spec.job.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
