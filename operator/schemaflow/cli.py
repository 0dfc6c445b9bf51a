"""The schemaflow command: one entry point for the migration Job, the operator and the wait container.

This is the only place that maps errors to messages and exit codes.

Each subcommand lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``;
modules are imported when the parser is built, so none of them may do work at import time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from schemaflow import __version__
from schemaflow.errors import EXIT_USAGE, SchemaflowError

# subcommand -> module implementing configure()/run()
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("schemaflow.migrate_cmd", "apply, roll back, inspect and verify migrations"),
    "audit": ("schemaflow.audit", "report which known schema mismatches are still open"),
    "lint": ("schemaflow.lint", "squawk on a migration directory, with the project's rules "
             "and accepted exceptions"),
    "demo": ("schemaflow.demo", "run plan, up and verify on an embedded PostgreSQL"),
    "operator": ("schemaflow.kube.main", "run the Kubernetes operator"),
    "wait": ("schemaflow.wait", "block until a migration has succeeded (deploy gate)"),
}


class _HelpFormatter(argparse.HelpFormatter):
    """Shows an option's default unless its help already says it (``default ...``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.option_strings and action.nargs != 0 and "default" not in text.lower()
                and action.default is not argparse.SUPPRESS and not action.required):
            shown = {None: "not set", "": "empty"}.get(action.default, "%(default)s") \
                if not isinstance(action.default, list) else "none"
            text += f" (default: {shown})"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_subparsers(self, **kwargs: Any) -> Any:
        # every subcommand gets a description: its help line, when it has none of its own
        action = super().add_subparsers(**kwargs)
        add_parser = action.add_parser

        def described(name: str, **kw: Any) -> argparse.ArgumentParser:
            kw.setdefault("description", kw.get("help"))
            return add_parser(name, **kw)

        action.add_parser = described  # type: ignore[method-assign]
        return action

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"schemaflow: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that subcommand's module is imported and
    configured (the migration Job then never imports the operator's dependencies)."""
    parser = _Parser(prog="schemaflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"schemaflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command in (None, name):
            importlib.import_module(module).configure(p)
        p.set_defaults(_module=module)
    return parser


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    from schemaflow.engine.report import failure_lines

    # A pod being deleted gets SIGTERM: stop as Ctrl-C does, recording where the run stood
    # (a transactional file rolls back; a dirty database gets its history row and hint).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(importlib.import_module(args._module).run(args))
    except SchemaflowError as exc:
        if getattr(args, "output", "text") == "json":
            print(json.dumps(exc.report or {"error": {"reason": exc.reason, "message": exc.message,
                                                      "hint": exc.hint, "exitCode": exc.exit_code}}))
        else:
            print(f"schemaflow: {exc.message}", file=sys.stderr)
            # a failed verification: each failing check with its problem rows, not only its name
            verification: Any = (exc.report or {}).get("verification") or {}
            for failure in verification.get("failures", []):
                print("\n".join(failure_lines(failure)), file=sys.stderr)
            if exc.hint:
                print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
