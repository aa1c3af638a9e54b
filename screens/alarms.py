"""The alarm list: priority, time, tag, message, value, state; acknowledge selected or all visible."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from hmi.alarms.engine import Alarm
from hmi.context import ActionContext, PermissionDenied
from hmi.roles import Permission
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.fmt import local_time
from screens.frame import frame

COLUMNS = [
    {"name": "priority", "label": "Pri", "field": "priority", "sortable": True, "align": "left"},
    {"name": "time", "label": "Time", "field": "time", "sortable": True, "align": "left"},
    {"name": "line", "label": "Line", "field": "line", "sortable": True, "align": "left"},
    {"name": "tag", "label": "Tag", "field": "tag", "sortable": True, "align": "left"},
    {"name": "message", "label": "Message", "field": "message", "align": "left"},
    {"name": "value", "label": "Value", "field": "value", "align": "right"},
    {"name": "state", "label": "State", "field": "state_label", "sortable": True, "align": "left"},
    {"name": "ack", "label": "Acknowledged by", "field": "ack", "align": "left"},
]

# Vue escapes {{ }} interpolation, so alarm text from the plant is never interpreted as HTML.
PRIORITY_SLOT = r"""
<q-td :props="props">
  <span :class="'alarm-ind p' + props.row.priority + (props.row.state === 'active_unack' ? ' unack'
        : props.row.state === 'rtn_unack' ? ' rtn' : '')">{{ props.row.priority }}</span>
</q-td>
"""
LINE_SLOT = r"""
<q-td :props="props">
  <q-btn flat dense no-caps :label="props.row.line" @click.stop="() => $parent.$emit('open_line', props.row.line)" />
