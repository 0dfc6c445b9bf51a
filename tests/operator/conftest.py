"""Fixtures of the operator's end-to-end tests: an emulated cluster whose fake kubelet runs
the real CLI against a real PostgreSQL, and the real operator in its own thread."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the `harness` package

from harness.cluster import SMIGS, ApiThread, LogCapture, OperatorThread  # noqa: E402
from harness.manifests import MIGRATIONS, SECRET_KEY, SECRET_NAME, VERIFY, write_sql  # noqa: E402
from harness.schemas import validate  # noqa: E402
from schemaflow.engine.sources import load_source  # noqa: E402
from schemaflow.kube import rbac  # noqa: E402
from schemaflow.kube.main import OperatorOptions  # noqa: E402
from schemaflow.localpg import free_port  # noqa: E402


@pytest.fixture
def sql_dir(tmp_path: Path) -> Path:
    return write_sql(tmp_path / "sql", MIGRATIONS, VERIFY)


def migrate(db: Any, sql_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schemaflow", "migrate", *args],
                          env=db.env(SCHEMAFLOW_SQL_DIR=str(sql_dir)), capture_output=True,
                          text=True, check=False)


@pytest.fixture
def db26(db18: Any, sql_dir: Path) -> Any:
    """The test database at version 26 with a few rows."""
    done = migrate(db18, sql_dir, "up", "--target", "26")
    assert done.returncode == 0, done.stdout + done.stderr
    db18.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g")
    return db18


@pytest.fixture
def cluster(tmp_path: Path, db26: Any, sql_dir: Path, logs: LogCapture,
            operator_options: OperatorOptions) -> Iterator[ApiThread]:
    """The emulated cluster; at the end, every e2e test also checks what the operator sent:
    valid manifests, only the API calls listed for RBAC, and the password nowhere."""
    work = tmp_path / "kubelet"
    work.mkdir()
    api = ApiThread(work, sql_dir)
    api.secret(SECRET_NAME, {SECRET_KEY: db26.url})
    try:
        yield api
        check_sent(api)
        check_hygiene(api, logs, operator_options.metrics_port, db26.server.password)
    finally:
        api.stop()


def check_sent(api: ApiThread) -> None:
    """Every object the operator created or patched validates; every call is in rbac."""
    for _, obj in api.sync(lambda: list(api.emulator.sent)):
        if obj.get("kind", "").endswith("KopfPeering"):
            continue  # kopf's own peering objects: their CRDs belong to kopf
        if obj.get("kind") == "SchemaMigration":
            # The operator writes metadata and status; some tests send invalid specs on purpose.
            obj = dict(obj, spec={"database": {"urlSecretRef": {"name": "x", "key": "y"}}})
        validate(obj)
    calls = {(c.verb, c.group, c.resource) for c in api.emulator.calls}
    allowed = set(rbac.API_CALLS) | set(rbac.PEERING_API_CALLS)
    assert calls <= allowed, calls - allowed


def check_hygiene(api: ApiThread, logs: LogCapture, metrics_port: int, password: str) -> None:
    """The recognisable password shows up in no log, Event, status, Job, termination
    message, container output, API request or metric."""
    from harness.cluster import metrics_text

    places: dict[str, str] = {
        "operator logs": "\n".join(logs.lines),
        # everything but Secrets and the specs the tests wrote (hostile ones hold passwords)
        "API store (events, statuses, annotations, jobs, pods)": json.dumps(
            [{k: v for k, v in obj.items() if not (k == "spec" and res == SMIGS)}
             for (res, _, _), obj in api.sync(lambda: list(api.emulator.store.items()))
             if res != "v1/secrets"]),
        "API requests": json.dumps([c.body for c in api.emulator.calls], default=str),
        "container output": "\n".join(api.kubelet.outputs if api.kubelet else []),
    }
    try:
        places["metrics"] = metrics_text(metrics_port)
    except OSError:
        pass  # the operator is stopped at the end of some tests
    for place, text in places.items():
        assert password not in text, f"the database password leaked into {place}"


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)


@pytest.fixture
def operator_options(sql_dir: Path) -> OperatorOptions:
    return OperatorOptions(
        metrics_host="127.0.0.1", metrics_port=free_port(), job_image="schemaflow:test",
        interval=0.3, pod_problem_timeout=2.0, retry_delay=0.5, watch_timeout=5,
        bundled_versions=lambda: load_source(sql_dir / "migrations").versions,
        extra_settings={"watching.reconnect_backoff": 0.1,
                        "persistence.consistency_timeout": 1.0},
    )


@pytest.fixture
def operator(cluster: ApiThread, operator_options: OperatorOptions,
             logs: LogCapture) -> Iterator[Callable[[], OperatorThread]]:
    """Starts (and at the end stops) the operator; call again after ``.stop()`` to restart."""
    running: list[OperatorThread] = []

    def start() -> OperatorThread:
        op = OperatorThread(cluster.url, operator_options).start()
        running.append(op)
        return op

    yield start
    for op in running:
        if op._thread is not None and op._thread.is_alive():
            op.stop()

