"""Every error schemaflow reports, each with the exit code the CLI maps it to.

``cli.main`` is the one place that turns these into messages and exit codes. Messages say
what to fix; they never contain a credential (see ``schemaflow.engine.db.redact``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_APPLY_FAILED = 2
EXIT_VERIFY_FAILED = 3
EXIT_LOCK_TIMEOUT = 4
EXIT_DIRTY = 5
EXIT_UNREACHABLE = 6
EXIT_WAIT_TIMEOUT = 7  # `schemaflow wait` gave up before the migration was ready


class SchemaflowError(Exception):
    """Base class. ``reason`` is a CamelCase word for reports, conditions and metrics."""

    exit_code = EXIT_APPLY_FAILED
    reason = "Error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # The full JSON result of the failed command, when it has one (see cli.main).
        self.report: dict[str, object] | None = None


class UsageError(SchemaflowError):
    """The command line or its configuration is wrong (missing URL, unknown target...)."""

    exit_code = EXIT_USAGE
    reason = "UsageError"


class MigrationSourceError(SchemaflowError):
    """A migration directory is malformed: bad names, duplicates, missing pair, bad encoding."""

    exit_code = EXIT_USAGE
    reason = "InvalidMigrationSource"


class DatabaseUnreachable(SchemaflowError):
    """The server cannot be reached or refused the credentials; retrying may help."""

    exit_code = EXIT_UNREACHABLE
    reason = "DatabaseUnreachable"


class ApplyFailed(SchemaflowError):
    """A migration statement failed; the transaction was rolled back or the state is dirty."""

    exit_code = EXIT_APPLY_FAILED
    reason = "ApplyFailed"


class PreflightFailed(SchemaflowError):
    """A strict preflight check failed; nothing was applied."""

    exit_code = EXIT_APPLY_FAILED
    reason = "PreflightFailed"


class ChecksumDrift(SchemaflowError):
    """An already-applied migration file was edited since it was applied."""

    exit_code = EXIT_APPLY_FAILED
    reason = "ChecksumDrift"


class PendingMigrations(SchemaflowError):
    """`migrate validate --no-pending`: migration files are not yet applied."""

    exit_code = EXIT_APPLY_FAILED
    reason = "PendingMigrations"


class VerificationFailed(SchemaflowError):
    """Applied, but at least one verification check did not hold."""

    exit_code = EXIT_VERIFY_FAILED
    reason = "VerificationFailed"


class LockNotAcquired(SchemaflowError):
    """Another session held the migration advisory lock past the deadline."""

    exit_code = EXIT_LOCK_TIMEOUT
    reason = "LockNotAcquired"


class DirtyDatabase(SchemaflowError):
    """The version table is marked dirty: a previous run stopped midway."""

    exit_code = EXIT_DIRTY
    reason = "DirtyDatabase"


class MigrationFailed(SchemaflowError):
    """`schemaflow wait`: the SchemaMigration reached phase Failed for its current generation."""

    exit_code = EXIT_APPLY_FAILED
    reason = "MigrationFailed"


class MigrationRolledBack(SchemaflowError):
    """`schemaflow wait`: verification failed and the SchemaMigration was rolled back."""

    exit_code = EXIT_VERIFY_FAILED
    reason = "MigrationRolledBack"


class WaitTimeout(SchemaflowError):
    """`schemaflow wait`: the migration was not ready (or the database not at the version)
    before ``--timeout``."""

    exit_code = EXIT_WAIT_TIMEOUT
    reason = "WaitTimeout"
