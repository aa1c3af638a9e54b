"""Level 2: one line as a picture (machines in flow order with states, key values, alarms and conveyors; a touch
opens a machine's faceplate), a small trend of the last hour of each machine's key values, its machines' live values,
units, quality and normal ranges, a small live trend, and its recorded states, OEE and stops. Breadcrumbs and
previous/next line buttons lead around the plant."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.config import Line, Machine, PlantConfig, Tag
from hmi.graphics.analog import Scale
from hmi.graphics.line_picture import AlarmMark, alarms_by_machine, key_values, layout, line_picture, picture_tags
from hmi.graphics.sparkline import KEY_WINDOW, ring_series, thin
from hmi.runtime import Runtime
from hmi.tags import TagState
from screens.breadcrumbs import breadcrumbs, line_link
from screens.faceplate import open_tag, open_unit
from screens.frame import frame
from screens.i18n import _, plant
from screens.indicators import Sparkline
from screens.line_status import COUNTER_WORDS, LineStatusPanel
from screens.picture_words import picture_palette, picture_wording
from screens.testid import testid
from screens.trend_chart import LiveTrend
from screens.widgets import LiveFeed, StateView, ValueView, alarm_indicator, badge


def _line_tiles(line: Line, touch: Callable[[str], None]) -> dict[str, ValueView]:
    """The line's own values (its state is shown beside its name); touching one calls `touch` with its name."""
    views: dict[str, ValueView] = {}
    with ui.row().classes("gap-2"):
        counters = {line.good_count_tag, line.reject_count_tag}
        # A conveyor's tags say which conveyor they belong to: their last name part alone repeats along the line.
        conveyors = {
            name: f"{c.from_machine} → {c.to_machine}"
            for c in line.conveyors
            for name in (c.accumulation_tag, c.state_tag)
            if name
        }
        for tag in line.tags:
            if tag.name != line.state_tag:
                # A counter tile shows the PLC's running total; the quantity made in the shift is the OEE card's, so
                # the tile says which of the two it is.
                leaf = tag.name.split(".")[-1]
                label = f"{leaf} · {_(COUNTER_WORDS)}" if tag.name in counters else None
                if tag.name in conveyors:
                    label = f"{conveyors[tag.name]} · {leaf}"
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


def neighbours(plant: PlantConfig, name: str) -> tuple[str, str] | None:
    """The previous and next line of `name` in the order of the plant file, wrapping at both ends; None when the
    plant has no other line."""
    names = [ln.name for _skip, ln in plant.lines()]
    if name not in names or len(names) < 2:
        return None
    i = names.index(name)
    return names[i - 1], names[(i + 1) % len(names)]


# Machines per row of the picture by the width of the browser window (CSS px): the picture scales with the page, so
# fewer machines to a row keep its text readable on a phone, while a 1024 px panel still sees a whole line of four.
ROW_WIDTHS = ((900, 4), (560, 2), (0, 1))


def per_row_for(width: float) -> int:
    """Machines to a row of the line picture in a window `width` CSS px wide."""
    return next(n for least, n in ROW_WIDTHS if width >= least)


KEY_TREND_S = 10.0
"""How often the key values' small trends are drawn again (they span an hour: a slow refresh shows it all)."""


