"""The password never shows: connection errors that echo the URL, in text and JSON output,
in the --report file, and in ``ps`` (the URL is never an argument).

The recognisable password ``SfSecretPw7Qz9Xv`` is put into every URL below, wrong or not;
each run must fail with a clear message and the right exit code, and the password (raw or
percent-encoded) must appear nowhere.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from relsupport import SECRET, assert_no_secret, cli_env, migrate, migrate_argv, spawn

from schemaflow.localpg import free_port


def _blackhole() -> int:
    """A port that accepts TCP connections and never answers (a hung server)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                c, _ = s.accept()
                held.append(c)
            except OSError:
                return

    threading.Thread(target=loop, daemon=True).start()
    return int(s.getsockname()[1])


def bad_urls(port: int, dbname: str) -> list[tuple[str, str, set[int]]]:
    """(id, url, acceptable exit codes): 6 = unreachable/refused, 1 = malformed URL."""
    pw = SECRET
    return [
        ("wrong-password", f"postgresql://postgres:{pw}x@127.0.0.1:{port}/{dbname}", {6}),
        ("wrong-user", f"postgresql://nobody:{pw}@127.0.0.1:{port}/{dbname}", {6}),
        ("wrong-database", f"postgresql://postgres:{pw}@127.0.0.1:{port}/no_such_db", {6}),
        ("wrong-port", f"postgresql://postgres:{pw}@127.0.0.1:{free_port()}/{dbname}", {6}),
        ("unresolvable-host", f"postgresql://postgres:{pw}@no-such-host.invalid:5432/db", {6}),
        ("hung-server", f"postgresql://postgres:{pw}@127.0.0.1:{_blackhole()}/db"
         "?connect_timeout=2", {6}),
        ("ssl-required", f"postgresql://postgres:{pw}@127.0.0.1:{port}/{dbname}?sslmode=require",
         {6}),
        ("bad-port-number", f"postgresql://postgres:{pw}@127.0.0.1:notaport/{dbname}", {1, 6}),
        ("bad-ipv6", f"postgresql://postgres:{pw}@[::1/{dbname}", {1, 6}),
        ("bad-sslmode", f"postgresql://postgres:{pw}@127.0.0.1:{port}/{dbname}?sslmode=bogus",
         {1, 6}),
        ("unknown-option", f"postgresql://postgres:{pw}@127.0.0.1:{port}/{dbname}?frob=1",
         {1, 6}),
        ("percent-encoded", f"postgresql://postgres:{pw}%40%3A%2F@127.0.0.1:{port}/{dbname}",
         {6}),
        ("keyword-form", f"host=127.0.0.1 port={port} dbname={dbname} user=postgres "
         f"password={pw}x", {6}),
        ("keyword-quoted", f"host=127.0.0.1 port={port} password='{pw} x' dbname={dbname}",
         {6}),
        ("keyword-unterminated", f"host=127.0.0.1 password='{pw} dbname=x", {1, 6}),
        ("keyword-bad-port", f"host=127.0.0.1 port=abc password={pw}", {1, 6}),
        ("scheme-typo", f"postgress://postgres:{pw}@127.0.0.1:{port}/{dbname}", {1, 6}),
    ]


# text output of status and up; JSON (stdout and the --report file) of up; down shares
# up's connection path and is run for the wrong password only (see test below)
RUNS = [("status", "text"), ("up", "text"), ("up", "json")]
TARGETS = {"status": [], "up": ["--target", "2"], "down": ["--target", "1"]}


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    """A two-migration directory of our own, so these tests don't depend on 000027."""
    d = tmp_path / "tiny"
    d.mkdir()
    for v in (1, 2):
        (d / f"00000{v}_t.up.sql").write_text(f"CREATE TABLE t{v} (id int);\n")
        (d / f"00000{v}_t.down.sql").write_text(f"DROP TABLE t{v};\n")
    return ["--dir", str(d)]


