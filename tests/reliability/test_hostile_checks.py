"""Extra verification checks are user input (``spec.verify.extraChecks``) run with the
migration's credentials. They run in a transaction that is always rolled back: a check
that writes, or that tries to end that transaction to make its writes stick, must leave
the database exactly as it was (and fail or pass, never crash the run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from relsupport import assert_no_secret, cli_env, migrate

HOSTILE_CHECKS = {
    "plain_delete": "DELETE FROM canary;\nSELECT 1 WHERE false;",
    "commit_then_delete": "COMMIT;\nDELETE FROM canary;\nSELECT 1 WHERE false;",
    "rollback_then_drop": "ROLLBACK;\nDROP TABLE canary;\nSELECT 1 WHERE false;",
    "end_then_truncate": "END;\nTRUNCATE canary;\nSELECT 1 WHERE false;",
    "begin_commit_insert": "BEGIN;\nINSERT INTO canary VALUES (99);\nCOMMIT;\nSELECT 1 WHERE false;",
    "do_block_commit": "DO $$ BEGIN DELETE FROM canary; COMMIT; END $$;\nSELECT 1 WHERE false;",
    "savepoint_release": "SAVEPOINT s;\nDELETE FROM canary;\nRELEASE SAVEPOINT s;\nSELECT 1 WHERE false;",
    "prepare_transaction": "DELETE FROM canary;\nPREPARE TRANSACTION 'sf';\nSELECT 1 WHERE false;",
    "set_session_role": "SET SESSION AUTHORIZATION DEFAULT;\nDROP TABLE canary;\nSELECT 1 WHERE false;",
    "vacuum_outside": "VACUUM canary;\nSELECT 1 WHERE false;",
    "cic_outside": "CREATE INDEX CONCURRENTLY canary_i ON canary (id);\nSELECT 1 WHERE false;",
    "alter_system": "ALTER SYSTEM SET fsync = off;\nSELECT 1 WHERE false;",
}

REFUSED = {"commit_then_delete", "rollback_then_drop", "end_then_truncate", "begin_commit_insert",
           "prepare_transaction"}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    d = tmp_path / "m"
    d.mkdir()
    (d / "000001_t.up.sql").write_text("CREATE TABLE canary (id int);\n"
                                      "INSERT INTO canary SELECT generate_series(1, 3);\n")
    (d / "000001_t.down.sql").write_text("DROP TABLE canary;\n")
    return d


@pytest.mark.parametrize("check", sorted(HOSTILE_CHECKS))
def test_extra_check_cannot_change_the_database(db18, tiny: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                check: str) -> None:
    env = cli_env(db18.url)
    r = migrate(env, "up", "--dir", str(tiny), "--preflight", "off")
    assert r.returncode == 0, r
    checks = tmp_path / "extra.verify.sql"
    checks.write_text(f"-- check: {check}\n-- description: hostile\n{HOSTILE_CHECKS[check]}\n")
    before = db18.query("SELECT count(*), coalesce(sum(id), 0) FROM canary")
    r = migrate(env, "verify", "--dir", str(tiny), "--extra-checks", str(checks))
    if check in REFUSED:
        # ending the check's transaction is refused up front, naming the check
        assert r.returncode == 1 and f"check {check!r}: transaction control" in r.stderr, r
    else:
        assert r.returncode in (0, 3), r  # passed or reported as a failed check
    assert "Traceback" not in r.output, r
    assert_no_secret(r.output)
    assert db18.query("SELECT count(*), coalesce(sum(id), 0) FROM canary") == before, (
        f"the check {check!r} changed the database:\n{r}")
    assert db18.query("SELECT count(*) FROM pg_prepared_xacts") == [(0,)]
    assert db18.query("SELECT to_regclass('canary_i')") == [(None,)]
    assert db18.query("SELECT count(*) FROM pg_file_settings WHERE name = 'fsync' "
                      "AND sourcefile LIKE '%postgresql.auto.conf'") == [(0,)]


def test_a_refused_extra_check_stops_up_before_anything_is_applied(db18, tiny: Path,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    checks = tmp_path / "extra.verify.sql"
    checks.write_text("-- check: sneaky\nCOMMIT;\nSELECT 1 WHERE false;\n")
    r = migrate(cli_env(db18.url), "up", "--dir", str(tiny), "--preflight", "off", "--verify",
                "--extra-checks", str(checks))
    assert r.returncode == 1 and "transaction control (COMMIT)" in r.stderr, r
    assert db18.query("SELECT to_regclass('canary')") == [(None,)]
