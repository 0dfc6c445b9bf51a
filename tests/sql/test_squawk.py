"""squawk on the bundled migrations: every warning must be one of the accepted ones of
``schemaflow.lint.ACCEPTED`` (rule, file, the statement's line, reason), the list the
``schemaflow lint`` command applies; a new warning fails the test. The same list, with the
same reasons, is in sql/SCHEMA_AUDIT_REPORT.md ("squawk exceptions").

squawk lints top-level statements; DDL run from DO blocks (conditional renames, NOT VALID
constraints, triggers) is dynamic and invisible to it: those statements are covered by the
migration tests instead."""

from __future__ import annotations

import re

from tests.sql.sqlhelpers import DOWN, UP

from schemaflow.lint import ACCEPTED, lint_file


def test_squawk_only_accepted_warnings() -> None:
    found = {f.key for path in (UP, DOWN) for f in lint_file(path)}
    new = found - set(ACCEPTED)
    assert not new, "new squawk warnings (fix them, or accept them in schemaflow/lint.py " \
        "and in the report):\n" + "\n".join(map(str, sorted(new)))
    stale = set(ACCEPTED) - found
    assert not stale, f"accepted warnings squawk no longer reports (remove them): {sorted(stale)}"


def test_report_lists_the_exceptions() -> None:
    report = (UP.parents[1] / "SCHEMA_AUDIT_REPORT.md").read_text()
    for (_file, rule, statement) in ACCEPTED:
        m = re.search(r"(\w+)\s+integer", statement)
        key = m.group(1) if m else statement
        assert rule in report and key in report, (rule, key)