def test_connection_errors_never_echo_the_password(db18, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   tiny: list[str]) -> None:
    port, name = db18.server.port, db18.name
    failures = []
    for case_id, url, codes in bad_urls(port, name):
        for command, output in RUNS:
            if case_id == "hung-server" and (command, output) != ("up", "json"):
                continue  # waits out the engine's 10 s connect timeout: once is enough
            report = tmp_path / f"{case_id}-{command}-{output}.json"
            args = [command, *TARGETS[command], *tiny, "--output", output]
            if command != "status":
                args += ["--report", str(report)]
            r = migrate(cli_env(url), *args, timeout=60)
            where = f"{case_id} / migrate {command} --output {output}"
            texts = [r.stdout, r.stderr, report.read_text() if report.exists() else ""]
            try:
                assert_no_secret(*texts, where=where)
            except AssertionError as exc:
                failures.append(str(exc))
            if r.returncode not in codes:
                failures.append(f"{where}: exit {r.returncode}, want {codes}: {r.output[-300:]}")
            elif not r.output.strip():
                failures.append(f"{where}: no message at all")
            elif "Traceback" in r.output:
                failures.append(f"{where}: Python traceback instead of a message")
    assert not failures, "\n".join(failures)
    # and nothing happened to the real database
    assert db18.query("SELECT to_regclass('public.schema_migrations')") == [(None,)]


@pytest.mark.parametrize("value", [SECRET, f"{SECRET} ", f"postgres {SECRET}"],
                         ids=["password-only", "password-space", "words"])
def test_garbage_url_is_not_echoed(tiny: list[str], value: str) -> None:
    """The Secret's key holds the bare password (a common mistake), not a URL: libpq's
    parse error quotes it back (``missing "=" after "..."``), and redact() cannot tell."""
    for output in ("text", "json"):
        r = migrate(cli_env(value), "status", *tiny, "--output", output)
        assert r.returncode in (1, 6), r
        assert r.output.strip() and "Traceback" not in r.output, r
        assert_no_secret(r.output, where=f"garbage URL, --output {output}")


def test_down_connection_error_never_echoes_the_password(db18, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         tiny: list[str]) -> None:
    url = f"postgresql://postgres:{SECRET}x@127.0.0.1:{db18.server.port}/{db18.name}"
    report = tmp_path / "down.json"
    r = migrate(cli_env(url), "down", "--target", "1", *tiny, "--report", str(report))
    assert r.returncode == 6, r
    assert_no_secret(r.output, report.read_text() if report.exists() else "", where="down")


def test_url_file_errors_never_echo_the_password(db18, tmp_path: Path, tiny: list[str]) -> None:  # type: ignore[no-untyped-def]
    url_file = tmp_path / "url"
    url_file.write_text(f"postgresql://postgres:{SECRET}x@127.0.0.1:{db18.server.port}/x\n")
    env = cli_env("")
    env.pop("DATABASE_URL")
    r = migrate(env, "status", *tiny, "--database-url-file", str(url_file))
    assert r.returncode == 6, r
    assert_no_secret(r.output, where="status --database-url-file")


def test_url_never_in_process_arguments(db18, tmp_path: Path, tiny: list[str]) -> None:  # type: ignore[no-untyped-def]
    """While a run is going, /proc/<pid>/cmdline of the runner holds no password."""
    run = spawn(migrate_argv("status", *tiny), cli_env(db18.url), tmp_path)
    try:
        cmdline = Path(f"/proc/{run.proc.pid}/cmdline").read_bytes()
    except FileNotFoundError:
        cmdline = b""
    rc, out, err = run.wait(60)
    assert rc == 0, (out, err)
    assert_no_secret(cmdline, out, err, where="runner argv/output")


def test_missing_url_is_a_usage_error(tiny: list[str]) -> None:
    env = cli_env("")
    env.pop("DATABASE_URL")
    r = migrate(env, "status", *tiny)
    assert r.returncode == 1, r
    assert "DATABASE_URL" in r.output
