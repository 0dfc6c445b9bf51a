"""MigrateOptions.from_args: the typed options the migrate helpers get instead of argparse's
Namespace; parsed through the real parser, so a renamed flag or a drifted default fails here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from schemaflow.cli import build_parser
from schemaflow.engine.options import ApplyOptions, ConnectOptions, MigrateOptions


def options(*argv: str) -> MigrateOptions:
    return MigrateOptions.from_args(build_parser("migrate").parse_args(["migrate", *argv]))


def subparser(action: str) -> argparse.ArgumentParser:
    def choices(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        return sub.choices

    return choices(choices(build_parser("migrate"))["migrate"])[action]


def test_flags_map_to_fields() -> None:
    opts = options("up", "--dir", "m", "--schema", "app", "--lock-timeout", "500ms",
                   "--lock-retries", "3", "--batch-size", "100", "--app-pattern", "web%",
                   "--app-pattern", "job%", "--target", "7", "--verify",
                   "--extra-checks", "a.sql", "--extra-checks", "b.sql", "--output", "json")
    assert opts.action == "up" and opts.output == "json" and opts.target == 7 and opts.verify
    assert opts.dir == Path("m") and opts.checks_dir == Path("verify")
    assert opts.connect == ConnectOptions(schema="app", lock_timeout=0.5, lock_retries=3)
    assert opts.apply == ApplyOptions(batch_size=100, app_patterns=("web%", "job%"))
    assert opts.extra_checks == (Path("a.sql"), Path("b.sql"))
    assert options("down", "--steps", "2").steps == 2
    assert options("force", "-1").force_version == -1
    assert options("validate", "--no-pending").no_pending


@pytest.mark.parametrize(("action", "expected"), [
    ("up", MigrateOptions(action="up")),
    ("down", MigrateOptions(action="down", apply=ApplyOptions(preflight="warn"))),
    ("plan", MigrateOptions(action="plan", apply=ApplyOptions(preflight="warn"))),
    ("status", MigrateOptions(action="status")),
])
def test_no_flags_gives_the_option_defaults(action: str, expected: MigrateOptions) -> None:
    assert options(action) == expected


def test_help_defaults_are_the_option_defaults() -> None:
    """Each "(default 5s)" written into up's help parses to the options' default."""
    opts = MigrateOptions(action="up")
    seen = 0
    for action in subparser("up")._actions:
        m = re.search(r"\(default (\d[\w.]*)", action.help or "")
        if not m or action.type is None:
            continue
        name = action.dest
        owner = next(o for o in (opts.connect, opts.apply, opts) if hasattr(o, name))
        assert action.type(m.group(1)) == getattr(owner, name), action.option_strings
        seen += 1
    assert seen >= 5  # lock timeout/retries/wait, statement timeout, max xact age
