"""`hmi validation report`: the traceability matrix and the OQ report from docs/requirements.md and a test run's
JUnit XML (EU GMP Annex 11 §4.4 and §4.7; docs/requirements.md VAL-003, VAL-004)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hmi.validation import (
    Outcome,
    ValidationInputError,
    closing_lines,
    default_requirements_path,
    exit_code,
    load_junit,
    load_requirements,
    report_info,
    trace,
    write_report,
)

EXIT_OK, EXIT_NOT_PROVEN, EXIT_USAGE = 0, 1, 2
# The console lists at most this many requirements per outcome; the report lists them all.
_LISTED = 20


def register(sub: Any) -> None:
    """Add the `validation` sub-command and its `report` action."""
    p: argparse.ArgumentParser = sub.add_parser("validation", help="validation package: traceability and OQ report")
    actions = p.add_subparsers(dest="validation_command", required=True, metavar="ACTION")
    report = actions.add_parser(
        "report",
        help="write traceability.csv, oq-report.html and oq-report.pdf from a JUnit XML file",
        description="Join the requirements (docs/requirements.md) with a test run's JUnit XML (pytest "
        "--junitxml=FILE) into DIR/traceability.csv, DIR/oq-report.html and DIR/oq-report.pdf.",
        epilog="Exit status: 0 when every requirement has a passed test and none failed; 1 when a requirement "
        "failed, or has no passed test (not run, or all its tests skipped) unless --allow-untested; "
        "2 when a file cannot be read. The report is written in every case but 2.",
    )
    report.add_argument("--junit", required=True, type=Path, metavar="FILE", help="JUnit XML of the test run")
    report.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the three files")
    report.add_argument(
        "--requirements",
        type=Path,
        metavar="FILE",
        default=None,
        help="the requirements file (default: docs/requirements.md of the source tree this "
        "package runs from; an installed wheel does not ship it)",
    )
    report.add_argument(
        "--allow-untested",
        action="store_true",
        help="exit 0 although requirements have no passed test (they stay listed in red)",
    )
    report.set_defaults(handler=handle_report)


def _list(title: str, lines: list[str]) -> None:
    if not lines:
        return
    print(f"{title}:")
    for line in lines[:_LISTED]:
        print(f"  {line if len(line) <= 116 else line[:115] + '…'}")
    if len(lines) > _LISTED:
        print(f"  ... and {len(lines) - _LISTED} more (see the report)")


def handle_report(args: argparse.Namespace) -> int:
    """Read both files, write the three outputs, print the summary; the exit status says whether all is proven."""
    requirements_path: Path = args.requirements or default_requirements_path()
    if not requirements_path.is_file():
        how = (
            "pass --requirements FILE"
            if args.requirements
            else "pass --requirements FILE (docs/requirements.md of the factory-hmi source; an installed wheel "
            "does not ship it)"
        )
        print(f"hmi validation report: requirements file {requirements_path} not found; {how}", file=sys.stderr)
        return EXIT_USAGE
    if not args.junit.is_file():
        print(
            f"hmi validation report: JUnit file {args.junit} not found; run the tests with "
            f"`python -m pytest --junitxml={args.junit}` first",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        requirements = load_requirements(requirements_path)
        run = load_junit(args.junit)
        result = trace(requirements, run)
        paths = write_report(args.out, result, run, report_info(requirements_path, args.junit))
    except ValidationInputError as exc:
        print(f"hmi validation report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"hmi validation report: cannot write to {args.out}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    print(f"wrote {', '.join(str(p) for p in paths)}")
    _list("FAILED", [f"{r.requirement.id} {r.requirement.text}" for r in result.with_outcome(Outcome.FAILED)])
    _list(
        "UNTESTED (not run, or every test skipped)",
        [f"{r.requirement.id} {r.requirement.text}" for r in result.with_outcome(Outcome.NOT_RUN, Outcome.SKIPPED)],
    )
    _list("Ids named by tests but not in the requirements", list(result.unknown))
    code = exit_code(result, allow_untested=args.allow_untested)
    if code and not result.with_outcome(Outcome.FAILED):
        print("exit 1: requirements without a passed test (--allow-untested accepts that)", file=sys.stderr)
    # Last, so that a log's closing line is the outcome.
    print("\n".join(closing_lines(result, run)))
    return code
