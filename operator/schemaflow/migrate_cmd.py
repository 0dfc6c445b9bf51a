"""``schemaflow migrate up|down|status|validate|verify|plan|force``: the migration Job's entrypoint.

The database URL comes from ``DATABASE_URL`` or ``--database-url-file``, never from a flag
value (flags show in ``ps`` and in Pod specs). Every command produces the JSON result of
docs/architecture.md: on stdout with ``--output json``, in ``--report PATH`` (under 4 KiB,
for ``/dev/termination-log``), as readable text otherwise. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from schemaflow.engine import db
from schemaflow.engine.advisory import describe
from schemaflow.engine.migrate import ACTIONS, url_or_none
from schemaflow.engine.options import MigrateOptions
from schemaflow.engine.preflight import MODES
from schemaflow.engine.report import Report, render_text, write_report
from schemaflow.errors import ApplyFailed, SchemaflowError

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def positive_int(text: str) -> int:
    """An integer of at least 1 (``down --steps 0`` would do nothing, and -1 is not a count)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def duration(text: str) -> float:
    """Seconds from ``5``, ``5s``, ``500ms``, ``2m`` (the CRD's safety fields use units)."""
    m = _DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 5s, 500ms or 2m")
    return float(m.group(1)) * _UNIT[m.group(2)]


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, help="migration directory (default: the bundled "
                        "sql/migrations, or $SCHEMAFLOW_SQL_DIR/migrations)")
    common.add_argument("--verify-dir", type=Path,
                        help="verify checks directory (default: <dir>/../verify)")
    common.add_argument("--database-url-file", type=Path,
                        help="read the database URL from this file instead of $DATABASE_URL")
    common.add_argument("--schema", help="schema of the version table (default: current_schema())")
    common.add_argument("--table", default="schema_migrations", help="version table name")
    common.add_argument("--output", choices=["text", "json"], default="text",
                        help="readable text, or the JSON result as one line on stdout")
    common.add_argument("--report", type=Path, help="also write the JSON result here "
                        "(under 4 KiB, e.g. /dev/termination-log)")
    common.add_argument("--lock-timeout", type=duration, default=5.0,
                        help="lock_timeout for every statement (default 5s)")
    common.add_argument("--lock-retries", type=int, default=10,
                        help="retries of a step that hit lock_timeout (default 10)")
    common.add_argument("--statement-timeout", type=duration, default=0.0,
                        help="statement_timeout (default 0 = none; checks default to 60s)")
    common.add_argument("--lock-wait", type=duration, default=30.0,
                        help="how long to wait for the migration advisory lock (default 30s)")

    def applying(p: argparse.ArgumentParser, preflight_default: str) -> None:
        p.add_argument("--batch-size", type=int, default=None,
                       help="rows per batch for batch steps, fixed (default: each batch sized "
                            "to take about 0.2 s, starting at 5000)")
        p.add_argument("--preflight", choices=MODES, default=preflight_default,
                       help=f"preflight mode (default {preflight_default})")
        p.add_argument("--app-pattern", action="append", dest="app_patterns",
                       help="LIKE pattern of application_name counted as the application "
                       "(repeatable; default %%: any session but schemaflow's)")
        p.add_argument("--max-xact-age", type=duration, default=60.0,
                       help="fail preflight on transactions open longer than this (default 60s)")

    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    up = sub.add_parser("up", parents=[common], help="apply pending migrations")
    up.add_argument("--target", type=int, help="version to migrate to (default: latest)")
    up.add_argument("--verify", action="store_true", help="run the version's checks after "
                    "applying (exit 3 if one fails; the database stays migrated)")
    up.add_argument("--extra-checks", type=Path, action="append", default=[],
                    help="a verify file with more checks (repeatable)")
    up.add_argument("--allow-checksum-drift", action="store_true",
                    help="apply even though an applied migration file was edited")
    applying(up, "strict")
    down = sub.add_parser("down", parents=[common], help="roll back migrations (one by default)")
    group = down.add_mutually_exclusive_group()
    group.add_argument("--target", type=int, help="version to roll back to (0: before the "
                       "first; default: one migration back)")
    group.add_argument("--steps", type=positive_int,
                       help="number of migrations to roll back, 1 or more (default: 1)")
    applying(down, "warn")
    text = ("version, dirty flag, pending, drift, changes made outside schemaflow, a "
            "migration running now; informational: exits 0 whatever it finds (`validate` "
            "is the gate)")
    sub.add_parser("status", parents=[common], help=text, description=text)
    text = ("CI gate: exit 5 if dirty, 2 if an applied file was edited (drift), with "
            "--no-pending 2 if files are not applied yet; 0 otherwise")
    validate = sub.add_parser("validate", parents=[common], help=text, description=text)
    validate.add_argument("--no-pending", action="store_true",
                          help="also fail (exit 2) when migration files are not yet applied")
    ver = sub.add_parser("verify", parents=[common], help="run the current version's checks")
    ver.add_argument("--extra-checks", type=Path, action="append", default=[],
                     help="a verify file with more checks (repeatable)")
    plan = sub.add_parser("plan", parents=[common], help="dry run in rolled-back transactions, "
                          "each holding its locks at most 1s (0.5s of steps, then the catalog diff)")
    plan.add_argument("--target", type=int, help="version to plan to (default: latest)")
    applying(plan, "warn")
    force = sub.add_parser("force", parents=[common],
                           help="set the version without running anything (clears dirty)")
    force.add_argument("version", type=int, help="version to record (-1: no version)")
    for action, (module, text) in OWN_MODULES.items():
        own = sub.add_parser(action, help=text, description=text)
        importlib.import_module(module).configure(own)
        own.set_defaults(_module=module)  # cli.main runs that module's run()


