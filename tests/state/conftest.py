"""The state-machine test reuses the reliability suite's proxy, kill points and worlds, and
the engine tests' kill helper (tests/ has no packages: their directories go on the path)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for sub in ("reliability", "engine"):
    if str(TESTS / sub) not in sys.path:
        sys.path.insert(0, str(TESTS / sub))
