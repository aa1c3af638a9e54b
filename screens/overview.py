"""Level 1: every line with its state, speed, counts and active alarms by priority; one touch to the line."""

from __future__ import annotations

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.runtime import Runtime
from hmi.tags import TagState
from screens.fmt import format_value
from screens.frame import frame
from screens.testid import testid
from screens.widgets import LiveFeed, StateView, alarm_counts, badge, indicator_classes


class LineCard:
    """One line on the overview."""

    def __init__(self, rt: Runtime, area: str, name: str) -> None:
        found = rt.plant.line(name)
        assert found is not None
        _, line = found
        self.line = line
        self.values: dict[str, tuple[ui.label, ui.label]] = {}
        with testid(ui.card().classes("hmi-panel hmi-card-link w-[22rem] gap-2"), f"line-card-{name}").on(
            "click", lambda: ui.navigate.to(f"/line/{name}")
        ):
            with ui.row().classes("w-full items-center"):
                ui.label(name).classes("hmi-title")
                ui.label(area).classes("hmi-muted")
                ui.space()
                self.state = StateView()
            for key, label in (("speed_tag", "Speed"), ("good_count_tag", "Good"), ("reject_count_tag", "Reject")):
                tag_name = getattr(line, key)
                if not tag_name:
                    continue
                unit = rt.plant.tags[tag_name].tag.unit
                with ui.row().classes("w-full items-baseline gap-2 no-wrap").props(f'data-tag="{tag_name}"'):
                    ui.label(label).classes("hmi-muted w-16")
                    value = ui.label("—").classes("hmi-value-sm")
                    ui.label(unit).classes("hmi-unit")
                    b = ui.label("").classes("q-badge good")
                self.values[tag_name] = (value, b)
            with testid(ui.row().classes("items-center gap-3"), "alarm-counts"):
                ui.label("Alarms").classes("hmi-muted")
                self.counts = {}
                for p in range(1, 5):
                    with ui.row().classes("items-center gap-1"):
                        ui.label(str(p)).classes(indicator_classes(p))
                        self.counts[p] = testid(ui.label("0").classes("font-bold"), f"count-p{p}")

    def show(self, rt: Runtime, states: dict[str, TagState | None]) -> None:
        """Render changed tag states."""
        if self.line.state_tag in states:
            self.state.show(states[self.line.state_tag])
        for name, (value, b) in self.values.items():
            if name in states:
                state = states[name]
                value.set_text(format_value(state))
                cls, text = badge(state, rt)
                b.set_text(text)
                b.classes(replace=f"q-badge {cls}")
                value.classes(remove="line-through italic")
                if cls != "good":
                    value.classes(add="line-through italic")

    def show_alarms(self, rt: Runtime) -> None:
        """Render the count of listed alarms per priority."""
        counts = alarm_counts(a for a in rt.alarms.active() if a.line == self.line.name)
        for p, label in self.counts.items():
            label.set_text(str(counts[p]))


def overview_page(rt: Runtime, ctx: ActionContext) -> None:
    """The plant overview."""
    with frame(rt, ctx, "Overview"):
        ui.label("Plant overview").classes("hmi-title")
        cards: list[LineCard] = []
        with ui.row().classes("gap-4 items-stretch"):
            for area, line in rt.plant.lines():
                cards.append(LineCard(rt, area.name, line.name))
        names = {n for c in cards for n in (c.line.state_tag, *c.values) if n}

        def render(states: dict[str, TagState | None]) -> None:
            for card in cards:
                card.show(rt, states)

        feed = LiveFeed(rt, names, render)

        def tick() -> None:
            for card in cards:
                card.show_alarms(rt)
            feed.refresh_all()  # STALE ages move on even without new data

        tick()
        ui.timer(1.0, tick)
