"""Reliability suite worlds.

``world``: for one server, DomainFlow v26 loaded once into a template database, plus the
reference results of clean runs (v26 as loaded, v27 after a clean ``up --verify``, and the
columns whose values depend on when the migration ran). Each scenario then copies the
template (``CREATE DATABASE ... TEMPLATE``: a file copy, fast) and compares against them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from relsupport import (
    ARCHIVE_SCHEMA,
    BASELINE_TABLES_SCHEMA,
    ENGINE_TABLES,
    TablePrint,
    cli_env,
    column_digests,
    create_database,
    create_from_template,
    drop_database,
    fingerprints,
    load_v26,
    migrate,
    query,
    version_state,
)

from schemaflow.localpg import LocalPostgres

SCALE = float(os.environ.get("SCHEMAFLOW_RELIABILITY_SCALE", "0.3"))
BATCH_SIZE = "25"  # small batches: a backfill is many committed transactions to stop between
SCHEMAS = (BASELINE_TABLES_SCHEMA, ARCHIVE_SCHEMA)
# Archive tables left out of the "same as a clean run" comparison, with the reason. The
# down migration's exact restore of v26 still checks that the archive held what it must.
DERIVED_TABLES = {
    "m000027_value_map": "status rewrite map, recomputed from the remaining data at each "
                         "(re-)run of step 11; down only deletes it, restores from m000027_status",
    "m000027_progress": "keyset cursors / counters of the batched steps: they record where "
                        "each (interrupted) run got to, so they differ after a resume by design",
}
_names = itertools.count()
CLOCK_DEFAULTS = """
    SELECT c.relname, a.attname FROM pg_attrdef d
    JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
    JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s
      AND pg_get_expr(d.adbin, d.adrelid) ~* '(now\\(\\)|clock_timestamp|current_timestamp)'
"""


@dataclass
class World:
    server: LocalPostgres
    flavour: str
    template26: str
    template27: str
    v26: dict[str, TablePrint]
    v27: dict[str, TablePrint]
    volatile: dict[str, set[str]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    up_trace: dict[str, int] = field(default_factory=dict)  # statement -> times a clean up sends it
    down_trace: dict[str, int] = field(default_factory=dict)  # likewise, a clean down from 27

    @property
    def admin(self) -> str:
        return self.server.admin_conninfo()

    def fresh(self, at: int = 26) -> str:
        name = f"rel{os.getpid()}_{next(_names)}"
        create_from_template(self.admin, name, self.template26 if at == 26 else self.template27)
        self.created.append(name)
        return name

    def conninfo(self, name: str) -> str:
        return self.server.admin_conninfo(name)

    def url(self, name: str) -> str:
        return self.server.url(name)

    def prints(self, name: str) -> dict[str, TablePrint]:
        return fingerprints(self.conninfo(name), SCHEMAS, skip_columns=self.volatile,
                            skip_tables={*ENGINE_TABLES, *DERIVED_TABLES})

    def drop(self, name: str) -> None:
        drop_database(self.admin, name)
        if name in self.created:
            self.created.remove(name)


def up_args() -> list[str]:
    return ["up", "--target", "27", "--verify", "--batch-size", BATCH_SIZE]


def down_args() -> list[str]:
    return ["down", "--target", "26", "--batch-size", BATCH_SIZE]


def after_a_round_trip(server: LocalPostgres, name: str) -> None:
    """v26 that has been through up, application writes into what up created, and down:
    the down archived those values (schemaflow_archive.m000027_new_data), and the next up
    must put them back (its restore batches; they do nothing on a first up)."""
    env = cli_env(server.url(name))
    r = migrate(env, *up_args())
    assert r.returncode == 0, r
    conninfo = server.admin_conninfo(name)
    # fixed values (no trigger: session_replication_role) so two runs compare equal
    for stmt in (
        "SET session_replication_role = replica; UPDATE campaign_jobs SET locked_by = "
        "'worker-' || left(id::text, 8), next_execution_at = timestamptz '2026-01-01'",
        "SET session_replication_role = replica; UPDATE http_keyword_results SET "
        "business_status = 'matched'",
    ):
        query(conninfo, stmt)
    r = migrate(env, *down_args())
    assert r.returncode == 0, r
    assert query(conninfo, "SELECT count(*) > 50 FROM schemaflow_archive.m000027_new_data") \
        == [(True,)], "the down archived no values: the round trip tests nothing"


def _world(server: LocalPostgres, prepare: Callable[[LocalPostgres, str], None] | None = None,
           variant: str = "synthetic") -> Iterator[World]:
    tag = f"{os.getpid()}_{next(_names)}"
    t26, t27, other = f"reltpl26_{tag}", f"reltpl27_{tag}", f"relref_{tag}"
    admin = server.admin_conninfo()
    drop_database(admin, t26)
    create_database(admin, t26)
    load_v26(server.admin_conninfo(t26), SCALE, variant)
    if prepare is not None:
        prepare(server, t26)
    assert version_state(server.admin_conninfo(t26)) == (26, False)
    v26_raw = fingerprints(server.admin_conninfo(t26), SCHEMAS)
    # two clean runs: what differs between them depends on the clock, not on the crash
    from collections import Counter

    from pgproxy import PgProxy

    trace: Counter[str] = Counter()
    for name in (t27, other):
        create_from_template(admin, name, t26)
        with PgProxy(server.port) as proxy:  # records what a clean run sends
            r = migrate(cli_env(proxy.url(server.url(name))), *up_args())
            if not trace:
                trace.update(t.strip() for t in proxy.statements)
        assert r.returncode == 0, f"clean up failed on the reference database:\n{r}"
    a = column_digests(server.admin_conninfo(t27), SCHEMAS)
    b = column_digests(server.admin_conninfo(other), SCHEMAS)
    volatile: dict[str, set[str]] = {}
    for (table, col), digest in a.items():
        if b.get((table, col)) != digest:
            volatile.setdefault(table, set()).add(col)
    # and the archive's own clock columns (archived_at...), also where a table is empty at 27
    for db in (t26, t27):
        for table, col in query(server.admin_conninfo(db), CLOCK_DEFAULTS, (ARCHIVE_SCHEMA,)):
            volatile.setdefault(f"{ARCHIVE_SCHEMA}.{table}", set()).add(col)
    # what a clean down sends (on the copy, last: the digests above are taken at 27)
    down_trace: Counter[str] = Counter()
    with PgProxy(server.port) as proxy:
        r = migrate(cli_env(proxy.url(server.url(other))), *down_args())
        down_trace.update(t.strip() for t in proxy.statements)
    assert r.returncode == 0, f"clean down failed on the reference database:\n{r}"
    drop_database(admin, other)
    w = World(server, server.flavour, t26, t27, {}, {}, volatile, up_trace=trace,
              down_trace=down_trace)
    w.v26 = w.prints(t26)
    w.v27 = w.prints(t27)
    assert set(w.v26) <= set(v26_raw)
    try:
        yield w
    finally:
        for name in [*w.created, t26, t27]:
            drop_database(admin, name)
