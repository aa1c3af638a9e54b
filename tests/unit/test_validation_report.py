"""`hmi validation report` on a small synthetic requirements file and JUnit XML: parsing, outcomes, the three
outputs, escaping of text from the test results, and the exit status (VAL-003, VAL-004)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from hmi.cli import main
from hmi.validation import (
    FILES,
    JUnitRun,
    Outcome,
    ReportInfo,
    ValidationInputError,
    exit_code,
    oq_html,
    oq_pdf,
    parse_junit,
    parse_requirements,
    trace,
    traceability_csv,
)

REQUIREMENTS = """# Requirements

Some text with a table that is not a requirements table:

| Term | Meaning |
| --- | --- |
| HMI | human-machine interface |

## ALM — Alarms

| ID | Requirement | Source |
| --- | --- | --- |
| ALM-001 | An alarm that clears while unacknowledged stays listed. | ISA-18.2 cl. 5 |
| ALM-002 | Acknowledging makes it acknowledged \\| steady. | ISA-18.2 cl. 5 |

## OEE — OEE

| ID | Requirement | Source |
| --- | --- | --- |
| OEE-001 | OEE is A x P x Q. | ISO 22400-2 |
| OEE-002 | Performance above 100 % is `flagged` <b>. | ISO 22400-2 |
| OEE-003 | Planned stops are not planned busy time. | ISO 22400-2 |
"""

HOSTILE = "<script>alert(1)</script> & </para><b>"
HOSTILE_XML = escape(HOSTILE, {'"': "&quot;"})

JUNIT = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests">
 <testsuite name="pytest" errors="1" failures="1" skipped="2" tests="7" time="12.5"
            timestamp="2025-01-06T06:00:00+00:00" hostname="ci-1">
  <properties>
   <property name="environment.factory-hmi" value="0.1.0"/>
   <property name="environment.nicegui" value="3.18.0 {HOSTILE_XML}"/>
  </properties>
  <testcase classname="tests.unit.test_a" name="test_clear_stays" time="0.01">
   <properties><property name="requirements" value="ALM-001"/></properties>
  </testcase>
  <testcase classname="tests.unit.test_a" name="test_ack[sqlite]" time="0.02">
   <properties><property name="requirements" value="ALM-001 ALM-002"/></properties>
   <failure message="AssertionError: {HOSTILE_XML}">trace</failure>
  </testcase>
  <testcase classname="tests.unit.test_a" name="test_ack[postgres]" time="0.02">
   <properties><property name="requirements" value="ALM-002"/></properties>
   <skipped type="pytest.skip" message="no PostgreSQL">skipped</skipped>
  </testcase>
  <testcase classname="tests.unit.test_b" name="test_oee" time="0.01">
   <properties><property name="requirements" value="OEE-001 XYZ-999"/></properties>
  </testcase>
  <testcase classname="tests.unit.test_b" name="test_oee_skip" time="0.01">
   <properties><property name="requirements" value="OEE-001 OEE-002"/></properties>
   <skipped type="pytest.xfail" message="expected to fail"/>
  </testcase>
  <testcase classname="tests.unit.test_b" name="test_{HOSTILE_XML}"
            time="0.01">
   <error message="fixture broke">E   RuntimeError</error>
  </testcase>
  <testcase classname="tests.unit.test_c" name="test_no_ids" time="0.01"/>
 </testsuite>
</testsuites>
"""

# The same run with the failure and the error taken out.
PASSING = re.sub(r"<(failure|error) .*?</(failure|error)>", "", JUNIT, flags=re.S)
AT = datetime(2025, 1, 6, 13, 45, tzinfo=UTC)


def info() -> ReportInfo:
    return ReportInfo(
        version="0.1.0",
        generated_at=AT,
        environment={"factory-hmi": "0.1.0", "python": "CPython 3"},
        requirements_path="docs/requirements.md",
        requirements_sha256="a" * 64,
        junit_sha256="b" * 64,
    )


def run() -> JUnitRun:
    return parse_junit(JUNIT.encode(), "results.xml")


