"""`schemaflow wait --database`: what it reports is what it saw, an empty URL file is not
libpq's defaults, and an unexpected error surfaces at once instead of looking like "database
not ready" until the timeout (real PostgreSQL 18, the CLI as a subprocess)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemaflow import errors

Database = Any  # tests/conftest.py's Database (fixture db18)


def test_reports_the_version_seen_not_the_one_wanted(db18: Database, run_wait) -> None:
    db18.query("CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean)")
    db18.query("INSERT INTO schema_migrations VALUES (28, false)")
    r = run_wait("--database", "--version", "27", "--timeout", "5", "--output", "json",
                 env={"DATABASE_URL": db18.url})
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["version"] == 28 and "at version 28" in doc["message"]


def test_unexpected_error_is_not_database_not_ready(db18: Database, run_wait) -> None:
    # a version column that is not a number: no retry can fix this, so it must not be
    # waited through as "database not ready" and end as a timeout (exit 7)
    db18.query("CREATE TABLE schema_migrations (version text PRIMARY KEY, dirty boolean)")
    db18.query("INSERT INTO schema_migrations VALUES ('x27', false)")
    r = run_wait("--database", "--version", "27", "--timeout", "30", "--interval", "0.2",
                 env={"DATABASE_URL": db18.url})
    assert r.code not in (0, errors.EXIT_WAIT_TIMEOUT), r.stderr
    assert "database not ready" not in r.stderr
    assert "x27" in r.stderr


def test_empty_url_file_is_a_usage_error(run_wait, tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    url_file.write_text("\n")
    r = run_wait("--database", "--version", "27", "--timeout", "5",
                 "--database-url-file", str(url_file))
    assert r.code == errors.EXIT_USAGE and "is empty" in r.stderr, r.stderr
