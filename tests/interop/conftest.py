"""Fixtures of the golang-migrate interop tests: the REAL golang-migrate v4.20.1 (the
``migrate`` CLI and a Go main using ``postgres.WithInstance``), built once per machine by
tests/gobin/build.sh, against the same PostgreSQL 18 database as schemaflow."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from interop_helpers import REPO, Gate, Tools

Database = Any


@pytest.fixture(scope="session")
def gobin() -> Path:
    """The directory holding ``migrate`` and ``migrate-withinstance`` (built on first use;
    a failed build fails the tests, it never skips them)."""
    p = subprocess.run(["bash", str(REPO / "tests/gobin/build.sh"), "migrate"],
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, f"building golang-migrate failed:\n{p.stderr[-3000:]}"
    bin_dir = Path(p.stdout.strip().splitlines()[-1])
    assert (bin_dir / "migrate").is_file() and (bin_dir / "migrate-withinstance").is_file()
    return bin_dir


@pytest.fixture
def tools(gobin: Path, db18: Database, tmp_path: Path) -> Iterator[Tools]:
    t = Tools(gobin, db18, tmp_path / "migrations")
    try:
        yield t
    finally:
        t.stop_all()


@pytest.fixture
def gate(db18: Database) -> Iterator[Gate]:
    g = Gate(db18)
    try:
        yield g
    finally:
        g.close()
