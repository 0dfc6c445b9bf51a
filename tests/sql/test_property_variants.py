"""Property-based: each of the 23 sites of 000027 independently absent, exact, drifted or
present under another name (tests/sql/sites.py), on top of the synthetic baseline. For
every combination hypothesis draws, on PostgreSQL 15 and 18: up --verify exits 0, audit
finds 0 open, no duplicate index/trigger/CHECK, down restores an identical pg_dump -s and
identical row checksums, up again is green.

Examples per server: 25 by default (50 in a run over both servers), 150 with --long."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import Database
from tests.sql import sites
from tests.sql.sqlhelpers import (
    VERIFY_DIR,
    audit_open,
    checksums,
    duplicates,
    load,
    migrations_dir,
    run_verify,
    schema_dump,
)
from tests.sql.test_migration_000027 import same_rows, same_schema

from schemaflow import cli
from schemaflow.localpg import LocalPostgres

SCALE = 0.02
DEFAULT_EXAMPLES, LONG_EXAMPLES = 25, 150
_names = itertools.count()
STATES = st.fixed_dictionaries({n: st.sampled_from(sites.STATES) for n in range(1, 24)})


def _admin(server: LocalPostgres, sql: str) -> None:
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def template(pg_server: LocalPostgres) -> Iterator[tuple[LocalPostgres, str]]:
    """The synthetic v26 loaded once per server; examples copy it."""
    name = f"proptpl{os.getpid()}_{next(_names)}"
    _admin(pg_server, f'CREATE DATABASE "{name}"')
    load(Database(pg_server, name), SCALE)
    try:
        yield pg_server, name
    finally:
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(db: Database, mdir: Path, *args: str) -> int:
    """The real CLI in this process (DATABASE_URL from the environment, as in the Job)."""
    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = db.url
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["migrate", *args, "--dir", str(mdir), "--verify-dir", str(VERIFY_DIR),
                             "--preflight", "off", "--batch-size", "100"])
    finally:
        if old is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = old
    assert code == 0, f"migrate {' '.join(args)}: exit {code}\n{out.getvalue()[-3000:]}\n{err.getvalue()[-3000:]}"
    return code


def examples(request: pytest.FixtureRequest) -> int:
    return LONG_EXAMPLES if request.config.getoption("--long") else DEFAULT_EXAMPLES


@pytest.mark.timeout(3600)  # ~7 s per example; --long runs 150 per server
def test_any_combination_of_site_states_round_trips(template: tuple[LocalPostgres, str],
                                                    tmp_path: Path, request: pytest.FixtureRequest) -> None:
    server, tpl = template
    mdir = migrations_dir(tmp_path)
    ran: list[dict[int, str]] = []

    @settings(max_examples=examples(request), deadline=None, derandomize=False, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(states=STATES)
    def check(states: dict[int, str]) -> None:
        ran.append(states)
        name = f"prop{os.getpid()}_{next(_names)}"
        _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
        db = Database(server, name)
        try:
            db.query(sites.apply(states))
            schema0, rows0 = schema_dump(db), checksums(db)
            migrate(db, mdir, "up", "--verify")
            assert run_verify(db) == {}, states
            assert audit_open(db) == [], states
            assert duplicates(db) == [], states
            migrate(db, mdir, "down")
            same_schema(schema0, schema_dump(db))
            same_rows(rows0, checksums(db))
            migrate(db, mdir, "up", "--verify")
            assert duplicates(db) == []
        finally:
            _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    check()
    print(f"\n{server.flavour}: {len(ran)} examples")
    assert len(ran) >= examples(request)
