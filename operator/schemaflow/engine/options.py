"""What a ``schemaflow migrate`` run was asked to do, typed once at the CLI's edge.

The defaults equal the parser's (migrate_cmd.configure), so options built in code behave
like a command line that leaves those flags out.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from schemaflow.engine.sources import default_sql_dir


@dataclass(frozen=True)
class ConnectOptions:
    """Where the database is and how long a run waits on its locks."""

    database_url_file: Path | None = None  # None: $DATABASE_URL
    schema: str | None = None  # None: current_schema()
    table: str = "schema_migrations"
    lock_timeout: float = 5.0
    lock_retries: int = 10
    statement_timeout: float = 0.0
    lock_wait: float = 30.0  # for the migration advisory lock


@dataclass(frozen=True)
class ApplyOptions:
    """up, down and plan: batch sizing and preflight."""

    batch_size: int | None = None  # None: sized per batch
    preflight: str = "strict"  # down and plan default to warn
    app_patterns: tuple[str, ...] = ("%",)
    max_xact_age: float = 60.0


@dataclass(frozen=True)
class MigrateOptions:
    action: str
    dir: Path | None = None
    verify_dir: Path | None = None
    output: str = "text"
    report: Path | None = None
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    apply: ApplyOptions = field(default_factory=ApplyOptions)
    target: int | None = None
    steps: int | None = None
    verify: bool = False
    extra_checks: tuple[Path, ...] = ()
    allow_checksum_drift: bool = False
    no_pending: bool = False
    force_version: int | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> MigrateOptions:
        # getattr: each action's parser defines only its own flags
        connect = ConnectOptions(
            database_url_file=args.database_url_file, schema=args.schema, table=args.table,
            lock_timeout=args.lock_timeout, lock_retries=args.lock_retries,
            statement_timeout=args.statement_timeout, lock_wait=args.lock_wait)
        defaults = ApplyOptions()
        apply = ApplyOptions(
            batch_size=getattr(args, "batch_size", None),
            preflight=getattr(args, "preflight", defaults.preflight),
            app_patterns=tuple(getattr(args, "app_patterns", None) or defaults.app_patterns),
            max_xact_age=getattr(args, "max_xact_age", defaults.max_xact_age))
        return cls(
            action=args.action, dir=args.dir, verify_dir=args.verify_dir, output=args.output,
            report=args.report, connect=connect, apply=apply,
            target=getattr(args, "target", None), steps=getattr(args, "steps", None),
            verify=getattr(args, "verify", False),
            extra_checks=tuple(getattr(args, "extra_checks", ())),
            allow_checksum_drift=getattr(args, "allow_checksum_drift", False),
            no_pending=getattr(args, "no_pending", False),
            force_version=getattr(args, "version", None))

    # properties, not fields: options built in code without dirs still get the defaults
    @property
    def migrations_dir(self) -> Path:
        return self.dir or default_sql_dir() / "migrations"

    @property
    def checks_dir(self) -> Path:
        return self.verify_dir or self.migrations_dir.parent / "verify"
