"""Phases, conditions and history of a SchemaMigration's status.

The controller decides *what* happened (an :class:`Outcome`); this module turns that into the
status document, keeping ``lastTransitionTime`` stable when a condition's status does not
change (Kubernetes API conventions), and into the merge patch that writes it.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

HISTORY_LENGTH = 10


class Phase(StrEnum):
    PENDING = "Pending"
    PREFLIGHT = "Preflight"
    MIGRATING = "Migrating"
    VERIFYING = "Verifying"
    ROLLING_BACK = "RollingBack"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"


CONDITION_TYPES = ("Ready", "Applied", "Verified", "RolledBack", "Progressing")

# A condition as the controller states it: (status, reason, message).
CondSpec = tuple[str, str, str]


@dataclass
class Outcome:
    """One transition: the phase reached, why, the conditions it sets and the status fields
    it changes. ``event`` is (type, reason) of the Kubernetes Event announcing it."""

    phase: Phase
    reason: str
    message: str
    conditions: dict[str, CondSpec] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    warning: bool = False


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_conditions(phase: Phase, message: str) -> dict[str, CondSpec]:
    """Conditions while a Job of a run is in flight."""
    conds: dict[str, CondSpec] = {
        "Ready": ("False", "RunInProgress", message),
        "Progressing": ("True", phase.value, message),
    }
    if phase in (Phase.PENDING, Phase.PREFLIGHT, Phase.MIGRATING):
        conds.update({
            "Applied": ("Unknown", "RunInProgress", "the up migration has not finished"),
            "Verified": ("Unknown", "RunInProgress", "verification has not run"),
            "RolledBack": ("False", "NotRolledBack", "no rollback in this run"),
        })
    return conds


def _merge_conditions(old: list[Mapping[str, Any]], updates: Mapping[str, CondSpec],
                      generation: int, now: str) -> list[dict[str, Any]]:
    by_type = {c.get("type"): dict(c) for c in old if c.get("type") in CONDITION_TYPES}
    for type_, (status, reason, message) in updates.items():
        previous = by_type.get(type_) or {}
        changed = previous.get("status") != status
        by_type[type_] = {
            "type": type_, "status": status, "reason": reason, "message": message[:1024],
            "lastTransitionTime": now if changed else previous.get("lastTransitionTime", now),
            "observedGeneration": generation,
        }
    return [by_type[t] for t in CONDITION_TYPES if t in by_type]


def apply_outcome(old: Mapping[str, Any], outcome: Outcome, generation: int) -> dict[str, Any]:
    """The new status after ``outcome``, for the spec ``generation`` it describes."""
    new = copy.deepcopy(dict(old))
    now = now_iso()
    new.update(copy.deepcopy(outcome.fields))
    new["phase"] = outcome.phase.value
    new["message"] = outcome.message[:1024]
    new["observedGeneration"] = generation
    new["conditions"] = _merge_conditions(old.get("conditions") or [], outcome.conditions,
                                          generation, now)
    return new


def add_history(status: dict[str, Any], entry: Mapping[str, Any]) -> None:
    history = [dict(h) for h in status.get("history") or []]
    history.append(dict(entry))
    status["history"] = history[-HISTORY_LENGTH:]


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge patch turning ``old`` into ``new`` (None removes a key)."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif before != value:
            patch[key] = copy.deepcopy(value)
    return patch
