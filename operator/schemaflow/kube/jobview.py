"""What the operator can see of a migration Job: its conditions and its pod's container
state, with the JSON result of the termination message (the exit code as fallback)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemaflow import errors
from schemaflow.kube.client import KubeClient, events_path, jobs_path, pods_path

# Container waiting reasons that never resolve by themselves: after a bound they fail the run.
POD_PROBLEMS = frozenset({"CreateContainerConfigError", "CreateContainerError", "ImagePullBackOff",
                          "ErrImagePull", "InvalidImageName"})
EXIT_REASONS = {
    errors.EXIT_OK: "Succeeded", errors.EXIT_USAGE: "UsageError",
    errors.EXIT_APPLY_FAILED: "ApplyFailed", errors.EXIT_VERIFY_FAILED: "VerificationFailed",
    errors.EXIT_LOCK_TIMEOUT: "LockNotAcquired", errors.EXIT_DIRTY: "DirtyDatabase",
    errors.EXIT_UNREACHABLE: "DatabaseUnreachable",
}
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@dataclass
class JobView:
    """What the operator can see of one Job: its conditions and its pod's container state."""

    finished: bool
    job_failure: str | None = None
    running: bool = False
    waiting: tuple[str, str] | None = None
    exit_code: int | None = None
    report: Mapping[str, Any] | None = None
    # why the pod cannot start, as the node, scheduler or Job controller reported it
    problem: tuple[str, str] | None = None

    @property
    def reason(self) -> str:
        """CamelCase reason: the report's, else the exit code's, else the Job's."""
        error = (self.report or {}).get("error") or {}
        if isinstance(error, Mapping) and error.get("reason"):
            return str(error["reason"])
        if self.exit_code is not None:
            return EXIT_REASONS.get(self.exit_code, "Failed")
        return self.job_failure or "JobFailed"

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 if self.exit_code is not None else self.job_failure is None

    @property
    def verification_failed(self) -> bool:
        return self.exit_code == errors.EXIT_VERIFY_FAILED

    def error_text(self) -> str:
        error = (self.report or {}).get("error") or {}
        if not isinstance(error, Mapping):
            return self.reason
        text = str(error.get("message") or self.reason)
        if error.get("hint"):
            text += f" (hint: {error['hint']})"
        return text


def parse_report(message: str | None) -> Mapping[str, Any] | None:
    """The Job's JSON result from its termination message; None when absent or unreadable."""
    if not message:
        return None
    try:
        report = json.loads(message)
    except ValueError:
        return None
    return report if isinstance(report, Mapping) else None


def view_job(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> JobView:
    conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                  if c.get("status") == "True"}
    failed = conditions.get("Failed")
    view = JobView(finished="Complete" in conditions or failed is not None,
                   job_failure=str(failed.get("reason") or "JobFailed") if failed else None)
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            state = container.get("state") or {}
            if "terminated" in state:
                term = state["terminated"]
                view.exit_code = int(term.get("exitCode", 1))
                view.report = parse_report(term.get("message"))
            elif "running" in state:
                view.running = True
            elif "waiting" in state:
                waiting = state["waiting"]
                view.waiting = (str(waiting.get("reason") or ""), str(waiting.get("message") or ""))
                if view.waiting[0] in POD_PROBLEMS:
                    view.problem = view.waiting
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and \
                    cond.get("reason") == "Unschedulable":
                view.problem = ("Unschedulable", str(cond.get("message") or ""))
    return view


async def observe_job(client: KubeClient, namespace: str, name: str) -> JobView | None:
    job = await client.get(jobs_path(namespace, name))
    if job is None:
        return None
    pods = await client.list(pods_path(namespace), f"{JOB_NAME_LABEL}={name}")
    view = view_job(job, pods)
    if not pods and not view.finished:
        # The Job controller could not create the pod (a missing ServiceAccount, quota,
        # LimitRange): it says so only in an Event on the Job.
        events = await client.list(events_path(namespace), "", field_selector=(
            f"involvedObject.kind=Job,involvedObject.name={name},reason=FailedCreate"))
        uid = (job.get("metadata") or {}).get("uid")
        latest = [e for e in events if (e.get("involvedObject") or {}).get("uid") == uid]
        if latest:
            view.problem = ("FailedCreate", str(latest[-1].get("message") or "")[:500])
    return view
