"""Audit trail exports: electronic (CSV, JSON) and human-readable (PDF) copies of filtered audit rows.

21 CFR 11.10(b): accurate and complete copies in human-readable and electronic form. Pure functions over rows
already read; the PDF is CPU work, so callers on the event loop run `audit_pdf` in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hmi.config import QueryLimits
from hmi.limits import Page, check_rows, check_span, page_of
from hmi.records.audit import AuditLog
from hmi.records.audit_anchor import Anchor
from hmi.records.export_cells import safe_cell
from hmi.store.models import AuditEntry
from hmi.texts import Text

# One export is read in one go; beyond this the person is asked to narrow the filter.
EXPORT_LIMIT = 100_000

CSV_COLUMNS = (
    "id",
    "time_utc",
    "time_local",
    "zone",
    "user_id",
    "username",
    "station",
    "action",
    "object_type",
    "object_id",
    "old_value",
    "new_value",
    "reason",
    "detail",
    "action_id",
    "prev_hash",
    "row_hash",
    "scheme",
)
CHAIN_HEAD_PREFIX = "# chain head at export: "
"""Starts the CSV's last line: the whole trail's head when the file was made, a copy of it outside the database."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit rows: server time in [since, until), exact user, object type (and id) and action."""

    since: datetime | None = None
    until: datetime | None = None
    username: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None

    @classmethod
    def build(
        cls,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str = "",
        obj: str = "",
        action: str = "",
    ) -> AuditFilter:
        """A filter from what a person typed: empty text means any; `obj` is `TYPE` or `TYPE:ID`."""
        for when in (since, until):
            if when is not None and when.tzinfo is None:
                raise ValueError("audit filter times must be timezone-aware")
        object_type, object_id = parse_object(obj)
        return cls(since, until, username.strip() or None, object_type, object_id, action.strip() or None)

    async def query(self, audit: AuditLog, limit: int, *, offset: int = 0) -> list[AuditEntry]:
        """The rows this filter selects, newest first: at most `limit` after skipping the `offset` newest."""
        return await audit.query(
            since=self.since,
            until=self.until,
            username=self.username,
            action=self.action,
            limit=limit,
            object_type=self.object_type,
            object_id=self.object_id,
            offset=offset,
        )

    def as_dict(self) -> dict[str, str]:
        """The set criteria as text (times in ISO 8601 UTC), for the export's own audit row and file headers."""
        values: dict[str, Any] = {
            "since": self.since,
            "until": self.until,
            "user": self.username,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "action": self.action,
        }
        return {
            key: _iso(value) if isinstance(value, datetime) else str(value)
            for key, value in values.items()
            if value is not None
        }

    def describe(self, zone: ZoneInfo) -> str:
        """'from 2025-01-06 07:00 CET to now · user olga · object alarm:L1' in plant local time."""

        def local(dt: datetime | None, default: str) -> str:
            return dt.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if dt else default

        parts = [f"from {local(self.since, 'the first row')} to {local(self.until, 'now')}"]
        if self.username:
            parts.append(f"user {self.username}")
        if self.object_type:
            parts.append(f"object {self.object_type}" + (f":{self.object_id}" if self.object_id is not None else ""))
        if self.action:
            parts.append(f"action {self.action}")
        return " · ".join(parts)


def parse_object(text: str) -> tuple[str | None, str | None]:
    """'alarm:L1.TempHigh' -> ('alarm', 'L1.TempHigh'); 'alarm' -> ('alarm', None); '' -> (None, None)."""
    text = (text or "").strip()
    if not text:
        return None, None
    # Split on the first colon only: object ids (OPC UA node ids, config paths) may hold colons themselves.
    object_type, sep, object_id = text.partition(":")
    object_type = object_type.strip()
    if not object_type:
        raise ValueError(Text("object {text!r} has no type; write TYPE or TYPE:ID, e.g. alarm:L1.TempHigh", text=text))
    return object_type, (object_id.strip() if sep else None)


async def read_rows(audit: AuditLog, flt: AuditFilter, limit: int = EXPORT_LIMIT) -> list[AuditEntry]:
    """The rows `flt` selects, oldest first (the order a reader follows), at most `limit` (the newest ones)."""
    return (await flt.query(audit, limit))[::-1]


async def read_page(
    audit: AuditLog, flt: AuditFilter, *, limits: QueryLimits, now: datetime, offset: int = 0
) -> Page[AuditEntry]:
    """One page (`limits.page_rows`) of the rows `flt` selects, newest first; RangeTooLong beyond
    `limits.list_max_days`."""
    check_span(Text("the audit range"), flt.since, flt.until or now, limits.list_max_days)
    rows = await flt.query(audit, limits.page_rows + 1, offset=offset)
    return page_of(rows, max(0, offset), limits.page_rows)


async def read_export(audit: AuditLog, flt: AuditFilter, *, limits: QueryLimits, now: datetime) -> list[AuditEntry]:
    """The rows of a screen export, oldest first; RangeTooLong beyond `limits.export_max_days`, TooManyRows
    beyond `limits.export_max_rows` (the command line `hmi audit export` is bounded by rows only)."""
    check_span(Text("the export"), flt.since, flt.until or now, limits.export_max_days)
    rows = await read_rows(audit, flt, limits.export_max_rows + 1)
    check_rows(Text("the export"), len(rows), limits.export_max_rows)
    return rows


def _iso(dt: datetime, zone: ZoneInfo | None = None) -> str:
    return dt.astimezone(zone or UTC).isoformat(timespec="microseconds")


