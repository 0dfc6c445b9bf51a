"""scripts/tools.sh: idempotent; a second run changes nothing and is quick."""

from __future__ import annotations

import subprocess
import time

from chartlib import REPO, ensure_tools


def test_tools_script_is_idempotent() -> None:
    ensure_tools()
    helm = REPO / ".tools" / "bin" / "helm"
    before = helm.stat().st_mtime_ns
    t0 = time.monotonic()
    out = subprocess.run(["bash", str(REPO / "scripts" / "tools.sh")], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert time.monotonic() - t0 < 30
    assert helm.stat().st_mtime_ns == before  # not fetched again
    assert "helm v4." in out and "kubectl v1.33" in out
