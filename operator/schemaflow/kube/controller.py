"""Reconcile logic: plain async functions over a SchemaMigration's body, the Kubernetes
client and the metrics; kopf only calls them (``handlers.py``).

Level-triggered and idempotent, so a restarted operator (or a stale body) converges to the
same end state: the status records the Job of the run in flight, Job names are
deterministic (``objects.job_name``), and creating a Job that exists is a no-op, so one run
never gets two Jobs. A new generation starts a run only once the previous run has ended.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemaflow import errors
from schemaflow.kube import objects
from schemaflow.kube.client import KubeClient, KubeError, jobs_path
from schemaflow.kube.jobview import JobView, observe_job
from schemaflow.kube.metrics import Metrics
from schemaflow.kube.spec import MigrationSpec, SpecError, parse_spec
from schemaflow.kube.status import (
    Outcome,
    Phase,
    add_history,
    apply_outcome,
    merge_patch,
    now_iso,
    running_conditions,
)

log = logging.getLogger("schemaflow.operator")


class EventSink(Protocol):
    def __call__(self, warning: bool, reason: str, message: str) -> None: ...


@dataclass
class OperatorContext:
    """Everything the reconcile functions need, built once by ``schemaflow operator``."""

    client: KubeClient
    metrics: Metrics
    default_image: str
    bundled_versions: Callable[[], Sequence[int]]
    pod_problem_timeout: float = 300.0
    retry_delay: float = 5.0  # first retry after an unreachable database; doubles, capped
    retry_max_delay: float = 300.0
    # The last transition announced (Event + metrics) per SchemaMigration uid: a stale body
    # repeats the decision its status lacks, which is the latest one, so one key per
    # resource is enough and the map is as large as the set of live resources.
    announced: dict[str, str] = field(default_factory=dict)
    # job_state per Job uid, as last poked (controller.poke_owner): one entry per live Job
    job_states: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Decision:
    """An outcome, the generation it describes, and what announcing it records (once)."""

    outcome: Outcome
    generation: int
    key: str
    record: Callable[[], None] = lambda: None
    history: Mapping[str, Any] | None = None


def _run_fields(view: JobView, last: Mapping[str, Any]) -> dict[str, Any]:
    report = view.report or {}
    run = dict(last)
    run.update({"finished": now_iso(), "result": str(report.get("result") or view.reason)})
    if view.exit_code is not None:
        run["exitCode"] = view.exit_code
    for src, dst in (("durationSeconds", "durationSeconds"), ("lockTimeLostSeconds", "lockTimeLostSeconds")):
        if isinstance(report.get(src), int | float):
            run[dst] = float(report[src])
    fields: dict[str, Any] = {"lastRun": run, "retry": None}
    for src, dst in (("toVersion", "currentVersion"), ("dirty", "dirty")):
        if src in report and report[src] is not None:
            fields[dst] = report[src]
    if report.get("fromVersion") is not None and last.get("direction") == "up":
        fields["fromVersion"] = report["fromVersion"]
    verification = report.get("verification")
    if isinstance(verification, Mapping) and last.get("direction") == "up":
        fields["verification"] = {
            "passed": int(verification.get("passed") or 0),
            "failed": int(verification.get("failed") or 0),
            "failures": [{"check": str(f.get("check")),
                          "problems": [str(p)[:256] for p in (f.get("problems") or [])[:3]]}
                         for f in (verification.get("failures") or [])[:10]],
        }
    return fields


def _failure_names(view: JobView) -> str:
    failures = ((view.report or {}).get("verification") or {}).get("failures") or []
    return ", ".join(str(f.get("check")) for f in failures[:5]) or "see status.verification"


class Reconciler:
    """Decides and applies one step for one SchemaMigration."""

    def __init__(self, ctx: OperatorContext, body: Mapping[str, Any], emit: EventSink) -> None:
        self.ctx = ctx
        self.body = body
        self.emit = emit
        meta = body["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta.get("uid", "")
        self.generation = int(meta.get("generation") or 1)
        self.status: dict[str, Any] = dict(body.get("status") or {})

    async def step(self) -> dict[str, Any]:
        """Advance by one decision; returns the merge patch for ``status`` (maybe empty)."""
        last = self.status.get("lastRun") or {}
        retry = self.status.get("retry") or {}
        if last.get("job") and not last.get("finished"):
            decision = await self._follow(last)
        elif retry.get("after") and retry.get("generation") == self.generation:
            decision = await self._retry(retry)
        else:
            decision = await self._maybe_start()
        if decision is None:
            self._export_gauges(self.status)
            return {}
        new = apply_outcome(self.status, decision.outcome, decision.generation)
        if decision.history is not None:
            add_history(new, decision.history)
        if self.ctx.announced.get(self.uid) != decision.key:
            self.ctx.announced[self.uid] = decision.key
            decision.record()
            outcome = decision.outcome
            self.emit(outcome.warning, outcome.reason, outcome.message)
            log.log(logging.WARNING if outcome.warning else logging.INFO, "%s/%s: %s: %s",
                    self.namespace, self.name, outcome.reason, outcome.message)
        self._export_gauges(new)
        return merge_patch(self.status, new)

    def _export_gauges(self, status: Mapping[str, Any]) -> None:
        if status.get("phase") in set(Phase):
            self.ctx.metrics.set_phase(self.namespace, self.name, Phase(status["phase"]))
        if isinstance(status.get("currentVersion"), int):
            self.ctx.metrics.set_version(self.namespace, self.name, status["currentVersion"])

    # -- starting a run ----------------------------------------------------------------
    async def _maybe_start(self) -> Decision | None:
        gen = self.generation
        if self.status.get("runGeneration") == gen:
            return None  # this generation's run has ended; nothing until the spec changes
        try:
            spec = parse_spec(self.body.get("spec"), self.ctx.bundled_versions())
        except SpecError as exc:
            return self._invalid(str(exc))
        if spec.suspend:
            return self._suspended()
        if await self._stale():
            return None
        return await self._start(spec, "up", spec.target_version, gen)

    async def _stale(self) -> bool:
        """Whether the stored resource has moved on from this body (deleted, or a run already
        recorded): a Job is created only from the latest state, never re-created by a body
        that predates a deletion or another reconcile's start."""
        current = await self.ctx.client.get(objects.smig_path(self.namespace, self.name))
        if current is None or (current.get("metadata") or {}).get("deletionTimestamp"):
            return True
        status = current.get("status") or {}
        return status.get("lastRun") != self.status.get("lastRun") or \
            status.get("retry") != self.status.get("retry")

    def _condition(self, kind: str) -> Mapping[str, Any]:
        return next((c for c in self.status.get("conditions") or [] if c.get("type") == kind), {})

    def _invalid(self, message: str) -> Decision | None:
        ready = self._condition("Ready")
        if (self.status.get("observedGeneration") == self.generation
                and ready.get("reason") == "InvalidSpec" and ready.get("message") == message):
            return None
        outcome = Outcome(Phase.FAILED, "InvalidSpec", f"invalid spec: {message}", warning=True,
                          conditions={"Ready": ("False", "InvalidSpec", message),
                                      "Progressing": ("False", "InvalidSpec", message)})
        return Decision(outcome, self.generation, f"gen{self.generation}/InvalidSpec/{message}",
                        record=lambda: self.ctx.metrics.failed(self.namespace, self.name,
                                                               Phase.PENDING, "InvalidSpec"))

    def _suspended(self) -> Decision | None:
        progressing = self._condition("Progressing")
        if progressing.get("reason") == "Suspended" and \
                self.status.get("observedGeneration") == self.generation:
            return None
        phase = Phase(self.status.get("phase") or Phase.PENDING)
        message = "spec.suspend is true: no run starts until it is false"
        outcome = Outcome(phase, "Suspended", message,
                          conditions={"Progressing": ("False", "Suspended", message)})
        return Decision(outcome, self.generation, f"gen{self.generation}/Suspended")

    async def _start(self, spec: MigrationSpec, direction: str, target: int,
                     run_generation: int) -> Decision:
        manifest = objects.job_manifest(owner=self.body, generation=run_generation,
                                        direction=direction, target=target, spec=spec,
                                        default_image=self.ctx.default_image)
        job = manifest["metadata"]["name"]
        try:
            created = await self.ctx.client.create(jobs_path(self.namespace), manifest)
        except KubeError as exc:
            if not 400 <= exc.status < 500 or exc.status == 429:
                raise  # the server's trouble: kopf retries the timer
            return self._rejected(job, direction, target, run_generation, exc)
        if created is None:
            existing = await self.ctx.client.get(jobs_path(self.namespace, job))
            owners = [ref.get("uid") for ref in
                      ((existing or {}).get("metadata") or {}).get("ownerReferences") or []]
            if self.uid not in owners:  # an earlier resource of this name: its Job is going
                message = (f"Job {job} of an earlier SchemaMigration named {self.name} is "
                           "still being deleted; the run starts once it is gone")
                outcome = Outcome(Phase.PENDING, "WaitingForOldJob", message,
                                  conditions=running_conditions(Phase.PENDING, message))
                return Decision(outcome, run_generation, f"{job}/foreign")
        last_run = {"job": job, "direction": direction, "started": now_iso()}
        if direction == "up":
            message = f"Job {job} created to migrate to version {target}"
            outcome = Outcome(Phase.PENDING, "MigrationStarted", message,
                              conditions=running_conditions(Phase.PENDING, message),
                              fields={"runGeneration": run_generation, "targetVersion": target,
                                      "lastRun": last_run, "podProblemSince": None,
                                      "verification": None, "retry": None})
        else:
            message = f"Job {job} created to roll back to version {target}"
            outcome = Outcome(Phase.ROLLING_BACK, "RollingBack", message, warning=True,
                              conditions=running_conditions(Phase.ROLLING_BACK, message)
                              | {"RolledBack": ("False", "RollingBack", message)},
                              fields={"lastRun": last_run, "podProblemSince": None})
        return Decision(outcome, run_generation, f"{job}/started")

    def _rejected(self, job: str, direction: str, target: int, run_gen: int,
                  exc: KubeError) -> Decision:
        """The API server refused the Job (quota, LimitRange, admission, RBAC): nothing ran,
        and retrying the same manifest cannot pass."""
        if exc.status == 403:
            fix = (f"the operator may not create Jobs in namespace {self.namespace}: serve it "
                   "from the chart (operator.clusterWide or operator.watchNamespaces)")
        else:
            fix = "fix spec.job (resources, serviceAccountName, image) and change the spec"
        message = f"the API server refused Job {job}: {exc}; {fix}"
        last_run = {"job": job, "direction": direction, "started": now_iso(),
                    "finished": now_iso(), "result": "JobRejected"}
        fields: dict[str, Any] = {"lastRun": last_run, "runGeneration": run_gen}
        if direction == "up":
            fields["targetVersion"] = target
        phase = Phase.PENDING if direction == "up" else Phase.ROLLING_BACK
        return self._failed(job, run_gen, "JobRejected", phase, message, fields)

    # -- following the Job in flight -----------------------------------------------------
    async def _follow(self, last: Mapping[str, Any]) -> Decision | None:
        job = str(last["job"])
        direction = str(last.get("direction") or "up")
        run_gen = int(self.status.get("runGeneration") or self.generation)
        view = await observe_job(self.ctx.client, self.namespace, job)
        if view is None:
            if await self._status_moved_on(job):
                return None  # this body is stale: the operator itself removed that Job
            return self._failed(job, run_gen, "JobLost", Phase.MIGRATING if direction == "up"
                                else Phase.ROLLING_BACK,
                                f"Job {job} disappeared before its result was read; "
                                "the database may be at any version: check with "
                                "`schemaflow migrate status`, then change the spec to retry")
        if not view.finished:
            return await self._in_flight(job, direction, run_gen, view)
        if view.exit_code == errors.EXIT_UNREACHABLE:
            return await self._schedule_retry(job, direction, run_gen, view, last)
        if direction == "down":
            return self._down_finished(job, run_gen, view, last)
        return await self._up_finished(job, run_gen, view, last)

    async def _status_moved_on(self, job: str) -> bool:
        """Whether the stored status no longer follows ``job``: a body delivered before the
        patch that ended the run (retry, pod problem) must not call the Job lost."""
        current = await self.ctx.client.get(objects.smig_path(self.namespace, self.name))
        last = ((current or {}).get("status") or {}).get("lastRun") or {}
        return current is None or last.get("job") != job or bool(last.get("finished"))

    async def _in_flight(self, job: str, direction: str, run_gen: int,
                         view: JobView) -> Decision | None:
        if view.problem is not None:
            reason, detail = view.problem
            since = self.status.get("podProblemSince") or now_iso()
            elapsed = time.time() - _epoch(since)
            problem = f"the pod of Job {job} cannot start: {reason}: {detail}"
            if elapsed >= self.ctx.pod_problem_timeout:
                await self.ctx.client.delete(jobs_path(self.namespace, job))
                phase = Phase.PENDING if direction == "up" else Phase.ROLLING_BACK
                return self._failed(job, run_gen, reason, phase,
                                    f"{problem} (gave up after {int(elapsed)}s; Job deleted). "
                                    "Fix the cause, then change the spec to retry")
            if self.status.get("podProblemSince") and self._condition("Ready").get("reason") == reason:
                return None  # already reported; a new reason (ErrImagePull, then
                # ImagePullBackOff, as the kubelet alternates them) is reported again
            phase = Phase.PENDING if direction == "up" else Phase.ROLLING_BACK
            outcome = Outcome(phase, reason, problem, warning=True,
                              conditions=running_conditions(phase, problem)
                              | {"Ready": ("False", reason, problem)},
                              fields={"podProblemSince": since})
            return Decision(outcome, run_gen, f"{job}/{reason}")
        if direction == "down":
            return None  # RollingBack until it ends
        phase = Phase.MIGRATING if view.running else Phase.PENDING
        if self.status.get("phase") == phase.value and not self.status.get("podProblemSince"):
            return None
        message = (f"Job {job} is running the up migration"
                   if view.running else f"Job {job} is waiting for its pod")
        outcome = Outcome(phase, "MigrationRunning" if view.running else "MigrationStarted",
                          message, conditions=running_conditions(phase, message),
                          fields={"podProblemSince": None})
        return Decision(outcome, run_gen, f"{job}/{phase.value}")

    async def _schedule_retry(self, job: str, direction: str, run_gen: int, view: JobView,
                              last: Mapping[str, Any]) -> Decision:
        """Exit 6 (database unreachable, credentials refused) changed nothing and may pass:
        the same step runs again later, with a doubling delay, in a Job of the same name."""
        attempt = int((self.status.get("retry") or {}).get("attempt") or 0) + 1
        delay = min(self.ctx.retry_delay * 2 ** (attempt - 1), self.ctx.retry_max_delay)
        await self.ctx.client.delete(jobs_path(self.namespace, job))
        target = (self.status.get("targetVersion") if direction == "up"
                  else self.status.get("fromVersion"))
        after = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=delay)
        phase = Phase.PENDING if direction == "up" else Phase.ROLLING_BACK
        message = (f"{view.error_text()}; Job {job} will run again in {delay:g}s "
                   f"(attempt {attempt + 1})")
        fields = _run_fields(view, last)
        fields["retry"] = {"generation": run_gen, "attempt": attempt, "direction": direction,
                           "target": target if isinstance(target, int) else 0,
                           "after": after.strftime("%Y-%m-%dT%H:%M:%SZ")}
        outcome = Outcome(phase, view.reason, message, warning=True, fields=fields,
                          conditions={"Ready": ("False", view.reason, message),
                                      "Progressing": ("True", "Retrying", message)})
        duration = float(fields["lastRun"].get("durationSeconds") or 0.0)

        def record() -> None:
            self.ctx.metrics.failed(self.namespace, self.name, phase, view.reason)
            self.ctx.metrics.run_finished(self.namespace, self.name, direction,
                                          str(fields["lastRun"]["result"]), duration)

        return Decision(outcome, run_gen, f"{job}/retry{attempt}", record=record)

    async def _retry(self, retry: Mapping[str, Any]) -> Decision | None:
        if time.time() < _epoch(str(retry["after"])):
            return None
        job = objects.job_name(self.name, int(retry["generation"]), str(retry["direction"]))
        if await self.ctx.client.get(jobs_path(self.namespace, job)) is not None:
            return None  # the failed attempt's Job is still being deleted
        if await self._stale():
            return None
        try:
            spec = parse_spec(self.body.get("spec"), self.ctx.bundled_versions())
        except SpecError as exc:
            return self._invalid(str(exc))
        decision = await self._start(spec, str(retry["direction"]), int(retry["target"]),
                                     int(retry["generation"]))
        if "lastRun" in decision.outcome.fields:
            decision.outcome.fields["retry"] = {**retry, "after": None}
            decision.key += f"/retry{retry.get('attempt')}"
        return decision

    def _failed(self, job: str, run_gen: int, reason: str, phase: Phase, message: str,
                fields: Mapping[str, Any] | None = None,
                view: JobView | None = None) -> Decision:
        direction = (self.status.get("lastRun") or {}).get("direction", "up")
        conditions = {"Ready": ("False", reason, message), "Progressing": ("False", reason, message)}
        if direction == "up" and phase is not Phase.VERIFYING:
            conditions["Applied"] = ("False", reason, message)
        else:
            conditions["RolledBack"] = ("False", reason, message)
        all_fields = {"podProblemSince": None, "retry": None, **(fields or {})}
        last = dict(all_fields.get("lastRun") or self.status.get("lastRun") or {})
        last.setdefault("finished", now_iso())
        last.setdefault("result", reason)
        all_fields["lastRun"] = last
        outcome = Outcome(Phase.FAILED, reason, message, warning=True, conditions=conditions,
                          fields=all_fields)

        def record() -> None:
            self.ctx.metrics.failed(self.namespace, self.name, phase, reason)
            if view is not None:
                self.ctx.metrics.run_finished(self.namespace, self.name, str(direction),
                                              str(last.get("result")),
                                              float(last.get("durationSeconds") or 0.0))

        return Decision(outcome, run_gen, f"{job}/Failed", record=record,
                        history=self._history(run_gen, last, all_fields))

    def _history(self, run_gen: int, last: Mapping[str, Any],
                 fields: Mapping[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {"generation": run_gen, "job": last.get("job"),
                                 "direction": last.get("direction"), "result": last.get("result"),
                                 "finished": last.get("finished")}
        before = (fields.get("fromVersion", self.status.get("fromVersion"))
                  if last.get("direction") == "up" else self.status.get("currentVersion"))
        if isinstance(before, int):
            entry["fromVersion"] = before
        if isinstance(fields.get("currentVersion"), int):
            entry["toVersion"] = fields["currentVersion"]
        return entry

    async def _up_finished(self, job: str, run_gen: int, view: JobView,
                           last: Mapping[str, Any]) -> Decision:
        fields = _run_fields(view, last)
        if view.succeeded:
            return self._succeeded(job, run_gen, view, fields)
        if not view.verification_failed:
            if view.report is None:
                message = (f"Job {job} ended without a result ({view.reason}); the database "
                           "may be at either version: check `schemaflow migrate status`, then "
                           "change the spec to retry")
            else:
                message = (f"the up migration failed ({view.reason}): {view.error_text()}; "
                           "the database was left as reported in status.currentVersion and "
                           "status.dirty")
            return self._failed(job, run_gen, view.reason, Phase.MIGRATING, message, fields, view)
        checks = _failure_names(view)
        spec = self._spec_for_run()
        from_version = fields.get("fromVersion", self.status.get("fromVersion"))
        if spec is not None and spec.rollback_on_verification_failure:
            # No version before the run (an empty database): down to 0 = before the first.
            from_version = from_version if isinstance(from_version, int) else 0
            decision = await self._start(spec, "down", from_version, run_gen)
            decision.outcome.fields = {**fields, **decision.outcome.fields,
                                       "fromVersion": from_version}
            decision.outcome.message = f"verification failed ({checks}); {decision.outcome.message}"
            decision.outcome.conditions |= {
                "Applied": ("True", "Applied", f"Job {job} applied version {fields.get('currentVersion')}"),
                "Verified": ("False", "VerificationFailed", f"failed checks: {checks}"),
            }
            up_run = dict(fields["lastRun"])
            duration = float(up_run.get("durationSeconds") or 0.0)

            def record() -> None:
                self.ctx.metrics.verification_failed(self.namespace, self.name)
                self.ctx.metrics.run_finished(self.namespace, self.name, "up",
                                              "VerificationFailed", duration)

            decision.record = record
            decision.history = self._history(run_gen, up_run, fields)
            return decision
        failed = self._failed(job, run_gen, "VerificationFailed", Phase.VERIFYING,
                              f"verification failed ({checks}) and rollback is disabled; the "
                              "database stays at the applied version", fields, view)
        failed.outcome.conditions |= {
            "Applied": ("True", "Applied", f"Job {job} applied the migration"),
            "Verified": ("False", "VerificationFailed", f"failed checks: {checks}"),
            "RolledBack": ("False", "RollbackDisabled", "spec.rollback.onVerificationFailure is false"),
        }
        inner = failed.record

        def record_verification() -> None:
            self.ctx.metrics.verification_failed(self.namespace, self.name)
            inner()

        failed.record = record_verification
        return failed

    def _spec_for_run(self) -> MigrationSpec | None:
        """The spec to roll back with: the current one (a spec change waits for this run)."""
        try:
            return parse_spec(self.body.get("spec"), self.ctx.bundled_versions())
        except SpecError:
            return None

    def _succeeded(self, job: str, run_gen: int, view: JobView,
                   fields: dict[str, Any]) -> Decision:
        version = fields.get("currentVersion")
        verification = fields.get("verification")
        message = f"version {version} applied by Job {job}"
        verified = ("Unknown", "VerificationDisabled", "spec.verify.enabled is false")
        if verification is not None and verification["passed"] == 0:
            verified = ("Unknown", "NoChecks",
                        f"version {version} has no verification checks: add "
                        f"<version>_<name>.verify.sql (beside the migrations of a ConfigMap "
                        "source) or spec.verify.extraChecks")
            message += ", with no verification checks to run"
        elif verification is not None:
            verified = ("True", "VerificationPassed",
                        f"{verification['passed']} checks passed")
            message += f" and verified ({verification['passed']} checks)"
        outcome = Outcome(Phase.SUCCEEDED, "Succeeded", message, fields={**fields,
                                                                         "podProblemSince": None},
                          conditions={"Ready": ("True", "Succeeded", message),
                                      "Applied": ("True", "Applied", message),
                                      "Verified": verified,
                                      "RolledBack": ("False", "NotRolledBack", "no rollback needed"),
                                      "Progressing": ("False", "RunFinished", message)})
        duration = float(fields["lastRun"].get("durationSeconds") or 0.0)
        result = str(fields["lastRun"].get("result") or "Succeeded")

        def record() -> None:
            self.ctx.metrics.run_finished(self.namespace, self.name, "up", result, duration)
            self.ctx.metrics.succeeded(self.namespace, self.name, time.time())

        return Decision(outcome, run_gen, f"{job}/Succeeded", record=record,
                        history=self._history(run_gen, fields["lastRun"], fields))

    def _down_finished(self, job: str, run_gen: int, view: JobView,
                       last: Mapping[str, Any]) -> Decision:
        fields = _run_fields(view, last)
        if not view.succeeded:
            version = fields.get("currentVersion", "unknown")
            dirty = fields.get("dirty", "unknown")
            return self._failed(
                job, run_gen, "RollbackFailed", Phase.ROLLING_BACK,
                f"verification failed and the down migration failed too ({view.reason}): "
                f"{view.error_text()}; database at version {version}, dirty={dirty}. Recover: "
                "inspect with `schemaflow migrate status`, fix, then `schemaflow migrate force "
                "VERSION` and re-run", fields, view)
        version = fields.get("currentVersion")
        where = f"version {version}" if version is not None else "no version (before its first migration)"
        message = f"verification failed; Job {job} rolled the database back to {where}"
        outcome = Outcome(Phase.ROLLED_BACK, "RolledBack", message, warning=True,
                          fields={**fields, "podProblemSince": None},
                          conditions={"Ready": ("False", "RolledBack", message),
                                      "Applied": ("False", "RolledBack", message),
                                      "RolledBack": ("True", "RolledBack", message),
                                      "Progressing": ("False", "RunFinished", message)})
        duration = float(fields["lastRun"].get("durationSeconds") or 0.0)

        def record() -> None:
            self.ctx.metrics.run_finished(self.namespace, self.name, "down", "Succeeded", duration)
            self.ctx.metrics.rolled_back(self.namespace, self.name)

        return Decision(outcome, run_gen, f"{job}/RolledBack", record=record,
                        history=self._history(run_gen, fields["lastRun"], fields))


def _epoch(iso: str) -> float:
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.UTC).timestamp()


async def cleanup(ctx: OperatorContext, body: Mapping[str, Any]) -> tuple[int, str | None]:
    """Delete the Jobs of a SchemaMigration being deleted: ``(deleted, running)``.

    A Job whose migration is running is left to finish (killing it mid-step would leave the
    database dirty with nothing to say so): ``running`` names it, nothing is deleted, and the
    caller keeps the finalizer and asks again later."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    jobs = await ctx.client.list(jobs_path(namespace), objects.selector(meta["name"]))
    for job in jobs:
        view = await observe_job(ctx.client, namespace, job["metadata"]["name"])
        if view is not None and view.running and not view.finished:
            return 0, str(job["metadata"]["name"])
    for job in jobs:
        await ctx.client.delete(jobs_path(namespace, job["metadata"]["name"]))
    ctx.metrics.forget(namespace, meta["name"])
    ctx.announced.pop(str(meta.get("uid", "")), None)
    return len(jobs), None


def job_state(job: Mapping[str, Any]) -> tuple[str, ...]:
    """What of a Job the reconcile acts upon without a resync: its end (the Job controller's
    terminal condition) and whether its pod is ready, i.e. the migration runs (no probes)."""
    status = job.get("status") or {}
    ended = sorted(str(c.get("type")) for c in status.get("conditions") or []
                   if c.get("type") in ("Complete", "Failed") and c.get("status") == "True")
    return (*ended, "ready") if status.get("ready") else tuple(ended)


async def poke_owner(ctx: OperatorContext, job: Mapping[str, Any], deleted: bool = False) -> None:
    """A Job of ours changed: touch its SchemaMigration so that it is reconciled now, not at
    the next resync (an annotation change is an event kopf delivers to the owner).

    Only a change of ``job_state`` (or the Job's deletion) pokes: the Job controller updates a
    Job's status several times per run (start, pod counts, finalizer bookkeeping), and each
    poke costs a patch, an event and a reconcile that reads the Job and its pods. A Job first
    seen neither ended nor running needs none (the operator just created it, or, at start-up,
    kopf's listing reconciles every SchemaMigration anyway)."""
    meta = job.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    state = job_state(job)
    if deleted:
        ctx.job_states.pop(uid, None)
    else:
        before = ctx.job_states.get(uid, ())
        ctx.job_states[uid] = state
        if before == state:
            return
    owner = next((ref for ref in meta.get("ownerReferences") or []
                  if ref.get("kind") == objects.KIND and ref.get("controller")), None)
    if owner is None:
        return
    seen = f"{meta.get('name')}/{meta.get('resourceVersion')}"
    await ctx.client.patch(objects.smig_path(meta["namespace"], owner["name"]),
                           {"metadata": {"annotations": {objects.JOB_SEEN: seen}}})
