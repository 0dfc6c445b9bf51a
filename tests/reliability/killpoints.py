"""Kill points of migration 000027, enumerated from its SQL (the engine's own parser), and
the machinery that stops the runner exactly there.

A point names a statement of the up or down file (by its exact text, as the engine sends
it) and how to stop:

- ``before``: the proxy holds the statement: the runner is stopped between the previous
  statement and this one, then SIGKILLed;
- ``during``: the statement reaches the server and the runner is SIGKILLed while the
  server runs it; for ``CREATE INDEX CONCURRENTLY`` a session holding an old snapshot
  makes the build wait, so the kill lands inside the build (the backend, which only notices
  a vanished client when it next talks to it, finishes the build once the snapshot goes);
- batch statements are stopped at a later occurrence (after some batches committed);
- ``build-aborted``: as ``during`` for a concurrent build, and the server backend is
  terminated too (``pg_terminate_backend``: what a DBA, a failover or an OOM kill of the
  backend does), so the build stops midway and leaves an INVALID index behind;
- ``final``: the statement that marks the run finished is sent and the runner is killed
  before the COMMIT that clears the dirty flag: all work done, flag still dirty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from schemaflow.engine.sources import MigrationFile, load_source

HISTORY_FINISH = "SET finished = clock_timestamp()"


@dataclass(frozen=True)
class KillPoint:
    id: str
    direction: str  # up | down
    text: str  # exact statement text, or a fragment when ``contains``
    occurrence: int = 1
    mode: str = "before"  # before | during | pause (stopped until the proxy resumes)
    contains: bool = False
    blocker: bool = False  # hold an old snapshot so a concurrent build waits
    terminate: bool = False  # also end the server backend (the build is aborted midway)
    category: str = "statement"  # statement | transaction | concurrent | batch | final

    def decider(self):  # type: ignore[no-untyped-def]
        seen = 0

        def decide(text: str, index: int) -> str:
            nonlocal seen
            hit = (self.text in text) if self.contains else (text.strip() == self.text.strip())
            if not hit:
                return "pass"
            seen += 1
            if seen < self.occurrence:
                return "pass"
            if self.blocker or self.mode == "pause":
                return "pause"  # the test opens the old snapshot, then resumes
            return "hold" if self.mode == "before" else "forward-then-hold"

        return decide

    def __str__(self) -> str:
        return self.id


def _short(text: str) -> str:
    words = re.sub(r"\s+", " ", text).strip()
    words = re.sub(r"[^A-Za-z0-9_ ]", "", words)
    return "-".join(words.split()[:4]).lower()[:40]


def _points(mf: MigrationFile, direction: str) -> list[KillPoint]:
    """Per step: a transaction step is stopped before its first statement, before its
    last one and while its last one runs (so just before its COMMIT): the statements in
    between end the same way (the step rolls back). Every statement of a no-transaction
    step is a point of its own, concurrent builds also mid-build; a batch step after one
    committed batch and during its third."""
    out: list[KillPoint] = []
    for step in mf.steps:
        sts = step.statements
        if step.kind == "batch":
            st = sts[0]
            base = f"{direction}-L{st.line}-{_short(st.text)}"
            out.append(KillPoint(f"{base}-after-1-batch", direction, st.text, occurrence=2,
                                 category="batch"))
            out.append(KillPoint(f"{base}-during-batch-3", direction, st.text, occurrence=3,
                                 mode="during", category="batch"))
        elif step.kind == "transaction":
            first, last = sts[0], sts[-1]
            out.append(KillPoint(f"{direction}-L{first.line}-step-start", direction, first.text,
                                 category="transaction"))
            if last is not first:
                out.append(KillPoint(f"{direction}-L{last.line}-before-last", direction,
                                     last.text, category="transaction"))
            out.append(KillPoint(f"{direction}-L{last.line}-before-commit", direction, last.text,
                                 mode="during", category="transaction"))
        else:
            for st in sts:
                base = f"{direction}-L{st.line}-{_short(st.text)}"
                upper = st.text.upper()
                out.append(KillPoint(f"{base}-before", direction, st.text))
                if "CONCURRENTLY" in upper and re.search(r"\bCREATE\s+(UNIQUE\s+)?INDEX", upper):
                    out.append(KillPoint(f"{base}-during-build", direction, st.text, mode="during",
                                         blocker=True, category="concurrent"))
                    out.append(KillPoint(f"{base}-build-aborted", direction, st.text,
                                         mode="during", blocker=True, terminate=True,
                                         category="concurrent-aborted"))
                elif "VALIDATE CONSTRAINT" in upper:
                    out.append(KillPoint(f"{base}-during", direction, st.text, mode="during"))
    if not mf.transactional:
        out.append(KillPoint(f"{direction}-before-clearing-dirty", direction, HISTORY_FINISH,
                             contains=True, mode="during", category="final"))
    return out


def enumerate_points(migrations: Path, version: int = 27) -> list[KillPoint]:
    mig = load_source(migrations).get(version)
    points = _points(mig.up, "up") + _points(mig.down, "down")
    ids = [p.id for p in points]
    assert len(ids) == len(set(ids)), "kill point ids must be unique"
    return points


def representative(points: list[KillPoint], per_direction: dict[str, int]) -> list[KillPoint]:
    """A small subset covering every category of each direction, then spread evenly."""
    chosen: list[KillPoint] = []
    for direction, budget in per_direction.items():
        mine = [p for p in points if p.direction == direction]
        picked: list[KillPoint] = []
        for category in ("concurrent-aborted", "concurrent", "batch", "final", "transaction",
                         "statement"):
            first = next((p for p in mine if p.category == category and p not in picked), None)
            if first is not None and len(picked) < budget:
                picked.append(first)
        rest = [p for p in mine if p not in picked]
        while len(picked) < budget and rest:
            step = max(1, len(rest) // (budget - len(picked) + 1))
            picked.append(rest.pop(min(len(rest) - 1, step)))
        chosen.extend(sorted(picked, key=mine.index))
    return chosen
