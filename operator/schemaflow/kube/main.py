"""``schemaflow operator``: configures kopf and runs it with schemaflow's handlers.

kopf, kubernetes and aiohttp are imported inside ``run``/``serve`` so that building the CLI
parser stays cheap and side-effect free.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from schemaflow.kube.objects import FINALIZER, GROUP

if TYPE_CHECKING:
    import kopf

    from schemaflow.kube.client import Connection

DEFAULT_IMAGE = "ghcr.io/domainflow/schemaflow:0.1.0"
WORKERS = 16  # Event posts kopf sends at once (posting.worker_limit, see build_settings)
# kopf logs whole object bodies at debug level; a spec carrying a credential by mistake
# (a URL or a "password" field the CRD would prune) must not reach the logs through it.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)[^\s@'\"]*(?=@)", re.I)
_KEY_PASSWORD = re.compile(r"""(['"]?\b(?:password|passwd|pwd)['"]?\s*[:=]\s*)('[^']*'|"[^"]*"|[^\s,}]+)""",
                           re.I)


class RedactingFilter(logging.Filter):
    """Replaces passwords in kopf's log records (URLs and password fields)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _KEY_PASSWORD.sub(r"\1'***'", _URL_PASSWORD.sub(r"\1***", message))
        if clean != message:
            record.msg, record.args = clean, ()
        return True


REDACTED_LOGGERS = ("kopf.objects", "kopf.activities.authentication")


@dataclass
class OperatorOptions:
    """The operator's configuration, from the command line (or a test)."""

    namespaces: Sequence[str] = ()
    peering: str | None = None
    liveness: str | None = None
    metrics_host: str = "0.0.0.0"  # scraped by Prometheus from other pods
    metrics_port: int = 9090
    job_image: str = DEFAULT_IMAGE
    interval: float = 5.0
    pod_problem_timeout: float = 300.0
    retry_delay: float = 5.0
    # whole seconds: the API server parses timeoutSeconds as an integer ("300.0" is a 400)
    watch_timeout: int = 300
    priority: int | None = None  # kopf peering priority; default: by start time
    # default: the migrations of this image ($SCHEMAFLOW_SQL_DIR/migrations)
    bundled_versions: Callable[[], Sequence[int]] | None = None
    # kopf settings by dotted name, e.g. {"watching.reconnect_backoff": 0.1}
    extra_settings: dict[str, Any] = field(default_factory=dict)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", action="append", default=[], dest="namespaces",
                        metavar="NS", help="serve only this namespace (repeatable); "
                        "default: all namespaces")
    parser.add_argument("--peering", metavar="NAME",
                        help="run highly available with kopf peering NAME (default standalone)")
    parser.add_argument("--priority", type=int, default=None, metavar="N",
                        help="kopf peering priority with --peering (default: higher the "
                        "earlier this replica started)")
    parser.add_argument("--liveness", metavar="URL",
                        help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--metrics-address", default="0.0.0.0", metavar="HOST",
                        help="address the /metrics endpoint binds (default 0.0.0.0; the chart "
                        "can pass the pod IP)")
    parser.add_argument("--metrics-port", type=int, default=9090,
                        help="port of the Prometheus /metrics endpoint (0 disables it)")
    parser.add_argument("--job-image", default=os.environ.get("SCHEMAFLOW_IMAGE", DEFAULT_IMAGE),
                        help="image of the migration Jobs (default $SCHEMAFLOW_IMAGE)")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="seconds between reconciliations of each SchemaMigration")
    parser.add_argument("--pod-problem-timeout", type=float, default=300.0,
                        help="seconds a Job's pod may stay unable to start before the run fails")
    parser.add_argument("--retry-delay", type=float, default=5.0,
                        help="seconds before re-running a Job that found the database "
                        "unreachable (doubles per attempt, at most 300)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")


def bundled_versions() -> list[int]:
    """Versions of the migrations shipped in this image (``$SCHEMAFLOW_SQL_DIR/migrations``)."""
    from schemaflow.engine.sources import default_sql_dir, load_source

    return load_source(default_sql_dir() / "migrations").versions


def _diffbase_storage() -> kopf.DiffBaseStorage:
    import kopf

    class SpecFreeDiffBase(kopf.AnnotationsDiffBaseStorage):
        """kopf's last-handled-configuration annotation without the spec. schemaflow has no
        on.update handlers (runs follow metadata.generation), so the spec is not needed
        there, and a spec carrying a credential by mistake (on a server that does not prune
        unknown fields) must not be copied into an annotation."""

        def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
            # kopf deep-copies the body it is given and then drops all but labels and
            # annotations: without spec, status and managedFields the copy is a fraction
            # of the CPU, on every event of every SchemaMigration (status is needed only by
            # handlers of status fields, which schemaflow has none of)
            meta = {k: v for k, v in body.get("metadata", {}).items() if k != "managedFields"}
            trimmed = kopf.Body(cast(kopf.RawBody, {
                k: v for k, v in body.items() if k not in ("spec", "status", "metadata")}
                | {"metadata": meta}))
            essence = super().build(body=trimmed, extra_fields=extra_fields)
            essence.pop("spec", None)
            return essence

    return SpecFreeDiffBase(prefix=GROUP, key="last-handled-configuration")


