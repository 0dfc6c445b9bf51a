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

    @kopf.timer(objects.GROUP, objects.VERSION, objects.PLURAL, registry=registry,
                id="reconcile", interval=interval)
    async def reconcile(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        def emit(warning: bool, reason: str, message: str) -> None:
            (kopf.warn if warning else kopf.info)(body, reason=reason, message=message)

        status = await controller.Reconciler(ctx, body, emit).step()
        if status:
            patch["status"] = status

    @kopf.on.delete(objects.GROUP, objects.VERSION, objects.PLURAL, registry=registry,
                    id="cleanup")
    async def cleanup(body: kopf.Body, logger: kopf.Logger, **_: Any) -> None:
        deleted = await controller.cleanup(ctx, body)
        logger.info(f"deleted {deleted} Job(s) of this SchemaMigration")
