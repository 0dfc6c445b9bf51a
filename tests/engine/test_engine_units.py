"""Pure-function tests: the advisory key, redaction, sources parsing, report bounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import BASIC, write_dir

from schemaflow.engine.advisory import advisory_lock_id, migration_lock_keys, scrub
from schemaflow.engine.db import redact
from schemaflow.engine.report import REPORT_LIMIT, Report, bounded_json
from schemaflow.engine.sources import load_source
from schemaflow.engine.verify import parse_checks
from schemaflow.errors import MigrationSourceError, VerificationFailed


def test_advisory_key_matches_golang_migrate() -> None:
    # The oracle is golang-migrate's own test, database/util_test.go (v4.20.1):
    # GenerateAdvisoryLockId(dbname, additional...) hashes the additional names FIRST and
    # the database name LAST (database/util.go: strings.Join(append(additionalNames,
    # databaseName), "\x00")).
    assert advisory_lock_id("database_name") == 1764327054
    assert advisory_lock_id("database_name", "schema_name_1") == 2453313553
    assert advisory_lock_id("database_name", "schema_name_2") == 235207038
    assert advisory_lock_id("database_name", "schema_name_1", "schema_name_2") == 3743845847


def test_migration_lock_keys_are_the_postgres_drivers() -> None:
    # database/postgres/postgres.go (v4.15.0 to v4.20.1) locks GenerateAdvisoryLockId(
    # DatabaseName, migrationsSchemaName, migrationsTableName); DatabaseName is
    # CURRENT_DATABASE() with WithInstance and an empty Config, the URL path ("/postgres")
    # when opened from a URL (the CLI). The real binaries confirm both in tests/interop.
    keys = migration_lock_keys("postgres", "public", "schema_migrations")
    assert keys == (advisory_lock_id("postgres", "public", "schema_migrations"),
                    advisory_lock_id("/postgres", "public", "schema_migrations"))
    assert keys == (143310882, 3280485947)


def test_lock_holder_query_is_scrubbed() -> None:
    # status and the lock error show another session's statement (cut to 120 characters)
    assert scrub("ALTER ROLE app PASSWORD 'hun''ter2' VALID UNTIL 'x'") == \
        "ALTER ROLE app PASSWORD *** VALID UNTIL 'x'"
    assert "hunter2" not in scrub("CREATE ROLE app LOGIN PASSWORD 'hunter2")  # cut mid-string
    assert scrub("SELECT dblink('host=x password=hunter2')").count("hunter2") == 0


def test_redact_url_and_keyword_forms() -> None:
    url = "postgresql://app:S3cr%40t!x@db:5432/app"
    assert "S3cr" not in redact(f'connection to "{url}" failed', url)
    assert redact("host=db password=hunter22 user=x") == "host=db password=*** user=x"
    assert redact("password='a b\\'c' dbname=x") == "password=*** dbname=x"
    assert redact("failed for S3cr@t!x", url) == "failed for ***"


def test_source_parses_steps_and_checksums(tmp_path: Path) -> None:
    files = dict(BASIC)
    files["000004_batch.up.sql"] = ("-- schemaflow:rerunnable\nALTER TABLE items ADD c int;\n"
                                    "-- schemaflow:step batch\nUPDATE items SET c = 1 WHERE c IS NULL;\n")
    files["000004_batch.down.sql"] = "ALTER TABLE items DROP c;"
    files["README.md"] = "ignored"
    src = load_source(write_dir(tmp_path / "m", files))
    assert src.versions == [1, 2, 3, 4]
    m4 = src.get(4)
    assert m4.up.rerunnable and not m4.up.transactional
    assert [s.kind for s in m4.up.steps] == ["transaction", "batch"]
    assert m4.up.steps[1].statements[0].line == 4
    assert len(m4.up.checksum) == 64 and src.get(1).up.transactional
    assert src.previous(1) is None and src.previous(3) == 2


@pytest.mark.parametrize(("files", "message"), [
    ({"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "SELECT 1;", "2-b.up.sql": "SELECT 1;"},
     "malformed migration file name"),
    ({"1_a.up.sql": "SELECT 1;", "1_a.down.sql": "SELECT 1;", "01_b.up.sql": "SELECT 1;",
      "01_b.down.sql": "SELECT 1;"}, "duplicate migration version 1"),
    ({"1_a.up.sql": "SELECT 1;"}, "migration 1 has no down file"),
    ({"1_a.up.sql": b"SELECT '\xff';", "1_a.down.sql": "SELECT 1;"}, "not valid UTF-8"),
    ({"1_a.up.sql": "-- nothing\n", "1_a.down.sql": "SELECT 1;"}, "contains no SQL"),
    ({"1_a.up.sql": "-- schemaflow:step later\nSELECT 1;", "1_a.down.sql": "SELECT 1;"},
     "unknown step kind"),
    ({"1_a.up.sql": "-- schemaflow:step batch\nSELECT 1; SELECT 2;", "1_a.down.sql": "SELECT 1;"},
     "exactly one statement"),
    ({"1_a.up.sql": "CREATE TABLE a (id int);\nCOMMIT;\nSELECT 1;", "1_a.down.sql": "SELECT 1;"},
     r"1_a.up.sql:2: transaction control \(COMMIT\)"),
])
def test_source_errors(tmp_path: Path, files: dict[str, str | bytes], message: str) -> None:
    with pytest.raises(MigrationSourceError, match=message):
        load_source(write_dir(tmp_path / "m", files))


def test_verify_file_format() -> None:
    checks = parse_checks("""-- checks for 27