@pytest.mark.req("VAL-003")
def test_requirements_are_the_table_rows_with_ids_in_their_areas() -> None:
    reqs = parse_requirements(REQUIREMENTS)
    assert [(r.id, r.area) for r in reqs] == [
        ("ALM-001", "ALM — Alarms"),
        ("ALM-002", "ALM — Alarms"),
        ("OEE-001", "OEE — OEE"),
        ("OEE-002", "OEE — OEE"),
        ("OEE-003", "OEE — OEE"),
    ]
    assert reqs[1].text == "Acknowledging makes it acknowledged | steady."
    assert (reqs[0].source, reqs[0].line) == ("ISA-18.2 cl. 5", 13)


@pytest.mark.req("VAL-003")
@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("| ALM-1 | Too short an id. | X |", "not an id of the form AREA-NNN"),
        ("| ALM-001 | Again. | X |", "ALM-001 is already used at line 13"),
        ("| ALM-003 | No source. | |", "needs both a requirement and a source"),
        ("| ALM-003 | Four cells. | X | Y |", "has 4 cells"),
    ],
)
def test_malformed_rows_are_reported_with_their_line(row: str, problem: str) -> None:
    text = REQUIREMENTS.replace("| ALM-002 |", row + "\n| ALM-002 |")
    with pytest.raises(ValidationInputError, match="requirements.md:14: .*" + problem.split(" at ")[0]):
        parse_requirements(text)


@pytest.mark.req("VAL-003")
def test_a_file_without_requirements_is_refused() -> None:
    with pytest.raises(ValidationInputError, match="no requirement rows"):
        parse_requirements("# Nothing here\n\n| A | B |\n| --- | --- |\n")


@pytest.mark.req("VAL-003")
def test_junit_totals_cases_outcomes_and_environment() -> None:
    r = run()
    assert (r.tests, r.failures, r.errors, r.skipped, r.time) == (7, 1, 1, 2, 12.5)
    assert (r.timestamp, r.hostname) == ("2025-01-06T06:00:00+00:00", "ci-1")
    assert r.environment["factory-hmi"] == "0.1.0"
    assert [(c.name, c.outcome, c.requirements) for c in r.cases][:5] == [
        ("test_clear_stays", "passed", ("ALM-001",)),
        ("test_ack[sqlite]", "failed", ("ALM-001", "ALM-002")),
        ("test_ack[postgres]", "skipped", ("ALM-002",)),
        ("test_oee", "passed", ("OEE-001", "XYZ-999")),
        ("test_oee_skip", "skipped", ("OEE-001", "OEE-002")),
    ]
    assert r.cases[1].message == f"AssertionError: {HOSTILE}"
    assert r.cases[1].nodeid == "tests.unit.test_a::test_ack[sqlite]"
    assert (r.cases[5].outcome, r.cases[5].message) == ("error", "fixture broke")


@pytest.mark.req("VAL-003")
@pytest.mark.parametrize("data", [b"not xml", b"<html><body/></html>"])
def test_what_is_not_junit_is_refused(data: bytes) -> None:
    with pytest.raises(ValidationInputError, match="is not a JUnit XML file"):
        parse_junit(data, "x.xml")


@pytest.mark.req("VAL-003", "VAL-004")
def test_outcome_per_requirement() -> None:
    result = trace(parse_requirements(REQUIREMENTS), run())
    outcomes = {r.requirement.id: r.outcome for r in result.results}
    assert outcomes == {
        "ALM-001": Outcome.FAILED,  # one passed, one failed
        "ALM-002": Outcome.FAILED,  # failed and skipped
        "OEE-001": Outcome.PASSED,  # one passed, one expected failure (skipped)
        "OEE-002": Outcome.SKIPPED,  # its only test skipped: not proven
        "OEE-003": Outcome.NOT_RUN,
    }
    assert result.counts() == {Outcome.PASSED: 1, Outcome.FAILED: 2, Outcome.SKIPPED: 1, Outcome.NOT_RUN: 1}
    assert list(result.unknown) == ["XYZ-999"]
    assert [c.outcome for c in result.unlinked_failures] == ["error"]


@pytest.mark.req("VAL-004")
def test_exit_status() -> None:
    reqs = parse_requirements(REQUIREMENTS)
    result = trace(reqs, run())
    assert exit_code(result) == exit_code(result, allow_untested=True) == 1  # failed requirements
    result = trace(reqs, parse_junit(PASSING.encode()))
    assert result.counts()[Outcome.FAILED] == 0
    assert exit_code(result) == 1  # OEE-002 skipped, OEE-003 not run
    assert exit_code(result, allow_untested=True) == 0
    proven = trace(reqs[:1], parse_junit(PASSING.encode()))
    assert exit_code(proven) == 0
    # A withdrawn row keeps its id but is no requirement of the run: never "not run".
    row = "| OEE-003 | Planned stops are not planned busy time."
    withdrawn = parse_requirements(REQUIREMENTS.replace(row, "| OEE-003 | Withdrawn: see OEE-001."))
    result = trace(withdrawn[:2] + withdrawn[4:], parse_junit(PASSING.encode()))
    assert [r.requirement.id for r in result.results] == ["ALM-001", "ALM-002"]
    assert exit_code(result) == 0


