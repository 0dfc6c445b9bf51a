"""``schemaflow migrate create NAME``: the next version's up, down and verify files.

Like golang-migrate's ``create -seq``, the version is the directory's highest plus one, with
as many digits as the existing files use (6 in an empty directory). Unlike it, the files
start with the step-marker header and the verify file with a passing check, so a new
migration reads the way the bundled ones do. Existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from schemaflow.engine.sources import FILE_NAME, STEP_KINDS, default_sql_dir
from schemaflow.errors import UsageError

_NAME = re.compile(r"[^a-z0-9]+")

UP = """\
-- {version} {title}: what this migration changes, and why.
--
-- Each "-- schemaflow:step <kind>" line starts a step ({kinds}):
--   transaction     the default; when every step is one, the whole file commits with the
--                   version update, so a failure leaves the database at the old version
--   no-transaction  statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY);
--                   the version is marked dirty until they all succeed
--   batch           one UPDATE/DELETE repeated until it changes no row; read the batch size
--                   with current_setting('schemaflow.batch_size', true)
-- Add "-- schemaflow:rerunnable" before the first statement when the whole file converges
-- if re-run from its start (then a dirty run is resumed by running up again).

-- schemaflow:step transaction
-- schemaflow's --lock-timeout wins; under plain psql, 3s.
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
-- your statements here
"""

DOWN = """\
-- {version} {title}, rolled back: undoes exactly what the up file did, newest first.
-- Same step markers as the up file.

-- schemaflow:step transaction
SELECT set_config('lock_timeout', '3s', true) WHERE current_setting('lock_timeout') = '0';
-- your statements here
"""

VERIFY = """\
-- Verification of {version} {title}, run by `schemaflow migrate up --verify` and
-- `schemaflow migrate verify`.
--
-- Each check starts at "-- check: <name>" (name: [a-z0-9_]+) and holds when its LAST
-- statement returns no rows; each row returned is one problem, shown in the report. Every
-- check runs in its own transaction, always rolled back.

-- check: {check}
-- description: replace with what must hold once {version} is applied
SELECT 'describe the problem found' AS problem
WHERE false;
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME",
                        help="what the migration does, e.g. add_user_email "
                             "(lower-cased, other characters become _)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="migration directory, created if missing (default: the bundled "
                             "sql/migrations, or $SCHEMAFLOW_SQL_DIR/migrations)")
    parser.add_argument("--verify-dir", type=Path, default=None,
                        help="where the verify file goes (default: <dir>/../verify)")
    parser.add_argument("--output", choices=["text", "json"], default="text",
                        help="text, or one JSON line on stdout (default: text)")


def run(args: argparse.Namespace) -> int:
    name = _NAME.sub("_", args.name.lower()).strip("_")
    if not name:
        raise UsageError(f"migration name {args.name!r} has no letter or digit",
                         hint="e.g. schemaflow migrate create add_user_email")
    migrations: Path = args.dir or default_sql_dir() / "migrations"
    verify: Path = args.verify_dir or migrations.parent / "verify"
    version, digits = next_version(migrations)
    prefix = f"{version:0{digits}d}_{name}"
    fields = {"version": f"{version:0{digits}d}", "title": name.replace("_", " "),
              "kinds": ", ".join(STEP_KINDS), "check": f"v{version}_{name}"[:63]}
    files = {migrations / f"{prefix}.up.sql": UP, migrations / f"{prefix}.down.sql": DOWN,
             verify / f"{prefix}.verify.sql": VERIFY}
    clash = [str(p) for p in files if p.exists()]
    if clash:
        raise UsageError(f"refusing to overwrite {', '.join(clash)}")
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:  # "x": never overwrite, even racing
            out.write(template.format(**fields))
    created = [str(p) for p in files]
    if args.output == "json":
        print(json.dumps({"result": "Created", "version": version, "files": created}))
    else:
        print(f"created version {version}:")
        print("\n".join(f"  {p}" for p in created))
    return 0


def next_version(directory: Path) -> tuple[int, int]:
    """The directory's highest version plus one (1 when empty) and the digits to write it
    with: those of the existing names, at least 6."""
    found = [m for p in directory.glob("*") if (m := FILE_NAME.match(p.name))] \
        if directory.is_dir() else []
    if not found:
        return 1, 6
    highest = max(found, key=lambda m: int(m.group(1)))
    return int(highest.group(1)) + 1, max(6, len(highest.group(1)))