-- check: dgcp_created_at
-- mismatch: 3, 20
-- description: created_at is timestamptz
SELECT 'x' AS problem WHERE false;

-- check: two_statements
CREATE TEMP TABLE t (a int);
SELECT a FROM t;
""", "27_x.verify.sql")
    assert [c.name for c in checks] == ["dgcp_created_at", "two_statements"]
    assert checks[0].mismatches == [3, 20] and checks[0].line == 2
    assert checks[0].description == "created_at is timestamptz"
    with pytest.raises(MigrationSourceError, match="duplicate check name"):
        parse_checks("-- check: a\nSELECT 1;\n-- check: a\nSELECT 1;")
    with pytest.raises(MigrationSourceError, match="before the first"):
        parse_checks("SELECT 1;\n-- check: a\nSELECT 1;")


def test_report_stays_under_4k() -> None:
    report = Report(command="up", direction="up", from_version=26, to_version=27)
    report.verification = {"passed": 1, "failed": 200, "failures": [
        {"check": f"check_{i}", "problems": ["x" * 500] * 30} for i in range(200)]}
    doc = report.as_dict(VerificationFailed("m" * 10000, hint="h" * 5000))
    text = bounded_json(doc)
    assert len(text.encode()) <= REPORT_LIMIT
    parsed = json.loads(text)
    assert parsed["truncated"] is True and parsed["exitCode"] == 3
    assert parsed["result"] == "VerificationFailed" and parsed["verification"]["failed"] == 200


def test_durations_accept_units() -> None:
    from schemaflow.migrate_cmd import duration

    assert [duration(t) for t in ("5", "5s", "500ms", "2m", "1.5s")] == [5, 5, 0.5, 120, 1.5]
    with pytest.raises(Exception, match="not a duration"):
        duration("5 minutes")


def test_begin_commit_wrapper_is_dropped(tmp_path: Path) -> None:
    src = load_source(write_dir(tmp_path / "m", {
        "1_a.up.sql": "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n", "1_a.down.sql": "DROP TABLE a;",
        "2_b.up.sql": "-- schemaflow:step no-transaction\nBEGIN;\nSELECT 1;\nCOMMIT;\n",
        "2_b.down.sql": "SELECT 1;"}))
    assert [s.text for s in src.get(1).up.steps[0].statements] == ["CREATE TABLE a (id int)"]
    assert len(src.get(2).up.steps[0].statements) == 3
