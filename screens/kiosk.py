"""The kiosk: a view-only wall screen showing the plant overview and each line's summary in turn.

A station an administrator marked as kiosk (Users → Stations) opens `/kiosk` without anyone signing in: a header
of its own (plant, station, connection, clock), the alarm banner, and no navigation, no buttons, no commands.
Every other page, the sign-in and any command are refused at a kiosk and the refusal is audited with the station
(hmi.access.kiosk); a browser that is not a kiosk station gets no data from `/kiosk`. The views change every
`access.kiosk_cycle_s` seconds of the runtime's clock. See docs/sign-in-and-stations.md, "Kiosk".
"""

from __future__ import annotations

from nicegui import ui

from hmi.access.kiosk import kiosk_context, record_refusal
from hmi.alarms.engine import Alarm
from hmi.config import Line
from hmi.runtime import Runtime
from hmi.store.models import Station
from hmi.tags import TagState
from screens import panel
from screens.alarm_banner import AlarmBanner
from screens.fmt import local_time
from screens.frame import Banners
from screens.i18n import _, plant
from screens.overview import LineTile, Tiles, figures_of
from screens.testid import testid
from screens.widgets import LiveFeed, StateView, ValueView, alarm_indicator, badge

KIOSK_PATH = "/kiosk"
RETURN_S = 10.0
"""A refused page at a kiosk goes back to the kiosk view after this long (time to read why)."""
RECHECK_S = 30.0
"""How often an open kiosk page checks that its station is still an enabled kiosk (else it stops showing data)."""
ALARM_ROWS = 8
PRIMARY = "#3d3d3d"


async def kiosk_station(rt: Runtime) -> Station | None:
    """This browser's station when it is an enabled kiosk (by its panel secret, never by anything it claims)."""
    station = await rt.stations.identify(panel.panel_secret())
    return station if station is not None and station.kiosk else None


async def refuse_page(rt: Runtime, station: str, path: str) -> None:
    """What a kiosk gets instead of any other page: the overview address leads to the kiosk view; anything else is
    refused, audited with the station, explained, and the screen returns to the kiosk view."""
    if path.split("?")[0] in ("", "/"):
        ui.navigate.to(KIOSK_PATH)
        return
    await record_refusal(rt.audit, station, path)
    ui.page_title(_("Not available · {name}").format(name=rt.plant.site.name))
    with ui.column().classes("absolute-center hmi-panel p-6 gap-2 w-[32rem] max-w-full").props('role="alert"'):
        testid(
            ui.label(
                _("This is a view-only wall screen (station {station}): {path} cannot be opened here.").format(
                    station=station, path=path
                )
            ).classes("hmi-title hmi-wrap"),
            "kiosk-refused",
        )
        ui.label(
            _(
                "Nobody signs in at a wall screen and nothing can be done or recorded here; the attempt was "
                "recorded. Use a panel or PC where you sign in. The plant overview returns in {RETURN_S:g} s."
            ).format(RETURN_S=RETURN_S)
        ).classes("hmi-wrap")
    ui.timer(RETURN_S, lambda: ui.navigate.to(KIOSK_PATH), once=True)


def not_a_kiosk(rt: Runtime) -> None:
    """/kiosk on a browser that is not a kiosk station: no plant data, the reason, and the way to sign in."""
    ui.page_title(_("Wall screen · {name}").format(name=rt.plant.site.name))
    ui.colors(primary=PRIMARY)
    with ui.column().classes("absolute-center hmi-panel p-6 gap-3 w-[32rem] max-w-full"):
        testid(
            ui.label(_("This address is for wall screens only.")).classes("hmi-title").props('role="alert"'),
            "kiosk-not-here",
        )
        ui.label(
            _(
                "An administrator marks an enrolled station as a kiosk under Users → Stations; it then shows the "
                "plant overview here without a sign-in. On any other panel or PC, sign in to see the overview."
            )
        ).classes("hmi-wrap")
        testid(ui.button(_("Sign in"), on_click=lambda: ui.navigate.to("/login")), "kiosk-sign-in")


class LineSummary:
    """One line on the kiosk: its large tile, every machine's state and values, and its active alarms; nothing
    can be touched."""

    def __init__(self, rt: Runtime, area: str, line: Line) -> None:
        self.rt = rt
        self.line = line
        self.values: dict[str, ValueView] = {}
        self.states: dict[str, StateView] = {}
        with testid(ui.row().classes("w-full gap-3 items-start ovw-summary"), f"kiosk-line-{line.name}") as self.box:
            self.tile = LineTile(rt, area, line, link=False, large=True)
            with ui.column().classes("gap-2 grow min-w-0"):
                for machine in line.machines:
                    with ui.column().classes("hmi-panel p-2 gap-1 w-full"):
                        with ui.row().classes("items-center gap-2"):
                            ui.label(machine.name).classes("font-semibold")
                            if machine.state_tag:
                                self.states[machine.state_tag] = StateView()
                        with ui.row().classes("gap-2 flex-wrap"):
                            for tag in machine.tags:
                                if tag.name != machine.state_tag:
                                    self.values[tag.name] = ValueView(tag, small=True)
                with testid(ui.column().classes("hmi-panel p-2 gap-1 w-full"), f"kiosk-alarms-{line.name}"):
                    ui.label(_("Active alarms")).classes("font-semibold")
                    self.none = ui.label(_("None")).classes("hmi-muted")
                    self.rows: list[tuple[ui.row, ui.label, ui.label, ui.label]] = []
                    for _skip in range(ALARM_ROWS):
                        with ui.row().classes("items-center gap-2 no-wrap w-full") as row:
                            ind = alarm_indicator(1)
                            # Alarm messages come from the plant file or a server: label text, never markup.
                            text = ui.label("").classes("hmi-wrap grow")
                            at = ui.label("").classes("hmi-muted")
                        row.set_visibility(False)
                        self.rows.append((row, ind, text, at))
        self.feed = LiveFeed(rt, self.tile.names | set(self.values) | set(self.states), self.render)

    def render(self, states: dict[str, TagState | None]) -> None:
        self.tile.show(states)
        for name, view in self.values.items():
            if name in states:
                view.show(states[name], badge(states[name], self.rt))
        for name, state_view in self.states.items():
            if name in states:
                state_view.show(states[name])

    def tick(self, active: list[Alarm]) -> None:
        self.tile.tick(active)
        mine = [a for a in active if a.line == self.line.name]
        self.none.set_visibility(not mine)
        zone = self.rt.plant.site.zone
        for i, (row, ind, text, at) in enumerate(self.rows):
            alarm = mine[i] if i < len(mine) else None
            row.set_visibility(alarm is not None)
            if alarm is None:
                continue
            ind.set_text(str(alarm.priority))
            ind.classes(replace=f"alarm-ind p{alarm.priority}" + (" unack" if alarm.state.unacknowledged else ""))
            text.set_text(f"P{alarm.priority} {plant(alarm.message)}")
            at.set_text(local_time(alarm.activated_at, zone))
        self.feed.refresh_all()