</q-td>
"""


def _row(alarm: Alarm, rt: Runtime) -> dict[str, Any]:
    zone = rt.plant.site.zone
    value = alarm.value
    return {
        "id": alarm.id,
        "priority": alarm.priority,
        "time": local_time(alarm.activated_at, zone, date=True),
        "line": alarm.line,
        "tag": alarm.tag,
        "message": alarm.message,
        "value": f"{value:.2f}" if isinstance(value, float) else str(value),
        "state": alarm.state.value,
        "state_label": alarm.state.label,
        "ack": f"{alarm.acked_by} {local_time(alarm.acked_at, zone)}"
        + (f" — {alarm.ack_comment}" if alarm.ack_comment else "")
        if alarm.acked_by
        else "",
    }


def alarms_page(rt: Runtime, ctx: ActionContext, focus: str | None = None) -> None:
    """The active alarm list."""
    may_ack = ctx.can(Permission.ACKNOWLEDGE_ALARM)
    with frame(rt, ctx, "Alarms"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Active alarms").classes("hmi-title")
            counts = ui.label("").props('data-testid="alarm-totals"').mark("alarm-totals")
            ui.space()
            search = (
                ui.input("Filter (text)")
                .props('clearable data-testid="alarm-filter"')
                .mark("alarm-filter")
                .classes("w-64")
            )
            priority = ui.select(
                {0: "all priorities", 1: "priority 1", 2: "priority 2", 3: "priority 3", 4: "priority 4"},
                value=0,
                label="Priority",
            ).classes("w-40")
        with ui.row().classes("items-center gap-3"):
            if may_ack:
                ui.button("Acknowledge selected", on_click=lambda: confirm(selected_ids())).props(
                    'data-testid="ack-selected"'
                ).mark("ack-selected")
                ui.button("Acknowledge all visible", on_click=lambda: confirm(visible_ids())).props(
                    'outline data-testid="ack-all"'
                ).mark("ack-all")
            else:
                # The service refuses anyway; not offering the buttons spares the person a command that cannot work.
                ui.label(f"Your role ({ctx.role.value}) may view alarms but not acknowledge them.").classes("hmi-muted")
        status = (
            ui.label("").classes("font-semibold").props('role="status" data-testid="ack-status"').mark("ack-status")
        )
        table = (
            ui.table(
                columns=COLUMNS,
                rows=[],
                row_key="id",
                selection="multiple" if may_ack else None,
                pagination={"rowsPerPage": 50, "sortBy": "priority"},
            )
            .classes("w-full")
            .props('data-testid="alarm-table" flat bordered')
            .mark("alarm-table")
        )
        table.add_slot("body-cell-priority", PRIORITY_SLOT)
        table.add_slot("body-cell-line", LINE_SLOT)
        table.on("open_line", lambda e: ui.navigate.to(f"/line/{e.args}"))

        def visible() -> list[Alarm]:
            text = (search.value or "").lower()
            out = []
            for a in rt.alarms.active():
                if priority.value and a.priority != priority.value:
                    continue
                if text and text not in f"{a.tag} {a.line} {a.message} {a.state.label}".lower():
                    continue
                out.append(a)
            return out

        def visible_ids() -> list[str]:
            return [a.id for a in visible() if a.state.unacknowledged]

        def selected_ids() -> list[str]:
            return [r["id"] for r in table.selected]

        signature: list[Any] = [None]

        def refresh(force: bool = False) -> None:
            alarms = visible()
            sig = [(a.id, a.state.value, a.acked_by) for a in alarms]
            if sig == signature[0] and not force:
                return
            signature[0] = sig
            table.rows = [_row(a, rt) for a in alarms]
            ids = {a.id for a in alarms}
            table.selected = [r for r in table.selected if r["id"] in ids]
            table.update()
            apply_focus()
            unack = sum(1 for a in alarms if a.state.unacknowledged)
            counts.set_text(f"{len(alarms)} listed, {unack} unacknowledged")

        search.on_value_change(lambda: refresh(True))
        priority.on_value_change(lambda: refresh(True))

        async def acknowledge(ids: list[str], comment: str, dialog: ui.dialog) -> None:
            try:
                result = await rt.alarm_service.acknowledge(ctx, ids, comment)
            except PermissionDenied as exc:
                status.set_text(f"Refused: {exc}.")
                dialog.close()
                return
            except (DatabaseUnavailable, ValueError) as exc:
                # Nothing changed: the alarms stay unacknowledged and the person is told why.
                status.set_text(f"Not acknowledged: {exc}")
                ui.notify(f"Not acknowledged: {exc}", type="negative", multi_line=True)
                dialog.close()
                return
            dialog.close()
            n = len(result.acknowledged)
            status.set_text(f"{n} alarm(s) acknowledged and stored." if n else "Nothing needed acknowledging.")
            table.selected = []
            refresh(True)

        def confirm(ids: list[str]) -> None:
            if not ids:
                status.set_text("Select unacknowledged alarms first.")
                return
            # Two touches for anything that changes a record (STANDARDS.md 4.6): select, then confirm.
            with ui.dialog() as dialog, ui.card().classes("w-[32rem]"):
                ui.label(f"Acknowledge {len(ids)} alarm(s)?").classes("hmi-title")
                comment = (
                    ui.textarea("Comment (optional)")
                    .props('data-testid="ack-comment" maxlength=1000')
                    .mark("ack-comment")
                    .classes("w-full")
                )
                with ui.row():
                    ui.button(
                        "Confirm acknowledge", on_click=lambda: acknowledge(ids, comment.value or "", dialog)
                    ).props('data-testid="ack-confirm"').mark("ack-confirm")
                    ui.button("Cancel", on_click=dialog.close).props("outline")
            dialog.open()

        # A link from the banner or a line may arrive a moment before its alarm: keep looking until it is listed.
        pending = [focus]

        def apply_focus() -> None:
            target = pending[0]
            if not target or (alarm := rt.alarms.get(target)) is None:
                return
            pending[0] = None
            search.set_value(alarm.tag)
            if may_ack:
                table.selected = [r for r in table.rows if r["id"] == target]
                table.update()

        refresh(True)
        ui.timer(1.0, refresh)