class KeyTrends:
    """Under the picture, each machine's key values (hmi.graphics.line_picture.key_values) with a small trend of the
    last hour from the runtime's ring buffer (ISA-101: key values have an embedded trend), grey, on the value's
    engineering range with its normal range as a band; a bad, stale or missing value breaks the line (no ramp)."""

    def __init__(self, rt: Runtime, line: Line) -> None:
        self.rt = rt
        self.sparks: dict[str, Sparkline] = {}
        machines = [(m, key_values(m)) for m in line.machines_in_flow()]
        if not any(tags for _m, tags in machines):
            return
        with testid(ui.column().classes("w-full hmi-panel p-2 gap-1"), "key-trends"):
            ui.label(_("Key values, last hour")).classes("hmi-muted")
            with ui.row().classes("w-full gap-4 items-start"):
                for machine, tags in machines:
                    if not tags:
                        continue
                    with testid(ui.column().classes("gap-1"), f"key-trends-{machine.name}"):
                        ui.label(plant(machine.name)).classes("font-bold")
                        for tag in tags:
                            self._one(machine, tag)
        self.refresh()
        ui.timer(KEY_TREND_S, self.refresh)  # an element of the page: it ends with the page

    def _one(self, machine: Machine, tag: Tag) -> None:
        leaf = tag.name.split(".")[-1]
        with ui.column().classes("gap-0 line-key-trend"):
            ui.label(f"{leaf} ({tag.unit})" if tag.unit else leaf).classes("text-sm")
            assert tag.eng_range is not None  # key_values has only tags with one
            self.sparks[tag.name] = Sparkline(
                _("{value} of {machine}, last hour").format(value=leaf, machine=plant(machine.name)),
                Scale(*tag.eng_range),
                None,
                tag.normal_range,
                f"key-{tag.name}",
                empty=_("No values in the last hour"),
            )

    def refresh(self) -> None:
        """Draw each trend over the hour up to now."""
        now = self.rt.clock()
        start = now - KEY_WINDOW
        for name, spark in self.sparks.items():
            times, values = ring_series(self.rt.key_trends.points(name, since=start), now)
            spark.draw(*thin(times, values, start, now), start, now)


class LinePicture:
    """The line's picture (hmi.graphics.line_picture) with one transparent button over each machine: touching a
    machine opens its faceplate. The SVG is drawn again only when what it shows changed, at most once a second.
    Once the browser is connected, the picture takes as many machines to a row as its window's width suits."""

    def __init__(self, rt: Runtime, line: Line, open_machine: Callable[[Machine], None]) -> None:
        self.rt = rt
        self.line = line
        self.open_machine = open_machine
        self.tags = picture_tags(line)
        self.known = {n: rt.plant.tags[n].tag for n in self.tags if n in rt.plant.tags}
        self.per_row = ROW_WIDTHS[0][1]
        # The page's language, locale and theme, read once while the page is built.
        self.wording, self.palette = picture_wording(), picture_palette()
        self.dirty = True
        self._shown = ""
        self._marks: dict[str, list[AlarmMark]] | None = None
        with testid(ui.element("div").classes("w-full").style("position:relative"), "line-picture") as self.box:
            # sanitize=False: the SVG is built by hmi.graphics.line_picture, which escapes every text and attribute
            # it takes from the plant file or the PLC; client-side sanitising would strip the SVG's patterns.
            self.html = testid(ui.html("", sanitize=False).classes("w-full"), "line-picture-svg")
            self.buttons: list[ui.button] = []
        self._overlay()
        self.refresh()
        ui.timer(1.0, self.refresh)
        ui.timer(0.0, self._fit, once=True)

    def _overlay(self) -> None:
        """One transparent button over each machine's box, in percent of the picture (which scales with the page),
        never smaller than the 48 px touch target (ISA-101)."""
        for button in self.buttons:
            button.delete()
        self.buttons = []
        lay = layout(self.line, self.per_row)
        with self.box:
            for machine, box in zip(lay.machines, lay.boxes, strict=True):
                button = ui.button(on_click=lambda m=machine: self.open_machine(m)).props("flat no-caps")
                button.style(
                    f"position:absolute;left:{box.x / lay.width * 100:.3f}%;top:{box.y / lay.height * 100:.3f}%;"
                    f"width:{box.w / lay.width * 100:.3f}%;height:{box.h / lay.height * 100:.3f}%;"
                    "min-width:48px;min-height:48px;background:transparent"
                )
                opens = _("{name}: open its faceplate").format(name=plant(machine.name))
                button.props["aria-label"] = opens
                button.props["title"] = opens
                self.buttons.append(testid(button, f"picture-machine-{machine.name}"))

    async def _fit(self) -> None:
        """Ask the browser for its window's width once and lay the picture out for it; without an answer the picture
        stays as it is (it scales either way)."""
        try:
            width = await ui.run_javascript("window.innerWidth", timeout=3.0)
        except (TimeoutError, RuntimeError):
            return
        if not isinstance(width, int | float) or self.box.is_deleted:
            return
        per_row = per_row_for(float(width))
        if per_row != self.per_row:
            self.per_row = per_row
            self._overlay()
            self.dirty = True
            self.refresh()

    def mark(self, changed: Iterable[str]) -> None:
        """Note changed tags; the next refresh draws the picture again if any of them is on it."""
        if not self.dirty and any(n in self.known for n in changed):
            self.dirty = True

    def refresh(self) -> None:
        """Draw the picture when a tag on it changed or an alarm came or went; send it only when it differs."""
        marks = alarms_by_machine(self.line, self.rt.alarms.active())
        if not self.dirty and marks == self._marks:
            return
        self.dirty, self._marks = False, marks
        states = {n: self.rt.cache.get(n) for n in self.tags}
        svg = line_picture(
            self.line,
            states,
            marks,
            tags=self.known,
            per_row=self.per_row,
            wording=self.wording,
            palette=self.palette,
        )
        if svg != self._shown:
            self._shown = svg
            self.html.set_content(svg)


