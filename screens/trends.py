"""Trends: pens from the tag tree, live or from the historian, zoom and pan, a cursor, CSV export, saved views.

Every chart is drawn from the historian's server-side downsampled series (at most MAX_POINTS per pen, extremes
kept); the live 10-minute view then appends the ring buffer's new points, so it moves every second without
resending the figure. The figure itself (axes per unit, limits, labels, gaps) is built in history_figure.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timedelta
from typing import Any

from nicegui import app, events, ui

from hmi.access.context import ActionContext
from hmi.alarms.journal_query import activations
from hmi.historian import Series
from hmi.historian.export import trend_csv
from hmi.historian.query import hole_us
from hmi.historian.views import MAX_PENS, MAX_VIEW_NAME, SavedView
from hmi.limits import RangeTooLong
from hmi.oee.service import Stop
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import ranges
from screens.frame import frame
from screens.history_figure import (
    Mark,
    break_gaps,
    build_figure,
    colour,
    in_range,
    local_x,
    parse_x,
    pen_limits,
    quality_at,
    value_at,
)
from screens.i18n import N_, _, message, options
from screens.session import command
from screens.testid import testid

MAX_POINTS = 2000
RANGES = {"10m": N_("10 min"), "shift": N_("Shift"), "24h": "24 h", "7d": N_("7 days"), "custom": N_("Custom")}
# Long live views are re-read from the historian this often (their buckets are minutes wide anyway).
LIVE_REQUERY_S = 60.0
# The 10-minute view re-reads the historian this often while the ring buffer does not reach back to the window's
# start: history written later (a back-fill, a spool replayed after an outage) then shows without a reload.
BACKFILL_REQUERY_S = 10.0
READ_ERROR = N_("History cannot be read: {exc}")
DRAG_MODES = {"zoom": N_("Drag zooms"), "pan": N_("Drag pans")}
# The tree's label with the whole name as its tooltip, and a match of the search marked (a fixed template: the
# label is a Vue text interpolation, so a name is never read as HTML).
TREE_HEADER = (
    "<span :title=\"props.node.label\" :class=\"props.node.match ? 'hmi-tree-match' : ''\""
    ' class="hmi-tree-label">{{ props.node.label }}</span>'
)


def tag_tree(rt: Runtime) -> list[dict[str, Any]]:
    """Areas > lines > machines > numeric tags, as ui.tree nodes (tag ids are tag names)."""
    nodes: list[dict[str, Any]] = []
    for area in rt.plant.areas:
        area_node: dict[str, Any] = {"id": f"area:{area.name}", "label": area.name, "children": []}
        for line in area.lines:
            line_node: dict[str, Any] = {"id": f"line:{line.name}", "label": line.name, "children": []}
            line_node["children"] += [{"id": t.name, "label": t.name} for t in line.tags if t.numeric]
            for machine in line.machines:
                tags = [{"id": t.name, "label": t.name} for t in machine.tags if t.numeric]
                if tags:
                    line_node["children"].append(
                        {"id": f"machine:{line.name}.{machine.name}", "label": machine.name, "children": tags}
                    )
            area_node["children"].append(line_node)
        nodes.append(area_node)
    return nodes


def search_tree(nodes: list[dict[str, Any]], text: str) -> tuple[list[str], list[str]]:
    """(ids of the nodes whose label holds `text`, ignoring case, ids of their ancestors to expand): what the
    tree's filter shows, opened down to every match."""
    needle = text.strip().lower()
    matched: list[str] = []
    expand: list[str] = []

    def walk(node: dict[str, Any], ancestors: list[str]) -> None:
        if needle and needle in str(node.get("label", "")).lower():
            matched.append(node["id"])
            expand.extend(a for a in ancestors if a not in expand)
        for child in node.get("children", ()):
            walk(child, [*ancestors, node["id"]])

    for node in nodes:
        walk(node, [])
    return matched, expand


