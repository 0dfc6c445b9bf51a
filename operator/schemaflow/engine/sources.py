"""Migration directories in golang-migrate's layout, parsed into versions, steps and
checksums.

Names follow golang-migrate (``^([0-9]+)_(.*)\\.(down|up)\\.(.*)$``) so the application's
own ``migrate`` tool reads the same directory. Unlike golang-migrate, which skips names
it cannot parse, a ``*.sql`` file with a malformed name is an error here: it is almost
always a typo that would silently drop a migration. Other files (README, .gitkeep) are
ignored.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from schemaflow.engine.sqlsplit import TX_CONTROL, Statement, nul_line, split_sql
from schemaflow.errors import MigrationSourceError, UsageError

FILE_NAME = re.compile(r"^([0-9]+)_(.*)\.(down|up)\.(.*)$")
STEP_MARKER = re.compile(r"^--\s*schemaflow:step\s+(?P<kind>\S+)\s*$")
RERUNNABLE_MARKER = re.compile(r"^--\s*schemaflow:rerunnable\s*$")
STEP_KINDS = ("transaction", "no-transaction", "batch")
_TX_OPEN = re.compile(r"^(BEGIN|START\s+TRANSACTION)\b", re.I)
_TX_CLOSE = re.compile(r"^(COMMIT|END)\b", re.I)


def default_sql_dir() -> Path:
    """The ``sql/`` directory: ``$SCHEMAFLOW_SQL_DIR`` (the image sets it) or the
    repository's ``sql/`` next to the source tree (``operator/schemaflow/../../sql``)."""
    env = os.environ.get("SCHEMAFLOW_SQL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "sql"


@dataclass(frozen=True)
class Step:
    """Statements run one way: ``transaction``, ``no-transaction`` or ``batch``."""

    kind: str
    statements: tuple[Statement, ...]
    line: int


@dataclass(frozen=True)
class MigrationFile:
    path: Path
    version: int
    name: str
    direction: str
    checksum: str
    steps: tuple[Step, ...]
    rerunnable: bool

    @property
    def transactional(self) -> bool:
        """True when the whole file can run in one transaction with its version update."""
        return all(s.kind == "transaction" for s in self.steps)

    def where(self, line: int) -> str:
        return f"{self.path.name}:{line}"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: MigrationFile
    down: MigrationFile


@dataclass(frozen=True)
class Source:
    """All migrations of a directory, ordered by version."""

    directory: Path
    migrations: tuple[Migration, ...]

    @property
    def versions(self) -> list[int]:
        return [m.version for m in self.migrations]

    @property
    def latest(self) -> int | None:
        return self.migrations[-1].version if self.migrations else None

    def get(self, version: int) -> Migration:
        for m in self.migrations:
            if m.version == version:
                return m
        raise UsageError(f"version {version} does not exist in {self.directory}",
                         hint=f"available versions: {self.describe_versions()}")

    def check_down_target(self, target: int) -> None:
        """A rollback target is a bundled version, 0 (no version), or any version below the
        first bundled file (the bundle may start above the database's history)."""
        if target == 0 or (self.migrations and target < self.migrations[0].version):
            return
        self.get(target)

    def previous(self, version: int) -> int | None:
        """The version below ``version`` (None when it is the first: no version at all)."""
        lower = [v for v in self.versions if v < version]
        return lower[-1] if lower else None

    def describe_versions(self) -> str:
        return ", ".join(str(v) for v in self.versions) or "none"


def load_source(directory: Path) -> Source:
    """Parse every migration of ``directory``; raise MigrationSourceError on anything that
    golang-migrate would mis-run or that we could not run safely."""
    if not directory.is_dir():
        raise MigrationSourceError(f"migration directory {directory} does not exist",
                                   hint="pass --dir or set SCHEMAFLOW_SQL_DIR")
    files: dict[tuple[int, str], MigrationFile] = {}
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        m = FILE_NAME.match(path.name)
        if not m:
            # verification checks may live beside the migrations (one ConfigMap holds both)
            if path.suffix == ".sql" and not path.name.endswith(".verify.sql"):
                raise MigrationSourceError(
                    f"{path}: malformed migration file name",
                    hint="name files <version>_<name>.up.sql and <version>_<name>.down.sql, "
                    "e.g. 000027_alignment.up.sql")
            continue
        version, name, direction = int(m.group(1)), m.group(2), m.group(3)
        if (version, direction) in files:
            other = files[(version, direction)].path.name
            raise MigrationSourceError(f"duplicate migration version {version}: {other} and "
                                       f"{path.name}", hint="give each migration its own version")
        files[(version, direction)] = parse_file(path, version, name, direction)
    migrations = []
    for version in sorted({v for v, _ in files}):
        up, down = files.get((version, "up")), files.get((version, "down"))
        if up is None or down is None:
            have = (up or down)
            assert have is not None
            missing = "up" if up is None else "down"
            raise MigrationSourceError(
                f"migration {version} has no {missing} file (found {have.path.name})",
                hint=f"add {have.path.name.replace('.' + have.direction + '.', '.' + missing + '.')}")
        if up.name != down.name:
            raise MigrationSourceError(f"duplicate migration version {version}: {up.path.name} "
                                       f"and {down.path.name} have different names")
        migrations.append(Migration(version, up.name, up, down))
    return Source(directory, tuple(migrations))


def parse_file(path: Path, version: int, name: str, direction: str) -> MigrationFile:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MigrationSourceError(f"{path}:{line}: not valid UTF-8",
                                   hint="save the file as UTF-8") from None
    if (nul_at := nul_line(text)) is not None:
        raise MigrationSourceError(f"{path}:{nul_at}: contains a NUL byte",
                                   hint="PostgreSQL would silently ignore the text after it; "
                                   "remove it (often a sign of a binary or UTF-16 file)")
    steps, rerunnable = parse_steps(text, path.name)
    if not steps:
        raise MigrationSourceError(f"{path}: contains no SQL statement",
                                   hint="an empty migration is almost always a mistake; "
                                   "write at least a comment-free statement such as SELECT 1")
    return MigrationFile(path, version, name, direction, hashlib.sha256(raw).hexdigest(),
                         tuple(steps), rerunnable)


def parse_steps(text: str, where: str) -> tuple[list[Step], bool]:
    """Split a file into steps at ``-- schemaflow:step <kind>`` lines; report whether the
    ``-- schemaflow:rerunnable`` header (before any SQL) is present."""
    lines = text.splitlines(keepends=True)
    chunks: list[tuple[str, int, list[str]]] = [("transaction", 1, [])]
    rerunnable = False
    seen_sql = False
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if RERUNNABLE_MARKER.match(stripped):
            if seen_sql:
                raise MigrationSourceError(f"{where}:{lineno}: '-- schemaflow:rerunnable' must "
                                           "come before the first statement")
            rerunnable = True
            chunks[-1][2].append("\n")
            continue
        m = STEP_MARKER.match(stripped)
        if m:
            kind = m.group("kind")
            if kind not in STEP_KINDS:
                raise MigrationSourceError(f"{where}:{lineno}: unknown step kind {kind!r}",
                                           hint=f"use one of {', '.join(STEP_KINDS)}")
            chunks.append((kind, lineno + 1, []))
            continue
        if not seen_sql and split_sql(line):
            seen_sql = True
        chunks[-1][2].append(line)
    steps = []
    for kind, first, body in chunks:
        statements = tuple(split_sql("".join(body), first_line=first))
        if kind != "no-transaction":
            statements = _without_tx_wrapper(statements, where)
        if not statements:
            continue
        if kind == "batch" and len(statements) != 1:
            raise MigrationSourceError(f"{where}:{first - 1}: a batch step holds exactly one "
                                       f"statement (found {len(statements)})")
        steps.append(Step(kind, statements, first))
    return steps, rerunnable


def _without_tx_wrapper(statements: tuple[Statement, ...], where: str) -> tuple[Statement, ...]:
    """Drop a ``BEGIN; ... COMMIT;`` wrapper (a common golang-migrate idiom: schemaflow
    already runs the step in a transaction); any other transaction control would end
    schemaflow's transaction early and silently break atomicity, so it is an error."""
    if (len(statements) >= 2 and _TX_OPEN.match(statements[0].text)
            and _TX_CLOSE.match(statements[-1].text)):
        statements = statements[1:-1]
    for st in statements:
        if TX_CONTROL.match(st.text):
            raise MigrationSourceError(
                f"{where}:{st.line}: transaction control ({st.text.split()[0]}) inside a "
                "transaction step",
                hint="schemaflow runs each step in a transaction: remove it, or put the part "
                "that must manage its own transactions under '-- schemaflow:step no-transaction'")
    return statements
