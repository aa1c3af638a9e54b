"""Level 1 (ISA-101 display hierarchy): one compact tile per line, up to 12 on a 1920 x 1080 screen.

Each tile: the line's PackML state in words and shape with the time in that state, the speed as a moving pointer
against the target, good and reject counters, the running shift's OEE, a sparkline of the last hour's speed and
the active alarms per priority (grey when none). One touch opens the line. The same tiles, without the touch,
are the kiosk's overview (screens.kiosk).

Live values come through a LiveFeed; the slow figures (OEE, the recorded start of the state, the sparkline) from
hmi.overview, read at most every 30 s for all pages together.
"""

from __future__ import annotations

from datetime import datetime

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.alarms.engine import Alarm
from hmi.config import Line
from hmi.graphics.analog import line_target, speed_scale
from hmi.oee.states import StateCategory, category
from hmi.oee.timeline import state_started
from hmi.overview import SPARK_WINDOW, Figures, OverviewFigures
from hmi.runtime import Runtime
from hmi.tags import TagState
from screens.fmt import format_value
from screens.frame import frame
from screens.i18n import N_, _, message, plant
from screens.indicators import AlarmCounts, Sparkline, SpeedBar
from screens.line_status import minutes, pct
from screens.oee import shift_oee
from screens.testid import testid
from screens.widgets import LiveFeed, StateView, badge

TICK_S = 1.0


def figures_of(rt: Runtime) -> OverviewFigures:
    """The runtime's shared overview figures (one cache for every page and wall screen)."""
    return rt.overview


def in_state_text(started: datetime, now: datetime, clipped: bool) -> str:
    """'for 17 min', or '≥ 2 h 05 min' when the state began before the shift the history was read for."""
    seconds = max((now - started).total_seconds(), 0.0)  # a source clock ahead of ours must not read negative
    return (_("≥ {time}") if clipped else _("for {time}")).format(time=minutes(seconds))


