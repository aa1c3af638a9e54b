"""The validation package: requirements x test results -> traceability matrix and OQ report.

docs/requirements.md is the single source of the requirement ids (VAL-001): each row of its tables is
`| ID | Requirement | Source |`. A test names the ids it proves with `@pytest.mark.req("ALM-001", ...)`;
tests/conftest.py writes them into the JUnit XML as the test case property `requirements` and the run's
environment as suite properties `environment.*` (VAL-002). This module joins the two files, needing nothing else
from the test run, and writes `traceability.csv`, `oq-report.html` and `oq-report.pdf` (VAL-003, VAL-004).

Everything read from the JUnit file (test names, messages, properties) is text from outside: the HTML escapes it,
the PDF escapes its paragraph markup, the CSV defuses formula-like cells. Pure functions over what was read, plus
`environment()`, which asks the installed distributions for their versions (never importing them).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import platform
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

DISTRIBUTION = "factory-hmi"
REQUIREMENT_ID = re.compile(r"[A-Z]{2,5}-\d{3}")
# A first cell that looks like an id at all (and so must be a valid one); header and separator rows do not.
_ID_LIKE = re.compile(r"[A-Za-z]{2,5}-\w+")
REQUIREMENTS_PROPERTY = "requirements"
"""The JUnit test case property holding the ids a test proves, separated by spaces."""
ENVIRONMENT_PREFIX = "environment."
"""JUnit suite properties `environment.<name>` describe the environment the tests ran in."""
KEY_PACKAGES = ("nicegui", "asyncua", "sqlalchemy", "sqlmodel", "pydantic", "reportlab", "pytest")
FILES = ("traceability.csv", "oq-report.html", "oq-report.pdf")

# What a long JUnit message is cut to in the reports (the JUnit file itself keeps it whole).
_MESSAGE_CHARS = 600
_NAME_CHARS = 300
_PDF_MESSAGE_CHARS = 300
_PDF_ROWS_PER_TABLE = 20


class Outcome(StrEnum):
    """A requirement's outcome in one test run."""

    PASSED = "passed"
    """At least one of its tests passed and none failed."""
    FAILED = "failed"
    """At least one of its tests failed or had an error."""
    SKIPPED = "skipped"
    """Its tests ran but were all skipped (or expected to fail): not proven."""
    NOT_RUN = "not run"
    """No test of the run names it: untested."""


class ValidationInputError(ValueError):
    """The requirements file or the JUnit file cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One row of docs/requirements.md."""

    id: str
    text: str
    source: str
    area: str
    line: int

    @property
    def withdrawn(self) -> bool:
        """A row kept so its id is never reused ("Withdrawn: replaced by ..."): no longer a requirement to prove."""
        return self.text.startswith("Withdrawn:")


@dataclass(frozen=True, slots=True)
class TestCase:
    """One `<testcase>` of the JUnit file."""

    classname: str
    name: str
    outcome: str
    """passed, failed, error or skipped."""
    message: str
    time: float
    requirements: tuple[str, ...]

    @property
    def nodeid(self) -> str:
        """`tests.unit.test_oee_calc::test_the_worked_example`."""
        return f"{self.classname}::{self.name}" if self.classname else self.name

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "error")


@dataclass(frozen=True, slots=True)
class JUnitRun:
    """A JUnit XML file: totals as the file states them, suite properties and the test cases."""

    path: str
    tests: int
    failures: int
    errors: int
    skipped: int
    time: float
    timestamp: str
    hostname: str
    properties: dict[str, str]
    cases: tuple[TestCase, ...]

    @property
    def environment(self) -> dict[str, str]:
        """The environment the tests ran in, as recorded by tests/conftest.py (empty when not recorded)."""
        return {k[len(ENVIRONMENT_PREFIX) :]: v for k, v in self.properties.items() if k.startswith(ENVIRONMENT_PREFIX)}


@dataclass(frozen=True, slots=True)
class RequirementResult:
    """A requirement with the tests of the run that name it."""

    requirement: Requirement
    tests: tuple[TestCase, ...]

    @property
    def outcome(self) -> Outcome:
        if any(t.failed for t in self.tests):
            return Outcome.FAILED
        if any(t.outcome == "passed" for t in self.tests):
            return Outcome.PASSED
        return Outcome.SKIPPED if self.tests else Outcome.NOT_RUN

    def test_counts(self) -> Counter[str]:
        return Counter(t.outcome for t in self.tests)


