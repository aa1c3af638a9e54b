"""Alarm detail: definition and rationalisation, current status, commands, history, and a trend of its tag."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.alarms.engine import Alarm
from hmi.alarms.service import AckResult
from hmi.alarms.states import AlarmState, state_words
from hmi.config import AlarmRef
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.alarms import AlarmCommands
from screens.fitted_table import fitted_table
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, message, plant
from screens.testid import testid
from screens.trend_chart import LiveTrend
from screens.widgets import LiveFeed, ValueView, alarm_indicator, badge, column

HISTORY_COLUMNS = [
    column("time", N_("Server time")),
    column("source", N_("Source time")),
    column("kind", N_("Event")),
    column("state", N_("State after")),
    column("value", N_("Value"), align="right"),
    column("user", N_("By")),
    column("comment", N_("Comment / reason")),
]
# Time, event and the state after it are always shown; the rest from the width named, below it in the row's details
# (screens/fitted_table.py).
HISTORY_SHOWN_FROM = {"value": 800, "user": 800, "comment": 1024, "source": 1280}
HISTORY_KEEP_WORDS = ("time", "source", "kind", "state")


def _facts(rows: list[tuple[str, str]]) -> None:
    with ui.grid(columns=2).classes("gap-x-6 gap-y-1"):
        for key, value in rows:
            ui.label(_(key)).classes("hmi-muted")
            ui.label(value).classes("hmi-wrap")  # text only: definitions and reasons come from files and people


def definition_facts(ref: AlarmRef) -> list[tuple[str, str]]:
    """The alarm's definition and rationalisation, as the plant file gives them."""
    a = ref.alarm
    rows = [
        (N_("Alarm id"), ref.id),
        (N_("Tag"), ref.tag.name),
        (N_("Area / line"), f"{plant(ref.area.name)} / {plant(ref.line.name)}"),
        (N_("Type"), a.type),
        (N_("Priority"), str(a.priority)),
    ]
    if a.limit is not None:
        rows.append((N_("Limit"), f"{a.limit:g} {ref.tag.unit}".strip()))
    if a.value is not None:
        rows.append((N_("Raised when value is"), str(a.value)))
    if a.setpoint_tag:
        rows.append((N_("Setpoint tag"), a.setpoint_tag))
    rows += [
        (N_("Deadband"), f"{a.deadband:g}"),
        (N_("On-delay"), f"{a.on_delay_s:g} s"),
        (N_("Off-delay"), f"{a.off_delay_s:g} s"),
        (N_("Latching"), _("yes") if a.latching else _("no")),
    ]
    if a.suppress_when:
        rule = a.suppress_when
        test = f"= {rule.equals!r}" if rule.equals is not None else f"≠ {rule.not_equals!r}"
        rows.append((N_("Suppressed by design when"), f"{rule.tag} {test}"))
    return [*rows, (N_("Consequence"), plant(a.consequence or "—")), (N_("Operator action"), plant(a.action or "—"))]


def server_facts(alarm: Alarm) -> list[tuple[str, str]]:
    """Where an OPC UA server's alarm comes from."""
    assert alarm.server is not None
    return [
        (N_("Origin"), _("OPC UA server condition ({endpoint})").format(endpoint=alarm.server.endpoint)),
        (N_("Source"), alarm.server.source_label),
        (N_("Condition"), alarm.server.condition_label),
        (N_("Message"), alarm.server.message or "—"),
        (N_("Severity"), str(alarm.server.severity)),
        (N_("Priority"), str(alarm.priority)),
    ]


