"""Small ISA-101 indicators for the overview tiles: the speed bar with its target, a sparkline, alarm counts.

The geometry is in hmi.graphics (pure, unit-tested); this module only puts it on the page. Colour marks only what
is abnormal (a value outside its normal range: pale warning fill, a framed word and an arrow) and alarms (colour,
shape and priority number); everything normal is grey.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from nicegui import ui

from hmi.alarms.engine import Alarm
from hmi.config import Tag
from hmi.graphics.analog import Scale, deviation
from hmi.graphics.sparkline import sparkline_runs, sparkline_svg
from hmi.historian.query import Series
from hmi.tags import TagState
from screens.fmt import format_value
from screens.i18n import N_, _
from screens.testid import testid
from screens.widgets import indicator_classes

DEVIATION_WORD = {"low": N_("▼ LOW"), "high": N_("▲ HIGH")}


class SpeedBar:
    """A line's speed as a moving pointer on a bar with the normal band and the target mark, the value with its
    unit and quality, and LOW / HIGH when it leaves the normal range."""

    def __init__(self, tag: Tag, scale: Scale | None, target: float | None, name: str) -> None:
        self.tag, self.scale, self.target = tag, scale, target
        with testid(ui.column().classes("w-full gap-0"), f"speed-{name}"):
            with ui.row().classes("w-full items-baseline gap-1 no-wrap").props(f'data-tag="{tag.name}"') as self.box:
                ui.label(_("Speed")).classes("hmi-muted ovw-key")
                self.value = testid(ui.label("—").classes("hmi-value-sm"), f"speed-value-{name}")
                ui.label(tag.unit).classes("hmi-unit")
                self.badge = ui.label("").classes("q-badge good")
                self.word = testid(ui.label("").classes("ovw-deviation"), f"speed-deviation-{name}")
                self.word.set_visibility(False)
                ui.space()
                if target is not None:
                    ui.label(_("target {target:g}").format(target=target)).classes("hmi-range")
            self.pointer: ui.element | None = None
            if scale is None:
                return
            with ui.element("div").classes("hmi-bar ovw-bar w-full").props('aria-hidden="true"'):
                if tag.normal_range is not None:
                    left, right = scale.pct(tag.normal_range[0]), scale.pct(tag.normal_range[1])
                    ui.element("div").classes("hmi-bar-normal").style(f"left:{left:.2f}%;width:{right - left:.2f}%")
                if target is not None:
                    ui.element("div").classes("ovw-target").style(f"left:{scale.pct(target):.2f}%")
                self.pointer = testid(
                    ui.element("div").classes("hmi-bar-pointer").style("left:0%;display:none"), f"speed-pointer-{name}"
                )

    def show(self, state: TagState | None, badge: tuple[str, str], *, producing: bool = True) -> None:
        """Move the pointer and the number to `state` (hollow pointer, struck-through number when not good).

        LOW / HIGH only while the line is `producing`: a stopped line's speed of 0 is expected, and its state
        already says so (ISA-18.2 cl. 11: suppression by design; the same rule keeps the demo's low-speed alarms
        quiet outside Execute)."""
        self.value.set_text(format_value(state, self.tag.data_type))
        cls, text = badge
        self.badge.set_text(text)
        self.badge.classes(replace=f"q-badge {cls}")
        quality = state.quality.value if state is not None else "stale"
        self.box.classes(remove="q-good q-bad q-stale q-uncertain", add=f"q-{quality}")
        raw = state.value if state is not None else None
        value = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        # Abnormal only for a good live value: a BAD or STALE number says nothing about the line.
        good = state is not None and state.good
        off = deviation(value, self.tag.normal_range) if value is not None and good and producing else None
        self.word.set_visibility(off is not None)
        self.word.set_text(_(DEVIATION_WORD[off]) if off else "")
        self.value.classes(remove="ovw-abnormal")
        if off:
            self.value.classes(add="ovw-abnormal")
        if self.pointer is None or self.scale is None:
            return
        if value is None:
            self.pointer.style(replace="left:0%;display:none")
            return
        self.pointer.style(replace=f"left:{self.scale.pct(value):.2f}%")
        self.pointer.classes(remove="hollow over under")
        if not good:
            self.pointer.classes(add="hollow")
        beyond = self.scale.beyond(value)
        if beyond:
            self.pointer.classes(add="over" if beyond == "high" else "under")


class Sparkline:
    """The last hour of a value as inline SVG (hmi.graphics.sparkline builds and escapes it)."""

    def __init__(
        self,
        label: str,
        scale: Scale | None,
        target: float | None,
        band: tuple[float, float] | None,
        name: str,
        empty: str | None = None,
    ) -> None:
        self.label, self.scale, self.target, self.band = label, scale, target, band
        with ui.column().classes("w-full gap-0"):
            # DOMPurify in the browser as a second guard; the SVG holds only numbers and escaped text already.
            self.html = testid(ui.html("", sanitize=True).classes("ovw-spark-box w-full"), f"spark-{name}")
            self.empty = ui.label(empty or _("No speed history in the last hour")).classes("hmi-range")
        self.html.set_visibility(False)

    def show(self, series: Series | None, start: datetime, end: datetime) -> None:
        """Draw `series` over [start, end]; say so when there is no history."""
        if series is None:
            self.draw([], [], start, end)
        else:
            self.draw(series.times, series.values, start, end)

    def draw(self, times: Sequence[datetime], values: Sequence[float | None], start: datetime, end: datetime) -> None:
        """Draw the values (None: a gap) over [start, end]; say so when there are none."""
        runs = sparkline_runs(times, values, start, end, self.scale) if times else []
        self.html.set_visibility(bool(runs))
        self.empty.set_visibility(not runs)
        if runs:
            svg = sparkline_svg(runs, self.label, scale=self.scale, target=self.target, band=self.band)
            if svg != self.html.content:  # sent to the browser only when the drawing changed
                self.html.set_content(svg)


class AlarmCounts:
    """Active alarms per priority: each with its shape and number, coloured and counted when there are any, grey
    when there are none (ISA-18.2: the count by priority; ISA-101: colour only for alarms present)."""

    def __init__(self) -> None:
        self.marks: dict[int, ui.label] = {}
        self.counts: dict[int, ui.label] = {}
        with testid(ui.row().classes("items-center gap-3 no-wrap ovw-alarms"), "alarm-counts"):
            ui.label(_("Alarms")).classes("hmi-muted ovw-key")
            for p in range(1, 5):
                with ui.row().classes("items-center gap-1 no-wrap"):
                    self.marks[p] = (
                        ui.label(str(p))
                        .classes(f"{indicator_classes(p)} zero")
                        .props(f'aria-label="{_("priority {p}").format(p=p)}"')
                    )
                    self.counts[p] = testid(ui.label("0").classes("font-bold ovw-count zero"), f"count-p{p}")

    def show(self, alarms: Iterable[Alarm]) -> None:
        """Count `alarms` per priority; a priority with an unacknowledged alarm flashes."""
        counts = dict.fromkeys(range(1, 5), 0)
        unack: set[int] = set()
        for a in alarms:
            counts[a.priority] += 1
            if a.state.unacknowledged:
                unack.add(a.priority)
        for p, label in self.counts.items():
            label.set_text(str(counts[p]))
            zero = counts[p] == 0
            label.classes(replace="font-bold ovw-count" + (" zero" if zero else ""))
            self.marks[p].classes(replace=indicator_classes(p) + (" zero" if zero else " unack" if p in unack else ""))
