"""What a recipe download did: the difference table before it, each parameter's outcome, the overall result
(complete, partial or failed) and the download log with its CSV and PDF exports."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hmi.control.outcome import WriteOutcome
from hmi.control.recipe_values import Scalar, number_text
from hmi.records.export_cells import safe_cell
from hmi.texts import Text


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One parameter beside the line's current value: what a download would change."""

    tag: str
    current: Any
    quality: str
    recipe: Scalar
    unit: str
    low: float | None
    high: float | None
    step: float | None

    @property
    def differs(self) -> bool:
        """True when the line's value is not the recipe's (or is unknown)."""
        if self.quality != "good":
            return True
        if isinstance(self.recipe, int | float) and isinstance(self.current, int | float):
            return not math.isclose(float(self.current), float(self.recipe), rel_tol=1e-9, abs_tol=1e-9)
        return bool(self.current != self.recipe)

    @property
    def limits_text(self) -> str:
        """'0 to 400 (step 5)' or ''."""
        if self.low is None or self.high is None:
            return ""
        low, high = number_text(self.low), number_text(self.high)
        if self.step:
            return Text("{low} to {high} (step {step})", low=low, high=high, step=number_text(self.step))
        return Text("{low} to {high}", low=low, high=high)


# Text: the download report on a screen says them in the reader's language, the CSV in English.
RESULT_WORDS = {
    "confirmed": Text("confirmed"),
    "refused": Text("refused"),
    "server_refused": Text("refused by the server"),
    "not_confirmed": Text("not confirmed"),
}


@dataclass(frozen=True, slots=True)
class DownloadPart:
    """One parameter of a download: what was asked, what was there, and what the write service reported."""

    tag: str
    requested: Any
    old: Any
    result: str
    message: str
    """The outcome's sentence: a `Text` right after the download, plain English when read back from the audit."""
    readback: Any = None

    @property
    def confirmed(self) -> bool:
        """True only when the server confirmed the value by read-back."""
        return self.result == "confirmed"


COMPLETE = "complete"
PARTIAL = "partial"
FAILED = "failed"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class DownloadReport:
    """A recipe download as recorded: every part, and the overall result (complete / partial / failed)."""

    recipe: str
    version: int
    version_id: int
    at: datetime
    username: str
    reason: str
    parts: tuple[DownloadPart, ...]
    signature_id: int | None = None
    refused: str = ""
    audit_id: int | None = field(default=None, compare=False)

    @property
    def result(self) -> str:
        """complete: every part confirmed; partial: some; failed: none (or nothing sent); refused: not started."""
        if self.refused:
            return REFUSED
        confirmed = sum(p.confirmed for p in self.parts)
        if self.parts and confirmed == len(self.parts):
            return COMPLETE
        return PARTIAL if confirmed else FAILED

    @property
    def success(self) -> bool:
        """Only a complete download is a success; a partial one never is."""
        return self.result == COMPLETE

    @property
    def summary(self) -> str:
        """One sentence for people: the result and how many parameters the server confirmed."""
        if self.refused:
            return Text("Download refused: {why}", why=self.refused)
        confirmed = sum(p.confirmed for p in self.parts)
        words = {
            COMPLETE: Text("Download complete"),
            PARTIAL: Text("PARTIAL download — the line does NOT hold the whole recipe"),
            FAILED: Text("Download FAILED — nothing was confirmed"),
        }[self.result]
        return Text(
            "{result}: {confirmed} of {total} parameters confirmed ({recipe} version {version})",
            result=words,
            confirmed=confirmed,
            total=len(self.parts),
            recipe=self.recipe,
            version=self.version,
        )

    def as_dict(self) -> dict[str, Any]:
        """The report as it is kept in the audit trail."""
        data = asdict(self)
        data.pop("audit_id")
        data["at"] = self.at.astimezone(UTC).isoformat()
        data["result"] = self.result
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], audit_id: int | None = None) -> DownloadReport:
        """A report read back from its audit row."""
        return cls(
            recipe=str(data["recipe"]),
            version=int(data["version"]),
            version_id=int(data["version_id"]),
            at=datetime.fromisoformat(str(data["at"])),
            username=str(data["username"]),
            reason=str(data.get("reason") or ""),
            parts=tuple(DownloadPart(**p) for p in data.get("parts", ())),
            signature_id=data.get("signature_id"),
            refused=str(data.get("refused") or ""),
            audit_id=audit_id,
        )


def part_of(outcome: WriteOutcome, zone: ZoneInfo | None) -> DownloadPart:
    """A download part from one outcome of WriteService.write_many."""
    return DownloadPart(
        tag=outcome.target,
        requested=outcome.requested,
        old=outcome.old,
        result=outcome.result.value,
        message=outcome.message(zone),
        readback=outcome.readback,
    )


# ------------------------------------------------------------------------------------------ download log export
LOG_HEADER = ("Time (plant)", "User", "Recipe", "Version", "Result", "Confirmed", "Reason", "Parts")


def _parts_text(report: DownloadReport) -> str:
    return "; ".join(f"{p.tag}={p.requested}: {RESULT_WORDS.get(p.result, p.result)}" for p in report.parts)


def log_rows(reports: Sequence[DownloadReport], zone: ZoneInfo) -> list[list[str]]:
    """The download log as table rows (plant local time)."""
    return [
        [
            r.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
            r.username,
            r.recipe,
            str(r.version),
            r.result,
            f"{sum(p.confirmed for p in r.parts)} of {len(r.parts)}",
            r.reason,
            r.refused or _parts_text(r),
        ]
        for r in reports
    ]


def downloads_csv(reports: Sequence[DownloadReport], zone: ZoneInfo) -> str:
    """The download log as CSV; every cell safe from spreadsheet formula injection."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LOG_HEADER)
    for row in log_rows(reports, zone):
        writer.writerow([safe_cell(c) for c in row])
    return out.getvalue()


def downloads_pdf(
    reports: Sequence[DownloadReport], *, site: str, zone: ZoneInfo, generated_by: str, generated_at: datetime
) -> bytes:
    """The download log as PDF (call off the event loop: reportlab is CPU work)."""
    from hmi.records.pdf import PdfReport

    report = PdfReport(
        f"Recipe downloads · {site}",
        meta=[f"{len(reports)} downloads, newest first"],
        footer=[
            f"Generated by {generated_by} at {generated_at.astimezone(zone):%Y-%m-%d %H:%M %Z}. "
            f"Times are plant local time ({zone.key})."
        ],
        author=site,
        landscape_pages=True,
    )
    report.heading("Recipe download log")
    report.table(list(LOG_HEADER), log_rows(reports, zone), widths_mm=(34, 22, 30, 14, 18, 18, 50, 90))
    return report.build()


# ------------------------------------------------------------------------------------------------ the demo