class LineTile:
    """One line on the overview; `link`: the tile opens the line screen (not on a kiosk)."""

    def __init__(self, rt: Runtime, area: str, line: Line, *, link: bool = True, large: bool = False) -> None:
        self.rt = rt
        self.line = line
        name = line.name
        self.counters: dict[str, ui.label] = {}
        self.speed: SpeedBar | None = None
        self.spark: Sparkline | None = None
        self.figures: Figures | None = None
        tile = testid(
            ui.column().classes("hmi-panel ovw-tile gap-1" + (" ovw-tile-large" if large else "")), f"line-card-{name}"
        )
        if link:
            tile.classes("hmi-card-link").props(
                f'role="link" aria-label="{_("open line {name}").format(name=plant(name))}"'
            )
            tile.on("click", lambda: ui.navigate.to(f"/line/{name}"))
        with tile:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.label(name).classes("hmi-title ovw-name")
                ui.label(area).classes("hmi-muted hmi-wrap")
                ui.space()
                self.state = StateView()
                testid(self.state.label, f"state-{name}")
            self.since = testid(ui.label("").classes("hmi-range ovw-since"), f"since-{name}")
            speed_tag = self.rt.plant.tags[line.speed_tag].tag if line.speed_tag else None
            if speed_tag is not None:
                target = line_target(line, speed_tag)
                scale = speed_scale(speed_tag, target)
                self.speed = SpeedBar(speed_tag, scale, target, name)
            with ui.row().classes("w-full items-baseline gap-2 no-wrap"):
                self.oee = testid(ui.label(_("OEE —")).classes("hmi-value-sm"), f"oee-{name}")
                ui.space()
                for key, word in (("good_count_tag", N_("Good")), ("reject_count_tag", N_("Reject"))):
                    tag_name = getattr(line, key)
                    if tag_name:
                        ui.label(_(word)).classes("hmi-muted ovw-key")
                        self.counters[tag_name] = testid(ui.label("—").classes("font-semibold"), f"{key[:-4]}-{name}")
            if speed_tag is not None:
                target = line_target(line, speed_tag)
                self.spark = Sparkline(
                    _("Speed of {name}, last hour").format(name=plant(name)),
                    speed_scale(speed_tag, target),
                    target,
                    speed_tag.normal_range,
                    name,
                )
            self.alarms = AlarmCounts()

    @property
    def names(self) -> set[str]:
        """The tags this tile shows live."""
        return {n for n in (self.line.state_tag, self.line.speed_tag, *self.counters) if n}

    def show(self, states: dict[str, TagState | None]) -> None:
        """Render changed tag states."""
        line = self.line
        if line.state_tag and line.state_tag in states:
            self.state.show(states[line.state_tag])
        # The speed is judged against its normal range only while the line produces: a state change re-judges it.
        if self.speed is not None and line.speed_tag and (line.speed_tag in states or line.state_tag in states):
            state = self.rt.cache.get(line.speed_tag)
            self.speed.show(state, badge(state, self.rt), producing=self._producing())
        for tag_name, label in self.counters.items():
            if tag_name in states:
                state = states[tag_name]
                label.set_text(format_value(state, self.rt.plant.tags[tag_name].tag.data_type))
                label.classes(remove="line-through italic")
                if state is None or not state.good:
                    label.classes(add="line-through italic")

    def _producing(self) -> bool:
        """True while the line is in Execute (or has no state tag to say otherwise)."""
        if not self.line.state_tag:
            return True
        state = self.rt.cache.get(self.line.state_tag)
        if state is None or not state.good or not isinstance(state.value, str):
            return False
        return category(state.value) is StateCategory.RUNNING

    def tick(self, active: list[Alarm] | None = None) -> None:
        """The time in state and the alarm counts (of `active`, default the engine's list), as of now."""
        listed = self.rt.alarms.active() if active is None else active
        self.alarms.show(a for a in listed if a.line == self.line.name)
        self.since.set_text(self._since())

    def _since(self) -> str:
        if not self.line.state_tag:
            return ""
        state = self.rt.cache.get(self.line.state_tag)
        if state is None or not state.good or not isinstance(state.value, str):
            return ""
        report = self.figures.reports.get(self.line.name) if self.figures else None
        segments = report.segments if report is not None else []
        started = state_started(segments, state.value, state.time)
        clipped = report is not None and started <= report.start
        return in_state_text(started, self.rt.clock(), clipped)

    def show_figures(self, figures: Figures) -> None:
        """The slow figures: the shift's OEE and the last hour's speed."""
        self.figures = figures
        report = figures.reports.get(self.line.name)
        if self.line.oee is None:
            self.oee.set_text(_("OEE —"))
            self.oee.props["title"] = _("no oee section for this line in the plant file")
            self.oee.update()
        elif report is not None:
            share = report.recorded_share
            partial = " " + _("({pct} recorded)").format(pct=pct(share)) if share is not None and share < 0.9995 else ""
            self.oee.set_text(_("OEE {pct}{partial}").format(pct=pct(shift_oee(report)), partial=partial))
        if self.spark is not None:
            self.spark.show(figures.speeds.get(self.line.name), figures.at - SPARK_WINDOW, figures.at)
        self.tick()


class Tiles:
    """Every line's tile in a grid (4 x 3 on 1920 x 1080, 2 columns at 800 px, 1 on a phone), fed live."""

    def __init__(self, rt: Runtime, *, link: bool = True) -> None:
        self.rt = rt
        self.status = testid(ui.label("").classes("hmi-range").props('role="status"'), "overview-status")
        self.status.set_visibility(False)
        with testid(ui.element("div").classes("ovw-grid w-full"), "overview-grid"):
            self.tiles = [LineTile(rt, area.name, line, link=link) for area, line in rt.plant.lines()]
        self.feed = LiveFeed(rt, {n for t in self.tiles for n in t.names}, self.render)
        self.tick()
        ui.timer(TICK_S, self.tick)
        ui.timer(0.0, self.load, once=True)
        ui.timer(5.0, self.load)  # served from the shared cache; read again only when it is 30 s old

    def render(self, states: dict[str, TagState | None]) -> None:
        for tile in self.tiles:
            tile.show(states)

    def tick(self) -> None:
        active = self.rt.alarms.active()
        for tile in self.tiles:
            tile.tick(active)
        self.feed.refresh_all()  # STALE ages move on even without new data

    async def load(self) -> None:
        figures = await figures_of(self.rt).get()
        if self.status.is_deleted:
            return
        self.status.set_visibility(bool(figures.error))
        self.status.set_text(
            _("OEE and sparklines may be old: {error}").format(error=message(figures.error)) if figures.error else ""
        )
        for tile in self.tiles:
            tile.show_figures(figures)


def overview_page(rt: Runtime, ctx: ActionContext) -> None:
    """The plant overview."""
    with frame(rt, ctx, "Overview"):
        Tiles(rt)
