"""The whole `schemaflow` argparse tree: every subcommand has a description line, every
option has help text that states its default (flags excepted: off unless given)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from schemaflow.cli import build_parser

FLAG_ACTIONS = (argparse._StoreTrueAction, argparse._StoreFalseAction,
                argparse._StoreConstAction, argparse._HelpAction, argparse._VersionAction)


def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}")


def test_every_option_has_help_with_its_default() -> None:
    problems = []
    parsers = list(walk(build_parser(), "schemaflow"))
    assert len(parsers) >= 15  # the operator, wait, audit, demo, lint and 8 migrate actions
    for path, parser in parsers:
        if path != "schemaflow" and not (parser.description or "").strip():
            problems.append(f"{path}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            name = f"{path} {'/'.join(action.option_strings) or action.dest}"
            text = parser._get_formatter()._get_help_string(action) or ""
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                problems.append(f"{name}: no help")
            elif action.option_strings and not isinstance(action, FLAG_ACTIONS) \
                    and action.required is False and "default" not in text.lower():
                problems.append(f"{name}: help does not state the default ({action.default!r})")
    assert not problems, "\n".join(problems)


def test_help_renders_for_every_subcommand(capsys) -> None:
    for path, parser in walk(build_parser(), "schemaflow"):
        parser.print_help()
        out = capsys.readouterr().out
        assert out.startswith("usage: " + path.split()[0]), path
