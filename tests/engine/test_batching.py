"""Batch sizes sized to a time budget (schemaflow.engine.batching): the pure arithmetic,
then the runner on PostgreSQL: without --batch-size each batch is sized from the time the
previous ones took, with it every batch has that size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine_helpers import Run, write_dir

from schemaflow.engine.batching import GROWTH, MAX_SIZE, MIN_SIZE, BatchSizer


def test_fast_batches_grow_at_most_by_the_growth_factor() -> None:
    s = BatchSizer(1000, target=0.2)
    assert s.observe(1000, 0.001) == 1000 * GROWTH  # wanted 200,000: capped


def test_slow_batches_shrink_towards_the_target() -> None:
    s = BatchSizer(1000, target=0.2)
    assert s.observe(1000, 0.25) == 800  # 4000 per second * 0.2 s
    s = BatchSizer(1000, target=0.2)
    assert s.observe(1000, 10.0) == 1000 / GROWTH  # wanted 20: capped


def test_speed_is_smoothed_over_batches() -> None:
    s = BatchSizer(1000, target=0.2)
    s.observe(1000, 0.2)  # 5000/s: stays 1000
    # one batch at 10,000/s: the smoothed 7500/s wants 1500, not 2000
    assert s.observe(1000, 0.1) == 1500


def test_bounds() -> None:
    s = BatchSizer(MAX_SIZE, target=0.2)
    assert s.observe(MAX_SIZE, 0.001) == MAX_SIZE
    s = BatchSizer(MIN_SIZE, target=0.2)
    assert s.observe(MIN_SIZE, 100.0) == MIN_SIZE
    # a small size given on purpose is kept (tests and tiny tables ask for it)
    assert BatchSizer(10, target=0).size == 10
    assert BatchSizer(10**9).size == MAX_SIZE


def test_fixed_size_when_no_target() -> None:
    s = BatchSizer(300, target=0)
    assert [s.observe(300, t) for t in (0.001, 5.0, 0.2)] == [300, 300, 300]


SLOW_FILL = {
    "1_t.up.sql": "CREATE TABLE t (id int PRIMARY KEY, v int);\n"
                  "CREATE TABLE sizes (n serial PRIMARY KEY, size int NOT NULL);\n"
                  "INSERT INTO t SELECT g, NULL FROM generate_series(1, 9000) g;",
    "1_t.down.sql": "DROP TABLE t, sizes;",
    # every batch logs the size it was given and takes at least 0.3 s: above the 0.2 s budget
    "2_fill.up.sql": "-- schemaflow:rerunnable\n-- schemaflow:step batch\n"
                     "WITH logged AS (INSERT INTO sizes (size) SELECT "
                     "current_setting('schemaflow.batch_size')::int FROM pg_sleep(0.3))\n"
                     "UPDATE t SET v = id WHERE id IN (SELECT id FROM t WHERE v IS NULL "
                     "ORDER BY id LIMIT current_setting('schemaflow.batch_size')::int);\n",
    "2_fill.down.sql": "UPDATE t SET v = NULL;",
}


def test_runner_shrinks_batches_slower_than_the_budget(db: Any, tmp_path: Path,
                                                       migrate: Callable[..., Run]) -> None:
    d = write_dir(tmp_path / "m", SLOW_FILL)
    r = migrate(db.url, "up", "--dir", str(d))
    assert r.rc == 0, r.err
    sizes = [n for (n,) in db.query("SELECT size FROM sizes ORDER BY n")]
    assert sizes[0] == 5000
    # each batch is smaller than the one before: none reaches the 0.2 s budget
    assert all(b < a for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    assert all(b >= a // GROWTH for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    assert db.query("SELECT count(*) FROM t WHERE v IS NULL") == [(0,)]


def test_runner_keeps_a_given_batch_size(db: Any, tmp_path: Path,
                                         migrate: Callable[..., Run]) -> None:
    d = write_dir(tmp_path / "m", SLOW_FILL)
    r = migrate(db.url, "up", "--dir", str(d), "--batch-size", "4000")
    assert r.rc == 0, r.err
    # 9000 rows: 4000, 4000, 1000, then the batch that finds none
    assert db.query("SELECT size FROM sizes ORDER BY n") == [(4000,)] * 4
    assert "2_fill.up.sql:3: 3 batches, 9000 rows" in r.err
