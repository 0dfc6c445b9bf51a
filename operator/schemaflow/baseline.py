"""DomainFlow's database at version 26: the schema (``sql/baseline/schema.sql``) and a
generator of realistic, drifted data (``sql/baseline/generate.sql``) with a scale factor.

Used by ``schemaflow demo``, the tests and the benchmarks. Scale 1.0 is about 10 000 DNS
results and 2 000 campaign jobs; scale 100 about 1M DNS results and 200 000 jobs.
"""

from __future__ import annotations

import time
from pathlib import Path

from schemaflow.engine import db
from schemaflow.engine.sources import default_sql_dir


def baseline_dir() -> Path:
    """``sql/baseline`` next to the bundled migrations (or under $SCHEMAFLOW_SQL_DIR)."""
    return default_sql_dir() / "baseline"


def load_baseline(conninfo: str, scale: float = 1.0, *, with_data: bool = True) -> dict[str, float]:
    """Create DomainFlow's version-26 schema in the (empty) database ``conninfo`` and fill it
    at ``scale``. Returns timings in seconds (``schema``, ``data``)."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
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
    finally:
        session.conn.close()
    return timings