@pytest.mark.req("VAL-003")
def test_the_csv_has_a_row_per_requirement_and_test() -> None:
    result = trace(parse_requirements(REQUIREMENTS), run())
    rows = list(csv.DictReader(io.StringIO(traceability_csv(result))))
    assert [(r["requirement_id"], r["requirement_outcome"], r["test"], r["test_outcome"]) for r in rows] == [
        ("ALM-001", "failed", "tests.unit.test_a::test_clear_stays", "passed"),
        ("ALM-001", "failed", "tests.unit.test_a::test_ack[sqlite]", "failed"),
        ("ALM-002", "failed", "tests.unit.test_a::test_ack[sqlite]", "failed"),
        ("ALM-002", "failed", "tests.unit.test_a::test_ack[postgres]", "skipped"),
        ("OEE-001", "passed", "tests.unit.test_b::test_oee", "passed"),
        ("OEE-001", "passed", "tests.unit.test_b::test_oee_skip", "skipped"),
        ("OEE-002", "skipped", "tests.unit.test_b::test_oee_skip", "skipped"),
        ("OEE-003", "not run", "", ""),
    ]
    assert rows[3]["message"] == "no PostgreSQL"
    assert rows[0]["source"] == "ISA-18.2 cl. 5"


@pytest.mark.req("VAL-004")
def test_csv_cells_that_look_like_formulas_are_defused() -> None:
    text = REQUIREMENTS.replace("OEE is A x P x Q.", "=HYPERLINK(1)")
    rows = list(csv.reader(io.StringIO(traceability_csv(trace(parse_requirements(text), run())))))
    assert {c for row in rows for c in row if "HYPERLINK" in c} == {"'=HYPERLINK(1)"}


@pytest.mark.req("VAL-003", "VAL-004")
def test_the_html_states_the_facts_flags_failures_and_lists_untested_in_red() -> None:
    page = oq_html(trace(parse_requirements(REQUIREMENTS), run()), run(), info())
    for fact in (
        "factory-hmi 0.1.0",
        "2025-01-06 13:45:00 UTC",
        "ci-1",
        "3.18.0",
        "CPython 3",
        "<td>7</td><td>1</td><td>1</td><td>2</td><td>12.5</td>",
        "sha256 " + "a" * 64,
    ):
        assert fact in page, fact
    assert "Failed requirements (2)" in page
    assert '<li class="failed">FAILED ALM-001: ' in page
    assert "Untested requirements (2)" in page
    assert '<li class="untested">NOT RUN OEE-003: Planned stops are not planned busy time.</li>' in page
    # `code` spans of the requirements file are set as code, and their text is escaped like any other.
    assert '<li class="untested">SKIPPED OEE-002: Performance above 100 % is <code>flagged</code> &lt;b&gt;.' in page
    assert ".untested, .not-run { color: #d00000" in page
    assert '<tr class="untested" id="OEE-003">' in page
    assert "XYZ-999" in page  # an id no requirement has
    assert "Failed tests linked to no requirement (1)" in page


@pytest.mark.req("VAL-004")
def test_the_html_escapes_everything_from_the_test_results() -> None:
    page = oq_html(trace(parse_requirements(REQUIREMENTS), run()), run(), info())
    assert "<script>" not in page
    assert "</para><b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;/para&gt;&lt;b&gt;" in page


@pytest.mark.req("VAL-003", "VAL-004")
def test_the_pdf_holds_the_report_whatever_the_test_names_contain() -> None:
    pdf = oq_pdf(trace(parse_requirements(REQUIREMENTS), run()), run(), info(), compress=False)
    assert pdf.startswith(b"%PDF")
    for text in (
        b"factory-hmi 0.1.0",
        b"Page 1 of",
        b"FAILED ALM-001",
        b"NOT RUN OEE-003",
        b"ci-1",
        b"Untested requirements \\(2\\)",
        b"Failed requirements \\(2\\)",
        b"alert\\(1\\)",
    ):
        assert text in pdf, text


