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
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemaflow.dburl import read_database_url
from schemaflow.engine import db
from schemaflow.engine.advisory import acquire, describe, holders, migration_lock_keys, release
from schemaflow.engine.batching import FIRST_SIZE
from schemaflow.engine.options import MigrateOptions
from schemaflow.engine.plan import dry_run
from schemaflow.engine.preflight import MODES, PreflightOptions, enforce, run_preflight
from schemaflow.engine.report import Report, render_text, write_report
from schemaflow.engine.runner import Runner, show
from schemaflow.engine.sources import Migration, MigrationFile, Source, load_source
from schemaflow.engine.verify import (
    Check,
    checks_for_version,
    load_checks,
    parse_checks,
    run_checks,
    summarize,
)
from schemaflow.engine.versions import (
    State,
    VersionTable,
    ensure_tables,
    read_state,
    record_history,
    record_verification,
    resolve_schema,
    write_state,
    written_outside,
)
from schemaflow.errors import (
    ApplyFailed,
    ChecksumDrift,
    DirtyDatabase,
    LockNotAcquired,
    PendingMigrations,
    SchemaflowError,
    UsageError,
    VerificationFailed,
)

EXTRA_CHECKS_ENV = "SCHEMAFLOW_EXTRA_CHECKS"
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
                          "each holding its locks at most 1s (or --lock-timeout if lower)")
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
        err = ApplyFailed(f"database error: {db.redact(str(exc).strip(), _url_or_none(opts))}",
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


# -- plumbing ----------------------------------------------------------------------------
def _url_or_none(opts: MigrateOptions) -> str | None:
    try:
        return read_database_url(opts.connect.database_url_file)
    except UsageError:
        return None


def _source(opts: MigrateOptions) -> Source:
    source = load_source(opts.migrations_dir)
    target = opts.target
    # a nonexistent target is a usage error, found before connecting
    if target is not None and opts.action == "down":
        source.check_down_target(target)
    elif target is not None:
        source.get(target)
    return source


@contextmanager
def _connected(opts: MigrateOptions, report: Report, *, lock: bool,
               create: bool = True) -> Iterator[tuple[db.Session, VersionTable]]:
    """A session with the version table resolved; with ``lock``, golang-migrate's advisory
    lock held and (unless not ``create``: plan changes nothing) the tables created. Lock
    statistics land in the report either way."""
    conn = opts.connect
    settings = db.Settings(lock_timeout=conn.lock_timeout, statement_timeout=conn.statement_timeout,
                           lock_retries=conn.lock_retries)
    session = db.connect(read_database_url(conn.database_url_file), settings)
    advisory_wait = 0.0
    try:
        vt = VersionTable(resolve_schema(session.conn, conn.schema), conn.table)
        if not lock:
            yield session, vt
            return
        keys = _lock_keys(session, vt)
        try:
            advisory_wait = acquire(session, keys, conn.lock_wait)
        except LockNotAcquired:
            advisory_wait = conn.lock_wait
            raise
        try:
            if create:  # idempotent: retried like a step when it waits too long for a lock
                session.retry_locks(lambda: ensure_tables(session.conn, vt), "version table")
            yield session, vt
        finally:
            release(session, keys)
    finally:
        report.lock_wait_seconds = advisory_wait + session.stats.lock_wait_seconds
        report.lock_retries = session.stats.lock_retries
        session.conn.close()


def _lock_keys(session: db.Session, vt: VersionTable) -> tuple[int, ...]:
    row = session.conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return migration_lock_keys(str(row[0]), vt.schema, vt.table)


OUTSIDE = ("schema_migrations was last changed outside schemaflow (golang-migrate, or a "
           "manual force or UPDATE): schemaflow's history has no record of that change, so "
           "its drift check cannot cover the files applied then")


def _observe(session: db.Session, vt: VersionTable, runner: Runner, state: State,
             report: Report) -> list[dict[str, Any]]:
    """What status and validate report beyond the version: pending files, drift, changes
    made outside schemaflow, a migration running now, and the recovery of a dirty state
    (only when no migration is running: then the dirty flag is that migration's)."""
    report.details["pending"] = [v for v in runner.source.versions
                                 if state.version is None or v > state.version]
    report.details["drift"] = runner.drift(state)
    if written_outside(session.conn, vt):
        report.details["outside"] = OUTSIDE
    running = holders(session.conn, _lock_keys(session, vt))
    if running:
        report.details["running"] = running
    else:
        recovery = runner.recovery(state)
        if recovery is not None:
            report.details["recovery"] = recovery
    return running


def _preflight(session: db.Session, opts: MigrateOptions, report: Report, state: State,
               files: list[MigrationFile], mode: str, resuming: str | None = None) -> None:
    options = PreflightOptions(mode=mode, app_patterns=list(opts.apply.app_patterns),
                               max_xact_age=opts.apply.max_xact_age, resuming=resuming)
    results = run_preflight(session, state, files, options)
    report.preflight = [r.as_dict() for r in results]
    # before anything runs (the text result repeats only those that did not pass)
    for r in results:
        if opts.output == "text" or r.status != "pass":
            session.progress(f"preflight {r.status}: {r.name}: {r.message}")
    enforce(results, mode)


def _extra_checks(opts: MigrateOptions) -> list[Check]:
    """The checks of ``--extra-checks`` files and of ``$SCHEMAFLOW_EXTRA_CHECKS``."""
    checks = [c for path in opts.extra_checks for c in load_checks(path)]
    # The operator passes a SchemaMigration's spec.verify.extraChecks this way (the Job's
    # container has no shell to write a file), in the verify-file format.
    inline = os.environ.get(EXTRA_CHECKS_ENV, "")
    if inline.strip():
        checks.extend(parse_checks(inline, f"${EXTRA_CHECKS_ENV}"))
    return checks


def _verify(session: db.Session, opts: MigrateOptions, report: Report,
            version: int | None, extra: list[Check], vt: VersionTable | None = None) -> None:
    bundled = checks_for_version(opts.checks_dir, version) if version is not None else []
    checks = bundled + extra
    if not checks:
        session.progress(f"no verification checks for version {show(version)} in "
                         f"{opts.checks_dir}: nothing to verify")
    else:
        session.progress(f"verifying version {show(version)}: {len(checks)} check(s)")
    results = run_checks(session, checks, statement_timeout=opts.connect.statement_timeout or 60.0)
    report.verification = summarize(results)
    failed = [r.check.name for r in results if not r.passed]
    if vt is not None and version is not None:  # what the deploy gate (wait --database) reads
        session.retry_locks(lambda: record_verification(
            session.conn, vt, version, not failed, ", ".join(failed) or None), "history table")
    if failed:
        raise VerificationFailed(
            f"{len(failed)} of {len(results)} verification check(s) failed: {', '.join(failed)}",
            hint=f"the database stays at version {show(version)}; roll it back with "
            "`schemaflow migrate down` if needed")


# -- actions -----------------------------------------------------------------------------
Select = Callable[[db.Session, VersionTable, Runner, State, Migration | None], list[Migration]]


def _migrate(opts: MigrateOptions, report: Report, source: Source, direction: str,
             select: Select, extra: list[Check] | None = None) -> None:
    """The one apply sequence of up and down: connect, lock, preflight, apply, then verify
    (when ``extra`` is given: up --verify). ``select`` picks the migrations to run, given
    the dirty one to re-run."""
    down_target = opts.target if direction == "down" else None
    with _connected(opts, report, lock=True) as (session, vt):
        runner = Runner(session, source, vt, opts.apply.batch_size, down_target=down_target)
        state = runner.state()
        report.from_version, report.to_version, report.dirty = state.version, state.version, state.dirty
        rerun = runner.resume_dirty(state, direction)
        pending = select(session, vt, runner, state, rerun)
        files = [m.up if direction == "up" else m.down for m in pending]
        resuming = (rerun.up if direction == "up" else rerun.down).path.name if rerun else None
        _preflight(session, opts, report, state, files, opts.apply.preflight, resuming)
        if pending:
            report.to_version, report.dirty = runner.run(pending, direction, state), False
        else:
            report.no_change = True
            verb = "apply" if direction == "up" else "roll back"
            session.progress(f"nothing to {verb}: at version {show(state.version)}")
        if extra is not None:
            _verify(session, opts, report, report.to_version, extra, vt)


def _up(opts: MigrateOptions, report: Report) -> None:
    source = _source(opts)
    # read before anything is applied, so a malformed extra check changes nothing
    extra = _extra_checks(opts) if opts.verify else None
    report.direction = "up"
    report.target_version = opts.target if opts.target is not None else source.latest

    def select(session: db.Session, vt: VersionTable, runner: Runner, state: State,
               rerun: Migration | None) -> list[Migration]:
        outside = written_outside(session.conn, vt)
        if outside:
            session.progress(f"note: {OUTSIDE}")
        report.details["drift"] = runner.refuse_drift(state, opts.allow_checksum_drift, outside)
        return ([rerun] if rerun else []) + runner.pending_up(state, opts.target)

    _migrate(opts, report, source, "up", select, extra)


def _down(opts: MigrateOptions, report: Report) -> None:
    source = _source(opts)
    report.direction = "down"

    def select(session: db.Session, vt: VersionTable, runner: Runner, state: State,
               rerun: Migration | None) -> list[Migration]:
        pending = [rerun] if rerun else runner.pending_down(state, opts.target, opts.steps)
        report.target_version = (opts.target if opts.target is not None else
                                 runner.version_before(pending[-1].version) if pending
                                 else state.version)
        return pending

    _migrate(opts, report, source, "down", select)


def _status(opts: MigrateOptions, report: Report) -> None:
    source = _source(opts)
    with _connected(opts, report, lock=False) as (session, vt):
        _look(session, vt, source, report)


def _look(session: Any, vt: Any, source: Any, report: Report) -> tuple[Any, Any, Any]:
    """What status and validate both read: (runner, state, the running migration)."""
    runner = Runner(session, source, vt)
    state = runner.state()
    report.from_version = report.to_version = state.version
    report.dirty = state.dirty
    report.target_version = source.latest
    report.no_change = True
    return runner, state, _observe(session, vt, runner, state, report)


def _validate(opts: MigrateOptions, report: Report) -> None:
    """status as a gate (Flyway's validate): dirty, drift, and with --no-pending pending
    files fail; the JSON result carries everything status shows."""
    source = _source(opts)
    with _connected(opts, report, lock=False) as (session, vt):
        runner, state, running = _look(session, vt, source, report)
        if state.dirty:
            if running:
                raise DirtyDatabase(f"the database is dirty at version {show(state.version)}: "
                                    f"a migration is running now: {describe(running)}",
                                    hint="wait for it to finish, then validate again")
            rec = report.details["recovery"]
            raise DirtyDatabase(f"the database is dirty at version {show(state.version)}: "
                                f"{rec['interrupted']}", hint=rec["hint"])
        runner.pending_up(state, None)  # a version the directory does not know: exit 1
        drift = report.details["drift"]
        if drift:
            raise ChecksumDrift(
                "already-applied migration file(s) edited since schemaflow applied them: "
                f"{', '.join(d['file'] for d in drift)}"
                f"{'; ' + OUTSIDE if report.details.get('outside') else ''}",
                hint="restore the files as applied (a change belongs in a new migration)")
        pending = report.details["pending"]
        if pending and opts.no_pending:
            raise PendingMigrations(f"{len(pending)} migration(s) not applied: "
                                    f"{', '.join(map(str, pending))}",
                                    hint="run `schemaflow migrate up`")


def _verify_cmd(opts: MigrateOptions, report: Report) -> None:
    with _connected(opts, report, lock=False) as (session, vt):
        state = read_state(session.conn, vt)
        report.from_version = report.to_version = state.version
        report.dirty = state.dirty
        report.no_change = True
        if state.version is None and not opts.extra_checks \
                and not os.environ.get(EXTRA_CHECKS_ENV, "").strip():
            raise UsageError("the database has no migration applied: nothing to verify")
        _verify(session, opts, report, state.version, _extra_checks(opts), vt)


def _plan(opts: MigrateOptions, report: Report) -> None:
    source = _source(opts)
    report.direction = "up"
    report.target_version = opts.target if opts.target is not None else source.latest
    with _connected(opts, report, lock=True, create=False) as (session, vt):
        runner = Runner(session, source, vt, opts.apply.batch_size)
        state = runner.state()
        report.from_version = report.to_version = state.version
        report.dirty = state.dirty
        pending = runner.pending_up(state, opts.target)
        report.details["drift"] = runner.drift(state)
        _preflight(session, opts, report, state, [m.up for m in pending],
                   "off" if opts.apply.preflight == "off" else "warn")
        report.no_change = True
        ignore = {f"{vt.schema}.{vt.table}", f"{vt.schema}.{vt.history_name}"}
        plan = dry_run(session, pending, opts.apply.batch_size or FIRST_SIZE, ignore)
        report.details["plan"] = plan.as_dict()


def _force(opts: MigrateOptions, report: Report) -> None:
    source = load_source(opts.migrations_dir)
    forced = opts.force_version
    assert forced is not None  # force's positional argument
    # Like golang-migrate, force records any version; a version above the bundle's lowest
    # that is not bundled is refused as a likely typo (the base a bundle starts from, such
    # as DomainFlow's 26, is below it and allowed).
    if forced != -1 and forced not in source.versions \
            and forced > min(source.versions, default=forced):
        source.get(forced)
    version = None if forced == -1 else forced
    report.direction = "force"
    report.target_version = version
    with _connected(opts, report, lock=True) as (session, vt):
        state = read_state(session.conn, vt)
        report.from_version = state.version
        with session.conn.transaction():
            write_state(session.conn, vt, version, False)
            record_history(session.conn, vt, forced, "force", None, datetime.now(UTC),
                           state.version, "succeeded", f"forced from {show(state.version)}"
                           f"{' (dirty)' if state.dirty else ''}")
        report.to_version, report.dirty = version, False
        session.progress(f"version forced to {show(version)} (was {show(state.version)}"
                         f"{', dirty' if state.dirty else ''})")


ACTIONS: dict[str, Callable[[MigrateOptions, Report], None]] = {
    "up": _up, "down": _down, "status": _status, "verify": _verify_cmd, "plan": _plan,
    "force": _force, "validate": _validate,
}