def mark_matches(nodes: list[dict[str, Any]], matched: set[str]) -> list[dict[str, Any]]:
    """A copy of the tree's nodes with `match` set on the matched ones (the header template highlights them)."""
    return [
        {
            **node,
            "match": node["id"] in matched,
            **({"children": mark_matches(node["children"], matched)} if "children" in node else {}),
        }
        for node in nodes
    ]


def expanded_for(rt: Runtime, pens: list[str]) -> list[str]:
    """Tree node ids to open so the chosen pens show: every area, and the lines and machines holding them."""
    keys = [f"area:{area.name}" for area in rt.plant.areas]
    for name in pens:
        ref = rt.plant.tags.get(name)
        if ref is None:
            continue
        keys.append(f"line:{ref.line.name}")
        if ref.machine is not None:
            keys.append(f"machine:{ref.line.name}.{ref.machine.name}")
    return keys


class TrendScreen:
    """State and actions of one open trend page."""

    def __init__(self, rt: Runtime, ctx: ActionContext, pens: list[str]) -> None:
        self.rt = rt
        self.ctx = ctx
        self.zone = rt.plant.site.zone
        self.pens = pens
        self.mode = "live"
        # range_key: what the range buttons show ("custom" for any fixed window, a drag-zoom's too); named_key: the
        # named range Live and Reset return to; base: the window Reset returns to (a typed custom one, or None).
        self.range_key = "10m"
        self.named_key = "10m"
        self.base: tuple[datetime, datetime] | None = None
        self.dragmode = "zoom"
        self.on_change: Callable[[], None] | None = None
        now = rt.clock()
        self.start, self.end = now - timedelta(minutes=10), now
        self.series: dict[str, Series] = {}
        self.stops: list[Stop] = []
        self.cursor: datetime | None = None
        self.last_sent: dict[str, datetime | None] = {}
        self.last_query = 0.0
        self.plot: ui.plotly | None = None
        self.status: ui.label
        self.readout: ui.column
        self.holder: ui.column
        self._marks: list[Mark] = []
        self.window_label: ui.label

    # ------------------------------------------------------------------------------------------------ windows

    def resolve(self, custom_from: str = "", custom_to: str = "") -> None:
        """Set start/end from the range key (live ranges end now); ValueError for a bad custom range."""
        now = self.rt.clock()
        if self.range_key == "custom":
            window = ranges.resolve("custom", now, self.zone, custom_from=custom_from, custom_to=custom_to)
        else:
            window = ranges.resolve(self.range_key, now, self.zone, shift=self.rt.shift())
        self.start, self.end = window.start, min(window.end, now) if self.mode == "live" else window.end

    def describe(self) -> str:
        """The window as people read it, with the mode."""
        span = f"{local_x(self.start, self.zone)[:19]} – {local_x(self.end, self.zone)[:19]} ({self.zone.key})"
        return f"{'LIVE' if self.mode == 'live' else 'HISTORY'} · {span}"

    # ----------------------------------------------------------------------------------------------- drawing

    async def load(self) -> None:
        """Read the window from the historian (downsampled on the server) and redraw the chart."""
        self.last_query = asyncio.get_running_loop().time()
        if self.on_change is not None:
            self.on_change()  # the range buttons and Live show the state the chart is about to show
        try:
            if self.pens:
                self.series = await self.rt.history.series(self.pens, self.start, self.end, max_points=MAX_POINTS)
                events_ = await activations(self.rt.db, self.pens, self.start, self.end)
                self.stops = await self.rt.oee.stops_of_tags(self.pens, self.start, self.end)
            else:
                self.series, events_, self.stops = {}, [], []
        except DatabaseUnavailable as exc:
            self.status.set_text(_(READ_ERROR).format(exc=message(exc)))
            return
        except RangeTooLong as exc:
            self.status.set_text(_(READ_ERROR).format(exc=message(exc)) + ".")
            return
        if self.status.text.startswith(_(READ_ERROR).format(exc="")):
            # Only our own error goes; a message about a save or export finished meanwhile stays.
            self.status.set_text("")
        self._merge_live_tail()
        marks = [Mark(e.source_time or e.server_time, e.alarm_id, e.priority) for e in events_]
        self.draw(marks)

    def _merge_live_tail(self) -> None:
        # The historian writes in batches; the ring buffer has the last second it has not written yet.
        for name in self.pens:
            s = self.series.get(name)
            last = s.times[-1] if s and s.times else None
            self.last_sent[name] = last
            if self.mode != "live" or s is None or self.range_key != "10m":
                continue
            tail = self.rt.live_trends.points(name, since=last)
            if tail:
                # Where the ring's first point comes long after the recorder's last one, nothing was recorded.
                after = last if s.values and s.values[-1] is not None else None
                gap = timedelta(microseconds=hole_us(self.rt.plant, name))
                times, values = break_gaps([p[0] for p in tail], [p[1] for p in tail], gap, after=after)
                s.times.extend(times)
                s.values.extend(values)
                self.last_sent[name] = tail[-1][0]

    def draw(self, marks: list[Mark] | None = None) -> None:
        """Build the figure for the current state and show it."""
        if marks is not None:
            self._marks = marks
        self.window_label.set_text(self.describe())
        self.holder.clear()
        with self.holder:
            if not self.pens:
                ui.label(_("Choose one or more tags in the tag tree (up to 8).")).classes("hmi-muted")
                self.plot = None
                return
            figure = build_figure(
                self.rt.plant,
                self.zone,
                self.pens,
                self.series,
                self.start,
                self.end,
                marks=self._marks,
                cursor=self.cursor,
                stops=self.stops,
                # The pen list beside the chart is the legend: it wraps long names, plotly's cannot.
                legend=False,
            )
            figure["layout"]["dragmode"] = self.dragmode
            self.plot = testid(ui.plotly(figure).classes("w-full"), "trend")
            self.plot.on("plotly_relayout", self.on_relayout)
            self.plot.on("plotly_click", self.on_click)
        self.show_readout()

    def points_sent(self) -> int:
        """How many points the chart holds now (all pens)."""
        return sum(len(s.times) for s in self.series.values())

    # ------------------------------------------------------------------------------------------------- live

    async def tick(self) -> None:
        """Live mode: move the window to now; append new ring points (10 min) or re-read (longer ranges)."""
        if self.mode != "live" or self.plot is None:
            return
        if self.range_key != "10m":
            if asyncio.get_running_loop().time() - self.last_query >= LIVE_REQUERY_S:
                self.resolve()
                await self.load()
            return
        now = self.rt.clock()
        self.start, self.end = now - timedelta(minutes=10), now
        if self._ring_misses_start() and asyncio.get_running_loop().time() - self.last_query >= BACKFILL_REQUERY_S:
            await self.load()
            return
        xs: list[list[str]] = []
        ys: list[list[float | None]] = []
        idx: list[int] = []
        for i, name in enumerate(self.pens):
            points = self.rt.live_trends.points(name, since=self.last_sent.get(name))
            s = self.series.get(name)
            if not points or s is None:
                continue
            self.last_sent[name] = points[-1][0]
            s.times.extend(p[0] for p in points)
            s.values.extend(p[1] for p in points)
            # Drop what slid out of the window so the chart never holds more than the window's points.
            while s.times and s.times[0] < self.start and len(s.times) > 1:
                del s.times[0], s.values[0]
            x = [local_x(p[0], self.zone) for p in points]
            y = [p[1] for p in points]
            # Keep the server's copy of the figure in step, so a reconnecting browser redraws the same trend.
            trace = self.plot.figure["data"][i]
            trace["x"] = (trace["x"] + x)[-len(s.times) :]
            trace["y"] = (trace["y"] + y)[-len(s.times) :]
            xs.append(x)
            ys.append(y)
            idx.append(i)
        layout = self.plot.figure["layout"]
        layout["xaxis"]["range"] = [local_x(self.start, self.zone), local_x(self.end, self.zone)]
        if idx and not in_range(
            layout, self.rt.plant, self.pens, {self.pens[i]: y for i, y in zip(idx, ys, strict=True)}
        ):
            # A value beyond the fixed value axes: draw again with new ranges and the limit labels placed anew.
            self.draw()
            return
        if idx:
            self.plot.run_plot_method("extendTraces", {"x": xs, "y": ys}, idx, MAX_POINTS)
        self.plot.run_plot_method("relayout", {"xaxis.range": layout["xaxis"]["range"]})
        self.window_label.set_text(self.describe())
        if self.cursor is None:
            self.show_readout()  # it reads the window's end, which moved

    def _ring_misses_start(self) -> bool:
        """Whether some pen's ring buffer starts after the window does: that part is only in the historian."""
        for name in self.pens:
            held = self.rt.live_trends.points(name)
            if not held or held[0][0] > self.start:
                return True
        return False

    # ------------------------------------------------------------------------------------------ interaction

    async def on_relayout(self, e: events.GenericEventArguments) -> None:
        """Zoom or pan on the chart: read that window again at its own resolution (history mode)."""
        args = e.args if isinstance(e.args, Mapping) else {}
        if args.get("xaxis.autorange"):
            await self.reset()  # a double tap on the chart
            return
        # A drag or the zoom buttons of the chart report "xaxis.range[0]" / "[1]"; the whole-list form is our own
        # live relayout coming back, which must not switch the screen to history.
        low = args.get("xaxis.range[0]")
        high = args.get("xaxis.range[1]")
        if low is None or high is None:
            return
        try:
            start, end = parse_x(str(low), self.zone), parse_x(str(high), self.zone)
        except ValueError:
            return
        if end <= start or (
            abs((start - self.start).total_seconds()) < 0.5 and abs((end - self.end).total_seconds()) < 0.5
        ):
            return  # our own relayout echoed back
        await self.zoom_to(start, end)

    async def zoom_to(self, start: datetime, end: datetime) -> None:
        """Show [start, end] from the historian (history mode); the range buttons then show it as custom."""
        self.mode = "history"
        self.range_key = "custom"
        self.start, self.end = start, end
        await self.load()

    async def reset(self) -> None:
        """Undo zoom and pan: back to the typed custom window, else to the named range (live)."""
        if self.base is not None:
            await self.zoom_to(*self.base)
        else:
            await self.set_range(self.named_key)

    async def set_dragmode(self, mode: str) -> None:
        """What a drag across the chart does: 'zoom' (a window) or 'pan' (move through time)."""
        self.dragmode = mode
        if self.plot is not None:
            self.plot.figure["layout"]["dragmode"] = mode
            self.plot.run_plot_method("relayout", {"dragmode": mode})

    def save_picture(self) -> None:
        """The chart as a PNG file, drawn by plotly in the browser."""
        if self.plot is not None:
            stamp = local_x(self.start, self.zone)[:16].replace(" ", "_").replace(":", "")
            self.plot.run_plot_method("downloadImage", {"format": "png", "filename": f"trend_{stamp}", "scale": 2})

    async def pan(self, fraction: float) -> None:
        """Move the window by `fraction` of its width (negative: back in time); history mode."""
        width = self.end - self.start
        shift = width * fraction
        await self.zoom_to(self.start + shift, self.end + shift)

    async def zoom(self, factor: float) -> None:
        """Widen (factor > 1) or narrow the window around its middle; history mode."""
        middle = self.start + (self.end - self.start) / 2
        half = (self.end - self.start) * factor / 2
        await self.zoom_to(middle - half, middle + half)

    async def set_range(self, key: str, custom_from: str = "", custom_to: str = "") -> None:
        """Choose a named range; 10 min, shift, 24 h and 7 days run live up to now."""
        previous = (self.range_key, self.mode)
        self.range_key = key
        self.mode = "history" if key == "custom" else "live"
        try:
            self.resolve(custom_from, custom_to)
        except ValueError as exc:
            self.range_key, self.mode = previous
            self.status.set_text(_("Not shown: {exc}.").format(exc=message(exc)))
            return
        if key == "custom":
            self.base = (self.start, self.end)
        else:
            self.named_key, self.base = key, None
        await self.load()

    async def on_click(self, e: events.GenericEventArguments) -> None:
        """Touch or click on the chart: a cursor that reads every pen at that time."""
        points = e.args.get("points") if isinstance(e.args, Mapping) else None
        if not points:
            return
        try:
            self.cursor = parse_x(str(points[0].get("x")), self.zone)
        except (ValueError, AttributeError):
            return
        self.draw()

    def set_cursor(self, at: datetime | None) -> None:
        """Place (or remove) the cursor."""
        self.cursor = at
        self.draw()

    def show_readout(self) -> None:
        """The pen list beside the chart: each pen's colour, whole name (wrapped, and as a tooltip), its value,
        unit and quality at the cursor (a touch on the chart places it; else at the window's end) and its limits."""
        self.readout.clear()
        at = self.cursor if self.cursor is not None else min(self.end, self.rt.clock())
        with self.readout:
            head = _("Cursor") if self.cursor is not None else _("At the end of the window")
            ui.label(f"{head} {local_x(at, self.zone)[:19]} ({self.zone.key})").classes("font-semibold")
            for i, name in enumerate(self.pens):
                tag = self.rt.plant.tags[name].tag
                s = self.series.get(name)
                value = value_at(s, at) if s else None
                quality = quality_at(s, at) if s else "no data"
                text = f"{value:.4g} {tag.unit}".strip() if value is not None else _("no value (gap)")
                with testid(ui.column().classes("hmi-trend-pen gap-0 w-full"), f"cursor-{name}"):
                    with ui.row().classes("items-center gap-2 no-wrap w-full"):
                        # The swatch's colour is one of ours (COLOURS), never text from the plant file.
                        ui.element("span").classes("hmi-trend-swatch").style(f"border-top-color: {colour(i)}")
                        pen = ui.label(name).classes("hmi-trend-pen-name")
                        pen.props["title"] = name  # the whole name on hover, whatever the width
                    with ui.row().classes("items-center gap-2"):
                        ui.label(text).classes("hmi-value-sm")
                        if quality != "good":
                            ui.label(_(quality).upper()).classes(f"q-badge {'bad' if quality == 'bad' else 'stale'}")
                    limits = " · ".join(f"{_(lim.kind)} {lim.value:g}" for lim in pen_limits(self.rt.plant, name))
                    if limits:
                        ui.label(limits).classes("hmi-muted text-xs")

    def csv(self) -> str:
        """CSV of the points on the chart now."""
        return trend_csv({n: self.series[n] for n in self.pens if n in self.series}, self.rt.plant, self.zone)


