"""kopf decorators only: each handler is a thin wrapper over ``controller``.

Handlers are registered into a registry built at start-up (never kopf's global one at
import time), so tests and the CLI each get their own operator.
"""

from __future__ import annotations

from typing import Any

import kopf

from schemaflow.kube import controller, objects

LoginFn = Any  # a kopf login handler: (**kwargs) -> kopf.ConnectionInfo | None


def register(registry: kopf.OperatorRegistry, ctx: controller.OperatorContext, *,
             interval: float, login: LoginFn) -> None:
    """Register schemaflow's handlers in ``registry``; ``interval`` paces reconciliation."""
    kopf.on.login(registry=registry)(login)

    async def step(body: kopf.Body, patch: kopf.Patch) -> None:
        if objects.FINALIZER not in (body.metadata.get("finalizers") or []):
            # kopf adds it in this cycle, and that change calls us again. A Job started
            # before it could outlive a resource deleted at once (no cleanup handler runs).
            return

        def emit(warning: bool, reason: str, message: str) -> None:
            (kopf.warn if warning else kopf.info)(body, reason=reason, message=message)

        status = await controller.Reconciler(ctx, body, emit).step()
        if status:
            patch["status"] = status

    # Level-triggered: every change of the resource (its owned Jobs poke it, below) and a
    # periodic resync for what no event announces (retry delays, pod-problem deadlines).
    @kopf.on.event(objects.GROUP, objects.VERSION, objects.PLURAL, registry=registry,
                   id="reconcile-on-change")
    async def reconcile_on_change(body: kopf.Body, patch: kopf.Patch, event: kopf.RawEvent,
                                  **_: Any) -> None:
        if event.get("type") != "DELETED" and not body.metadata.get("deletionTimestamp"):
            await step(body, patch)

    @kopf.timer(objects.GROUP, objects.VERSION, objects.PLURAL, registry=registry,
                id="reconcile", interval=interval)
    async def reconcile(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        await step(body, patch)

    @kopf.on.event("batch", "v1", "jobs", labels={objects.MANAGED_BY: "schemaflow"},
                   registry=registry, id="job-changed")
    async def job_changed(body: kopf.Body, type: str | None, **_: Any) -> None:  # noqa: A002
        await controller.poke_owner(ctx, body, deleted=type == "DELETED")

    @kopf.on.delete(objects.GROUP, objects.VERSION, objects.PLURAL, registry=registry,
                    id="cleanup")
    async def cleanup(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        deleted, running = await controller.cleanup(ctx, body)
        if running:
            message = (f"Job {running} is migrating: the SchemaMigration is deleted when it "
                       "ends, so the database is not left half-migrated")
            kopf.info(body, reason="DeletionDeferred", message=message)
            raise kopf.TemporaryError(message, delay=2)
        logger.info(f"deleted {deleted} Job(s) of this SchemaMigration")
