"""A small TCP proxy in front of PostgreSQL that reads the frontend protocol, so a test can
stop a client at an exact statement.

The runner under test connects to the proxy instead of the server. The proxy forwards
bytes both ways and, for every frontend message that carries SQL (simple ``Query`` and
extended ``Parse``), records the text and asks ``decide(text, index)`` what to do:

- ``"pass"``: forward it;
- ``"hold"``: do not forward it (nor anything after it on that connection) and set
  ``held``: the client is now stopped *between* the previous statement and this one; the
  test kills the client, and the proxy closes the server side as the kernel would;
- ``"forward-then-hold"``: forward it, then hold the connection: the statement is now
  running on the server while the client is about to be killed;
- ``"pause"``: keep it until ``resume()``, then carry on normally: the client is stopped
  mid-run for as long as the test needs (an operator restarted, a spec changed meanwhile).

``cut()`` drops every connection at once (the network going away) and ``refuse`` makes
new connections fail, so a test can make the database unreachable for a while.

No hooks in the engine: this observes the wire exactly as a real network would carry it.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

Decision = str  # "pass" | "hold" | "forward-then-hold"


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def sql_of(msg_type: bytes, body: bytes) -> str | None:
    """The SQL text carried by a frontend message, or None."""
    if msg_type == b"Q":
        return body.rstrip(b"\0").decode("utf-8", "replace")
    if msg_type == b"P":
        # Parse: statement name \0, query \0, int16 nparams, ...
        name_end = body.index(b"\0")
        q_end = body.index(b"\0", name_end + 1)
        return body[name_end + 1 : q_end].decode("utf-8", "replace")
    return None


@dataclass
class _Conn:
    client: socket.socket
    server: socket.socket
    held: bool = False

    def close(self) -> None:
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@dataclass
class PgProxy:
    """``with PgProxy(port) as proxy: url = proxy.url(db)``."""

    upstream_port: int
    upstream_host: str = "127.0.0.1"
    decide: Callable[[str, int], Decision] = field(default=lambda text, i: "pass")
    statements: list[str] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    held_text: str | None = None
    refuse: bool = False

    def __post_init__(self) -> None:
        self._resume = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[_Conn] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> PgProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop = True
        try:
            self._listener.close()
        except OSError:
            pass
        self.cut()

    def url(self, base_url: str) -> str:
        """``base_url`` (a URL to the real server) rewritten to go through the proxy."""
        return base_url.replace(f":{self.upstream_port}/", f":{self.port}/", 1)

    def resume(self) -> None:
        """Let a paused statement (and everything after it) through."""
        self._resume.set()

    def cut(self) -> None:
        """Drop every open connection, as a network partition or a node loss would."""
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()

    # -- plumbing ---------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            try:
                server = socket.create_connection((self.upstream_host, self.upstream_port))
            except OSError:
                client.close()
                continue
            for sock in (client, server):  # no Nagle: one small message at a time
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(client, server)
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._pump_down, args=(conn,), daemon=True).start()
            threading.Thread(target=self._pump_up, args=(conn,), daemon=True).start()

    def _pump_down(self, conn: _Conn) -> None:
        """server -> client, raw."""
        try:
            while True:
                data = conn.server.recv(65536)
                if not data:
                    break
                conn.client.sendall(data)
        except OSError:
            pass
        conn.close()

    def _pump_up(self, conn: _Conn) -> None:
        """client -> server, message by message."""
        try:
            # startup phase: untyped messages (SSLRequest / GSSENCRequest / StartupMessage)
            while True:
                head = _recv_exact(conn.client, 4)
                (length,) = struct.unpack("!I", head)
                body = _recv_exact(conn.client, length - 4)
                code = struct.unpack("!I", body[:4])[0] if len(body) >= 4 else 0
                conn.server.sendall(head + body)
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    # the server answers one byte ('N' here: no TLS on the test server);
                    # the client then sends the real startup message.
                    continue
                break
            while True:
                mtype = _recv_exact(conn.client, 1)
                head = _recv_exact(conn.client, 4)
                (length,) = struct.unpack("!I", head)
                body = _recv_exact(conn.client, length - 4)
                text = sql_of(mtype, body)
                decision = "pass"
                if text is not None:
                    with self._lock:
                        index = len(self.statements)
                        self.statements.append(text)
                        if not self.held.is_set():
                            decision = self.decide(text, index)
                            if decision != "pass":
                                self.held_text = text
                if decision == "pause":
                    self.held.set()
                    self._resume.wait()
                if decision == "hold":
                    conn.held = True
                    self.held.set()
                    self._drain_until_closed(conn)
                    return
                conn.server.sendall(mtype + head + body)
                if decision == "forward-then-hold":
                    conn.held = True
                    self.held.set()
                    self._drain_until_closed(conn)
                    return
        except (ConnectionError, OSError):
            pass
        conn.close()

    def _drain_until_closed(self, conn: _Conn) -> None:
        """Swallow what the (stopped) client still sends until it dies, then close both
        sides: the server sees the connection drop exactly when the client process dies."""
        try:
            while conn.client.recv(65536):
                pass
        except OSError:
            pass
        conn.close()
