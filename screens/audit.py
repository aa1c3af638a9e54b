"""The audit trail screen: filtered rows in plant local time, exported as CSV or PDF (STANDARDS.md 5.1-5.3)."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission, Role
from hmi.records.audit_anchor import Anchor
from hmi.records.audit_export import AuditFilter, audit_csv, audit_pdf, read_export, read_page
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import AuditEntry
from screens import ranges
from screens.exporting import read_for_export
from screens.fmt import local_time
from screens.frame import frame
from screens.restricted import Restriction, permitted
from screens.session import command

# Long values (a configuration diff) are cut in the table; the export carries them whole.
CELL_CHARS = 200

COLUMNS: list[dict[str, Any]] = [
    {"name": "time", "label": "Time (plant)", "field": "time", "sortable": True, "align": "left"},
    {"name": "user", "label": "User", "field": "user", "sortable": True, "align": "left"},
    {"name": "station", "label": "Station", "field": "station", "sortable": True, "align": "left"},
    {"name": "action", "label": "Action", "field": "action", "sortable": True, "align": "left"},
    {"name": "object", "label": "Object", "field": "object", "sortable": True, "align": "left"},
    {"name": "old", "label": "Old value", "field": "old", "align": "left"},
    {"name": "new", "label": "New value", "field": "new", "align": "left"},
    {"name": "reason", "label": "Reason", "field": "reason", "align": "left"},
    {"name": "detail", "label": "Detail / signature", "field": "detail", "align": "left"},
]


def _cut(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def _row(entry: AuditEntry, rt: Runtime) -> dict[str, Any]:
    # Server time (UTC in the store) shown in plant local time with its zone (DESIGN.md rule 7).
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
    refused=lambda ctx, _: f"Your role ({ctx.role.value}) may not view the audit trail; an engineer, a manager or an "
                           "administrator can.",
    unavailable="The audit trail cannot be shown",
    testid="audit-denied",
)


async def audit_page(rt: Runtime, ctx: ActionContext) -> None:
    """The audit trail screen: the permission is checked (and a refusal audited) before any row shows."""
    with frame(rt, ctx, "Audit"):
        ui.label("Audit trail").classes("hmi-title")
        if not await permitted(rt, ctx, AUDIT_VIEWERS):
            return
        if ctx.role is Role.ADMIN:
            # What start-up or the anchor task found (re-installed guards, anchor trouble): admins act on it.
            for finding in rt.findings:
                ui.label(finding).classes("font-semibold text-red-700").props(
                    'role="alert" data-testid="audit-finding"').mark("audit-finding")
        _build(rt, ctx)


def _build(rt: Runtime, ctx: ActionContext) -> None:
    zone = rt.plant.site.zone
    with ui.row().classes("w-full items-end gap-3"):
        rng = (
            ui.select(ranges.choices("1h", "shift", "24h", "7d", "custom"), value="24h", label="Time range")
            .classes("w-44").props('data-testid="audit-range"').mark("audit-range")
        )
        with ui.row().classes("items-end gap-3") as custom:
            since_in = (ui.input(f"From ({ranges.LOCAL_HINT})").classes("w-48")
                        .props('data-testid="audit-from"').mark("audit-from"))
            until_in = (ui.input(f"To ({ranges.LOCAL_HINT}, empty: now)").classes("w-56")
                        .props('data-testid="audit-to"').mark("audit-to"))
        custom.bind_visibility_from(rng, "value", value="custom")
        user = ui.input("User").classes("w-32").props('clearable data-testid="audit-user"').mark("audit-user")
        obj = (ui.input("Object (type or type:id)").classes("w-56")
               .props('clearable data-testid="audit-object"').mark("audit-object"))
        action = (ui.input("Action (e.g. login)").classes("w-44")
                  .props('clearable data-testid="audit-action"').mark("audit-action"))
    with ui.row().classes("items-center gap-3"):
        ui.button("Show", on_click=lambda: show(0)).props('data-testid="audit-apply"').mark("audit-apply")
        # Hidden for roles the service would refuse anyway; the export checks the permission itself.
        if ctx.can(Permission.EXPORT_AUDIT):
            ui.button("Export CSV", on_click=command(rt, lambda actor: export(actor, "csv"))).props(
                'outline data-testid="audit-export-csv"').mark("audit-export-csv")
            ui.button("Export PDF", on_click=command(rt, lambda actor: export(actor, "pdf"))).props(
                'outline data-testid="audit-export-pdf"').mark("audit-export-pdf")
        newer = ui.button("Newer", on_click=lambda: show(max(0, offset - rt.plant.limits.page_rows))).props(
            'flat data-testid="audit-newer"').mark("audit-newer")
        older = ui.button("Older", on_click=lambda: show(offset + rt.plant.limits.page_rows)).props(
            'flat data-testid="audit-older"').mark("audit-older")
        count = ui.label("").props('data-testid="audit-count"').mark("audit-count")
    status = (ui.label("").classes("font-semibold").props('role="status" data-testid="audit-status"')
              .mark("audit-status"))
    table = (
        ui.table(columns=COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 50})
        .classes("w-full").props('data-testid="audit-table" flat bordered').mark("audit-table")
    )

    def current() -> tuple[ranges.Window, AuditFilter]:
        window = ranges.resolve(rng.value, rt.clock(), zone, shift=rt.shift(), custom_from=since_in.value or "",
                                custom_to=until_in.value or "")
        # "Last hour" runs up to the newest row, including those written while the page is open.
        flt = AuditFilter.build(since=window.start, until=None if window.open_end else window.end,
                                username=user.value or "", obj=obj.value or "", action=action.value or "")
        return window, flt

    offset = 0

    async def show(start: int = 0) -> None:
        nonlocal offset
        try:
            window, flt = current()
            page = await read_page(rt.audit, flt, limits=rt.plant.limits, now=rt.clock(), offset=start)
        except ValueError as exc:
            status.set_text(f"Not shown: {exc}.")
            return
        except DatabaseUnavailable as exc:
            status.set_text(f"The audit trail cannot be read: {exc}")
            return
        offset = page.offset
        status.set_text("")
        table.rows = [_row(r, rt) for r in page.rows]  # newest first on screen
        table.update()
        newer.set_enabled(page.offset > 0)
        older.set_enabled(page.more)
        span = f"{local_time(window.start, zone, date=True)} – {local_time(window.end, zone, date=True)}"
        if page.offset or page.more:
            count.set_text(f"{len(page.rows)} entries, newest first, {span} (rows {page.first}–{page.last}"
                           f"{'; older ones on the next page' if page.more else ''})")
        else:
            count.set_text(f"{len(page.rows)} entries, newest first, {span}")

    async def export(actor: ActionContext, fmt: str) -> None:
        flt: AuditFilter | None = None

        async def read() -> tuple[ranges.Window, list[AuditEntry]]:
            nonlocal flt
            await rt.audit.require(actor, Permission.EXPORT_AUDIT, action="audit.export", object_type="audit",
                                   object_id=fmt)
            nonlocal head
            window, flt = current()
            head = await rt.audit.head()
            return window, await read_export(rt.audit, flt, limits=rt.plant.limits, now=rt.clock())

        head: Anchor | None = None
        if (found := await read_for_export(status, read, rt.plant.limits.export_max_rows)) is None or flt is None:
            return
        window, rows = found
        name = f"audit-trail_{ranges.file_stamp(window, zone)}"
        if fmt == "csv":
            text = await asyncio.to_thread(audit_csv, rows, zone, head)
            # The byte-order mark lets spreadsheet programs recognise UTF-8.
            content, filename, media = text.encode("utf-8-sig"), f"{name}.csv", "text/csv"
        else:
            printed = f"{actor.full_name} ({actor.username})" if actor.full_name else actor.username
            content = await asyncio.to_thread(
                audit_pdf, rows, title=rt.plant.site.name, zone=zone, generated_by=printed,
                generated_at=rt.clock(), filter_text=flt.describe(zone), head=head)
            filename, media = f"{name}.pdf", "application/pdf"
        try:
            # Recorded before the file leaves: an export that cannot be audited does not happen.
            await rt.audit.record(actor, "audit.export", "audit", fmt, new_value=flt.as_dict(),
                                  detail=f"{len(rows)} rows to {filename}")
        except DatabaseUnavailable as exc:
            status.set_text(f"Not exported: {exc}")
            return
        ui.download.content(content, filename, media)
        status.set_text(f"Exported {len(rows)} entries.")

    rng.on_value_change(lambda e: show() if e.value != "custom" else None)
    ui.timer(0.0, show, once=True)
