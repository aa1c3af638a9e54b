"""Level 2: one line's machines with live values, units, quality and normal ranges, a small live trend, and its
recorded states, OEE and stops."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.config import Line, Machine
from hmi.runtime import Runtime
from hmi.tags import TagState
from screens.faceplate import open_tag, open_unit
from screens.frame import frame
from screens.line_status import COUNTER_WORDS, LineStatusPanel
from screens.testid import testid
from screens.trend_chart import LiveTrend
from screens.widgets import LiveFeed, StateView, ValueView, alarm_indicator, badge


def _line_tiles(line: Line, touch: Callable[[str], None]) -> dict[str, ValueView]:
    """The line's own values (its state is shown beside its name); touching one calls `touch` with its name."""
    views: dict[str, ValueView] = {}
    with ui.row().classes("gap-2"):
        counters = {line.good_count_tag, line.reject_count_tag}
        for tag in line.tags:
            if tag.name != line.state_tag:
                # A counter tile shows the PLC's running total; the quantity made in the shift is the OEE card's, so
                # the tile says which of the two it is.
                label = f"{tag.name.split('.')[-1]} · {COUNTER_WORDS}" if tag.name in counters else None
                views[tag.name] = ValueView(tag, small=True, label=label, on_click=lambda n=tag.name: touch(n))
    return views


def _machine_panel(
    machine: Machine,
    views: dict[str, ValueView],
    states: dict[str, StateView],
    touch: Callable[[str], None],
    open_machine: Callable[[], None],
) -> None:
    """One machine: its name and state, and its values (added to `views` and `states`). Touching the name row
    opens the machine's faceplate, touching a value the tag's."""
    with testid(ui.column().classes("hmi-panel p-3 gap-2"), f"machine-{machine.name}"):
        with testid(
            ui.row().classes("items-center gap-3 hmi-card-link hmi-touch").props('role="button"'),
            f"machine-title-{machine.name}",
        ).on("click", open_machine):
            ui.label(machine.name).classes("text-lg font-bold")
            if machine.state_tag:
                states[machine.state_tag] = StateView()
        with ui.row().classes("gap-2"):
            for tag in machine.tags:
                if tag.name != machine.state_tag:
                    views[tag.name] = ValueView(tag, small=True, on_click=lambda n=tag.name: touch(n))


def line_page(rt: Runtime, ctx: ActionContext, name: str, faceplate: str | None = None) -> None:
    """The line screen; `faceplate` (a tag of the line, a machine's name, or "line") opens that faceplate over it."""
    found = rt.plant.line(name)
    with frame(rt, ctx, f"Line {name}"):
        if found is None:
            ui.label(f"There is no line called {name!r}.").classes("hmi-title")
            ui.button("Back to the overview", on_click=lambda: ui.navigate.to("/"))
            return
        area, line = found
        views: dict[str, ValueView] = {}
        states: dict[str, StateView] = {}
        with ui.row().classes("items-center gap-3"):
            ui.button("Overview", on_click=lambda: ui.navigate.to("/")).props("outline no-caps")
            testid(
                ui.label(f"{area.name} / {line.name}")
                .classes("hmi-title hmi-card-link hmi-touch")
                .props('role="button"'),
                "line-title",
            ).on("click", lambda: open_unit(rt, ctx, line, None))
            states[line.state_tag or ""] = StateView()
            alarms_box = testid(ui.row().classes("items-center gap-2"), "line-alarms")

        def touch(tag_name: str) -> None:
            open_tag(rt, ctx, tag_name)

        if line.tags:
            views.update(_line_tiles(line, touch))
        if line.trend_tags:
            with ui.column().classes("w-full hmi-panel p-2"):
                ui.label("Key values, last minutes").classes("hmi-muted")
                LiveTrend(rt, list(line.trend_tags), height=260)
        with ui.row().classes("gap-3 items-start"):
            for machine in line.machines:
                _machine_panel(machine, views, states, touch, lambda m=machine: open_unit(rt, ctx, line, m))
        states.pop("", None)
        LineStatusPanel(rt, ctx, line)

        def render(changed: dict[str, TagState | None]) -> None:
            for tag_name, state in changed.items():
                if tag_name in views:
                    views[tag_name].show(state, badge(state, rt))
                if tag_name in states:
                    states[tag_name].show(state)

        feed = LiveFeed(rt, [*views, *states], render)

        shown: list[tuple[str, str]] = [("", "")]

        def show_alarms() -> None:
            active = [a for a in rt.alarms.active() if a.line == line.name]
            signature = [(a.id, a.state.value) for a in active[:5]]
            if signature == shown:
                return
            shown[:] = signature
            alarms_box.clear()
            with alarms_box:
                if not active:
                    ui.label("no active alarms").classes("hmi-muted")
                for a in active[:5]:
                    with (
                        ui.row()
                        .classes("items-center gap-1 hmi-card-link")
                        .on("click", lambda i=a.id: ui.navigate.to(f"/alarm/{i}"))
                    ):
                        alarm_indicator(a.priority, a.state)
                        ui.label(a.message)

        def tick() -> None:
            show_alarms()
            feed.refresh_all()

        machines = {m.name: m for m in line.machines}
        if faceplate == "line":
            open_unit(rt, ctx, line, None)
        elif faceplate in machines:
            open_unit(rt, ctx, line, machines[faceplate])
        elif faceplate is not None and faceplate in rt.plant.tags and rt.plant.tags[faceplate].line.name == line.name:
            open_tag(rt, ctx, faceplate)

        tick()
        ui.timer(2.0, tick)