@dataclass(frozen=True, slots=True)
class Traceability:
    """Every requirement with its tests and outcome, plus what the run holds that the requirements do not."""

    results: tuple[RequirementResult, ...]
    unknown: dict[str, tuple[TestCase, ...]] = field(default_factory=dict)
    """Ids named by tests but missing from the requirements file."""
    unlinked_failures: tuple[TestCase, ...] = ()
    """Failed tests that name no requirement."""

    def counts(self) -> Counter[Outcome]:
        counts: Counter[Outcome] = Counter({o: 0 for o in Outcome})
        counts.update(r.outcome for r in self.results)
        return counts

    def with_outcome(self, *outcomes: Outcome) -> list[RequirementResult]:
        return [r for r in self.results if r.outcome in outcomes]


@dataclass(frozen=True, slots=True)
class ReportInfo:
    """What the report says about itself: versions, when, from which files."""

    version: str
    generated_at: datetime
    environment: dict[str, str]
    requirements_path: str
    requirements_sha256: str
    junit_sha256: str


# ----------------------------------------------------------------------------------------------- requirements


def default_requirements_path() -> Path:
    """docs/requirements.md of the source tree this package runs from (absent in an installed wheel)."""
    return Path(__file__).resolve().parent.parent / "docs" / "requirements.md"


