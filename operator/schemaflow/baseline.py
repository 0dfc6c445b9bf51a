"""DomainFlow's database at version 26: the schema (``sql/baseline/schema.sql``), a
generator of realistic, drifted data (``sql/baseline/generate.sql``) with a scale factor,
and named variants of the schema (``sql/baseline/variants/<name>.sql``, applied on top).

Variants (``VARIANTS``): ``synthetic`` (schema + data as generated), ``production-like``
(objects 000027 declares already exist in another shape or under another name),
``already-aligned`` (000027's target schema recorded at version 26) and ``half-applied``
(a hand-run of the migration plan stopped midway).

Used by ``schemaflow demo``, the tests and the benchmarks. Scale 1.0 is about 10 000 DNS
results and 2 000 campaign jobs; scale 100 about 1M DNS results and 200 000 jobs.
"""

from __future__ import annotations

import time
from pathlib import Path

from schemaflow.engine import db
from schemaflow.engine.sources import default_sql_dir, parse_steps

VARIANTS = ("synthetic", "production-like", "already-aligned", "half-applied")
# variants built on the result of the bundled 000027 up migration
_AFTER_UP = {"already-aligned"}
UP_FILE = "000027_comprehensive_schema_alignment.up.sql"


def baseline_dir() -> Path:
    """``sql/baseline`` next to the bundled migrations (or under $SCHEMAFLOW_SQL_DIR)."""
    return default_sql_dir() / "baseline"


def variant_file(variant: str) -> Path | None:
    """The SQL applied on top of the generated baseline for ``variant`` (None: synthetic)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    return None if variant == "synthetic" else baseline_dir() / "variants" / f"{variant}.sql"


def load_baseline(conninfo: str, scale: float = 1.0, *, with_data: bool = True,
                  variant: str = "synthetic") -> dict[str, float]:
    """Create DomainFlow's version-26 schema in the (empty) database ``conninfo``, fill it
    at ``scale`` and shape it as ``variant``. Returns timings in seconds (``schema``,
    ``data``, ``variant``)."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    extra = variant_file(variant)
    base = baseline_dir()
    schema_sql = (base / "schema.sql").read_text(encoding="utf-8")
    generate_sql = (base / "generate.sql").read_text(encoding="utf-8")
    session = db.connect(conninfo)
    timings: dict[str, float] = {}
    try:
        conn = session.conn
        conn.execute("SELECT set_config('statement_timeout', '0', false)")
        t0 = time.monotonic()
        with conn.transaction():
            conn.execute(schema_sql)
        timings["schema"] = time.monotonic() - t0
        if with_data:
            t0 = time.monotonic()
            with conn.transaction():
                conn.execute("SELECT set_config('domainflow.scale', %s, true)", (repr(float(scale)),))
                conn.execute(generate_sql)
            timings["data"] = time.monotonic() - t0
        if extra is not None:
            t0 = time.monotonic()
            if variant in _AFTER_UP:
                _apply_up(conn)
            with conn.transaction():
                conn.execute(extra.read_text(encoding="utf-8"))
            timings["variant"] = time.monotonic() - t0
    finally:
        session.conn.close()
    return timings


def _apply_up(conn: db.Connection) -> None:
    """The bundled 000027 up file, statement by statement as its steps define them, batch
    steps in one pass (no batch size set)."""
    path = default_sql_dir() / "migrations" / UP_FILE
    steps, _ = parse_steps(path.read_text(encoding="utf-8"), path.name)
    for step in steps:
        if step.kind == "transaction":
            with conn.transaction():
                for st in step.statements:
                    conn.execute(st.text)
        else:  # no-transaction and single-pass batch statements: autocommit
            for st in step.statements:
                conn.execute(st.text)
