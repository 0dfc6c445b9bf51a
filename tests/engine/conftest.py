"""Fixtures for the engine and ``schemaflow migrate`` tests: migration directories written
in tmp_path and the CLI run in-process (fast); engine_helpers runs it as a subprocess."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from engine_helpers import BASIC, Run, write_dir

from schemaflow import cli


@pytest.fixture
def basic_dir(tmp_path: Path) -> Path:
    return write_dir(tmp_path / "migrations", dict(BASIC))


@pytest.fixture
def migrate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
            ) -> Callable[..., Run]:
    """``migrate(url, "up", "--dir", d)``: ``schemaflow.cli.main`` in-process."""

    def run(url: str | None, *argv: str) -> Run:
        if url is None:
            monkeypatch.delenv("DATABASE_URL", raising=False)
        else:
            monkeypatch.setenv("DATABASE_URL", url)
        capsys.readouterr()
        rc = cli.main(["migrate", *argv])
        out, err = capsys.readouterr()
        return Run(rc, out, err)

    return run