# actions implemented in their own module (configure()/run(), as cli.SUBCOMMANDS)
OWN_MODULES: dict[str, tuple[str, str]] = {
    "create": ("schemaflow.create_cmd", "write the next version's up, down and verify files"),
    "history": ("schemaflow.history_cmd", "every recorded run: version, direction, when, "
                "how long, by whom, checksum, verified, result"),
}


def run(args: argparse.Namespace) -> int:
    opts = MigrateOptions.from_args(args)
    report = Report(command=opts.action)
    try:
        ACTIONS[opts.action](opts, report)
    except SchemaflowError as exc:
        _finish(opts, report.as_dict(exc), exc)
        raise
    except db.Error as exc:  # connection lost mid-run and the like
        locked = db.sqlstate(exc) in db.RETRYABLE
        err = ApplyFailed(f"database error: {db.redact(str(exc).strip(), url_or_none(opts))}",
                          hint="another session holds a lock this query needs; find it in "
                          "pg_stat_activity / pg_locks, then re-run" if locked else
                          "the connection failed mid-run; check `schemaflow migrate status`")
        _finish(opts, report.as_dict(err), err)
        raise err from None
    _finish(opts, report.as_dict(), None)
    return 0


def _finish(opts: MigrateOptions, doc: dict[str, Any], exc: SchemaflowError | None) -> None:
    if opts.report:
        try:
            write_report(opts.report, doc)
        except OSError as err:  # the result still reaches stdout and the exit code
            print(f"schemaflow: cannot write --report {opts.report}: {err.strerror}",
                  file=sys.stderr)
    if exc is not None:
        exc.report = doc  # cli.main prints it (json) or the message (text)
        return
    if opts.output == "json":
        print(json.dumps(doc, default=str))
    else:
        print(render_text(doc))
        for line in _text_details(doc):
            print(line)


def _text_details(doc: dict[str, Any]) -> list[str]:
    lines = []
    if "pending" in doc:
        lines.append(f"  pending: {', '.join(map(str, doc['pending'])) or 'none'}")
    for d in doc.get("drift") or []:
        lines.append(f"  DRIFT {d['file']}: applied {d['appliedChecksum']}, "
                     f"file now {d['fileChecksum']}")
    if doc.get("running"):
        lines.append(f"  RUNNING: a migration holds the migration lock: {describe(doc['running'])}"
                     f"{'; the dirty flag is its own, do not force' if doc.get('dirty') else ''}")
    if doc.get("outside"):
        lines.append(f"  OUTSIDE: {doc['outside']}")
    if doc.get("recovery"):
        lines.append(f"  DIRTY: {doc['recovery']['interrupted']}")
        lines.append(f"  recovery: {doc['recovery']['hint']}")
    plan = doc.get("plan")
    if plan:
        for c in plan["changes"]:
            lines.append(f"  {c['change']:8} {c['kind']:10} {c['name']}  {c['definition']}")
        if not plan["changes"]:
            lines.append("  no schema objects would change")
        lines.extend(f"  note: {n}" for n in plan["notes"])
    return lines