class KioskPage:
    """The wall screen: its own header, the banners without buttons, and the views cycling."""

    def __init__(self, rt: Runtime, station: str) -> None:
        self.rt = rt
        self.station = station
        self.cycle_s = rt.plant.access.kiosk_cycle_s
        ui.page_title(_("{name} · wall screen").format(name=rt.plant.site.name))
        ui.colors(primary=PRIMARY)
        with ui.header().classes("hmi-header items-center gap-3 px-3 py-1"):
            ui.label(rt.plant.site.name).classes("text-lg font-bold")
            testid(
                ui.label(_("Wall screen {station} · view only").format(station=station)).classes("text-sm"),
                "kiosk-station",
            )
            ui.space()
            self.conn = testid(ui.label("").classes("text-sm"), "conn-state")
            self.clock = testid(ui.label("").classes("text-base font-mono"), "clock")
        # The alarm banner every screen carries (ISA-18.2 cl. 11), as a kiosk's: its buttons would lead to pages a
        # kiosk may not open, so they are taken off (the pages refuse a kiosk anyway).
        with ui.column().classes("w-full gap-0") as holder:
            self.alarm = AlarmBanner(rt.plant.site.zone)
            self.banners = Banners(rt, kiosk_context(station))
        for element in holder.descendants():
            if isinstance(element, ui.button):
                element.set_visibility(False)
                element.disable()
        with ui.column().classes("w-full gap-2 p-3"):
            self.view_label = testid(ui.label("").classes("hmi-muted").props('aria-live="polite"'), "kiosk-view")
            with ui.column().classes("w-full gap-2") as overview_box:
                Tiles(rt, link=False)
            self.summaries = [LineSummary(rt, area.name, line) for area, line in rt.plant.lines()]
        self.views: list[tuple[str, ui.element]] = [(_("Plant overview"), overview_box)]
        self.views += [(_("Line {name}").format(name=plant(s.line.name)), s.box) for s in self.summaries]
        self.index = 0
        self.shown_at = rt.clock()
        self._show()
        self.tick()
        ui.timer(1.0, self.tick)
        ui.timer(0.0, self.load, once=True)
        ui.timer(5.0, self.load)
        ui.timer(RECHECK_S, self.recheck)

    def _show(self) -> None:
        for i, (_skip, box) in enumerate(self.views):
            box.set_visibility(i == self.index)

    def tick(self) -> None:
        """Header, banners, the summaries' alarms, and the next view when this one has been shown long enough."""
        rt = self.rt
        now = rt.clock()
        down, active = rt.board.disconnected(), rt.alarms.active()
        self.clock.set_text(local_time(now, rt.plant.site.zone))
        self.conn.set_text(
            _("OPC UA: ") + (_("all connected") if not down else _("{len} endpoint(s) down").format(len=len(down)))
        )
        self.alarm.show(active)
        self.banners.refresh(down)
        if len(self.views) > 1 and (now - self.shown_at).total_seconds() >= self.cycle_s:
            self.index = (self.index + 1) % len(self.views)
            self.shown_at = now
            self._show()
        summary = self.summaries[self.index - 1] if self.index > 0 else None
        if summary is not None:
            summary.tick(active)
        left = max(0, round(self.cycle_s - (now - self.shown_at).total_seconds()))
        following = self.views[(self.index + 1) % len(self.views)][0]
        self.view_label.set_text(
            _("{views} ({value} of {len}) · next: {following} in {left} s").format(
                views=self.views[self.index][0],
                value=self.index + 1,
                len=len(self.views),
                following=following,
                left=left,
            )
        )

    async def load(self) -> None:
        """The summaries' slow figures from the shared cache (the overview tiles load their own)."""
        figures = await figures_of(self.rt).get()
        for summary in self.summaries:
            if not summary.box.is_deleted:
                summary.tile.show_figures(figures)

    async def recheck(self) -> None:
        """Stop showing data as soon as the station is no longer an enabled kiosk (revoked, disabled, changed)."""
        if await kiosk_station(self.rt) is None:
            ui.navigate.to(KIOSK_PATH)


async def kiosk_page(rt: Runtime) -> None:
    """/kiosk: the wall screen for a kiosk station, else the explanation without any data."""
    station = await kiosk_station(rt)
    if station is None:
        not_a_kiosk(rt)
        return
    KioskPage(rt, station.name)
