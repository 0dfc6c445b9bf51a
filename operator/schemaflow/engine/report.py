"""The JSON result of a migrate command (docs/architecture.md), and its text rendering.

The operator reads the ``--report`` file from the pod's termination message, which
Kubernetes caps at 4 KiB: ``bounded_json`` keeps it under the limit by shortening
failure lists and messages, marking the document ``"truncated": true``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemaflow import __version__
from schemaflow.errors import SchemaflowError

REPORT_LIMIT = 4096
_RESULT_BY_REASON = {
    "VerificationFailed": "VerificationFailed",
    "LockNotAcquired": "LockNotAcquired",
    "DirtyDatabase": "Dirty",
    "DatabaseUnreachable": "Unreachable",
}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Report:
    command: str
    direction: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    target_version: int | None = None
    dirty: bool | None = None
    lock_time_lost_seconds: float = 0.0
    lock_retries: int = 0
    preflight: list[dict[str, Any]] = field(default_factory=list)
    verification: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    no_change: bool = False
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    _t0: float = field(default_factory=time.monotonic)

    def as_dict(self, error: SchemaflowError | None = None) -> dict[str, Any]:
        """The document, finished now; ``error`` decides exitCode, result and error."""
        if error is None:
            exit_code, result = 0, "NoChange" if self.no_change else "Succeeded"
        else:
            exit_code, result = error.exit_code, _RESULT_BY_REASON.get(error.reason, "Failed")
        doc: dict[str, Any] = {
            "schemaflowVersion": __version__,
            "command": self.command,
            "direction": self.direction,
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "targetVersion": self.target_version,
            "dirty": self.dirty,
            "started": _iso(self.started),
            "finished": _iso(datetime.now(UTC)),
            "durationSeconds": round(time.monotonic() - self._t0, 3),
            "lockTimeLostSeconds": round(self.lock_time_lost_seconds, 3),
            "lockRetries": self.lock_retries,
            "exitCode": exit_code,
            "result": result,
            "preflight": self.preflight,
            "verification": self.verification,
            "error": None if error is None else {
                "reason": error.reason, "message": error.message, "hint": error.hint},
        }
        doc.update(self.details)
        return doc


def bounded_json(doc: dict[str, Any], limit: int = REPORT_LIMIT) -> str:
    """``doc`` as compact JSON under ``limit`` bytes: details beyond the contract go first,
    then failure lists and long strings are cut step by step."""
    text = _dump(doc)
    if len(text.encode()) <= limit:
        return text
    core = {k: v for k, v in doc.items() if k in _CORE_KEYS}
    core["truncated"] = True
    for max_items, max_chars in ((10, 400), (5, 200), (3, 120), (1, 80), (0, 60)):
        cut = _shorten(core, max_items, max_chars)
        text = _dump(cut)
        if len(text.encode()) <= limit:
            return text
    raise AssertionError("report cannot be shortened under the limit")  # pragma: no cover


_CORE_KEYS = ("schemaflowVersion", "command", "direction", "fromVersion", "toVersion",
              "targetVersion", "dirty", "started", "finished", "durationSeconds",
              "lockTimeLostSeconds", "lockRetries", "exitCode", "result", "preflight",
              "verification", "error")


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), default=str)


def _shorten(value: Any, max_items: int, max_chars: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= max_chars else value[: max_chars - 3] + "..."
    if isinstance(value, list):
        return [_shorten(v, max_items, max_chars) for v in value[:max_items]]
    if isinstance(value, dict):
        return {k: _shorten(v, max_items, max_chars) for k, v in value.items()}
    return value


def write_report(path: Path, doc: dict[str, Any]) -> None:
    """Write the bounded document (``/dev/termination-log`` in a Job)."""
    path.write_text(bounded_json(doc) + "\n", encoding="utf-8")


TEXT_PROBLEM_ROWS = 10  # problem rows of a failing check shown in text mode


def failure_lines(failure: dict[str, Any], limit: int = TEXT_PROBLEM_ROWS) -> list[str]:
    """A failing check in text mode: its name, then its problem rows, one per line, up to
    ``limit`` (the JSON report holds them all, up to the verifier's own cap)."""
    problems = list(failure["problems"])
    lines = [f"    FAIL {failure['check']}" + (f" ({len(problems)} problem rows)" if len(problems) > 1 else "")]
    lines += [f"      {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"      ... {len(problems) - limit} more (--output json lists them)")
    return lines


def render_text(doc: dict[str, Any]) -> str:
    """A readable summary for people at a terminal."""
    def v(x: Any) -> str:
        return "none" if x is None else str(x)

    if doc["command"] == "status":
        return (f"status: version {v(doc['fromVersion'])} ({'DIRTY' if doc['dirty'] else 'clean'}), "
                f"latest available {v(doc['targetVersion'])}")
    lines = [f"{doc['command']}: {doc['result']} (version {v(doc.get('fromVersion'))} -> "
             f"{v(doc.get('toVersion'))}, {doc['durationSeconds']:.2f}s, "
             f"time lost to locks {doc['lockTimeLostSeconds']:.2f}s, "
             f"{doc['lockRetries']} lock retries)"]
    # all of them were printed as progress before the run: only those that did not pass
    for p in doc.get("preflight") or []:
        if p["status"] != "pass":
            lines.append(f"  preflight {p['status']:4} {p['name']}: {p['message']}")
    ver = doc.get("verification")
    if ver:
        lines.append(f"  verification: {ver['passed']} passed, {ver['failed']} failed")
        for f in ver["failures"]:
            lines.extend(failure_lines(f))
    return "\n".join(lines)
