"""The validation package end to end: a real pytest run writes its JUnit XML through tests/conftest.py, and
`python -m hmi validation report` turns it into the three files (VAL-002, VAL-003, VAL-004)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One fast test that proves OEE-001: the run is real, but short.
PROOF = "tests/unit/test_oee_calc.py::test_the_worked_example"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, whichever one the venv was installed from
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def junit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run") / "build" / "test-results.xml"
    done = run("-m", "pytest", "-q", "-p", "no:cacheprovider", PROOF, f"--junitxml={path}")
    assert done.returncode == 0, done.stdout + done.stderr
    return path


@pytest.mark.req("VAL-002")
def test_the_junit_file_carries_the_requirement_ids_and_the_environment(junit: Path) -> None:
    root = ElementTree.parse(junit).getroot()
    [case] = root.iter("testcase")
    assert case.get("name") == "test_the_worked_example"
    assert {p.get("name"): p.get("value") for p in case.iterfind("properties/property")} == {"requirements": "OEE-001"}
    suite = {p.get("name"): p.get("value") for p in root.iterfind("testsuite/properties/property")}
    for name in ("factory-hmi", "python", "platform", "nicegui", "asyncua", "sqlalchemy"):
        assert suite.get(f"environment.{name}"), name


@pytest.mark.req("VAL-003", "VAL-004")
def test_hmi_validation_report_from_that_run(junit: Path, tmp_path: Path) -> None:
    out = tmp_path / "validation"
    # Another working directory: the default requirements file is found next to the package.
    done = run("-m", "hmi", "validation", "report", "--junit", str(junit), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr  # only OEE-001 was tested
    assert done.stdout.endswith(" not run\nrequirements: 1 passed, 0 failed, 0 skipped\n")
    assert "UNTESTED (not run, or every test skipped):" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["oq-report.html", "oq-report.pdf", "traceability.csv"]
    with (out / "traceability.csv").open(encoding="utf-8", newline="") as f:
        rows = {r["requirement_id"]: r for r in csv.DictReader(f)}
    assert (rows["OEE-001"]["requirement_outcome"], rows["OEE-001"]["test"], rows["OEE-001"]["test_outcome"]) == (
        "passed",
        "tests.unit.test_oee_calc::test_the_worked_example",
        "passed",
    )
    assert rows["ALM-001"]["requirement_outcome"] == "not run"
    page = (out / "oq-report.html").read_text(encoding="utf-8")
    assert "operational qualification (OQ) report" in page
    assert (out / "oq-report.pdf").read_bytes().startswith(b"%PDF")

    allowed = run(
        "-m", "hmi", "validation", "report", "--junit", str(junit), "--out", str(out), "--allow-untested", cwd=tmp_path
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