@pytest.mark.req("VAL-003")
def test_a_large_report_is_split_over_pages() -> None:
    """A requirement with hundreds of tests, long texts and a message that is one long word: rows are per test and
    cut, so no row outgrows a page (which reportlab could not lay out)."""
    rows = "\n".join(f"| BIG-{i:03d} | Requirement {i} {'long text ' * 30}. | Source {i} |" for i in range(3))
    reqs = parse_requirements("## BIG\n\n| ID | Requirement | Source |\n| --- | --- | --- |\n" + rows)
    message = "AssertionError: " + "the value was not what was expected " * 40

    def case(rid: str, name: str, text: str) -> str:
        return (
            f'<testcase classname="tests.unit.test_big" name="{name}"><properties><property name="requirements" '
            f'value="{rid}"/></properties><failure message="{text}"/></testcase>'
        )

    cases = "".join(case("BIG-000", f"test_{j}[{'p' * 80}]", message) for j in range(120))
    cases += case("BIG-001", "test_one_word", "x" * 20_000)
    big = parse_junit(f'<testsuite tests="121" failures="121">{cases}</testsuite>'.encode())
    pdf = oq_pdf(trace(reqs, big), big, info(), compress=False)
    pages = int(re.search(rb"Page 1 of (\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert pages >= 5


def write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    reqs, junit = tmp_path / "requirements.md", tmp_path / "results.xml"
    reqs.write_text(REQUIREMENTS, encoding="utf-8")
    junit.write_text(JUNIT, encoding="utf-8")
    return reqs, junit


@pytest.mark.req("VAL-003", "VAL-004")
def test_the_command_writes_the_three_files_and_exits_1_on_a_failed_requirement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reqs, junit = write_inputs(tmp_path)
    out = tmp_path / "report"
    code = main(
        [
            "validation",
            "report",
            "--junit",
            str(junit),
            "--out",
            str(out),
            "--requirements",
            str(reqs),
            "--allow-untested",
        ]
    )
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out / 'traceability.csv'}, ")
    assert printed.endswith(
        "JUnit: 7 tests, 1 failures, 1 errors, 2 skipped, 12.5 s; 5 requirements, 1 not run\n"
        "requirements: 1 passed, 2 failed, 1 skipped\n"
    )
    assert "FAILED:\n  ALM-001 " in printed
    assert "UNTESTED (not run, or every test skipped):\n  OEE-002 " in printed


@pytest.mark.req("VAL-004")
def test_the_command_exits_0_only_when_all_is_proven_or_untested_is_allowed(tmp_path: Path) -> None:
    reqs, junit = write_inputs(tmp_path)
    junit.write_text(PASSING, encoding="utf-8")
    args = ["validation", "report", "--junit", str(junit), "--out", str(tmp_path / "r"), "--requirements", str(reqs)]
    assert main(args) == 1
    assert main([*args, "--allow-untested"]) == 0


@pytest.mark.req("VAL-004")
def test_missing_or_unreadable_inputs_exit_2_saying_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reqs, junit = write_inputs(tmp_path)
    out = str(tmp_path / "r")
    assert (
        main(["validation", "report", "--junit", str(junit), "--out", out, "--requirements", str(tmp_path / "nope.md")])
        == 2
    )
    assert "pass --requirements FILE" in capsys.readouterr().err
    assert (
        main(["validation", "report", "--junit", str(tmp_path / "none.xml"), "--out", out, "--requirements", str(reqs)])
        == 2
    )
    assert "--junitxml=" in capsys.readouterr().err
    junit.write_text("<testsuites><testsuite>", encoding="utf-8")
    assert main(["validation", "report", "--junit", str(junit), "--out", out, "--requirements", str(reqs)]) == 2
    assert "is not a JUnit XML file" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.req("VAL-004")
def test_without_the_source_tree_the_default_requirements_file_is_named_with_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, junit = write_inputs(tmp_path)
    monkeypatch.setattr("hmi.cli.validation.default_requirements_path", lambda: tmp_path / "site" / "docs" / "r.md")
    assert main(["validation", "report", "--junit", str(junit), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "r.md not found; pass --requirements FILE" in err
    assert "an installed wheel does not ship it" in err
