"""Alarm detail: definition and rationalisation, current status, commands, history, and a trend of its tag."""

from __future__ import annotations

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.alarms.service import AckResult
from hmi.alarms.states import AlarmState, state_words
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.alarms import AlarmCommands
from screens.fmt import local_time
from screens.frame import frame
from screens.trend_chart import LiveTrend
from screens.widgets import LiveFeed, ValueView, alarm_indicator, badge

HISTORY_COLUMNS = [
    {"name": "time", "label": "Server time", "field": "time", "align": "left"},
    {"name": "source", "label": "Source time", "field": "source", "align": "left"},
    {"name": "kind", "label": "Event", "field": "kind", "align": "left"},
    {"name": "state", "label": "State after", "field": "state", "align": "left"},
    {"name": "value", "label": "Value", "field": "value", "align": "right"},
    {"name": "user", "label": "By", "field": "user", "align": "left"},
    {"name": "comment", "label": "Comment / reason", "field": "comment", "align": "left"},
]


def _facts(rows: list[tuple[str, str]]) -> None:
    with ui.grid(columns=2).classes("gap-x-6 gap-y-1"):
        for key, value in rows:
            ui.label(key).classes("hmi-muted")
            ui.label(value).classes("hmi-wrap")  # text only: definitions and reasons come from files and people


