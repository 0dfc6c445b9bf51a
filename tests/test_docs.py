"""The documentation stands alone: no file of the repository points outside it (design
notes, seeds or tickets that are not shipped), and every path a Markdown file names, as a
link or in backticks, exists in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

OUTSIDE = re.compile(r"DESIGN\.md|DOMAINFLOW\.md|TESTING\.md|STYLE\.md|\.\./shared|\bshared/"
                     r"|\bshared design\b|\bthe issue\b|\bissues? #?\d+|seeds/", re.I)
# "the seed" (DomainFlow's migration plan) is defined in sql/SCHEMA_AUDIT_REPORT.md
LINK = re.compile(r"\]\(([^)\s]+)\)")
TICKED = re.compile(r"`([^`\s]+)`")
PATHLIKE = re.compile(r"^[\w.-]+(/[\w.-]+)*/?$")
SUFFIXES = (".md", ".py", ".sql", ".yaml", ".yml", ".json", ".sh", ".toml", ".tpl", ".txt")
# where a relative path in a document may be rooted, besides the document's own directory
ROOTS = ("", "operator", "operator/schemaflow", "sql", "charts/schemaflow", "tests", "bench")


def repo_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    skip = ("tests/gobin/", "bench/results/", ".tools/")
    return [REPO / f for f in out.splitlines() if not f.startswith(skip)
            and (REPO / f).is_file() and f != "tests/test_docs.py"]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def test_nothing_points_outside_the_repository() -> None:
    found = []
    for path in repo_files():
        text = text_of(path)
        for n, line in enumerate((text or "").splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:100]}")
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)


def referenced_paths(text: str) -> set[str]:
    refs = {m.group(1).split("#")[0] for m in LINK.finditer(text)
            if not re.match(r"^[a-z]+:|^#|^mailto:", m.group(1))}
    for m in TICKED.finditer(text):
        token = m.group(1).rstrip(".,:;")
        if PATHLIKE.match(token) and not token.startswith((".", "/")) and (
                token.endswith(SUFFIXES) or ("/" in token and token.endswith("/"))):
            refs.add(token)
    return {r for r in refs if r}


def exists(ref: str, doc: Path, names: set[str] | None = None) -> bool:
    """A path resolves from the document or a root; a bare file name (``verify.py``) is
    found anywhere in the repository."""
    if "/" not in ref and names is not None:
        return ref in names
    bases = [doc.parent] + [REPO / root for root in ROOTS]
    return any((base / ref).exists() for base in bases)


def test_every_path_a_document_names_exists() -> None:
    missing = []
    files = repo_files()
    names = {p.name for p in files}
    for doc in (p for p in files if p.suffix == ".md"):
        for ref in sorted(referenced_paths(text_of(doc) or "")):
            if not exists(ref, doc, names):
                missing.append(f"{doc.relative_to(REPO)}: {ref}")
    assert not missing, "documents name files that are not in the repository:\n" + \
        "\n".join(missing)


def test_the_checker_sees_a_broken_reference(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    text = ("See [design](../DESIGN.md), `docs/nowhere.md`, `sql/migrations/`, `README.md`, "
            "`gone.py` and the suffix `.down.sql`.")
    doc.write_text(text)
    assert OUTSIDE.search(text)
    refs = referenced_paths(text)
    assert refs == {"../DESIGN.md", "docs/nowhere.md", "sql/migrations/", "README.md", "gone.py"}
    names = {p.name for p in repo_files()}
    assert [r for r in sorted(refs) if not exists(r, doc, names)] == [
        "../DESIGN.md", "docs/nowhere.md", "gone.py"]