def now_facts(current: Alarm | None, state: AlarmState, zone: ZoneInfo) -> list[tuple[str, str]]:
    """The alarm's state now: since when, first-out, who acknowledged, shelved or took it out of service and why."""
    facts = [(N_("State"), message(state.label))]
    if current is None:
        return facts
    facts.append((N_("Activated"), local_time(current.activated_at, zone, date=True)))
    if current.first_out:
        facts.append((N_("First-out"), _("yes: first alarm of its line's burst")))
    if current.acked_by:
        facts.append(
            (
                N_("Acknowledged"),
                _("{who} at {when}").format(who=current.acked_by, when=local_time(current.acked_at, zone))
                + (f": {current.ack_comment}" if current.ack_comment else ""),
            )
        )
    if state.hidden:
        facts.append(
            (
                message(state.label).capitalize(),
                _("by {who} since {when}").format(
                    who=current.mode_by or "—", when=local_time(current.mode_at, zone, date=True)
                ),
            )
        )
        facts.append((N_("Why"), current.mode_reason or "—"))
    if current.shelved_until:
        facts.append((N_("Shelved until"), local_time(current.shelved_until, zone, date=True)))
    return facts


def alarm_detail_page(rt: Runtime, ctx: ActionContext, alarm_id: str) -> None:
    """The detail screen of one alarm."""
    with frame(rt, ctx, "Alarm"):
        if rt.alarms.definition(alarm_id) is None and rt.alarms.get(alarm_id) is None:
            ui.label(_("There is no alarm {alarm_id!r}.").format(alarm_id=alarm_id)).classes("hmi-title")
            ui.button(_("Back to the alarm list"), on_click=lambda: ui.navigate.to("/alarms"))
            return
        AlarmDetail(rt, ctx, alarm_id)


