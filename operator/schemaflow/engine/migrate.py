"""The engine's one entry: every ``schemaflow migrate`` action on typed options.

``migrate`` is the sequence up and down share (connect, take golang-migrate's advisory
lock, preflight, apply, verify); ``connected`` is the session every action and the deploy
gate (``schemaflow wait --database``) open. The CLI (migrate_cmd) only parses flags into
:class:`MigrateOptions`, calls ``ACTIONS[action]`` and prints the :class:`Report`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from schemaflow.dburl import read_database_url
from schemaflow.engine import db
from schemaflow.engine.advisory import acquire, describe, holders, migration_lock_keys, release
from schemaflow.engine.batching import FIRST_SIZE
from schemaflow.engine.options import ConnectOptions, MigrateOptions
from schemaflow.engine.plan import dry_run
from schemaflow.engine.preflight import PreflightOptions, enforce, run_preflight
from schemaflow.engine.report import Report
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
    ChecksumDrift,
    DirtyDatabase,
    LockNotAcquired,
    PendingMigrations,
    UsageError,
    VerificationFailed,
)

# The operator passes a SchemaMigration's spec.verify.extraChecks in this variable
# (the Job's container has no shell to write a file), in the verify-file format.
EXTRA_CHECKS_ENV = "SCHEMAFLOW_EXTRA_CHECKS"


def url_or_none(opts: MigrateOptions) -> str | None:
    try:
        return read_database_url(opts.connect.database_url_file)
    except UsageError:
        return None


def source_for(opts: MigrateOptions) -> Source:
    source = load_source(opts.migrations_dir)
    target = opts.target
    # a nonexistent target is a usage error, found before connecting
    if target is not None and opts.action == "down":
        source.check_down_target(target)
    elif target is not None:
        source.get(target)
    return source


@contextmanager
def connected(options: ConnectOptions, report: Report | None = None, *, lock: bool = False,
              create: bool = True, connect_timeout: int = 10
              ) -> Iterator[tuple[db.Session, VersionTable]]:
    """A session with the version table resolved; with ``lock``, golang-migrate's advisory
    lock held and (unless not ``create``: plan changes nothing) the tables created. Lock
    statistics land in ``report`` either way."""
    settings = db.Settings(lock_timeout=options.lock_timeout,
                           statement_timeout=options.statement_timeout,
                           lock_retries=options.lock_retries)
    session = db.connect(read_database_url(options.database_url_file), settings,
                         connect_timeout=connect_timeout)
    advisory_wait = 0.0
    try:
        vt = VersionTable(resolve_schema(session.conn, options.schema), options.table)
        if not lock:
            yield session, vt
            return
        keys = lock_keys(session, vt)
        try:
            advisory_wait = acquire(session, keys, options.lock_wait)
        except LockNotAcquired:
            advisory_wait = options.lock_wait
            raise
        try:
            if create:  # idempotent: retried like a step when it waits too long for a lock
                session.retry_locks(lambda: ensure_tables(session.conn, vt), "version table")
            yield session, vt
        finally:
            release(session, keys)
    finally:
        if report is not None:
            report.lock_time_lost_seconds = advisory_wait + session.stats.lock_time_lost_seconds
            report.lock_retries = session.stats.lock_retries
        session.conn.close()


def lock_keys(session: db.Session, vt: VersionTable) -> tuple[int, ...]:
    row = session.conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return migration_lock_keys(str(row[0]), vt.schema, vt.table)


OUTSIDE = ("schema_migrations was last changed outside schemaflow (golang-migrate, or a "
           "manual force or UPDATE): schemaflow's history has no record of that change, so "
           "its drift check cannot cover the files applied then")


def observe(session: db.Session, vt: VersionTable, runner: Runner, state: State,
            report: Report) -> list[dict[str, Any]]:
    """What status and validate report beyond the version: pending files, drift, changes
    made outside schemaflow, a migration running now, and the recovery of a dirty state
    (only when no migration is running: then the dirty flag is that migration's)."""
    report.details["pending"] = [v for v in runner.source.versions
                                 if state.version is None or v > state.version]
    report.details["drift"] = runner.drift(state)
    if written_outside(session.conn, vt):
        report.details["outside"] = OUTSIDE
    running = holders(session.conn, lock_keys(session, vt))
    if running:
        report.details["running"] = running
    else:
        recovery = runner.recovery(state)
        if recovery is not None:
            report.details["recovery"] = recovery
    return running


def preflight(session: db.Session, opts: MigrateOptions, report: Report, state: State,
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


def extra_checks(opts: MigrateOptions) -> list[Check]:
    """The checks of ``--extra-checks`` files and of ``$SCHEMAFLOW_EXTRA_CHECKS``."""
    checks = [c for path in opts.extra_checks for c in load_checks(path)]
    inline = os.environ.get(EXTRA_CHECKS_ENV, "")
    if inline.strip():
        checks.extend(parse_checks(inline, f"${EXTRA_CHECKS_ENV}"))
    return checks


def verify(session: db.Session, opts: MigrateOptions, report: Report,
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


def migrate(opts: MigrateOptions, report: Report, source: Source, direction: str,
             select: Select, extra: list[Check] | None = None) -> None:
    """The one apply sequence of up and down: connect, lock, preflight, apply, then verify
    (when ``extra`` is given: up --verify). ``select`` picks the migrations to run, given
    the dirty one to re-run."""
    down_target = opts.target if direction == "down" else None
    with connected(opts.connect, report, lock=True) as (session, vt):
        runner = Runner(session, source, vt, opts.apply.batch_size, down_target=down_target)
        state = runner.state()
        report.from_version, report.to_version, report.dirty = state.version, state.version, state.dirty
        rerun = runner.resume_dirty(state, direction)
        pending = select(session, vt, runner, state, rerun)
        files = [m.up if direction == "up" else m.down for m in pending]
        resuming = (rerun.up if direction == "up" else rerun.down).path.name if rerun else None
        preflight(session, opts, report, state, files, opts.apply.preflight, resuming)
        if pending:
            report.to_version, report.dirty = runner.run(pending, direction, state), False
        else:
            report.no_change = True
            verb = "apply" if direction == "up" else "roll back"
            session.progress(f"nothing to {verb}: at version {show(state.version)}")
        if extra is not None:
            verify(session, opts, report, report.to_version, extra, vt)


def up(opts: MigrateOptions, report: Report) -> None:
    source = source_for(opts)
    # read before anything is applied, so a malformed extra check changes nothing
    extra = extra_checks(opts) if opts.verify else None
    report.direction = "up"
    report.target_version = opts.target if opts.target is not None else source.latest

    def select(session: db.Session, vt: VersionTable, runner: Runner, state: State,
               rerun: Migration | None) -> list[Migration]:
        outside = written_outside(session.conn, vt)
        if outside:
            session.progress(f"note: {OUTSIDE}")
        report.details["drift"] = runner.refuse_drift(state, opts.allow_checksum_drift, outside)
        return ([rerun] if rerun else []) + runner.pending_up(state, opts.target)

    migrate(opts, report, source, "up", select, extra)


def down(opts: MigrateOptions, report: Report) -> None:
    source = source_for(opts)
    report.direction = "down"

    def select(session: db.Session, vt: VersionTable, runner: Runner, state: State,
               rerun: Migration | None) -> list[Migration]:
        pending = [rerun] if rerun else runner.pending_down(state, opts.target, opts.steps)
        report.target_version = (opts.target if opts.target is not None else
                                 runner.version_before(pending[-1].version) if pending
                                 else state.version)
        return pending

    migrate(opts, report, source, "down", select)


def status(opts: MigrateOptions, report: Report) -> None:
    source = source_for(opts)
    with connected(opts.connect, report, lock=False) as (session, vt):
        look(session, vt, source, report)


def look(session: db.Session, vt: VersionTable, source: Source, report: Report
         ) -> tuple[Runner, State, list[dict[str, Any]]]:
    """What status and validate both read: (runner, state, the running migration)."""
    runner = Runner(session, source, vt)
    state = runner.state()
    report.from_version = report.to_version = state.version
    report.dirty = state.dirty
    report.target_version = source.latest
    report.no_change = True
    return runner, state, observe(session, vt, runner, state, report)


def validate(opts: MigrateOptions, report: Report) -> None:
    """status as a gate (Flyway's validate): dirty, drift, and with --no-pending pending
    files fail; the JSON result carries everything status shows."""
    source = source_for(opts)
    with connected(opts.connect, report, lock=False) as (session, vt):
        runner, state, running = look(session, vt, source, report)
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


def verify_cmd(opts: MigrateOptions, report: Report) -> None:
    with connected(opts.connect, report, lock=False) as (session, vt):
        state = read_state(session.conn, vt)
        report.from_version = report.to_version = state.version
        report.dirty = state.dirty
        report.no_change = True
        if state.version is None and not opts.extra_checks \
                and not os.environ.get(EXTRA_CHECKS_ENV, "").strip():
            raise UsageError("the database has no migration applied: nothing to verify")
        verify(session, opts, report, state.version, extra_checks(opts), vt)


def plan(opts: MigrateOptions, report: Report) -> None:
    source = source_for(opts)
    report.direction = "up"
    report.target_version = opts.target if opts.target is not None else source.latest
    with connected(opts.connect, report, lock=True, create=False) as (session, vt):
        runner = Runner(session, source, vt, opts.apply.batch_size)
        state = runner.state()
        report.from_version = report.to_version = state.version
        report.dirty = state.dirty
        pending = runner.pending_up(state, opts.target)
        report.details["drift"] = runner.drift(state)
        preflight(session, opts, report, state, [m.up for m in pending],
                   "off" if opts.apply.preflight == "off" else "warn")
        report.no_change = True
        ignore = {f"{vt.schema}.{vt.table}", f"{vt.schema}.{vt.history_name}"}
        plan = dry_run(session, pending, opts.apply.batch_size or FIRST_SIZE, ignore)
        report.details["plan"] = plan.as_dict()


def force(opts: MigrateOptions, report: Report) -> None:
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
    with connected(opts.connect, report, lock=True) as (session, vt):
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
    "up": up, "down": down, "status": status, "verify": verify_cmd, "plan": plan,
    "force": force, "validate": validate,
}