def alarm_detail_page(rt: Runtime, ctx: ActionContext, alarm_id: str) -> None:
    """The detail screen of one alarm."""
    zone = rt.plant.site.zone
    ref = rt.alarms.definition(alarm_id)
    alarm = rt.alarms.get(alarm_id)
    with frame(rt, ctx, "Alarm"):
        if ref is None and alarm is None:
            ui.label(f"There is no alarm {alarm_id!r}.").classes("hmi-title")
            ui.button("Back to the alarm list", on_click=lambda: ui.navigate.to("/alarms"))
            return
        status = ui.label("").classes("font-semibold").props('role="status" data-testid="ack-status"').mark(
            "ack-status")
        # A server alarm is named by its source and condition; its message stands beside them in the facts.
        title = ref.alarm.message if ref else (alarm.name if alarm else alarm_id)
        priority = ref.alarm.priority if ref else (alarm.priority if alarm else 4)
        line_name = ref.line.name if ref else (alarm.line if alarm else "")
        with ui.row().classes("items-center gap-3"):
            alarm_indicator(priority, alarm.state if alarm else None)
            ui.label(title).classes("hmi-title").props('data-testid="alarm-title"').mark("alarm-title")
            state_label = ui.label("").classes("hmi-state unknown").props('data-testid="alarm-state"').mark(
                "alarm-state")
            ui.button(f"Line {line_name}", on_click=lambda: ui.navigate.to(f"/line/{line_name}")).props(
                "outline no-caps")
            ui.button("Alarm list", on_click=lambda: ui.navigate.to("/alarms")).props("outline no-caps")

        with ui.row().classes("w-full gap-4 items-start"):
            with ui.column().classes("hmi-panel p-3 gap-1"):
                ui.label("Definition and rationalisation").classes("font-bold")
                if ref is not None:
                    a = ref.alarm
                    rows = [("Alarm id", ref.id), ("Tag", ref.tag.name), ("Area / line", f"{ref.area.name} / "
                                                                                        f"{ref.line.name}"),
                            ("Type", a.type), ("Priority", str(a.priority))]
                    if a.limit is not None:
                        rows.append(("Limit", f"{a.limit:g} {ref.tag.unit}".strip()))
                    if a.value is not None:
                        rows.append(("Raised when value is", str(a.value)))
                    if a.setpoint_tag:
                        rows.append(("Setpoint tag", a.setpoint_tag))
                    rows += [("Deadband", f"{a.deadband:g}"), ("On-delay", f"{a.on_delay_s:g} s"),
                             ("Off-delay", f"{a.off_delay_s:g} s"), ("Latching", "yes" if a.latching else "no")]
                    if a.suppress_when:
                        rule = a.suppress_when
                        test = f"= {rule.equals!r}" if rule.equals is not None else f"≠ {rule.not_equals!r}"
                        rows.append(("Suppressed by design when", f"{rule.tag} {test}"))
                    rows += [("Consequence", a.consequence or "—"), ("Operator action", a.action or "—")]
                    _facts(rows)
                elif alarm is not None and alarm.server is not None:
                    _facts([("Origin", f"OPC UA server condition ({alarm.server.endpoint})"),
                            ("Source", alarm.server.source_label), ("Condition", alarm.server.condition_label),
                            ("Message", alarm.server.message or "—"),
                            ("Severity", str(alarm.server.severity)), ("Priority", str(alarm.priority))])
            with ui.column().classes("hmi-panel p-3 gap-1"):
                ui.label("Now").classes("font-bold")
                now_box = ui.column().classes("gap-1")
            if ref is not None:
                view = ValueView(ref.tag)
                LiveFeed(rt, [ref.tag.name], lambda states: view.show(states.get(ref.tag.name),
                                                                        badge(states.get(ref.tag.name), rt)))

        commands_row = ui.row().classes("items-center gap-2")
        if ref is not None and ref.tag.numeric:
            with ui.column().classes("w-full hmi-panel p-2"):
                ui.label("Trend of its tag around the activation (live, last minutes)").classes("hmi-muted")
                LiveTrend(rt, [ref.tag.name], height=260,
                          marks=[alarm.activated_at] if alarm and alarm.activated_at else [])
        ui.label("History of this alarm").classes("font-bold")
        history = ui.table(columns=HISTORY_COLUMNS, rows=[], row_key="id", pagination=20).classes("w-full").props(
            'data-testid="alarm-history" flat bordered').mark("alarm-history")

        shown: dict[str, object] = {"sig": None}

        def show_now() -> None:
            current = rt.alarms.get(alarm_id)
            state = current.state if current else AlarmState.NORMAL
            sig = (current, state)
            if sig == shown["sig"]:
                return
            shown["sig"] = sig
            state_label.set_text(state.label.upper())
            now_box.clear()
            with now_box:
                facts = [("State", state.label)]
                if current is not None:
                    facts.append(("Activated", local_time(current.activated_at, zone, date=True)))
                    if current.first_out:
                        facts.append(("First-out", "yes: first alarm of its line's burst"))
                    if current.acked_by:
                        facts.append(("Acknowledged", f"{current.acked_by} at {local_time(current.acked_at, zone)}"
                                                      + (f": {current.ack_comment}" if current.ack_comment else "")))
                    if state.hidden:
                        facts.append((state.label.capitalize(), f"by {current.mode_by or '—'} since "
                                                                f"{local_time(current.mode_at, zone, date=True)}"))
                        facts.append(("Why", current.mode_reason or "—"))
                    if current.shelved_until:
                        facts.append(("Shelved until", local_time(current.shelved_until, zone, date=True)))
                _facts(facts)
            commands_row.clear()
            with commands_row:
                ids = [alarm_id]
                if state.unacknowledged and ctx.can(Permission.ACKNOWLEDGE_ALARM):
                    ui.button("Acknowledge", on_click=lambda: commands.acknowledge(ids)).props(
                        'data-testid="ack-selected"').mark("ack-selected")
                if state in (AlarmState.LATCHED_ACK, AlarmState.LATCHED_UNACK) and ctx.can(Permission.RESET_LATCHED):
                    ui.button("Reset", on_click=lambda: commands.reset(ids)).props('outline data-testid="reset"'
                                                                                   ).mark("reset")
                if ref is not None and ctx.can(Permission.SHELVE_ALARM):
                    if state is AlarmState.SHELVED:
                        ui.button("Unshelve", on_click=lambda: commands.unshelve(ids)).props(
                            'outline data-testid="unshelve"').mark("unshelve")
                    elif state is not AlarmState.OUT_OF_SERVICE:
                        ui.button("Shelve…", on_click=lambda: commands.shelve(ids)).props(
                            'outline data-testid="shelve"').mark("shelve")
                if ref is not None and ctx.can(Permission.REMOVE_FROM_SERVICE):
                    if state is AlarmState.OUT_OF_SERVICE:
                        ui.button("Return to service", on_click=lambda: commands.return_to_service(ids)).props(
                            'outline data-testid="return-to-service"').mark("return-to-service")
                    else:
                        ui.button("Remove from service…", on_click=lambda: commands.remove_from_service(ids)
                                  ).props('outline data-testid="oos"').mark("oos")

        async def load_history() -> None:
            try:
                events = await rt.alarm_service.history(alarm_id, limit=200)
            except DatabaseUnavailable as exc:
                status.set_text(f"The history cannot be read: {exc}")
                return
            history.rows = [{"id": e.id, "time": local_time(e.server_time, zone, date=True),
                             "source": local_time(e.source_time, zone, date=True),
                             "kind": str(e.kind).replace("_", " "),
                             "state": state_words(e.state), "value": e.value or "", "user": e.username or "",
                             "comment": e.comment or ""} for e in events]
            history.update()

        async def after(result: AckResult | None) -> None:
            show_now()
            await load_history()

        commands = AlarmCommands(rt, ctx, status, after)
        show_now()
        ui.timer(1.0, show_now)
        ui.timer(0.0, load_history, once=True)
        ui.timer(5.0, load_history)