def trends_page(rt: Runtime, ctx: ActionContext, tags: str | None = None) -> None:
    """The trend screen; `tags` is a comma-separated preselection (links from other screens)."""
    TrendPage(rt, ctx, tags)


class TrendPage:
    """The trend screen around its chart (TrendScreen): tag tree and pens, range and navigation, saved views."""

    def __init__(self, rt: Runtime, ctx: ActionContext, tags: str | None) -> None:
        self.rt = rt
        self.ctx = ctx
        self.known = {name for name, ref in rt.plant.tags.items() if ref.tag.numeric}
        preset = [t for t in (tags or "").split(",") if t in self.known]
        if not preset:
            preset = [t for t in app.storage.user.get("trend_pens", []) if t in self.known]
        if not preset:
            preset = [t for _skip, line in list(rt.plant.lines())[:1] for t in line.trend_tags]
        self.screen = TrendScreen(rt, ctx, preset[:MAX_PENS])
        self.saved: dict[int, SavedView] = {}
        # True while the pens select and the tree are set from code: their change events are not people's choices.
        self.syncing = False
        with frame(rt, ctx, "Trends"), ui.row().classes("w-full items-start gap-3 no-wrap"):
            self._tree_panel()
            with ui.column().classes("grow gap-2"):
                self._pens_and_range()
                self._navigation()
                self._chart()
                self._views()
        self.pens.on_value_change(self.on_pens)
        self.tree.on_tick(self.on_tick)
        self.range.on_value_change(self.on_range)
        self.search.on_value_change(self.on_search)
        self.screen.on_change = self.show_state
        self.show_ticks(self.screen.pens)
        ui.timer(0.0, self.first, once=True)
        ui.timer(1.0, self.screen.tick)

    def _tree_panel(self) -> None:
        with ui.column().classes("hmi-panel p-2 w-72 shrink-0"):
            ui.label(_("Tag tree")).classes("font-semibold")
            self.search = testid(ui.input(_("Search tags")).props("clearable"), "trend-search").classes("w-full")
            self.nodes = tag_tree(self.rt)
            self.tree = testid(
                ui.tree(mark_matches(self.nodes, set()), tick_strategy="leaf", label_key="label"), "trend-tree"
            ).classes("w-full hmi-trend-tree")
            self.tree.add_slot("default-header", TREE_HEADER)
            # Open only down to the chosen pens: the whole plant unfolded is pages of tags on a panel.
            self.tree.expand(expanded_for(self.rt, self.screen.pens))

    def _pens_and_range(self) -> None:
        screen = self.screen
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(_("Trends")).classes("hmi-title")
            self.pens = testid(
                ui.select(
                    sorted(self.known),
                    value=list(screen.pens),
                    multiple=True,
                    with_input=True,
                    label=_("Pens (up to {MAX_PENS})").format(MAX_PENS=MAX_PENS),
                ).props("use-chips"),
                "trend-pens",
            ).classes("grow min-w-0 hmi-trend-pens")
        with ui.row().classes("w-full items-center gap-2"):
            self.range = testid(ui.toggle(options(RANGES), value="10m").props("no-caps"), "trend-range")
            frm = self.custom_from = testid(
                ui.input(_("From ({LOCAL_HINT})").format(LOCAL_HINT=ranges.LOCAL_HINT)).classes("w-44"), "trend-from"
            )
            to = self.custom_to = testid(
                ui.input(_("To ({LOCAL_HINT})").format(LOCAL_HINT=ranges.LOCAL_HINT)).classes("w-44"), "trend-to"
            )
            apply = testid(
                ui.button(_("Show"), on_click=lambda: screen.set_range("custom", frm.value or "", to.value or "")),
                "trend-apply",
            )
            for element in (frm, to, apply):
                element.bind_visibility_from(self.range, "value", value="custom")

    def _navigation(self) -> None:
        # The chart's tools are these buttons (>= 48 px, hmi.css), not plotly's small mode bar.
        screen = self.screen
        with ui.row().classes("w-full items-center gap-2"):
            for text, move, name in (
                (N_("◀ Back"), lambda: screen.pan(-0.5), "trend-back"),
                (N_("Forward ▶"), lambda: screen.pan(0.5), "trend-forward"),
                (N_("Zoom in"), lambda: screen.zoom(0.5), "trend-zoom-in"),
                (N_("Zoom out"), lambda: screen.zoom(2.0), "trend-zoom-out"),
                (N_("Reset zoom"), screen.reset, "trend-reset"),
            ):
                testid(ui.button(_(text), on_click=move).props("outline no-caps").classes("hmi-trend-tool"), name)
            self.live_button = testid(
                ui.button(_("LIVE"), on_click=self.live).props("no-caps").classes("hmi-trend-tool"), "trend-live"
            )
            self.drag = testid(
                ui.toggle(options(DRAG_MODES), value=screen.dragmode, on_change=lambda e: screen.set_dragmode(e.value))
                .props("no-caps")
                .classes("hmi-trend-tool"),
                "trend-drag",
            )
            testid(
                ui.button(_("Clear cursor"), on_click=lambda: screen.set_cursor(None))
                .props("outline no-caps flat")
                .classes("hmi-trend-tool"),
                "trend-clear-cursor",
            )
            testid(
                ui.button(_("Save picture"), on_click=screen.save_picture)
                .props("outline no-caps")
                .classes("hmi-trend-tool"),
                "trend-picture",
            )
            testid(
                ui.button(_("Export CSV"), on_click=self.export).props("outline no-caps").classes("hmi-trend-tool"),
                "trend-export",
            )

    def _chart(self) -> None:
        screen = self.screen
        screen.window_label = testid(ui.label("").classes("hmi-muted"), "trend-window")
        screen.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "trend-status")
        # The pen list with the cursor's reading sits beside the chart (below it on a narrow screen).
        with ui.row().classes("w-full items-start gap-2 hmi-trend-body"):
            screen.holder = ui.column().classes("hmi-panel p-2 hmi-trend-chart")
            screen.readout = testid(ui.column().classes("hmi-panel p-2 gap-1 hmi-trend-readout"), "trend-cursor")

    def _views(self) -> None:
        rt = self.rt
        with ui.row().classes("items-center gap-2"):
            self.views = testid(ui.select({}, label=_("Saved views")).classes("w-56"), "trend-views")
            testid(ui.button(_("Open"), on_click=self.open_view).props("outline no-caps"), "trend-view-open")
            testid(
                ui.button(_("Delete"), on_click=command(rt, self.delete_view)).props("outline no-caps"),
                "trend-view-delete",
            )
            self.view_name = testid(
                ui.input(_("Save as")).classes("w-48").props(f"maxlength={MAX_VIEW_NAME} counter"), "trend-view-name"
            )
            testid(ui.button(_("Save view"), on_click=command(rt, self.save_view)).props("no-caps"), "trend-view-save")

    async def first(self) -> None:
        """The saved views, and the chart of the chosen pens."""
        await self.refresh_views()
        self.screen.resolve()
        await self.screen.load()

    def show_ticks(self, chosen: list[str]) -> None:
        """Tick the chosen pens in the tree."""
        # tick()/untick() with no keys mean "all": clear first, then tick the chosen ones.
        self.tree.untick()
        if chosen:
            self.tree.tick(chosen)

    async def set_pens(self, chosen: list[str]) -> None:
        """Chart `chosen` (at most MAX_PENS), remembered for this browser, the select and the tree kept in step."""
        screen = self.screen
        if len(chosen) > MAX_PENS:
            screen.status.set_text(
                _("At most {MAX_PENS} pens per chart; the first {MAX_PENS} are shown.").format(MAX_PENS=MAX_PENS)
            )
            chosen = chosen[:MAX_PENS]
        screen.pens = chosen
        app.storage.user["trend_pens"] = chosen
        self.syncing = True
        try:
            if list(self.pens.value or []) != chosen:
                self.pens.set_value(chosen)
            self.show_ticks(chosen)
        finally:
            self.syncing = False
        await screen.load()

    # The change handlers decide at once, while `syncing` still tells a change from code from a person's, and
    # return the work as a coroutine that NiceGUI then runs (an async handler's body would run only later).

    def on_pens(self, e: events.ValueChangeEventArguments[Any]) -> Coroutine[Any, Any, None] | None:
        """Pens picked in the select."""
        if self.syncing:
            return None
        return self.set_pens([p for p in (e.value or []) if p in self.known])

    def on_tick(self, e: events.ValueChangeEventArguments[Any]) -> Coroutine[Any, Any, None] | None:
        """Pens ticked in the tree."""
        if self.syncing:
            return None
        ticked = [t for t in (e.value or []) if t in self.known]
        pens = self.screen.pens
        # Keep the order people picked them in: existing pens first, newly ticked after.
        return self.set_pens([p for p in pens if p in ticked] + [t for t in ticked if t not in pens])

    def on_range(self, e: events.ValueChangeEventArguments[Any]) -> Coroutine[Any, Any, None] | None:
        """A named range chosen (a custom one is shown with its Show button)."""
        if self.syncing or not e.value or e.value == "custom":
            return None
        return self.screen.set_range(e.value)

    async def live(self) -> None:
        """Back to live, over the last named range chosen."""
        await self.screen.set_range(self.screen.named_key)

    def show_state(self) -> None:
        """The controls say what the chart shows: after a zoom or pan the range buttons show Custom with the
        window in From/To, and Live is a plain button ('Back to live') instead of the lit LIVE state."""
        screen = self.screen
        self.syncing = True
        try:
            if self.range.value != screen.range_key:
                self.range.set_value(screen.range_key)
        finally:
            self.syncing = False
        if screen.range_key == "custom":
            self.custom_from.set_value(screen.start.astimezone(screen.zone).strftime(ranges.LOCAL_FORMAT))
            self.custom_to.set_value(screen.end.astimezone(screen.zone).strftime(ranges.LOCAL_FORMAT))
        live = screen.mode == "live"
        self.live_button.set_text(_("LIVE") if live else _("Back to live"))
        self.live_button.props(remove="outline" if live else "unelevated")
        self.live_button.props("unelevated" if live else "outline")
        self.live_button.props["aria-pressed"] = "true" if live else "false"
        self.live_button.update()

    def on_search(self, e: events.ValueChangeEventArguments[Any]) -> None:
        """Typing in the search: the tree shows the matches, opened down to each, the matches marked."""
        text = str(e.value or "")
        matched, expand = search_tree(self.nodes, text)
        self.tree.props["nodes"] = mark_matches(self.nodes, set(matched))
        self.tree.set_filter(text)
        self.tree.collapse()
        self.tree.expand(expand if text.strip() else expanded_for(self.rt, self.screen.pens))
        self.tree.update()

    async def export(self) -> None:
        """The points on the chart as CSV."""
        screen = self.screen
        if not screen.series:
            screen.status.set_text(_("Nothing to export: choose pens first."))
            return
        text = await asyncio.to_thread(screen.csv)
        stamp = local_x(screen.start, screen.zone)[:16].replace(" ", "_").replace(":", "")
        ui.download.content(text.encode("utf-8-sig"), f"trend_{stamp}.csv", "text/csv")
        screen.status.set_text(
            _("Exported {points_sent} points of {len} pen(s).").format(
                points_sent=screen.points_sent(), len=len(screen.pens)
            )
        )

    async def refresh_views(self, select: int | None = None) -> None:
        """The person's saved views in the select (`select` chosen)."""
        try:
            found = await self.rt.trend_views.list(self.ctx)
        except DatabaseUnavailable as exc:
            self.screen.status.set_text(_("Saved views cannot be read: {exc}").format(exc=message(exc)))
            return
        self.saved.clear()
        self.saved.update({v.id: v for v in found})
        self.views.set_options({v.id: v.name for v in found}, value=select)

    def chosen_view(self) -> SavedView | None:
        """The saved view chosen in the select, or None after asking for one."""
        view = self.saved.get(self.views.value) if self.views.value is not None else None
        if view is None:
            self.screen.status.set_text(_("Choose a saved view first."))
        return view

    async def save_view(self, actor: ActionContext) -> None:
        """Save pens and range under the typed name."""
        screen = self.screen
        try:
            view = await self.rt.trend_views.save(
                actor, self.view_name.value or "", screen.pens, screen.range_key, start=screen.start, end=screen.end
            )
        except (ValueError, DatabaseUnavailable) as exc:
            screen.status.set_text(_("Not saved: {exc}").format(exc=message(exc)))
            return
        screen.status.set_text(_("Saved view {name!r}.").format(name=view.name))
        await self.refresh_views(view.id)

    async def open_view(self) -> None:
        """Show the chosen view's pens over its range."""
        if (view := self.chosen_view()) is None:
            return
        screen = self.screen
        self.syncing = True
        try:
            self.range.set_value(view.range_key)
        finally:
            self.syncing = False
        await self.set_pens([p for p in view.pens if p in self.known])
        if view.range_key == "custom" and view.start and view.end:
            screen.base = (view.start, view.end)
            await screen.zoom_to(view.start, view.end)
        else:
            await screen.set_range(view.range_key)
        screen.status.set_text(_("Opened view {name!r}.").format(name=view.name))

    async def delete_view(self, actor: ActionContext) -> None:
        """Delete the chosen view."""
        if (view := self.chosen_view()) is None:
            return
        try:
            await self.rt.trend_views.delete(actor, view.id)
        except (LookupError, DatabaseUnavailable) as exc:
            self.screen.status.set_text(_("Not deleted: {exc}").format(exc=message(exc)))
            return
        self.screen.status.set_text(_("Deleted view {name!r}.").format(name=view.name))
        await self.refresh_views()