def line_page(rt: Runtime, ctx: ActionContext, name: str, faceplate: str | None = None) -> None:
    """The line screen; `faceplate` (a tag of the line, a machine's name, or "line") opens that faceplate over it."""
    found = rt.plant.line(name)
    with frame(rt, ctx, _("Line {name}").format(name=plant(name))):
        if found is None:
            ui.label(_("There is no line called {name!r}.").format(name=name)).classes("hmi-title")
            ui.button(_("Back to the overview"), on_click=lambda: ui.navigate.to("/"))
            return
        area, line = found
        views: dict[str, ValueView] = {}
        states: dict[str, StateView] = {}
        around = neighbours(rt.plant, line.name)
        with ui.row().classes("w-full items-center gap-2"):
            breadcrumbs(rt, line.name)
            ui.space()
            if around is not None:
                for key, other, text in (("prev", around[0], f"◀ {around[0]}"), ("next", around[1], f"{around[1]} ▶")):
                    button = ui.button(text, on_click=lambda o=other: ui.navigate.to(line_link(o)))
                    button.props("outline no-caps")
                    said = _("Previous line: {name}") if key == "prev" else _("Next line: {name}")
                    button.props["aria-label"] = said.format(name=other)
                    testid(button, f"line-{key}")
        with ui.row().classes("items-center gap-3"):
            ui.button(_("Overview"), on_click=lambda: ui.navigate.to("/")).props("outline no-caps")
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

        picture = LinePicture(rt, line, lambda m: open_unit(rt, ctx, line, m)) if line.machines else None
        KeyTrends(rt, line)
        if line.tags:
            views.update(_line_tiles(line, touch))
        if line.trend_tags:
            with ui.column().classes("w-full hmi-panel p-2"):
                ui.label(_("Key values, last minutes")).classes("hmi-muted")
                LiveTrend(rt, list(line.trend_tags), height=260)
        # Every value of every machine stays one touch away under the picture (the picture shows the key values).
        with (
            testid(ui.expansion(_("Machine values"), value=True).classes("w-full"), "machine-values"),
            ui.row().classes("gap-3 items-start"),
        ):
            for machine in line.machines_in_flow():
                _machine_panel(machine, views, states, touch, lambda m=machine: open_unit(rt, ctx, line, m))
        states.pop("", None)
        LineStatusPanel(rt, ctx, line)

        def render(changed: dict[str, TagState | None]) -> None:
            if picture is not None:
                picture.mark(changed)
            for tag_name, state in changed.items():
                if tag_name in views:
                    views[tag_name].show(state, badge(state, rt))
                if tag_name in states:
                    states[tag_name].show(state)

        feed = LiveFeed(rt, [*views, *states, *(picture.tags if picture is not None else ())], render)

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
                    ui.label(_("no active alarms")).classes("hmi-muted")
                for a in active[:5]:
                    with (
                        ui.row()
                        .classes("items-center gap-1 hmi-card-link")
                        .on("click", lambda i=a.id: ui.navigate.to(f"/alarm/{i}"))
                    ):
                        alarm_indicator(a.priority, a.state)
                        ui.label(plant(a.message))

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