class AlarmDetail:
    """One alarm: definition, state now, the commands its state allows, a trend of its tag and its history."""

    def __init__(self, rt: Runtime, ctx: ActionContext, alarm_id: str) -> None:
        self.rt = rt
        self.ctx = ctx
        self.alarm_id = alarm_id
        self.zone = rt.plant.site.zone
        ref = rt.alarms.definition(alarm_id)
        alarm = rt.alarms.get(alarm_id)
        self.ref = ref
        self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "ack-status")
        self._title(ref, alarm)
        with ui.row().classes("w-full gap-4 items-start"):
            with ui.column().classes("hmi-panel p-3 gap-1"):
                ui.label(_("Definition and rationalisation")).classes("font-bold")
                if ref is not None:
                    _facts(definition_facts(ref))
                elif alarm is not None and alarm.server is not None:
                    _facts(server_facts(alarm))
            with ui.column().classes("hmi-panel p-3 gap-1"):
                ui.label(_("Now")).classes("font-bold")
                self.now_box = ui.column().classes("gap-1")
            if ref is not None:
                view = ValueView(ref.tag)
                LiveFeed(
                    rt,
                    [ref.tag.name],
                    lambda states: view.show(states.get(ref.tag.name), badge(states.get(ref.tag.name), rt)),
                )
        self.commands_row = ui.row().classes("items-center gap-2")
        if ref is not None and ref.tag.numeric:
            with ui.column().classes("w-full hmi-panel p-2"):
                ui.label(_("Trend of its tag around the activation (live, last minutes)")).classes("hmi-muted")
                LiveTrend(
                    rt, [ref.tag.name], height=260, marks=[alarm.activated_at] if alarm and alarm.activated_at else []
                )
        ui.label(_("History of this alarm")).classes("font-bold")
        self.history = testid(
            fitted_table(
                HISTORY_COLUMNS, HISTORY_SHOWN_FROM, row_key="id", keep_words=HISTORY_KEEP_WORDS, pagination=20
            ).props("flat bordered"),
            "alarm-history",
        )
        self.shown: tuple[Alarm | None, AlarmState] | None = None
        self.commands = AlarmCommands(rt, ctx, self.status, self.after)
        self.show_now()
        ui.timer(1.0, self.show_now)
        ui.timer(0.0, self.load_history, once=True)
        ui.timer(5.0, self.load_history)

    def _title(self, ref: AlarmRef | None, alarm: Alarm | None) -> None:
        # A server alarm is named by its source and condition; its message stands beside them in the facts.
        title = plant(ref.alarm.message) if ref else (alarm.name if alarm else self.alarm_id)
        priority = ref.alarm.priority if ref else (alarm.priority if alarm else 4)
        line_name = ref.line.name if ref else (alarm.line if alarm else "")
        with ui.row().classes("items-center gap-3"):
            alarm_indicator(priority, alarm.state if alarm else None)
            testid(ui.label(title).classes("hmi-title"), "alarm-title")
            self.state_label = testid(ui.label("").classes("hmi-state unknown"), "alarm-state")
            ui.button(
                _("Line {line_name}").format(line_name=line_name), on_click=lambda: ui.navigate.to(f"/line/{line_name}")
            ).props("outline no-caps")
            ui.button(_("Alarm list"), on_click=lambda: ui.navigate.to("/alarms")).props("outline no-caps")

    def show_now(self) -> None:
        """The state now and the commands it allows (rebuilt only when the alarm changed)."""
        current = self.rt.alarms.get(self.alarm_id)
        state = current.state if current else AlarmState.NORMAL
        if (current, state) == self.shown:
            return
        self.shown = (current, state)
        self.state_label.set_text(message(state.label).upper())
        self.now_box.clear()
        with self.now_box:
            _facts(now_facts(current, state, self.zone))
        self.commands_row.clear()
        with self.commands_row:
            self._commands(state)

    def _commands(self, state: AlarmState) -> None:
        ids, ctx, commands, defined = [self.alarm_id], self.ctx, self.commands, self.ref is not None
        if state.unacknowledged and ctx.can(Permission.ACKNOWLEDGE_ALARM):
            testid(ui.button(_("Acknowledge"), on_click=lambda: commands.acknowledge(ids)), "ack-selected")
        if state in (AlarmState.LATCHED_ACK, AlarmState.LATCHED_UNACK) and ctx.can(Permission.RESET_LATCHED):
            testid(ui.button(_("Reset"), on_click=lambda: commands.reset(ids)).props("outline"), "reset")
        if defined and ctx.can(Permission.SHELVE_ALARM):
            if state is AlarmState.SHELVED:
                testid(ui.button(_("Unshelve"), on_click=lambda: commands.unshelve(ids)).props("outline"), "unshelve")
            elif state is not AlarmState.OUT_OF_SERVICE:
                testid(ui.button(_("Shelve…"), on_click=lambda: commands.shelve(ids)).props("outline"), "shelve")
        if defined and ctx.can(Permission.REMOVE_FROM_SERVICE):
            if state is AlarmState.OUT_OF_SERVICE:
                testid(
                    ui.button(_("Return to service"), on_click=lambda: commands.return_to_service(ids)).props(
                        "outline"
                    ),
                    "return-to-service",
                )
            else:
                testid(
                    ui.button(_("Remove from service…"), on_click=lambda: commands.remove_from_service(ids)).props(
                        "outline"
                    ),
                    "oos",
                )

    async def load_history(self) -> None:
        """Every recorded event of the alarm, newest first."""
        try:
            events = await self.rt.alarm_service.history(self.alarm_id, limit=200)
        except DatabaseUnavailable as exc:
            self.status.set_text(_("The history cannot be read: {exc}").format(exc=message(exc)))
            return
        zone = self.zone
        self.history.rows = [
            {
                "id": e.id,
                "time": local_time(e.server_time, zone, date=True),
                "source": local_time(e.source_time, zone, date=True),
                "kind": str(e.kind).replace("_", " "),
                "state": message(state_words(e.state)),
                "value": e.value or "",
                "user": e.username or "",
                "comment": e.comment or "",
            }
            for e in events
        ]
        self.history.update()

    async def after(self, result: AckResult | None) -> None:
        """After a command: the state and history as they are now."""
        self.show_now()
        await self.load_history()
