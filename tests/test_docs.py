"""The project's pages: a README read in five minutes whose links all lead somewhere, result tables that are the
committed run's own (generated, so they cannot drift), and prose that speaks of the project, not of how its work
was done: no commit hashes, no issue numbers."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

from fer_utils import claims, paths
ROOT = paths.PROJECT_ROOT
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HEX = re.compile(r"(?<![0-9A-Za-z_])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}(?![0-9A-Za-z_])")
ISSUE = re.compile(r"(?i)\b(?:issue|pull request|PR)s?\s*#?\d+|(?<![\w#&])#\d+(?![\w;])")


def test_the_readme_is_short_and_the_docs_answer_their_questions():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
    assert {p.name for p in PAGES} >= {"README.md", "training.md", "backends.md", "predict.md", "reference-run.md",
                                       "benchmarks.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_and_image_of_a_page_leads_to_a_file(page):
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    local = [t for t in targets if not re.match(r"https?:", t)]
    assert local or page.name != "README.md"  # the README leads to the docs
    missing = [t for t in local if not (page.parent / t).exists()]
    assert not missing, missing


@pytest.mark.parametrize("page", ["README.md", "docs/reference-run.md"])
def test_the_result_tables_are_the_committed_runs(page):
    """The claims and accuracy tables are the reference run's claims.json and results.md, as generated."""
    text = (ROOT / page).read_text()
    assert claims.markdown(json.loads((ROOT / "reference" / claims.CLAIMS_FILE).read_text())) in text
    assert (ROOT / "reference" / "results.md").read_text() in text


def prose(path: Path) -> str:
    """What a person reads in a file: Markdown, a notebook's cells, a Python file's comments and docstrings,
    a YAML, shell or Makefile's comments."""
    text = path.read_text()
    if path.suffix == ".ipynb":
        return "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
    if path.suffix == ".py":
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        return "\n".join(t.string for t in tokens if t.type == tokenize.COMMENT or
                         (t.type == tokenize.STRING and t.string.lstrip("rbuf").startswith(('"""', "'''"))))
    if path.suffix in (".yaml", ".yml", ".sh", ".toml", ".cfg") or path.name in ("Makefile", "run"):
        return "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
    return text


def project_files() -> list[Path]:
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True).stdout.split()
    return [ROOT / f for f in listed if (ROOT / f).is_file() and (ROOT / f).suffix in
            (".md", ".py", ".ipynb", ".yaml", ".yml", ".sh", ".toml", ".cfg", "") and not f.startswith("runs/")]


def test_no_commit_hash_or_issue_number_in_the_projects_prose():
    data = json.loads((ROOT / "reference" / "manifest.json").read_text())["data"]["sha256"]
    found = []
    for path in project_files():
        try:
            text = prose(path)
        except (UnicodeDecodeError, SyntaxError, tokenize.TokenError):
            continue
        found += [(path.name, m.group()) for m in HEX.finditer(text) if m.group() not in data]  # the data's hash
        found += [(path.name, m.group()) for m in ISSUE.finditer(text)]
    assert not found


def test_the_scan_sees_a_hash_and_an_issue_number():
    assert HEX.search("trained at 88ba8d9 on")
    assert not HEX.search("a 1280x1280 photo in float16 at 2e-3, 1703623 parameters")
    number = 4  # any number: the scan must find it after the word, and after a hash sign
    assert ISSUE.search(f"see issue {number}") and ISSUE.search(f"as in #{number},")
    assert not ISSUE.search("color: #666;")