def head_text(head: Anchor | None) -> str:
    """How an export states the chain head: rows, last row, its hash, the time (UTC), unkeyed rows."""
    if head is None:
        return "not recorded"
    # No commas: the CSV footer must stay one cell for spreadsheet programs.
    return (
        f"{head.rows} rows up to row {head.last_id} · head {head.head} · at {_iso(head.at)}"
        f" · {head.legacy} unkeyed · key {head.key_id or 'none'}"
    )


def audit_csv(rows: Iterable[AuditEntry], zone: ZoneInfo, head: Anchor | None = None) -> str:
    """The rows as CSV with a header, time in UTC and plant local; every cell safe to open in a spreadsheet.

    The hashes are included so an electronic copy can be checked against the chain later; the last line states
    the whole chain's head at export (`# chain head at export: ...`), so a later cut-off tail shows.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    row.id,
                    _iso(row.at),
                    _iso(row.at, zone),
                    zone.key,
                    row.user_id,
                    row.username,
                    row.station,
                    row.action,
                    row.object_type,
                    row.object_id,
                    row.old_value,
                    row.new_value,
                    row.reason,
                    row.detail,
                    row.action_id,
                    row.prev_hash,
                    row.row_hash,
                    row.scheme,
                )
            ]
        )
    out.write(f"{CHAIN_HEAD_PREFIX}{head_text(head)}\r\n")
    return out.getvalue()


def audit_json(rows: Iterable[AuditEntry], head: Anchor | None = None) -> str:
    """`{"rows": [...], "chain_head": {...}}`: every field as stored (time ISO 8601 UTC), hashes included, and the
    whole chain's head at export (rows, last_id, head, at, legacy, key_id) or null."""
    records = [
        {
            "id": row.id,
            "at": _iso(row.at),
            "user_id": row.user_id,
            "username": row.username,
            "station": row.station,
            "action": row.action,
            "object_type": row.object_type,
            "object_id": row.object_id,
            "old_value": row.old_value,
            "new_value": row.new_value,
            "reason": row.reason,
            "detail": row.detail,
            "action_id": row.action_id,
            "prev_hash": row.prev_hash,
            "row_hash": row.row_hash,
            "scheme": row.scheme,
        }
        for row in rows
    ]
    chain_head = None if head is None else json.loads(head.to_json())
    return json.dumps({"rows": records, "chain_head": chain_head}, ensure_ascii=False, indent=1)


def is_signature(entry: AuditEntry) -> bool:
    """True for rows that record an electronic signature (their manifestation is shown in bold)."""
    # `sign.failed` / `sign.denied` record a signing that did not happen: no manifestation to show.
    return entry.action.startswith("sign") and not entry.action.endswith((".failed", ".denied"))


def manifestation(entry: AuditEntry) -> str:
    """The signature's printed manifestation (name, time, meaning) as the signing service recorded it.

    hmi.records.signatures keeps it in `new_value` and the content binding in `detail`; older rows may carry it in
    `detail`.
    """
    return (entry.new_value or entry.detail or "").strip()


# Long values (a config diff) would make a single table row taller than a page, which platypus cannot split.
_PDF_CELL_CHARS = 1500


def audit_pdf(
    rows: Sequence[AuditEntry],
    *,
    title: str,
    zone: ZoneInfo,
    generated_by: str,
    generated_at: datetime,
    filter_text: str = "",
    compress: bool = True,
    head: Anchor | None = None,
) -> bytes:
    """A printable audit report (A4 landscape): one table row per audit row, signatures shown in bold.

    `title` names the plant, `filter_text` the selection; both and the page number head every page, and the
    whole chain's head at export (`head`) is printed at the foot of every page.
    `compress=False` leaves page streams readable (tests look for text in them).
    """
    from hmi.records.pdf import Cell, PdfReport, markup

    generated_local = generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    report = PdfReport(
        f"Audit trail · {title}",
        meta=[f"Filter: {filter_text or 'all rows'} · {len(rows)} rows"],
        footer=[
            f"Generated {generated_local} by {generated_by}; times are server time (UTC) and plant local time "
            f"({zone.key}).",
            f"Chain head at export: {head_text(head)}",
        ],
        author=generated_by,
        landscape_pages=True,
        cell_size=7,
        compress=compress,
    )

    def text(value: str | None) -> str:
        return markup(value, max_chars=_PDF_CELL_CHARS, cut_note="more characters in the CSV/JSON")

    def times(entry: AuditEntry) -> Cell:
        utc = entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        local = entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        return report.cell(f"{utc}<br/>{local}")

    def change(entry: AuditEntry) -> Cell:
        if is_signature(entry) and (manifest := manifestation(entry)):
            return report.cell(text(manifest), bold=True)
        if entry.old_value is None and entry.new_value is None:
            return report.cell("")
        return report.cell(f"{text(entry.old_value) or '—'} → {text(entry.new_value) or '—'}")

    def why(entry: AuditEntry) -> Cell:
        parts = [text(entry.reason)] if entry.reason else []
        # A signature row whose manifestation came from `detail` already shows it in bold.
        if entry.detail and not (is_signature(entry) and not entry.new_value):
            parts.append(f"<i>{text(entry.detail)}</i>")
        return report.cell("<br/>".join(parts))

    report.table(
        ["#", "Time (UTC / plant)", "User", "Station", "Action", "Object", "Old → new value", "Reason / detail"],
        [
            [
                entry.id,
                times(entry),
                report.cell(text(entry.username)),
                report.cell(text(entry.station)),
                report.cell(text(entry.action)),
                report.cell(text(f"{entry.object_type}:{entry.object_id}" if entry.object_id else entry.object_type)),
                change(entry),
                why(entry),
            ]
            for entry in rows
        ],
        widths_mm=[12, 34, 24, 22, 26, 34, 64, 51],
        empty="No audit rows match the filter.",
    )
    return report.build()
