"""`schemaflow demo --keep`: the DATABASE_URL it prints works as is, for schemaflow itself
(a real embedded PostgreSQL 18 left running, then stopped with the printed command)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys


def test_keep_prints_a_database_url_that_works_as_is() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    p = subprocess.run([sys.executable, "-m", "schemaflow", "demo", "--keep", "--scale", "0.05"],
                       env=env, capture_output=True, text=True, timeout=300)
    stop = re.search(r"stop it with:\n  (.+)", p.stdout)
    try:
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        (line,) = [x for x in p.stdout.splitlines() if "export DATABASE_URL=" in x]
        url = shlex.split(line.strip().removeprefix("export "))[0].split("=", 1)[1]
        status = subprocess.run([sys.executable, "-m", "schemaflow", "migrate", "status",
                                 "--output", "json"], env={**env, "DATABASE_URL": url},
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["toVersion"] == 27
        history = subprocess.run([sys.executable, "-m", "schemaflow", "migrate", "history"],
                                 env={**env, "DATABASE_URL": url}, capture_output=True,
                                 text=True, timeout=60)
        assert history.returncode == 0 and " 27 " in f" {history.stdout.splitlines()[1]} "
    finally:
        assert stop, p.stdout[-2000:]
        subprocess.run(["bash", "-c", stop.group(1)], timeout=60, check=False)
