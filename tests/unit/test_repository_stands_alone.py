"""The repository stands alone: no file points a reader at notes that are not part of it.

The project's requirements were first written down in private working notes; code, tests and docs must cite the
public standard and clause (e.g. `ISA-18.2`, `21 CFR 11.10(e)`) or this repository's own docs/ instead.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Spelled in pieces so this file does not name them itself.
NOTES = re.compile(r"\b(" + "STANDARDS" + r"|" + "DESIGN" + r")(\.md\b|\s+(rule\s+)?\d)")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".css", ".txt", ".cfg", ".html", ".js", ""}


def tracked_files() -> list[Path]:
    """The files git tracks here, or every file below the root when this is not a git checkout (an sdist)."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "build", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


@pytest.mark.req("VAL-005")
def test_no_file_cites_working_notes_outside_the_repository() -> None:
    found = []
    for path in tracked_files():
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if NOTES.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "cite the public source or docs/ instead:\n" + "\n".join(found)
