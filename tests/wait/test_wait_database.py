"""`schemaflow wait --database --version N` (the initContainer form) against a real
PostgreSQL 18: at version, behind, dirty, ahead with --exact, no table, unreachable, and
never a password in the output."""

from __future__ import annotations

import threading
from typing import Any

from schemaflow import errors

Database = Any  # tests/conftest.py's Database (fixture db18)



def version_table(db: Database, version: int | None, dirty: bool = False) -> None:
    db.query("CREATE TABLE IF NOT EXISTS schema_migrations "
             "(version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")
    db.query("DELETE FROM schema_migrations")
    if version is not None:
        db.query("INSERT INTO schema_migrations VALUES (%s, %s)", (version, dirty))


def args(version: int, timeout: float = 1.5, *extra: str) -> list[str]:
    return ["--database", "--version", str(version), "--timeout", str(timeout),
            "--interval", "0.2", *extra]


def no_secret(db: Database, *texts: str) -> None:
    for text in texts:
        assert db.server.password not in text


def test_at_version_exits_0(db18: Database, run_wait) -> None:
    version_table(db18, 27)
    r = run_wait(*args(27), env={"DATABASE_URL": db18.url})
    assert r.code == 0, r.stderr
    assert "at version 27, not dirty" in r.stderr
    r = run_wait(*args(26), env={"DATABASE_URL": db18.url})  # later versions satisfy N
    assert r.code == 0, r.stderr
    no_secret(db18, r.stdout, r.stderr)


def test_behind_times_out_7(db18: Database, run_wait) -> None:
    version_table(db18, 26)
    r = run_wait(*args(27), env={"DATABASE_URL": db18.url})
    assert r.code == errors.EXIT_WAIT_TIMEOUT == 7, r.stderr
    assert "at version 26, behind the required 27" in r.stderr


def test_dirty_is_waited_through_and_reported(db18: Database, run_wait) -> None:
    version_table(db18, 27, dirty=True)
    r = run_wait(*args(27), env={"DATABASE_URL": db18.url})
    assert r.code == 7 and "dirty at version 27" in r.stderr, r.stderr

    t = threading.Timer(0.8, lambda: db18.query("UPDATE schema_migrations SET dirty = false"))
    t.start()
    r = run_wait(*args(27, 15), env={"DATABASE_URL": db18.url})
    t.join()
    assert r.code == 0, r.stderr
    assert r.seconds >= 0.8


def test_exact_version(db18: Database, run_wait) -> None:
    version_table(db18, 28)
    assert run_wait(*args(27), env={"DATABASE_URL": db18.url}).code == 0
    r = run_wait(*args(27, 1.0, "--exact"), env={"DATABASE_URL": db18.url})
    assert r.code == 7 and "ahead of the required 27" in r.stderr


def test_no_version_table_yet_then_migrated(db18: Database, run_wait) -> None:
    r = run_wait(*args(27, 1.0), env={"DATABASE_URL": db18.url})
    assert r.code == 7 and "schema_migrations does not exist yet" in r.stderr
    version_table(db18, None)
    r = run_wait(*args(27, 1.0), env={"DATABASE_URL": db18.url})
    assert r.code == 7 and "is empty" in r.stderr
    t = threading.Timer(0.6, lambda: version_table(db18, 27))
    t.start()
    r = run_wait(*args(27, 15), env={"DATABASE_URL": db18.url})
    t.join()
    assert r.code == 0, r.stderr


def test_unreachable_or_refused_is_retried_without_leaking(db18: Database, run_wait) -> None:
    version_table(db18, 27)
    wrong = db18.url.replace(db18.server.password, db18.server.password + "x")
    r = run_wait(*args(27, 1.0), env={"DATABASE_URL": wrong})
    assert r.code == 7 and "database not ready" in r.stderr, r.stderr
    no_secret(db18, r.stdout, r.stderr)
    closed = f"postgresql://app:{db18.server.password}@127.0.0.1:9/db"
    r = run_wait(*args(27, 1.0, "--output", "json"), env={"DATABASE_URL": closed})
    assert r.code == 7, r.stderr
    no_secret(db18, r.stdout, r.stderr)


def test_url_from_file(db18: Database, run_wait, tmp_path) -> None:
    version_table(db18, 27)
    f = tmp_path / "url"
    f.write_text(db18.url + "\n")
    r = run_wait(*args(27, 5, "--database-url-file", str(f)))
    assert r.code == 0, r.stderr


def test_missing_url_is_a_usage_error(run_wait) -> None:
    r = run_wait(*args(27))
    assert r.code == errors.EXIT_USAGE and "DATABASE_URL" in r.stderr


# -- the gate opens only when the version's checks have passed ---------------------------
GATE_FILES = {
    "migrations/000001_t.up.sql": "CREATE TABLE t (id int);\n",
    "migrations/000001_t.down.sql": "DROP TABLE t;\n",
    "verify/000001_t.verify.sql": "-- check: t_has_a_row\n"
                                  "SELECT 't is empty' WHERE NOT EXISTS (SELECT FROM t);\n",
}


def migrate(db: Database, root, *argv: str):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "schemaflow", "migrate", *argv,
                           "--dir", str(root / "migrations")], env=db.env(),
                          capture_output=True, text=True, timeout=60)


def test_gate_waits_for_the_checks_of_the_version(db18: Database, run_wait, tmp_path) -> None:
    for name, text in GATE_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {"DATABASE_URL": db18.url}
    # applied, its check fails: the version row says 1 clean, the gate stays shut
    r = migrate(db18, tmp_path, "up", "--verify")
    assert r.returncode == 3, r.stderr
    r = run_wait(*args(1), env=env)
    assert r.code == 7, r.stderr
    assert "the checks of version 1 failed (t_has_a_row)" in r.stderr, r.stderr

    db18.query("INSERT INTO t VALUES (1)")
    assert migrate(db18, tmp_path, "verify").returncode == 0
    r = run_wait(*args(1), env=env)
    assert r.code == 0, r.stderr
    assert "the checks of version 1 passed" in r.stderr

    # a new change of version (down, up without --verify) needs a new verification
    assert migrate(db18, tmp_path, "down").returncode == 0
    assert migrate(db18, tmp_path, "up").returncode == 0
    db18.query("INSERT INTO t VALUES (1)")
    r = run_wait(*args(1), env=env)
    assert r.code == 7 and "its checks have not passed yet" in r.stderr, r.stderr
    assert run_wait(*args(1, 1.5, "--allow-unverified"), env=env).code == 0
    assert migrate(db18, tmp_path, "up", "--verify").returncode == 0
    assert run_wait(*args(1), env=env).code == 0


def test_timeout_and_interval_take_units(db18: Database, run_wait) -> None:
    version_table(db18, 26)
    r = run_wait("--database", "--version", "27", "--timeout", "1500ms", "--interval", "200ms",
                 env={"DATABASE_URL": db18.url})
    assert r.code == 7 and "timed out after 1.5s" in r.stderr, r.stderr