def start_priority() -> int:
    """A kopf peering priority that is higher the earlier this process started (in
    microseconds, so two replicas started together still differ)."""
    return 10**17 - time.time_ns() // 1000


def build_settings(options: OperatorOptions) -> kopf.OperatorSettings:
    """kopf's storage, finalizer and peering under schemaflow's own domain from day one."""
    import kopf

    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = _diffbase_storage()
    settings.peering.standalone = options.peering is None
    settings.peering.mandatory = options.peering is not None
    if options.peering:
        settings.peering.name = options.peering
        # kopf pauses EVERY operator of a peering whose priorities are equal: replicas of one
        # Deployment must differ. The earliest started wins and keeps its place.
        settings.peering.priority = (options.priority if options.priority is not None
                                     else start_priority())
    settings.peering.clusterwide = not options.namespaces
    # No namespace/CRD scanning: the namespaces are given and the CRD is installed by the chart
    # (fewer RBAC rights: no cluster-wide list/watch of namespaces or CRDs).
    settings.scanning.disabled = True
    # Events are posted explicitly at transitions; kopf's own log lines stay logs.
    settings.posting.loggers = False
    # Concurrent handlers and Event posts bound the API connections kopf opens (it sets no
    # connection limit), and each TLS connection holds a 256 KiB read buffer (asyncio's
    # sslproto.SSLProtocol.max_size): unbounded, 200 resources created at once opened about
    # 300 connections and 75 MiB of buffers. More workers would not be faster on one core.
    settings.posting.worker_limit = WORKERS
    settings.watching.server_timeout = int(options.watch_timeout)
    settings.watching.client_timeout = options.watch_timeout + 10
    for dotted, value in options.extra_settings.items():
        section, name = dotted.split(".")
        setattr(getattr(settings, section), name, value)
    return settings


async def _metrics_server(registry: Any, host: str, port: int) -> Any:
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(options: OperatorOptions, connection: Connection, login: Callable[..., Any], *,
                stop_flag: Any = None, ready_flag: Any = None) -> None:
    """Run the operator until ``stop_flag`` is set (or forever)."""
    import kopf
    from prometheus_client import CollectorRegistry

    from schemaflow.kube import handlers
    from schemaflow.kube.client import KubeClient
    from schemaflow.kube.controller import OperatorContext
    from schemaflow.kube.metrics import Metrics

    registry = CollectorRegistry()
    client = KubeClient(connection)
    # The image's migrations do not change while it runs: read them once (not per tick).
    versions = functools.cache(lambda: tuple((options.bundled_versions or bundled_versions)()))
    ctx = OperatorContext(client=client, metrics=Metrics(registry),
                          default_image=options.job_image, bundled_versions=versions,
                          pod_problem_timeout=options.pod_problem_timeout,
                          retry_delay=options.retry_delay)
    kopf_registry = kopf.OperatorRegistry()
    handlers.register(kopf_registry, ctx, interval=options.interval, login=login)
    redacting = RedactingFilter()
    for name in REDACTED_LOGGERS:
        logging.getLogger(name).addFilter(redacting)
    runner = None
    if options.metrics_port:
        runner = await _metrics_server(registry, options.metrics_host, options.metrics_port)
    try:
        await kopf.operator(
            registry=kopf_registry, settings=build_settings(options),
            standalone=options.peering is None, peering_name=options.peering,
            liveness_endpoint=options.liveness, clusterwide=not options.namespaces,
            namespaces=list(options.namespaces), stop_flag=stop_flag, ready_flag=ready_flag)
    finally:
        for name in REDACTED_LOGGERS:
            logging.getLogger(name).removeFilter(redacting)
        if runner is not None:
            await runner.cleanup()
        await client.close()


def run(args: argparse.Namespace) -> int:
    import kopf

    from schemaflow.kube.client import connection_from_environment

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # kopf logs every timer run at INFO; transitions are logged by schemaflow.operator.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    options = OperatorOptions(
        namespaces=tuple(args.namespaces), peering=args.peering, priority=args.priority,
        liveness=args.liveness,
        metrics_host=args.metrics_address, metrics_port=args.metrics_port, job_image=args.job_image, interval=args.interval,
        pod_problem_timeout=args.pod_problem_timeout, retry_delay=args.retry_delay)
    asyncio.run(serve(options, connection_from_environment(), kopf.login_via_client))
    return 0
