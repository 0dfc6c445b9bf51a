"""Reliability suite fixtures: ``world`` (both servers) and ``world18`` (PostgreSQL 18
only), session-scoped: DomainFlow v26 loaded once per server into a template database plus
the references of clean runs (see worlds.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from worlds import World, _world, after_a_round_trip  # noqa: E402

from schemaflow.localpg import LocalPostgres  # noqa: E402


@pytest.fixture(scope="session")
def world(pg_server: LocalPostgres) -> Iterator[World]:
    yield from _world(pg_server)


@pytest.fixture(scope="session")
def world18(pg18_server: LocalPostgres) -> Iterator[World]:
    yield from _world(pg18_server)


@pytest.fixture(scope="session")
def world_round_trip(pg_server: LocalPostgres) -> Iterator[World]:
    """v26 after up, writes into the new columns, and down (long scenarios only)."""
    yield from _world(pg_server, after_a_round_trip)


@pytest.fixture(scope="session")
def world_production18(pg18_server: LocalPostgres) -> Iterator[World]:
    """The production-like variant of v26 (objects in another shape or under other names,
    sql/baseline/variants/production-like.sql), PostgreSQL 18 only: the default run."""
    yield from _world(pg18_server, variant="production-like")


@pytest.fixture(scope="session")
def world_production(pg_server: LocalPostgres) -> Iterator[World]:
    """The production-like variant on both servers (long scenarios only)."""
    yield from _world(pg_server, variant="production-like")
