"""Small defects: `audit` into a pipe closed early ends without a traceback; `down --steps`
takes only a count of 1 or more."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from engine_helpers import run_cli
from killrun import load_v26

from schemaflow import errors

Database = Any


def test_audit_into_a_closed_pipe_ends_quietly(db18: Database) -> None:
    load_v26(db18)
    for output in ("text", "json"):
        proc = subprocess.Popen([sys.executable, "-m", "schemaflow", "audit", "--output", output],
                                env=db18.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # `| head -3` that has read its lines: nobody reads any more
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, err
        assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_down_steps_must_be_a_positive_count(db: Database, basic_dir: Path) -> None:
    env = db.env()
    assert run_cli(env, "up", "--dir", str(basic_dir)).rc == 0
    for bad in ("0", "-1", "x"):
        r = run_cli(env, "down", "--steps", bad, "--dir", str(basic_dir))
        assert r.rc == errors.EXIT_USAGE, (bad, r)
        assert "1 or more" in r.err
    assert db.query("SELECT version FROM schema_migrations") == [(3,)]
    assert run_cli(env, "down", "--steps", "2", "--dir", str(basic_dir)).rc == 0
    assert db.query("SELECT version FROM schema_migrations") == [(1,)]
