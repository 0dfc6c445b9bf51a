"""`schemaflow demo` end to end: embedded PostgreSQL, DomainFlow v26, plan -> up -> verify."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def test_demo_runs_in_under_a_minute() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "schemaflow", "demo"], env=env,
                       capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert elapsed < 60
    assert "up: Succeeded (version 26 -> 27" in p.stdout
    assert "verification:" in p.stdout and ", 0 failed" in p.stdout
    assert "password" not in (p.stdout + p.stderr).lower()