def _cells(row: str) -> list[str]:
    """The cells of a markdown table row; `\\|` is a literal bar inside a cell."""
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def parse_requirements(text: str, name: str = "requirements.md") -> list[Requirement]:
    """The requirements of the markdown text: every table row whose first cell is an id `AREA-NNN`, in the order
    written, each in the area of the heading above it. ValidationInputError lists every malformed row."""
    area = ""
    found: list[Requirement] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            area = stripped.lstrip("#").strip()
            continue
        if not stripped.startswith("|"):
            continue
        cells = _cells(stripped)
        if not _ID_LIKE.fullmatch(cells[0]):
            continue  # the header, the separator, or a table that is not a requirements table
        rid = cells[0]
        where = f"{name}:{number}"
        if not REQUIREMENT_ID.fullmatch(rid):
            problems.append(f"{where}: {rid!r} is not an id of the form AREA-NNN (2-5 capitals, 3 digits)")
            continue
        if len(cells) != 3:
            problems.append(f"{where}: {rid} has {len(cells)} cells; write | ID | Requirement | Source |")
            continue
        if rid in seen:
            problems.append(f"{where}: {rid} is already used at line {seen[rid]}")
            continue
        if not cells[1] or not cells[2]:
            problems.append(f"{where}: {rid} needs both a requirement and a source")
            continue
        seen[rid] = number
        found.append(Requirement(rid, cells[1], cells[2], area, number))
    if problems:
        raise ValidationInputError(f"{name}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    if not found:
        raise ValidationInputError(f"{name}: no requirement rows (| ID | Requirement | Source |) found")
    return found


def load_requirements(path: Path) -> list[Requirement]:
    """parse_requirements of a file; ValidationInputError when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationInputError(f"cannot read the requirements file {path}: {exc}") from exc
    return parse_requirements(text, str(path))


# ---------------------------------------------------------------------------------------------------- JUnit


def _number(value: str | None, kind: type[int] | type[float]) -> Any:
    if value is None or value == "":
        return kind(0)
    try:
        return kind(value)
    except ValueError:
        return kind(0)


def _case(element: ElementTree.Element) -> TestCase:
    outcome, message = "passed", ""
    for kind in ("failure", "error", "skipped"):
        child = element.find(kind)
        if child is not None:
            outcome = "failed" if kind == "failure" else kind
            text = child.get("message") or ""
            if not text:
                lines = (child.text or "").strip().splitlines()
                text = lines[-1] if lines else child.get("type") or ""
            message = " ".join(text.split())
            break
    ids: list[str] = []
    for prop in element.iterfind("properties/property"):
        if prop.get("name") == REQUIREMENTS_PROPERTY:
            ids.extend(i for i in re.split(r"[\s,]+", prop.get("value") or "") if i)
    return TestCase(
        classname=element.get("classname") or "",
        name=element.get("name") or "",
        outcome=outcome,
        message=message,
        time=_number(element.get("time"), float),
        requirements=tuple(dict.fromkeys(ids)),
    )


def parse_junit(data: bytes, name: str = "results.xml") -> JUnitRun:
    """A JUnit XML document (pytest's `--junitxml`, `<testsuites>` or a single `<testsuite>`)."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ValidationInputError(f"{name} is not a JUnit XML file: {exc}") from exc
    if root.tag == "testsuite":
        suites = [root]
    elif root.tag == "testsuites":
        suites = root.findall("testsuite")
    else:
        raise ValidationInputError(f"{name} is not a JUnit XML file: its root is <{root.tag}>, not <testsuites>")
    properties: dict[str, str] = {}
    cases: list[TestCase] = []
    totals = Counter[str]()
    time = 0.0
    for suite in suites:
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += _number(suite.get(key), int)
        time += _number(suite.get("time"), float)
        for prop in suite.iterfind("properties/property"):
            properties[prop.get("name") or ""] = prop.get("value") or ""
        cases.extend(_case(e) for e in suite.iter("testcase"))
    first = suites[0] if suites else root
    return JUnitRun(
        path=name,
        tests=totals["tests"],
        failures=totals["failures"],
        errors=totals["errors"],
        skipped=totals["skipped"],
        time=time,
        timestamp=first.get("timestamp") or "",
        hostname=first.get("hostname") or "",
        properties=properties,
        cases=tuple(cases),
    )


def load_junit(path: Path) -> JUnitRun:
    """parse_junit of a file; ValidationInputError when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationInputError(f"cannot read the JUnit file {path}: {exc}") from exc
    return parse_junit(data, str(path))


# ------------------------------------------------------------------------------------------------ traceability


def trace(requirements: Sequence[Requirement], run: JUnitRun) -> Traceability:
    """Each requirement with the test cases that name it (in the order the run lists them); withdrawn rows are left
    out (a test still naming one is not an unknown id)."""
    known = {r.id for r in requirements}
    by_id: dict[str, list[TestCase]] = {r.id: [] for r in requirements}
    unknown: dict[str, list[TestCase]] = {}
    for case in run.cases:
        for rid in case.requirements:
            (by_id[rid] if rid in known else unknown.setdefault(rid, [])).append(case)
    return Traceability(
        results=tuple(RequirementResult(r, tuple(by_id[r.id])) for r in requirements if not r.withdrawn),
        unknown={rid: tuple(cases) for rid, cases in sorted(unknown.items())},
        unlinked_failures=tuple(c for c in run.cases if c.failed and not c.requirements),
    )


def exit_code(result: Traceability, *, allow_untested: bool = False) -> int:
    """1 when a requirement failed, or (unless allowed) has no passed test; else 0."""
    counts = result.counts()
    if counts[Outcome.FAILED]:
        return 1
    if not allow_untested and (counts[Outcome.NOT_RUN] or counts[Outcome.SKIPPED]):
        return 1
    return 0


# ------------------------------------------------------------------------------------------------- environment


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def hmi_version() -> str:
    """The installed factory-hmi version (the package's own when it is not installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        from hmi import __version__

        return __version__


def source_revision(root: Path | None = None) -> str | None:
    """The git commit of the source tree next to this package, `+modified` when the tree has changes; None when
    it is not a git checkout (an installed wheel) or git is not at hand."""
    root = root or Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+modified" if dirty else head


def environment() -> dict[str, str]:
    """factory-hmi's version and source revision, Python, the platform and the key packages' versions."""
    env = {DISTRIBUTION: hmi_version()}
    if (revision := source_revision()) is not None:
        env["source revision"] = revision
    env["python"] = f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    env["platform"] = platform.platform()
    env.update({name: _version(name) for name in KEY_PACKAGES})
    return env


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------------ writers

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: formula-like text gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


CSV_COLUMNS = (
    "requirement_id",
    "area",
    "requirement",
    "source",
    "requirement_outcome",
    "test",
    "test_outcome",
    "message",
)


def traceability_csv(result: Traceability) -> str:
    """The matrix: one row per requirement and test (one row with no test for an untested requirement)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in result.results:
        req = item.requirement
        head = (req.id, req.area, req.text, req.source, item.outcome.value)
        for case in item.tests or (None,):
            tail = (case.nodeid, case.outcome, case.message) if case else ("", "", "")
            writer.writerow([_csv_cell(v) for v in (*head, *tail)])
    return out.getvalue()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more characters)"


def _summary_lines(result: Traceability, run: JUnitRun) -> tuple[str, str]:
    counts = result.counts()
    reqs = (
        f"{len(result.results)} requirements: {counts[Outcome.PASSED]} passed, {counts[Outcome.FAILED]} failed, "
        f"{counts[Outcome.SKIPPED]} skipped, {counts[Outcome.NOT_RUN]} not run"
    )
    junit = (
        f"JUnit: {run.tests} tests, {run.failures} failures, {run.errors} errors, {run.skipped} skipped, "
        f"{run.time:.1f} s"
    )
    return reqs, junit


def closing_lines(result: Traceability, run: JUnitRun) -> tuple[str, str]:
    """What the command prints last: the JUnit totals with the requirements not run, then the requirements'
    outcome in the plain form `requirements: N passed, N failed, N skipped`."""
    counts = result.counts()
    _, junit = _summary_lines(result, run)
    return (
        f"{junit}; {len(result.results)} requirements, {counts[Outcome.NOT_RUN]} not run",
        f"requirements: {counts[Outcome.PASSED]} passed, {counts[Outcome.FAILED]} failed, "
        f"{counts[Outcome.SKIPPED]} skipped",
    )


def _env_rows(info: ReportInfo, run: JUnitRun) -> list[tuple[str, str, str]]:
    """(name, in the test run, where the report was made)."""
    ran = run.environment
    names = list(dict.fromkeys([*ran, *info.environment]))
    return [(n, ran.get(n, "not recorded"), info.environment.get(n, "")) for n in names]


_HTML_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; font-size: 13px; color: #1d1d1d; margin: 24px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; } h3 { font-size: 14px; }
table { border-collapse: collapse; margin: 8px 0; width: 100%; }
th, td { border: 1px solid #9a9a9a; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #3d3d3d; color: #fff; }
table.meta { width: auto; } table.meta th { background: #e4e4e4; color: #1d1d1d; }
.outcome { font-weight: bold; white-space: nowrap; }
.failed, .error { color: #b00020; font-weight: bold; }
.untested, .not-run { color: #d00000; font-weight: bold; }
.skipped { color: #8a5a00; }
.passed { color: #1d1d1d; }
tr.failed td, tr.untested td { background: #fde8e8; }
.message { color: #5a5a5a; font-size: 12px; }
code { font-size: 12px; overflow-wrap: anywhere; }
table.trace { table-layout: fixed; }
table.trace ul { margin: 0; padding-left: 0; list-style: none; }
table.trace li > span:first-child { display: inline-block; min-width: 4.5em; }
"""


_CODE_SPAN = re.compile(r"`([^`]+)`")


def _code_html(text: str) -> str:
    """Escaped text with the markdown `code` spans of docs/requirements.md as <code>."""
    return _CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text))


def _code_pdf(text: str) -> str:
    """Escaped paragraph markup with the markdown `code` spans in Courier."""
    return _CODE_SPAN.sub(lambda m: f'<font face="Courier">{m.group(1)}</font>', xml_escape(text))


def _css_class(outcome: str) -> str:
    return {"not run": "not-run"}.get(outcome, outcome)


def oq_html(result: Traceability, run: JUnitRun, info: ReportInfo) -> str:
    """The OQ report as one self-contained HTML page; every text is escaped."""
    e = html.escape
    reqs_line, junit_line = _summary_lines(result, run)
    counts = result.counts()
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>factory-hmi {e(info.version)} OQ report</title><style>{_HTML_STYLE}</style></head><body>",
        f"<h1>factory-hmi {e(info.version)} — operational qualification (OQ) report</h1>",
        f"<p><strong>{e(reqs_line)}</strong><br>{e(junit_line)}</p>",
        '<table class="meta">',
    ]
    meta = [
        ("factory-hmi version", info.version),
        ("Report generated (UTC)", info.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Test run started", run.timestamp or "not recorded"),
        ("Test run host", run.hostname or "not recorded"),
        ("JUnit file", f"{run.path} (sha256 {info.junit_sha256})"),
        ("Requirements file", f"{info.requirements_path} (sha256 {info.requirements_sha256})"),
    ]
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in meta]
    parts.append("</table>")

    parts.append(
        "<h2>Environment</h2><table><tr><th>Item</th><th>Test run (from the JUnit file)</th>"
        "<th>Report generator</th></tr>"
    )
    parts += [f"<tr><td>{e(n)}</td><td>{e(a)}</td><td>{e(b)}</td></tr>" for n, a, b in _env_rows(info, run)]
    parts.append("</table>")

    parts.append(
        '<h2>JUnit totals</h2><table class="meta"><tr><th>Tests</th><th>Failures</th><th>Errors</th>'
        f"<th>Skipped</th><th>Time (s)</th></tr><tr><td>{run.tests}</td><td>{run.failures}</td>"
        f"<td>{run.errors}</td><td>{run.skipped}</td><td>{run.time:.1f}</td></tr></table>"
    )
    parts.append(
        '<h2>Requirements by outcome</h2><table class="meta"><tr>'
        + "".join(f"<th>{e(o.value)}</th>" for o in Outcome)
        + "</tr><tr>"
        + "".join(f'<td class="{_css_class(o.value) if counts[o] else ""}">{counts[o]}</td>' for o in Outcome)
        + "</tr></table>"
    )

    failed = result.with_outcome(Outcome.FAILED)
    parts.append(f'<h2 class="failed">Failed requirements ({len(failed)})</h2>')
    if failed:
        parts.append(
            "<ul>"
            + "".join(
                f'<li class="failed">FAILED {e(r.requirement.id)}: {_code_html(r.requirement.text)}<ul>'
                + "".join(
                    f"<li><code>{e(_cut(t.nodeid, _NAME_CHARS))}</code> {e(t.outcome)}"
                    f'<div class="message">{e(_cut(t.message, _MESSAGE_CHARS))}</div></li>'
                    for t in r.tests
                    if t.failed
                )
                + "</ul></li>"
                for r in failed
            )
            + "</ul>"
        )
    else:
        parts.append("<p>None.</p>")

    untested = result.with_outcome(Outcome.NOT_RUN, Outcome.SKIPPED)
    parts.append(f'<h2 class="untested">Untested requirements ({len(untested)})</h2>')
    if untested:
        parts.append(
            '<p class="untested">No test of this run passed for these requirements: not run, or every '
            "test skipped.</p><ul>"
            + "".join(
                f'<li class="untested">{e(r.outcome.value.upper())} {e(r.requirement.id)}: '
                f"{_code_html(r.requirement.text)}</li>"
                for r in untested
            )
            + "</ul>"
        )
    else:
        parts.append("<p>None.</p>")

    if result.unknown:
        parts.append(
            f'<h2 class="failed">Ids named by tests but not in the requirements ({len(result.unknown)})</h2>'
            "<ul>"
            + "".join(
                f"<li><code>{e(rid)}</code>: "
                + ", ".join(f"<code>{e(_cut(t.nodeid, _NAME_CHARS))}</code>" for t in cases)
                + "</li>"
                for rid, cases in result.unknown.items()
            )
            + "</ul>"
        )
    if result.unlinked_failures:
        parts.append(
            f'<h2 class="failed">Failed tests linked to no requirement ({len(result.unlinked_failures)})'
            "</h2><ul>"
            + "".join(
                f"<li><code>{e(_cut(t.nodeid, _NAME_CHARS))}</code> {e(t.outcome)}"
                f'<div class="message">{e(_cut(t.message, _MESSAGE_CHARS))}</div></li>'
                for t in result.unlinked_failures
            )
            + "</ul>"
        )

    parts.append("<h2>Traceability</h2>")
    area = None
    for item in result.results:
        req = item.requirement
        if req.area != area:
            if area is not None:
                parts.append("</table>")
            area = req.area
            parts.append(
                f'<h3>{e(area or "Requirements")}</h3><table class="trace">'
                '<colgroup><col style="width:6%"><col style="width:24%"><col style="width:11%">'
                '<col style="width:6%"><col></colgroup>'
                "<tr><th>ID</th><th>Requirement</th><th>Source</th><th>Outcome</th><th>Tests</th></tr>"
            )
        outcome = item.outcome
        row_class = {Outcome.FAILED: "failed", Outcome.NOT_RUN: "untested", Outcome.SKIPPED: "untested"}.get(
            outcome, ""
        )
        tests = "".join(
            f'<li><span class="{_css_class(t.outcome)}">{e(t.outcome)}</span> '
            f"<code>{e(_cut(t.nodeid, _NAME_CHARS))}</code>"
            + (f'<div class="message">{e(_cut(t.message, _MESSAGE_CHARS))}</div>' if t.message else "")
            + "</li>"
            for t in item.tests
        )
        parts.append(
            f'<tr class="{row_class}" id="{e(req.id)}"><td>{e(req.id)}</td><td>{_code_html(req.text)}</td>'
            f"<td>{_code_html(req.source)}</td>"
            f'<td class="outcome {_css_class(outcome.value)}">{e(outcome.value.upper())}</td>'
            f"<td>{'<ul>' + tests + '</ul>' if tests else 'no test in this run'}</td></tr>"
        )
    if area is not None:
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def oq_pdf(result: Traceability, run: JUnitRun, info: ReportInfo, *, compress: bool = True) -> bytes:
    """The OQ report as a printable PDF (A4 landscape, page N of M). `compress=False` keeps the page streams
    readable (tests look for text in them)."""
    from hmi.records.pdf import ALERT, Cell, PdfReport, alert, markup

    reqs_line, junit_line = _summary_lines(result, run)
    generated = info.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    report = PdfReport(
        f"factory-hmi {info.version} OQ report",
        meta=[f"Generated {generated}"],
        footer=[reqs_line],
        author="hmi validation report",
        landscape_pages=True,
        cell_size=7,
        compress=compress,
    )

    def heading(text: str, *, flagged: bool = False) -> None:
        report.paragraph_markup(alert(markup(text)) if flagged else markup(text), report.styles.heading)

    def flagged_line(text_markup: str) -> None:
        report.paragraph_markup(alert(text_markup))

    def flag(text: str, flagged: bool) -> Cell:
        """A bold cell, in the alert colour when `flagged`."""
        return report.cell(alert(markup(text)) if flagged else markup(text), bold=True)

    report.paragraph(f"factory-hmi {info.version} — operational qualification (OQ) report", report.styles.title)
    report.paragraph_markup(f"<b>{markup(reqs_line)}</b>")
    report.paragraph(junit_line)
    report.spacer(3)
    meta = [
        ("factory-hmi version", info.version),
        ("Report generated (UTC)", generated),
        ("Test run started", run.timestamp or "not recorded"),
        ("Test run host", run.hostname or "not recorded"),
        ("JUnit file", f"{run.path}\nsha256 {info.junit_sha256}"),
        ("Requirements file", f"{info.requirements_path}\nsha256 {info.requirements_sha256}"),
    ]
    report.table(["Item", "Value"], [[report.cell(markup(k), bold=True), v] for k, v in meta], widths_mm=[45, 200])
    report.heading("Environment")
    report.table(
        ["Item", "Test run (from the JUnit file)", "Report generator"],
        [[report.cell(markup(n), bold=True), a, b] for n, a, b in _env_rows(info, run)],
        widths_mm=[35, 115, 115],
    )

    failed = result.with_outcome(Outcome.FAILED)
    heading(f"Failed requirements ({len(failed)})", flagged=bool(failed))
    for item in failed:
        flagged_line(_code_pdf(f"FAILED {item.requirement.id}: {item.requirement.text}"))
        for t in item.tests:
            if t.failed:
                report.paragraph(f"    {t.outcome}: {_cut(t.nodeid, _NAME_CHARS)} — {_cut(t.message, _MESSAGE_CHARS)}")
    if not failed:
        report.paragraph("None.")
    untested = result.with_outcome(Outcome.NOT_RUN, Outcome.SKIPPED)
    heading(f"Untested requirements ({len(untested)})", flagged=bool(untested))
    for item in untested:
        flagged_line(_code_pdf(f"{item.outcome.value.upper()} {item.requirement.id}: {item.requirement.text}"))
    if not untested:
        report.paragraph("None.")
    if result.unknown:
        heading(f"Ids named by tests but not in the requirements ({len(result.unknown)})", flagged=True)
        for rid, cases in result.unknown.items():
            flagged_line(markup(f"{rid}: " + ", ".join(_cut(c.nodeid, _NAME_CHARS) for c in cases)))
    if result.unlinked_failures:
        heading(f"Failed tests linked to no requirement ({len(result.unlinked_failures)})", flagged=True)
        for t in result.unlinked_failures:
            flagged_line(markup(f"{t.outcome}: {_cut(t.nodeid, _NAME_CHARS)} — {_cut(t.message, _MESSAGE_CHARS)}"))

    # The matrix: a row per test, the requirement's cells on its first row only, so that no row is taller than a
    # page (a table row cannot be split across pages); a table per requirement (the first of an area with the
    # header), as reportlab measures a split table again for every page it fills.
    heading("Traceability")
    columns = ["ID", "Requirement", "Source", "Outcome", "Test", "Result"]
    widths = [16, 80, 45, 16, 95, 14]
    area: str | None = None
    header: list[str] | None = None
    for n, item in enumerate(result.results):
        req, outcome = item.requirement, item.outcome
        if n == 0 or req.area != area:
            area = req.area
            report.paragraph(area or "Requirements", report.styles.heading)
            header = columns
        bad = outcome is not Outcome.PASSED
        first = [
            flag(req.id, bad),
            report.cell(_code_pdf(req.text)),
            report.cell(_code_pdf(req.source)),
            flag(outcome.value.upper(), bad),
        ]
        # Plain strings where nothing wraps (`plain=True`), and tables of a few rows: reportlab measures every
        # remaining row of a table again for each page it splits, and a Paragraph per cell is slow to measure.
        rows: list[tuple[list[object], bool]] = []
        if not item.tests:
            rows.append(([*first, flag("no test in this run", True), ""], False))
        for i, t in enumerate(item.tests):
            name = _cut(t.nodeid, _NAME_CHARS) + (f"\n{_cut(t.message, _PDF_MESSAGE_CHARS)}" if t.message else "")
            rows.append(([*(first if i == 0 else [""] * 4), report.cell(markup(name)), t.outcome], t.failed))
        for start in range(0, len(rows), _PDF_ROWS_PER_TABLE):
            chunk = rows[start : start + _PDF_ROWS_PER_TABLE]
            styling: list[tuple[Any, ...]] = [("BACKGROUND", (0, 0), (-1, -1), "#fde8e8")] if bad else []
            for i, (_, failed_test) in enumerate(chunk):
                if failed_test:
                    styling += [("TEXTCOLOR", (5, i), (5, i), ALERT), ("FONT", (5, i), (5, i), "Helvetica-Bold", 7)]
            report.table(header, [r for r, _ in chunk], widths_mm=widths, style=styling, plain=True)
            header = None
    return report.build()


def write_report(out_dir: Path, result: Traceability, run: JUnitRun, info: ReportInfo) -> list[Path]:
    """Write traceability.csv, oq-report.html and oq-report.pdf into `out_dir` (created); their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in FILES]
    paths[0].write_text(traceability_csv(result), encoding="utf-8", newline="")
    paths[1].write_text(oq_html(result, run, info), encoding="utf-8")
    paths[2].write_bytes(oq_pdf(result, run, info))
    return paths


def report_info(requirements_path: Path, junit_path: Path, *, now: datetime | None = None) -> ReportInfo:
    """The report's own facts for these two files, with the environment of this process."""
    return ReportInfo(
        version=hmi_version(),
        generated_at=now or datetime.now(UTC),
        environment=environment(),
        requirements_path=str(requirements_path),
        requirements_sha256=sha256_of(requirements_path),
        junit_sha256=sha256_of(junit_path),
    )
