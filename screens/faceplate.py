"""Faceplates (ISA-101 level 3): one tag, machine or line in detail, opened by touching it on the line screen.

A tag's faceplate shows its value with quality and source time, the engineering and normal range as a moving
analog indicator, its alarm limits and active alarms, the last hour's trend, the setpoint entry when the tag is
writable (screens.setpoint), and the last changes to it from the audit trail. A machine's or line's faceplate
shows its state, key values, mode, the commands offered (screens.commands), active alarms and last changes.

Everything shown that comes from outside (alarm messages, reasons, audit text, PLC strings) is put in as label
text, never as markup. Faceplates open as a dialog on the line screen and as pages of their own (deep links):
`/faceplate/tag/{name}`, `/faceplate/machine/{line}/{machine}`, `/faceplate/line/{line}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments

from hmi.access.context import ActionContext
from hmi.alarms.engine import Alarm
from hmi.config import LIMIT_TYPES, Line, Machine, ModeSpec, Tag
from hmi.control.values import shown
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import AuditEntry
from hmi.tags import TagState
from screens.breadcrumbs import breadcrumbs
from screens.fmt import format_value, local_time
from screens.frame import frame
from screens.history_figure import build_figure
from screens.i18n import _, message, plant
from screens.testid import testid
from screens.widgets import LiveFeed, StateView, ValueView, alarm_indicator, badge

TREND_WINDOW = timedelta(hours=1)
TREND_POINTS = 300
TREND_REQUERY_S = 30.0
AUDIT_ROWS = 10
ALARM_ROWS = 8


def tag_link(name: str) -> str:
    """The faceplate page of a tag."""
    return f"/faceplate/tag/{name}"


def unit_link(line: str, machine: str | None = None) -> str:
    """The faceplate page of a line or one of its machines."""
    return f"/faceplate/machine/{line}/{machine}" if machine else f"/faceplate/line/{line}"


# ------------------------------------------------------------------------------------------- analog indicator


def scale_of(tag: Tag, write_limits: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """The span the analog indicator draws: the engineering range, else one around every known limit."""
    if tag.eng_range is not None:
        return tag.eng_range
    marks = [a.limit for a in tag.alarms if a.type in LIMIT_TYPES and a.limit is not None]
    if tag.normal_range is not None:
        marks += list(tag.normal_range)
    if write_limits is not None:
        marks += list(write_limits)
    if len(marks) < 2 or min(marks) == max(marks):
        return None
    low, high = min(marks), max(marks)
    pad = (high - low) * 0.2
    return low - pad, high + pad


class AnalogIndicator:
    """A horizontal bar over the scale with the normal band, the alarm limits as marks with their names, and a
    pointer at the value (ISA-101: analog, greyscale-readable, never colour alone). Outside the scale the pointer
    stops at the end with an arrow and the words "above"/"below"."""

    def __init__(self, tag: Tag, low: float, high: float) -> None:
        self.low, self.high = low, high
        with testid(ui.column().classes("w-full gap-0"), "analog"):
            with ui.element("div").classes("hmi-bar w-full") as self.bar:
                if tag.normal_range is not None:
                    left, right = self._pct(tag.normal_range[0]), self._pct(tag.normal_range[1])
                    ui.element("div").classes("hmi-bar-normal").style(f"left:{left:.2f}%;width:{right - left:.2f}%")
                for alarm in tag.alarms:
                    if alarm.type in LIMIT_TYPES and alarm.limit is not None and low <= alarm.limit <= high:
                        with ui.element("div").classes("hmi-bar-limit").style(f"left:{self._pct(alarm.limit):.2f}%"):
                            ui.label(alarm.type).classes("hmi-bar-limit-name")
                self.pointer = ui.element("div").classes("hmi-bar-pointer").style("left:0%;display:none")
            with ui.row().classes("w-full justify-between no-wrap hmi-range"):
                ui.label(f"{low:g}")
                normal = (
                    _("normal {low:g}–{high:g}").format(low=tag.normal_range[0], high=tag.normal_range[1])
                    if tag.normal_range
                    else ""
                )
                ui.label(normal)
                ui.label(f"{high:g} {tag.unit}".strip())
            self.where = testid(ui.label("").classes("hmi-range font-semibold"), "analog-where")

    def _pct(self, value: float) -> float:
        return max(0.0, min(100.0, (value - self.low) / (self.high - self.low) * 100.0))

    def show(self, state: TagState | None) -> None:
        """Move the pointer; hidden when there is no number to show, hollow when the value is not good."""
        value = state.value if state is not None else None
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.pointer.style(replace="left:0%;display:none")
            self.where.set_text(_("no value"))
            return
        self.pointer.style(replace=f"left:{self._pct(float(value)):.2f}%")
        self.pointer.classes(remove="hollow over under")
        if state is not None and not state.good:
            self.pointer.classes(add="hollow")
        where = ""
        if value > self.high:
            self.pointer.classes(add="over")
            where = _("▶ above the scale ({high:g})").format(high=self.high)
        elif value < self.low:
            self.pointer.classes(add="under")
            where = _("◀ below the scale ({low:g})").format(low=self.low)
        self.where.set_text(where)


# ------------------------------------------------------------------------------------------------ shared parts


def _alarm_limits(tag: Tag) -> str:
    parts = [f"{a.type} {a.limit:g}" for a in tag.alarms if a.type in LIMIT_TYPES and a.limit is not None]
    return ", ".join(parts)


class AlarmList:
    """The active alarms of some tags, worst first; each opens its detail page."""

    def __init__(self, rt: Runtime, tags: Iterable[str]) -> None:
        self.rt = rt
        self.tags = set(tags)
        self._shown: list[tuple[str, str]] | None = None
        with testid(ui.column().classes("gap-1 w-full"), "fp-alarms") as self.box:
            pass
        self.refresh()

    def refresh(self) -> None:
        """Rebuild when the active alarms of the tags changed."""
        active: list[Alarm] = [a for a in self.rt.alarms.active() if a.tag in self.tags]
        signature = [(a.id, a.state.value) for a in active[:ALARM_ROWS]]
        if signature == self._shown:
            return
        self._shown = signature
        self.box.clear()
        with self.box:
            if not active:
                ui.label(_("No active alarms.")).classes("hmi-muted")
            for a in active[:ALARM_ROWS]:
                with (
                    ui.row()
                    .classes("items-center gap-2 no-wrap hmi-card-link")
                    .on("click", lambda i=a.id: ui.navigate.to(f"/alarm/{i}"))
                ):
                    alarm_indicator(a.priority, a.state)
                    ui.label(plant(a.message)).classes("hmi-wrap")
                    ui.label(a.state.value).classes("hmi-muted text-sm")
            if len(active) > ALARM_ROWS:
                ui.label(_("and {value} more on the alarm list").format(value=len(active) - ALARM_ROWS)).classes(
                    "hmi-muted"
                )


def _field(text: str | None, key: str) -> Any:
    """`key` of an audit value stored as a JSON object (the write service's rows), else the text itself."""
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return shown(data.get(key)) if isinstance(data, dict) and key in data else text


def audit_line(entry: AuditEntry, rt: Runtime, *, name: bool = False) -> str:
    """One audit row as a person reads it: when, who, (what), old -> requested, the result, the reason."""
    when = local_time(entry.at, rt.plant.site.zone, date=True)
    old, new = _field(entry.old_value, "value"), _field(entry.new_value, "requested")
    change = f"{old if old is not None else '—'} → {new if new is not None else '—'}" if old or new else ""
    parts = [when, entry.username, entry.object_id if name else "", change, entry.detail or entry.action]
    if entry.reason:
        parts.append(_("reason: {reason}").format(reason=entry.reason))
    return " · ".join(p for p in parts if p)


class RecentChanges:
    """The last changes to some tags and commands from the audit trail, newest first (21 CFR 11.10(e))."""

    def __init__(self, rt: Runtime, tags: Iterable[str], commands: Iterable[str] = ()) -> None:
        self.rt = rt
        self.objects = [("tag", t) for t in tags] + [("command", c) for c in commands]
        with testid(ui.column().classes("gap-1 w-full"), "fp-changes") as self.box:
            ui.label("…").classes("hmi-muted")
        ui.timer(0.0, self.load, once=True)

    async def load(self) -> None:
        """Read the audit rows again and show them."""
        try:
            rows: list[AuditEntry] = []
            for object_type, object_id in self.objects:
                rows += await self.rt.audit.query(object_type=object_type, object_id=object_id, limit=AUDIT_ROWS)
        except DatabaseUnavailable as exc:
            self._show_text(_("The audit trail cannot be read: {exc}").format(exc=message(exc)))
            return
        rows.sort(key=lambda e: e.id, reverse=True)
        if self.box.is_deleted:
            return
        self.box.clear()
        with self.box:
            if not rows:
                ui.label(_("No changes recorded.")).classes("hmi-muted")
            for entry in rows[:AUDIT_ROWS]:
                text = audit_line(entry, self.rt, name=len(self.objects) > 1)
                testid(ui.label(text).classes("text-sm hmi-wrap"), "fp-change")

    def _show_text(self, text: str) -> None:
        if self.box.is_deleted:
            return
        self.box.clear()
        with self.box:
            ui.label(text).classes("hmi-muted")


class MiniTrend:
    """The last hour of one tag from the historian, with its alarm limits; read again every half minute."""

    def __init__(self, rt: Runtime, name: str) -> None:
        self.rt = rt
        self.name = name
        with testid(ui.column().classes("w-full gap-0"), "fp-trend") as self.box:
            ui.label(_("Last hour")).classes("hmi-muted text-sm")
            self.status = ui.label("").classes("hmi-muted text-sm")
            self.plot: ui.plotly | None = None
        ui.timer(0.0, self.load, once=True)
        ui.timer(TREND_REQUERY_S, self.load)

    async def load(self) -> None:
        """Read the window ending now and draw it."""
        end = self.rt.clock()
        start = end - TREND_WINDOW
        try:
            found = await self.rt.history.series([self.name], start, end, max_points=TREND_POINTS)
        except DatabaseUnavailable as exc:
            self.status.set_text(_("History cannot be read: {exc}").format(exc=message(exc)))
            return
        if self.box.is_deleted:
            return
        figure = build_figure(self.rt.plant, self.rt.plant.site.zone, [self.name], found, start, end, height=220)
        figure["layout"]["showlegend"] = False
        figure["layout"]["margin"] = {"l": 50, "r": 10, "t": 5, "b": 35}
        self.status.set_text(
            "" if found.get(self.name) and found[self.name].times else _("No history in the last hour.")
        )
        if self.plot is None:
            with self.box:
                self.plot = ui.plotly(figure).classes("w-full")
        else:
            self.plot.update_figure(figure)


def mode_text(spec: ModeSpec, state: TagState | None) -> str:
    """The mode in words: its label for the current value, else the value itself."""
    if state is None or state.value is None:
        return "unknown"
    value = state.value
    key = ("true" if value else "false") if isinstance(value, bool) else format_value(state).replace(",", "")
    for candidate in (str(value), key):
        if candidate in spec.labels:
            return spec.labels[candidate]
    if isinstance(value, float) and value.is_integer() and str(int(value)) in spec.labels:
        return spec.labels[str(int(value))]
    return str(value)


# ------------------------------------------------------------------------------------------------ tag faceplate


class TagFaceplate:
    """Everything about one tag."""

    def __init__(self, rt: Runtime, ctx: ActionContext, name: str) -> None:
        self.rt = rt
        self.ctx = ctx
        ref = rt.plant.tags[name]
        self.tag = tag = ref.tag
        where = f"{ref.line.name} {ref.machine.name}" if ref.machine else ref.line.name
        limits = rt.plant.write_limits(name)
        with testid(ui.column().classes("hmi-faceplate w-full gap-3"), f"faceplate-tag-{name}"):
            with ui.row().classes("items-center gap-3 w-full"):
                ui.label(name).classes("hmi-title")
                ui.label(where).classes("hmi-muted")
                if tag.description:
                    ui.label(tag.description).classes("hmi-muted hmi-wrap")
            with ui.row().classes("w-full gap-4 items-start no-wrap hmi-fp-columns"):
                with ui.column().classes("gap-2 grow min-w-[20rem]"):
                    with ui.column().classes("hmi-panel p-3 gap-1 w-full") as self.value_box:
                        with ui.row().classes("items-baseline gap-2 no-wrap"):
                            self.value = testid(ui.label("—").classes("hmi-value"), "fp-value")
                            ui.label(tag.unit).classes("hmi-unit")
                            self.badge = testid(ui.label("").classes("q-badge good"), "fp-quality")
                        self.source_time = testid(ui.label("").classes("hmi-muted text-sm"), "fp-source-time")
                        scale = scale_of(tag, limits)
                        self.indicator = AnalogIndicator(tag, *scale) if scale and tag.numeric else None
                        facts = []
                        if tag.eng_range:
                            facts.append(
                                _("range {low:g}–{high:g} {unit}")
                                .format(low=tag.eng_range[0], high=tag.eng_range[1], unit=tag.unit)
                                .strip()
                            )
                        if tag.normal_range:
                            facts.append(
                                _("normal {low:g}–{high:g}").format(low=tag.normal_range[0], high=tag.normal_range[1])
                            )
                        if _alarm_limits(tag):
                            facts.append(_("alarm limits {limits}").format(limits=_alarm_limits(tag)))
                        if facts:
                            testid(ui.label(" · ".join(facts)).classes("hmi-range"), "fp-limits")
                    if tag.write is not None:
                        from screens.setpoint import SetpointEntry

                        self.entry: Any = SetpointEntry(rt, ctx, tag, limits)
                    else:
                        self.entry = None
                        ui.label(_("Read only: this value is not written from the HMI.")).classes("hmi-muted")
                    ui.label(_("Active alarms")).classes("font-semibold")
                    self.alarms = AlarmList(rt, [name])
                with ui.column().classes("gap-2 grow min-w-[18rem]"):
                    if tag.numeric:
                        MiniTrend(rt, name)
                    ui.label(_("Last changes")).classes("font-semibold")
                    self.changes = RecentChanges(rt, [name])
        if self.entry is not None:
            self.entry.after_send = self.changes.load
        self.feed = LiveFeed(rt, [name], self.render)
        self.timer = ui.timer(1.0, self.tick)

    def render(self, changed: dict[str, TagState | None]) -> None:
        """Show a new state of the tag."""
        state = changed.get(self.tag.name)
        quality = state.quality.value if state else "stale"
        self.value.set_text(format_value(state, self.tag.data_type))
        cls, text = badge(state, self.rt)
        self.badge.set_text(text)
        self.badge.classes(replace=f"q-badge {cls}")
        self.value_box.classes(remove="q-good q-bad q-stale q-uncertain", add=f"q-{quality}")
        when = local_time(state.source_time if state else None, self.rt.plant.site.zone, date=True)
        self.source_time.set_text(
            _("source time {when}").format(when=when) + (f" · {quality.upper()}" if quality != "good" else "")
        )
        if self.indicator is not None:
            self.indicator.show(state)
        if self.entry is not None:
            self.entry.show_current(state)

    def tick(self) -> None:
        """Once a second: the alarms, STALE ages and what blocks a write now."""
        self.alarms.refresh()
        self.feed.refresh_all()
        if self.entry is not None:
            self.entry.refresh_blocked()

    def close(self) -> None:
        """Stop feeding a faceplate that is going away."""
        self.feed.close()


# ------------------------------------------------------------------------------------- machine / line faceplate


class UnitFaceplate:
    """A machine or a whole line: state, key values, mode, commands, active alarms, last changes."""

    def __init__(self, rt: Runtime, ctx: ActionContext, line: Line, machine: Machine | None) -> None:
        self.rt = rt
        self.ctx = ctx
        self.line = line
        self.machine = machine
        own = machine if machine is not None else line
        state_tag = own.state_tag
        tags = [t for t in own.tags if t.name != state_tag]
        self.mode = own.mode or (line.mode if machine is not None else None)
        machine_name = machine.name if machine is not None else None
        commands = [
            c
            for c in rt.plant.commands.values()
            if c.line.name == line.name and (c.machine.name if c.machine is not None else None) == machine_name
        ]
        name = f"{line.name} {machine.name}" if machine else line.name
        every_tag = [t.name for t in own.tags]
        if machine is None:
            every_tag += [t.name for m in line.machines for t in m.tags]
        self.views: dict[str, ValueView] = {}
        self.states: dict[str, StateView] = {}
        self.mode_label: ui.label | None = None
        marker = f"faceplate-machine-{line.name}-{machine.name}" if machine else f"faceplate-line-{line.name}"
        with testid(ui.column().classes("hmi-faceplate w-full gap-3"), marker):
            with ui.row().classes("items-center gap-3 w-full"):
                ui.label(name).classes("hmi-title")
                if state_tag:
                    self.states[state_tag] = StateView()
                if self.mode is not None:
                    with ui.row().classes("items-center gap-1"):
                        ui.label(_("Mode")).classes("hmi-muted")
                        self.mode_label = testid(ui.label(_("unknown")).classes("hmi-state idle"), "fp-mode")
            if own.description:
                ui.label(own.description).classes("hmi-muted hmi-wrap")
            with ui.row().classes("w-full gap-4 items-start no-wrap hmi-fp-columns"):
                with ui.column().classes("gap-2 grow min-w-[20rem]"):
                    if tags:
                        with ui.row().classes("gap-2"):
                            for tag in tags:
                                self.views[tag.name] = ValueView(
                                    tag, small=True, on_click=lambda n=tag.name: open_tag(rt, ctx, n)
                                )
                    if commands:
                        from screens.commands import CommandPanel

                        self.commands: Any = CommandPanel(rt, ctx, commands)
                    else:
                        self.commands = None
                    ui.label(_("Active alarms")).classes("font-semibold")
                    self.alarms = AlarmList(rt, every_tag)
                with ui.column().classes("gap-2 grow min-w-[18rem]"):
                    ui.label(_("Last changes")).classes("font-semibold")
                    # Only writable tags have changes of their own in the audit trail.
                    writable = [n for n in every_tag if rt.plant.tags[n].tag.write is not None]
                    self.changes = RecentChanges(rt, writable, [c.id for c in commands])
        if self.commands is not None:
            self.commands.after_send = self.changes.load
        watched = [*self.views, *self.states]
        if self.mode is not None:
            watched.append(self.mode.tag)
        self.feed = LiveFeed(rt, watched, self.render)
        self.timer = ui.timer(1.0, self.tick)

    def render(self, changed: dict[str, TagState | None]) -> None:
        """Show new states."""
        for tag_name, state in changed.items():
            if tag_name in self.views:
                self.views[tag_name].show(state, badge(state, self.rt))
            if tag_name in self.states:
                self.states[tag_name].show(state)
            if self.mode is not None and tag_name == self.mode.tag and self.mode_label is not None:
                self.mode_label.set_text(mode_text(self.mode, state))

    def tick(self) -> None:
        """Once a second: alarms, STALE ages, and which commands are offered now."""
        self.alarms.refresh()
        self.feed.refresh_all()
        if self.commands is not None:
            self.commands.refresh()

    def close(self) -> None:
        """Stop feeding a faceplate that is going away."""
        self.feed.close()


# ------------------------------------------------------------------------------------------- dialogs and pages


def _dialog(build: Callable[[], TagFaceplate | UnitFaceplate], link: str) -> None:
    """Show a faceplate in a dialog over the current screen; closing it ends its feed and removes it."""
    with ui.dialog().props("maximized") as dialog, ui.card().classes("w-full hmi-fp-dialog"):
        with ui.row().classes("w-full items-center gap-2"):
            testid(ui.button(_("Close"), on_click=dialog.close).props("outline no-caps"), "fp-close")
            ui.space()
            ui.link(_("Open as a page"), link).classes("hmi-muted")
        plate = build()

    def changed(e: ValueChangeEventArguments) -> None:
        # Closed (button, Escape, or the page going back): its feed and timers end with it.
        if not e.value:
            plate.close()
            dialog.delete()

    dialog.on_value_change(changed)
    dialog.open()


def open_tag(rt: Runtime, ctx: ActionContext, name: str) -> None:
    """Open the faceplate of tag `name` in a dialog."""
    _dialog(lambda: TagFaceplate(rt, ctx, name), tag_link(name))


def open_unit(rt: Runtime, ctx: ActionContext, line: Line, machine: Machine | None) -> None:
    """Open the faceplate of a line, or of one of its machines, in a dialog."""
    _dialog(lambda: UnitFaceplate(rt, ctx, line, machine), unit_link(line.name, machine.name if machine else None))


def _back(line: str) -> None:
    ui.button(_("Line {line}").format(line=line), on_click=lambda: ui.navigate.to(f"/line/{line}")).props(
        "outline no-caps"
    )


def tag_page(rt: Runtime, ctx: ActionContext, name: str) -> None:
    """The faceplate of one tag as a page."""
    ref = rt.plant.tags.get(name)
    with frame(rt, ctx, _("Faceplate {name}").format(name=name)):
        if ref is None:
            ui.label(_("There is no tag called {name!r}.").format(name=name)).classes("hmi-title")
            return
        breadcrumbs(rt, ref.line.name, ref.machine.name if ref.machine else None, tag=name)
        _back(ref.line.name)
        TagFaceplate(rt, ctx, name)


def unit_page(rt: Runtime, ctx: ActionContext, line_name: str, machine_name: str | None = None) -> None:
    """The faceplate of a line or machine as a page."""
    found = rt.plant.line(line_name)
    title = f"Faceplate {line_name}" + (f" {machine_name}" if machine_name else "")
    with frame(rt, ctx, title):
        if found is None:
            ui.label(_("There is no line called {line_name!r}.").format(line_name=line_name)).classes("hmi-title")
            return
        _skip, line = found
        machine = None
        if machine_name is not None:
            machine = next((m for m in line.machines if m.name == machine_name), None)
            if machine is None:
                ui.label(
                    _("Line {line_name} has no machine called {machine_name!r}.").format(
                        line_name=line_name, machine_name=machine_name
                    )
                ).classes("hmi-title")
                return
        breadcrumbs(rt, line.name, machine.name if machine else None)
        _back(line.name)
        UnitFaceplate(rt, ctx, line, machine)
