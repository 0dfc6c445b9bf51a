"""``schemaflow demo``: the whole flow on a throw-away PostgreSQL in under a minute.

Starts the embedded PostgreSQL 18, creates database ``domainflow``, loads DomainFlow's
version-26 baseline (``schemaflow.baseline``), then runs audit -> plan -> up -> verify ->
audit with the real CLI code paths and stops the server (``--keep`` leaves it running).
The demo connects over the server's trusted unix socket, so no password is ever printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

DEMO_DB = "domainflow"


def configure(parser: argparse.ArgumentParser) -> None:
    from schemaflow.baseline import VARIANTS

    parser.add_argument("--keep", action="store_true",
                        help="leave the server running and print how to connect")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="data volume of the baseline (1.0: ~10k DNS results)")
    parser.add_argument("--variant", default="synthetic", choices=VARIANTS,
                        help="shape of the version-26 database (schemaflow.baseline.VARIANTS): "
                        "synthetic (generated drift), production-like (objects in another shape or "
                        "under other names), already-aligned, half-applied (a hand-run stopped midway)")


def run(args: argparse.Namespace) -> int:
    from schemaflow import cli
    from schemaflow.engine import db
    from schemaflow.localpg import LocalPostgres

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    t0 = time.monotonic()
    pg = LocalPostgres("embedded", password=secrets.token_urlsafe(18))
    _section("start PostgreSQL 18 (embedded)")
    pg.start()
    try:
        admin = db.connect(pg.admin_conninfo())
        admin.conn.execute(db.sql.SQL("CREATE DATABASE {}").format(db.sql.Identifier(DEMO_DB)))
        admin.conn.close()
        conninfo = pg.admin_conninfo(DEMO_DB)
        os.environ["DATABASE_URL"] = conninfo  # this process only: the CLI reads it from here
        _load_baseline(conninfo, args.scale, args.variant)
        _audit(conninfo, "before")
        _section("schemaflow migrate plan")
        codes = {"plan": _plan_summary(cli.main)}
        for step, argv in (("up", ["migrate", "up", "--preflight", "warn"]),
                           ("verify", ["migrate", "verify"])):
            _section(f"schemaflow {' '.join(argv)}")
            codes[step] = cli.main(argv)
        _audit(conninfo, "after")
        _section(f"done in {time.monotonic() - t0:.1f}s: " +
                 ", ".join(f"{k} exit {v}" for k, v in codes.items()))
        if args.keep:
            print(_kept(pg))
        return max(codes.values())
    finally:
        if not args.keep:
            pg.cleanup()


def _kept(pg: Any) -> str:
    """How to use the server left running: a URL that works as is with schemaflow, psql and
    any libpq client (the trusted unix socket: no password), what to try, how to stop."""
    url = f"postgresql://postgres@/{DEMO_DB}?host={quote(str(pg.socket_dir))}&port={pg.port}"
    pid = (pg.data / "postmaster.pid").read_text().split()[0]
    return "\n".join([
        "server left running; to use it:",
        f"  export DATABASE_URL='{url}'",
        "  .venv/bin/schemaflow migrate history          # the run you just watched",
        "  .venv/bin/schemaflow migrate down --preflight warn   # back to 26; up again after",
        f"  {pg.tool('psql')} \"$DATABASE_URL\"",
        f"stop it with:\n  kill -INT {pid} && rm -rf {pg.root}"])


def _section(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def _plan_summary(main: Callable[[list[str]], int]) -> int:
    """Run the plan and print a summary (the full list is `schemaflow migrate plan`'s)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["migrate", "plan", "--output", "json"])
    doc = json.loads(out.getvalue())
    plan = doc.get("plan") or {"changes": [], "notes": []}
    counts = Counter((c["change"], c["kind"]) for c in plan["changes"])
    print(f"version {doc.get('fromVersion')} -> {doc.get('targetVersion')}, "
          f"rolled back; {len(plan['changes'])} catalog changes:")
    for (change, kind), n in sorted(counts.items()):
        print(f"  {change:8} {kind:10} {n:4}")
    tables = [c["name"] for c in plan["changes"] if c["kind"] == "table"]
    if tables:
        print(f"  tables: {', '.join(tables)}")
    print(f"  {len(plan['notes'])} note(s), e.g. {plan['notes'][-1]}" if plan["notes"] else "")
    return code


def _load_baseline(conninfo: str, scale: float, variant: str = "synthetic") -> None:
    _section(f"load DomainFlow version 26 (scale {scale:g}, variant {variant})")
    loader = _optional("schemaflow.baseline", "load_baseline")
    if loader is None:
        print("baseline loader not available: continuing with an empty database")
        return
    t0 = time.monotonic()
    loader(conninfo, scale, variant=variant)
    print(f"loaded in {time.monotonic() - t0:.1f}s")


def _audit(conninfo: str, when: str) -> None:
    audit = _optional("schemaflow.audit", "audit_database")
    if audit is None:
        return
    _section(f"schemaflow audit ({when})")
    findings = list(audit(conninfo))
    still_open = [f for f in findings if isinstance(f, dict) and f.get("open")]
    print(f"{len(still_open)} of {len(findings)} known mismatches open")
    for f in findings:
        print(f"  {_finding(f)}")


def _finding(f: Any) -> str:
    """One audit item on one line (``{"number", "table", "title", "open", "failing"}``)."""
    if not isinstance(f, dict):
        return str(f)
    failing = f.get("failing") or []
    state = f"OPEN ({len(failing)} failing check(s))" if f.get("open") else "fixed"
    return f"#{f.get('number', '?'):>2} {f.get('table', '')}: {f.get('title', '')} - {state}"


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    """A function of a module that may not be part of this build."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        return None
