"""The audit trail screen: filtered rows in plant local time, exported as CSV or PDF (21 CFR 11.10(b), 11.10(e))."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission, Role
from hmi.limits import Page
from hmi.records.audit_anchor import Anchor
from hmi.records.audit_export import AuditFilter, audit_csv, audit_pdf, read_export, read_page
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import AuditEntry
from screens import ranges
from screens.exporting import read_for_export
from screens.filter_fold import FilterFold
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, message
from screens.record_list import PagedTable, RangePicker, on_choice
from screens.restricted import Restriction, permitted
from screens.session import command
from screens.testid import testid
from screens.widgets import column

# Long values (a configuration diff) are cut in the table; the export carries them whole.
CELL_CHARS = 200

COLUMNS: list[dict[str, Any]] = [
    column("time", N_("Time (plant)"), sortable=True),
    column("user", N_("User"), sortable=True),
    column("station", N_("Station"), sortable=True),
    column("action", N_("Action"), sortable=True),
    column("object", N_("Object"), sortable=True),
    column("old", N_("Old value")),
    column("new", N_("New value")),
    column("reason", N_("Reason")),
    column("detail", N_("Detail / signature")),
]
# Time and action are always shown; the rest from the width named, below it in the row's details
# (screens/fitted_table.py).
SHOWN_FROM = {"user": 800, "object": 1024, "station": 1280, "reason": 1280, "old": 1600, "new": 1600, "detail": 1600}
KEEP_WORDS = ("time",)


def _cut(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def _row(entry: AuditEntry, rt: Runtime) -> dict[str, Any]:
    # Server time (UTC in the store) shown in plant local time with its zone (docs/architecture.md, "Rules").
    return {
        "id": entry.id,
        "time": local_time(entry.at, rt.plant.site.zone, date=True),
        "user": entry.username,
        "station": entry.station,
        "action": entry.action,
        "object": f"{entry.object_type}:{entry.object_id}" if entry.object_id else entry.object_type,
        "old": _cut(entry.old_value),
        "new": _cut(entry.new_value),
        "reason": _cut(entry.reason),
        "detail": _cut(entry.detail),
    }


AUDIT_VIEWERS = Restriction(
    check=lambda rt, ctx: rt.audit.require(ctx, Permission.VIEW_AUDIT, action="audit.view", object_type="audit"),
    refused=lambda ctx, exc: _(
        "Your role ({value}) may not view the audit trail; an engineer, a manager or an administrator can."
    ).format(value=ctx.role.value),
    unavailable=N_("The audit trail cannot be shown"),
    testid="audit-denied",
)


async def audit_page(rt: Runtime, ctx: ActionContext) -> None:
    """The audit trail screen: the permission is checked (and a refusal audited) before any row shows."""
    with frame(rt, ctx, "Audit"):
        ui.label(_("Audit trail")).classes("hmi-title")
        if not await permitted(rt, ctx, AUDIT_VIEWERS):
            return
        if ctx.role is Role.ADMIN:
            # What start-up or the anchor task found (re-installed guards, anchor trouble): admins act on it.
            for finding in rt.findings:
                testid(ui.label(finding).classes("font-semibold text-red-700").props('role="alert"'), "audit-finding")
        AuditScreen(rt, ctx)


class AuditScreen:
    """Filters, the page of entries on show, and the exports (for those who may export)."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.zone = rt.plant.site.zone
        fold = FilterFold("audit")
        with fold.row:
            self.range = RangePicker(rt, "audit", ("1h", "shift", "24h", "7d", "custom"), value="24h")
            self.user = testid(ui.input(_("User")).classes("w-32").props("clearable"), "audit-user")
            self.obj = testid(
                ui.input(_("Object (type or type:id)")).classes("w-56").props("clearable"), "audit-object"
            )
            self.action = testid(ui.input(_("Action (e.g. login)")).classes("w-44").props("clearable"), "audit-action")
        # Hidden for roles the service would refuse anyway; the export checks the permission itself.
        exports = [
            (N_("Export CSV"), command(rt, lambda actor: self.export(actor, "csv")), "audit-export-csv"),
            (N_("Export PDF"), command(rt, lambda actor: self.export(actor, "pdf")), "audit-export-pdf"),
        ]
        self.pages = PagedTable(
            rt,
            "audit",
            COLUMNS,
            read=self.read,
            row=lambda r: _row(r, rt),
            unreadable=N_("The audit trail cannot be read"),
            actions=exports if ctx.can(Permission.EXPORT_AUDIT) else (),
            shown_from=SHOWN_FROM,
            keep_words=KEEP_WORDS,
        )
        on_choice([self.range.select], self.pages.show)

    def current(self) -> tuple[ranges.Window, AuditFilter]:
        """The chosen window and filter; ValueError when they are not one."""
        window = self.range.window()
        # "Last hour" runs up to the newest row, including those written while the page is open.
        flt = AuditFilter.build(
            since=window.start,
            until=None if window.open_end else window.end,
            username=self.user.value or "",
            obj=self.obj.value or "",
            action=self.action.value or "",
        )
        return window, flt

    async def read(self, offset: int) -> tuple[ranges.Window, Page[AuditEntry]]:
        """One page of the chosen entries, newest first."""
        window, flt = self.current()
        rt = self.rt
        return window, await read_page(rt.audit, flt, limits=rt.plant.limits, now=rt.clock(), offset=offset)

    async def export(self, actor: ActionContext, fmt: str) -> None:
        """Export the chosen entries as CSV or PDF, audited before the file leaves."""
        status = self.pages.status
        found = await read_for_export(
            status, lambda: self._read_export(actor, fmt), self.rt.plant.limits.export_max_rows
        )
        if found is None:
            return
        (window, flt, head), rows = found
        name = f"audit-trail_{ranges.file_stamp(window, self.zone)}"
        if fmt == "csv":
            text = await asyncio.to_thread(audit_csv, rows, self.zone, head)
            # The byte-order mark lets spreadsheet programs recognise UTF-8.
            content, filename, media = text.encode("utf-8-sig"), f"{name}.csv", "text/csv"
        else:
            printed = f"{actor.full_name} ({actor.username})" if actor.full_name else actor.username
            content = await asyncio.to_thread(
                audit_pdf,
                rows,
                title=self.rt.plant.site.name,
                zone=self.zone,
                generated_by=printed,
                generated_at=self.rt.clock(),
                filter_text=flt.describe(self.zone),
                head=head,
            )
            filename, media = f"{name}.pdf", "application/pdf"
        try:
            # Recorded before the file leaves: an export that cannot be audited does not happen.
            await self.rt.audit.record(
                actor, "audit.export", "audit", fmt, new_value=flt.as_dict(), detail=f"{len(rows)} rows to {filename}"
            )
        except DatabaseUnavailable as exc:
            status.set_text(_("Not exported: {exc}").format(exc=message(exc)))
            return
        ui.download.content(content, filename, media)
        status.set_text(_("Exported {len} entries.").format(len=len(rows)))

    async def _read_export(
        self, actor: ActionContext, fmt: str
    ) -> tuple[tuple[ranges.Window, AuditFilter, Anchor | None], list[AuditEntry]]:
        await self.rt.audit.require(
            actor, Permission.EXPORT_AUDIT, action="audit.export", object_type="audit", object_id=fmt
        )
        window, flt = self.current()
        head = await self.rt.audit.head()
        rows = await read_export(self.rt.audit, flt, limits=self.rt.plant.limits, now=self.rt.clock())
        return (window, flt, head), rows
