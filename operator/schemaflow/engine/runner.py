"""Apply and roll back migrations: transactions, golang-migrate's dirty semantics,
``lock_timeout`` retries, batches with progress, and the errors that say what to do.

A file whose steps are all ``transaction`` runs in ONE transaction with its version update
and history row, retried from its start on lock_timeout: a killed run leaves the old
version, never a dirty flag. Any other file follows golang-migrate: the version is set to
the target with dirty=true and committed, the steps run, then dirty=false. Such a file
must be idempotent; with ``-- schemaflow:rerunnable`` a dirty database is resumed by
re-running it from its start.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemaflow.engine import db
from schemaflow.engine.batching import FIRST_SIZE, TARGET_SECONDS, BatchSizer
from schemaflow.engine.progress import heartbeat, rows_written, step_name
from schemaflow.engine.sources import Migration, MigrationFile, Source, Step
from schemaflow.engine.sqlsplit import Statement
from schemaflow.engine.versions import (
    State,
    VersionTable,
    applied_checksums,
    applied_from,
    finish_history,
    last_run,
    read_state,
    record_history,
    start_history,
    write_state,
)
from schemaflow.errors import ApplyFailed, ChecksumDrift, DirtyDatabase, SchemaflowError, UsageError

BATCH_SETTING = "schemaflow.batch_size"
PROGRESS_EVERY = 1.0  # seconds between batch progress lines
ACTIVE_SQL_TRANSACTION = "25001"  # e.g. CREATE INDEX CONCURRENTLY in a transaction


class Interrupted(ApplyFailed):
    """Ctrl-C (SIGINT) during a run: the exit code a shell gives an interrupted command."""

    reason = "Interrupted"
    exit_code = 130


def show(version: int | None) -> str:
    return "none" if version is None else str(version)


def force_arg(version: int | None) -> str:
    """The ``force`` argument for a version (-1 is golang-migrate's "no version")."""
    return "-1" if version is None else str(version)


@dataclass
class Runner:
    session: db.Session
    source: Source
    vt: VersionTable
    batch_size: int | None = None  # rows per batch, fixed; None: sized to TARGET_SECONDS
    down_target: int | None = None  # `down --target`: 0 means no version
    # the interrupted run being resumed (resume_dirty): its history row says which version
    # it started from, which is what the resumed run records as its previous version
    resumed: dict[str, Any] | None = None
    at: str = ""  # file:line of the statement running, for an interruption's message

    @property
    def conn(self) -> db.Connection:
        return self.session.conn

    def state(self) -> State:
        return self.session.retry_locks(lambda: read_state(self.conn, self.vt), "version table")

    # -- what to run -------------------------------------------------------------------
    def drift(self, state: State) -> list[dict[str, Any]]:
        """Applied versions whose up file changed since it was applied."""
        out = []
        for version, checksum in sorted(applied_checksums(self.conn, self.vt).items()):
            if state.version is None or version > state.version:
                continue
            mig = next((m for m in self.source.migrations if m.version == version), None)
            if mig is not None and mig.up.checksum != checksum:
                out.append({"version": version, "file": mig.up.path.name,
                            "appliedChecksum": checksum[:12], "fileChecksum": mig.up.checksum[:12]})
        return out

    def refuse_drift(self, state: State, allow: bool, outside: bool = False
                     ) -> list[dict[str, Any]]:
        """``outside``: the version table changed outside schemaflow since (golang-migrate
        may have re-applied the edited file), which the error then says."""
        found = self.drift(state)
        if found and not allow:
            files = ", ".join(d["file"] for d in found)
            if outside:
                raise ChecksumDrift(
                    f"migration file(s) edited since schemaflow applied them: {files}; "
                    "schema_migrations was changed outside schemaflow since then, so "
                    "golang-migrate (or someone) may have re-applied the edited file(s)",
                    hint="if the database already matches the edited files, pass "
                    "--allow-checksum-drift; otherwise restore the files as schemaflow "
                    "applied them (a change belongs in a new migration)")
            raise ChecksumDrift(f"already-applied migration file(s) edited since they were "
                                f"applied: {files}",
                                hint="restore the files as applied (a change belongs in a new "
                                "migration), or pass --allow-checksum-drift if the edit is "
                                "known to be harmless")
        return found

    def pending_up(self, state: State, target: int | None) -> list[Migration]:
        self._known_current(state)
        target = self.source.latest if target is None else self.source.get(target).version
        if target is None:
            return []
        if state.version is not None and target < state.version:
            raise UsageError(f"target {target} is below the current version {state.version}",
                             hint=f"use `schemaflow migrate down --target {target}`")
        return [m for m in self.source.migrations
                if (state.version is None or m.version > state.version) and m.version <= target]

    def pending_down(self, state: State, target: int | None, steps: int | None) -> list[Migration]:
        self._known_current(state)
        if state.version is None:
            return []
        applied = [m for m in self.source.migrations if m.version <= state.version]
        if target is not None:
            self.source.check_down_target(target)
            if target > state.version:
                raise UsageError(f"target {target} is above the current version {state.version}",
                                 hint=f"use `schemaflow migrate up --target {target}`")
            return [m for m in reversed(applied) if m.version > target]
        return list(reversed(applied))[: 1 if steps is None else steps]

    def _known_current(self, state: State) -> None:
        """The current version must be a bundled one, or lie below the first bundled file
        (earlier migrations live elsewhere, e.g. the application's own directory)."""
        first = self.source.migrations[0].version if self.source.migrations else None
        below_first = first is not None and state.version is not None and state.version < first
        if state.version is not None and state.version not in self.source.versions \
                and not below_first:
            raise UsageError(f"the database is at version {state.version}, which is not in "
                             f"{self.source.directory}",
                             hint=f"available versions: {self.source.describe_versions()}; "
                             "use the migrations the database was migrated with")

    # -- dirty state -------------------------------------------------------------------
    def resume_dirty(self, state: State, direction: str) -> Migration | None:
        """When dirty: the migration to re-run (its file is rerunnable and the interrupted
        run went the same way), else DirtyDatabase with the exact recovery commands."""
        if not state.dirty:
            return None
        run = last_run(self.conn, self.vt)
        mig = None
        if run is not None and run["result"] in ("running", "failed"):
            mig = next((m for m in self.source.migrations if m.version == run["version"]), None)
        if mig is not None and run is not None and run["direction"] == direction:
            mf = mig.up if direction == "up" else mig.down
            if mf.rerunnable:
                self.resumed = run
                self.session.progress(f"database dirty at {show(state.version)} after an "
                                      f"interrupted {direction} of {mf.path.name}: re-running it")
                return mig
        raise DirtyDatabase(f"the database is dirty at version {show(state.version)}: "
                            f"{self._interrupted(run, state)}", hint=self._dirty_hint(state, run))

    def recovery(self, state: State) -> dict[str, str] | None:
        """For a dirty database: what was interrupted and the commands that recover it
        (shown by ``status``, so the way out is visible before anything is re-run)."""
        if not state.dirty:
            return None
        run = last_run(self.conn, self.vt)
        return {"interrupted": self._interrupted(run, state),
                "hint": self._dirty_hint(state, run)}

    def _interrupted(self, run: dict[str, Any] | None, state: State) -> str:
        if run is None or run["result"] not in ("running", "failed"):
            if state.version is None:  # golang-migrate's NilVersion: -1, dirty
                return ("a rollback of the first migration stopped midway (version -1 dirty, "
                        "no schemaflow history: golang-migrate?)")
            return "a previous run stopped midway (no schemaflow history: golang-migrate?)"
        return (f"the {run['direction']} run of migration {run['version']} started "
                f"{run['started']:%Y-%m-%d %H:%M:%S %Z} did not finish")

    def _dirty_hint(self, state: State, run: dict[str, Any] | None) -> str:
        interrupted = run is not None and run["result"] in ("running", "failed")
        if interrupted and run is not None and run["direction"] == "down":
            # down of run["version"] stopped: version already says the lower one
            complete, not_started = state.version, force_arg(run["version"])
            what = f"the rollback of {run['version']}"
        elif not interrupted and state.version is None and self.source.migrations:
            # golang-migrate writes -1 dirty before rolling back the first migration
            first = self.source.migrations[0].version
            complete, not_started = None, str(first)
            what = f"the rollback of the first migration ({first})"
        else:
            complete = state.version
            not_started = (force_arg(run["previous_version"]) if interrupted and run is not None
                           else self._hint_previous(state.version))
            what = f"migration {show(state.version)}"
        return (f"{self._rerun_advice(run)}inspect the database; if {what} is complete run "
                f"`schemaflow migrate force {force_arg(complete)}`, if its changes are absent run "
                f"`schemaflow migrate force {not_started}`; then run the migration again")

    def _rerun_advice(self, run: dict[str, Any] | None) -> str:
        """For an interrupted run of a rerunnable file, re-running it is the recovery."""
        if run is None or run["result"] not in ("running", "failed"):
            return ""
        mig = next((m for m in self.source.migrations if m.version == run["version"]), None)
        mf = None if mig is None else mig.up if run["direction"] == "up" else mig.down
        if mf is None or not mf.rerunnable:
            return ""
        return (f"{mf.path.name} is rerunnable: run `schemaflow migrate {run['direction']}` "
                "again to re-run it from its start (fix the cause first if it failed); "
                "otherwise ")

    def _hint_previous(self, version: int | None) -> str:
        """``force`` argument for the version below ``version`` in a recovery hint. When no
        bundled file lies below it the bundle may start above the database's history
        (DomainFlow's starts at 27): say so rather than suggest -1, unless it is version 1."""
        if version is None:
            return "-1"
        prev = self.source.previous(version)
        if prev is not None:
            return str(prev)
        return "-1" if version == 1 else f"<the version before {version}>"

    def version_before(self, version: int) -> int | None:
        """The version a rollback of ``version`` returns to: the previous bundled file, else
        ``down --target``, else the version the history says it was applied from."""
        prev = self.source.previous(version)
        if prev is not None:
            return prev
        if self.down_target is not None:
            return None if self.down_target == 0 else self.down_target
        known, before = applied_from(self.conn, self.vt, version)
        if known:
            return before
        raise UsageError(f"cannot tell which version precedes {version}: no lower migration "
                         f"file in {self.source.directory} and no schemaflow history of "
                         "applying it", hint=f"pass --target with the version before {version}")

    # -- applying ----------------------------------------------------------------------
    def run(self, migrations: list[Migration], direction: str, state: State) -> int | None:
        """Apply ``migrations`` in order; returns the database's final version."""
        version = state.version
        for mig in migrations:
            # a resumed run started where the interrupted one did, not at the dirty version
            resumed = self.resumed is not None and mig.version == self.resumed["version"]
            current = self.resumed["previous_version"] if resumed and self.resumed else version
            version = self.apply(mig, direction, current)
            self.resumed = None
        return version

    def apply(self, mig: Migration, direction: str, current: int | None) -> int | None:
        """Run one file; returns the database's new version."""
        mf = mig.up if direction == "up" else mig.down
        new_version = mig.version if direction == "up" else self.version_before(mig.version)
        started = datetime.now(UTC)
        t0 = time.monotonic()
        counts = Counter(s.kind for s in mf.steps)
        kinds = ("one transaction" if mf.transactional else
                 f"{len(mf.steps)} steps: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        self.session.progress(f"{direction} {mf.path.name} ({kinds})")
        if mf.transactional:
            self._apply_transactional(mig, mf, direction, new_version, current, started)
        else:
            self._apply_dirty_semantics(mig, mf, direction, new_version, current, started)
        self.session.progress(f"  done in {time.monotonic() - t0:.2f}s; version {show(new_version)}")
        return new_version

    def _apply_transactional(self, mig: Migration, mf: MigrationFile, direction: str,
                             new_version: int | None, current: int | None,
                             started: datetime) -> None:
        def attempt() -> None:
            with self.conn.transaction():
                for step in mf.steps:
                    for st in step.statements:
                        self._exec(mf, st)
                write_state(self.conn, self.vt, new_version, False)
                record_history(self.conn, self.vt, mig.version, direction, mf.checksum,
                               started, current, "succeeded")

        try:
            try:
                with heartbeat(self.session, mf.path.name):
                    self.session.retry_locks(attempt, mf.path.name)
            except KeyboardInterrupt:
                raise Interrupted(f"interrupted (Ctrl-C) at {self.at or mf.path.name}") from None
        except SchemaflowError as exc:
            record_history(self.conn, self.vt, mig.version, direction, mf.checksum, started,
                           current, "failed", exc.message)
            exc.hint = exc.hint or "the transaction was rolled back: the database is unchanged"
            raise

    def _apply_dirty_semantics(self, mig: Migration, mf: MigrationFile, direction: str,
                               new_version: int | None, current: int | None,
                               started: datetime) -> None:
        def mark_dirty() -> int:
            with self.conn.transaction():
                write_state(self.conn, self.vt, new_version, True)
                return start_history(self.conn, self.vt, mig.version, direction, mf.checksum,
                                     started, current)

        def mark_clean() -> None:
            with self.conn.transaction():
                write_state(self.conn, self.vt, new_version, False)
                finish_history(self.conn, self.vt, hid, "succeeded")

        hid = self.session.retry_locks(mark_dirty, "version table")
        try:
            for n, step in enumerate(mf.steps, start=1):
                self._run_step(mf, step, f"step {n}/{len(mf.steps)}")
        except (SchemaflowError, KeyboardInterrupt) as caught:
            # Ctrl-C too: the database is dirty, and the person who pressed it must be told
            exc = caught if isinstance(caught, SchemaflowError) else Interrupted(
                f"interrupted (Ctrl-C) at {self.at or mf.path.name}")
            finish_history(self.conn, self.vt, hid, "failed", exc.message)
            state = State(new_version, True)
            run = {"direction": direction, "version": mig.version, "result": "failed",
                   "previous_version": current}
            exc.hint = (f"{exc.hint + '. ' if exc.hint else ''}the database is left dirty at "
                        f"version {show(new_version)}; {self._dirty_hint(state, run)}")
            raise exc from None
        self.session.retry_locks(mark_clean, "version table")

    def _run_step(self, mf: MigrationFile, step: Step, number: str) -> None:
        label = f"{number} {step.kind} ({mf.where(step.line)})"
        self.session.progress(f"  {label}: {step_name(mf, step)}")
        t0 = time.monotonic()
        if step.kind == "transaction":
            def attempt() -> None:
                with self.conn.transaction():
                    for st in step.statements:
                        self._exec(mf, st)
            with heartbeat(self.session, label):
                self.session.retry_locks(attempt, mf.where(step.line))
        elif step.kind == "no-transaction":
            with heartbeat(self.session, label):
                for st in step.statements:
                    self.session.retry_locks(self._statement_attempts(mf, st),
                                             mf.where(st.line))
        else:
            with heartbeat(self.session, label):
                self._run_batches(mf, step.statements[0])
            return  # it printed its own totals
        self.session.progress(f"    {number} done in {time.monotonic() - t0:.2f}s")

    def _statement_attempts(self, mf: MigrationFile, st: Statement) -> Callable[[], Any]:
        """One autocommit statement, restartable. A concurrent index build that failed
        after creating its catalog entry left an INVALID index: before a retry it is
        dropped, or ``IF NOT EXISTS`` would skip it and the run "succeed" without the index."""
        index = concurrent_index(st.text)
        tries = 0

        def attempt() -> Any:
            nonlocal tries
            tries += 1
            if index is not None and tries > 1:
                self._drop_invalid_index(*index)
            return self._exec(mf, st)
        return attempt

    def _drop_invalid_index(self, name: str, table: str) -> None:
        row = self.conn.execute(
            """SELECT n.nspname, c.relname FROM pg_index x
               JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE NOT x.indisvalid AND c.relname = %s AND x.indrelid = to_regclass(%s)""",
            (name, table)).fetchone()
        if row is not None:
            index = db.sql.Identifier(row[0], row[1])
            self.session.progress(f"  dropping the invalid index {index.as_string(self.conn)} "
                                  "the failed attempt left")
            self.conn.execute(db.sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(index))

    def _run_batches(self, mf: MigrationFile, st: Statement) -> None:
        """Repeat one statement, each run committed on its own, until it affects 0 rows."""
        batches = rows = all_rows = 0
        t0 = last = time.monotonic()
        sizer = (BatchSizer(self.batch_size, target=0) if self.batch_size
                 else BatchSizer(FIRST_SIZE, TARGET_SECONDS))
        took = [0.0]  # the successful attempt's own time: lock waits and retries excluded
        written = [0]  # rows the batch wrote, its CTEs' included

        def attempt() -> int:
            with self.conn.transaction():
                self.conn.execute("SELECT set_config(%s, %s, true)",
                                  (BATCH_SETTING, str(sizer.size)))
                started = time.monotonic()
                before = rows_written(self.conn)  # not 0: counts of earlier transactions
                count = self._exec(mf, st).rowcount  # not yet flushed to the stats stay in
                written[0] = rows_written(self.conn) - before
            took[0] = time.monotonic() - started
            return int(count)

        while True:
            size = sizer.size
            count = self.session.retry_locks(attempt, mf.where(st.line))
            sizer.observe(size, took[0])
            if count < 0:
                raise ApplyFailed(f"{mf.where(st.line)}: a batch statement must be an "
                                  "INSERT/UPDATE/DELETE reporting the rows it changed")
            if count == 0:
                break
            batches, rows, all_rows = batches + 1, rows + count, all_rows + written[0]
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                self.session.progress(f"    {mf.where(st.line)}: {batches} batches, {rows} rows "
                                      f"by the statement, {all_rows} rows written in all "
                                      f"tables, {last - t0:.1f}s")
        self.session.progress(f"    {mf.where(st.line)}: {batches} batches, {rows} rows by the "
                              f"statement, {all_rows} rows written in all tables, "
                              f"{time.monotonic() - t0:.1f}s (done)")

    def _exec(self, mf: MigrationFile, st: Statement) -> Any:
        """Execute one statement; server errors become ApplyFailed with file:line, except
        lock_not_available and deadlock_detected, which the caller's retry loop handles."""
        self.at = mf.where(st.line)
        try:
            return self.conn.execute(st.text)
        except db.Error as exc:
            if db.sqlstate(exc) in db.RETRYABLE:
                raise
            raise sql_error(mf, st, exc) from None


_IDENT = r'(?:"(?:[^"]|"")+"|[^\s."(]+)'
_CONCURRENT_INDEX = re.compile(
    rf"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"({_IDENT})\s+ON\s+(?:ONLY\s+)?({_IDENT}(?:\.{_IDENT})?)", re.I)
_LEADING_COMMENTS = re.compile(r"^(?:\s*--[^\n]*\n|\s*/\*.*?\*/)*", re.S)


def concurrent_index(text: str) -> tuple[str, str] | None:
    """(index name as stored in pg_class, table as written) of a named
    ``CREATE INDEX CONCURRENTLY``, else None."""
    m = _CONCURRENT_INDEX.match(_LEADING_COMMENTS.sub("", text, count=1))
    if m is None:
        return None
    name = m.group(1)
    name = name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
    return name, m.group(2)


def sql_error(mf: MigrationFile, st: Statement, exc: BaseException) -> ApplyFailed:
    """ApplyFailed naming ``file:line`` (from PostgreSQL's error position when it gives one)
    with the server's message, detail and hint."""
    d = db.error_details(exc)
    line = st.line_of(d["position"]) if d["position"] else st.line
    message = f"{mf.where(line)}: {d['message']}"
    if d["detail"]:
        message += f" ({d['detail']})"
    if d["sqlstate"] == ACTIVE_SQL_TRANSACTION:
        return ApplyFailed(message, hint="this statement cannot run in a transaction: put it "
                           "under a '-- schemaflow:step no-transaction' line")
    if d["sqlstate"] == db.QUERY_CANCELED:
        return ApplyFailed(message, hint="statement_timeout cancelled the statement: raise "
                           "--statement-timeout or make the statement cheaper")
    return ApplyFailed(message, hint=d["hint"])

