"""Batch sizes for ``batch`` steps, adapted to a time budget.

A fixed row count is wrong on most databases: 5000 rows take 20 ms on a narrow table and
seconds on a wide one behind a slow disk. Short batches waste the time of a commit and a
round trip per batch; long ones hold their row locks (and delay the application's writes to
those rows) for as long as they run. The sizer aims each batch at ``target`` seconds from
the measured speed of the previous ones.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_SECONDS = 0.2
FIRST_SIZE = 5000  # the first batch when no size is given
MIN_SIZE = 50  # block-range steps read size / 50 blocks: never below one block
MAX_SIZE = 1_000_000
GROWTH = 2.0  # at most x2 (or /2) from one batch to the next: one odd batch does not swing it
SMOOTHING = 0.5  # weight of the newest speed measurement


@dataclass
class BatchSizer:
    """``size`` is the next batch's size; call :meth:`observe` after each batch with the
    size it ran with and how long its statement took (lock waits excluded)."""

    size: int = FIRST_SIZE
    target: float = TARGET_SECONDS
    minimum: int = MIN_SIZE
    maximum: int = MAX_SIZE
    _speed: float | None = None  # size units per second, smoothed

    def __post_init__(self) -> None:
        self.minimum = min(self.minimum, max(1, self.size))  # a small size given stays
        self.size = self._clamp(self.size)

    def _clamp(self, n: float) -> int:
        return int(max(self.minimum, min(self.maximum, n)))

    def observe(self, size: int, seconds: float) -> int:
        """Record one batch; returns the size of the next one. ``target <= 0`` keeps the
        size fixed."""
        if self.target <= 0 or size <= 0:
            return self.size
        speed = size / max(seconds, 1e-3)
        self._speed = speed if self._speed is None else (
            SMOOTHING * speed + (1 - SMOOTHING) * self._speed)
        wanted = self._speed * self.target
        self.size = self._clamp(min(size * GROWTH, max(size / GROWTH, wanted)))
        return self.size
