"""docs/requirements.md is the single source of requirement ids: every id a test names must be in it, and every
requirement in it must be named by a test (VAL-001). Read with a scan of the test sources, so no test is imported."""

from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from hmi.validation import REQUIREMENT_ID, Requirement, default_requirements_path, load_requirements

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def marked_ids() -> dict[str, list[str]]:
    """{id: ['tests/x.py:12', ...]} for every `pytest.mark.req(...)` (decorator or `pytestmark`) under tests/."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "req"
                and ast.unparse(node.func.value).endswith("mark")
            ):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            assert node.args, f"{where}: name the ids, req('ALM-001', ...)"
            assert not node.keywords, f"{where}: name the ids as plain strings, req('ALM-001', ...)"
            for arg in node.args:
                literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                assert literal, f"{where}: requirement ids must be string literals, checked without running"
                found[arg.value].append(where)  # type: ignore[attr-defined]
    return found


@pytest.fixture(scope="module")
def requirements() -> list[Requirement]:
    return load_requirements(default_requirements_path())


@pytest.mark.req("VAL-001")
def test_the_requirements_file_is_well_formed(requirements: list[Requirement]) -> None:
    # load_requirements refuses duplicate or malformed ids and rows without a requirement or a source.
    assert len(requirements) >= 60
    for req in requirements:
        assert REQUIREMENT_ID.fullmatch(req.id)
        prefix = req.id.split("-")[0]
        assert req.area.split()[0] == prefix, f"{req.id} stands under the heading {req.area!r}"
        assert req.text.endswith((".", ")")), f"{req.id}: one sentence, ending with a full stop"


@pytest.mark.req("VAL-001")
def test_every_id_a_test_names_is_a_requirement(requirements: list[Requirement]) -> None:
    known = {r.id for r in requirements}
    unknown = {rid: where for rid, where in marked_ids().items() if rid not in known}
    assert not unknown, "ids not in docs/requirements.md: " + "; ".join(
        f"{rid} at {', '.join(where)}" for rid, where in sorted(unknown.items())
    )


@pytest.mark.req("VAL-001")
def test_every_requirement_is_named_by_a_test(requirements: list[Requirement]) -> None:
    named = marked_ids()
    # A withdrawn requirement keeps its row (its id is never reused) but nothing proves it any more.
    untested = [r.id for r in requirements if r.id not in named and not r.withdrawn]
    assert not untested, f"no test names {', '.join(untested)}: mark the tests that prove them"


@pytest.mark.req("VAL-001", "VAL-002")
def test_the_req_marker_is_registered() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    markers = config["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("req(") or m.startswith("req:") for m in markers)
