"""Small widgets: alarm indicator, quality-aware value, line state, and the per-page live tag feed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nicegui import ui

from hmi.alarms.engine import Alarm
from hmi.alarms.states import AlarmState
from hmi.config import AlarmDef, Tag
from hmi.runtime import Runtime
from hmi.tags import TagState
from screens.fmt import format_value, line_state, quality_badge
from screens.i18n import _
from screens.testid import testid


def column(
    name: str, label: str, *, field: str | None = None, align: str = "left", sortable: bool = False
) -> dict[str, Any]:
    """A ui.table column showing the row's `field` (default: its name)."""
    spec: dict[str, Any] = {"name": name, "label": label, "field": field or name, "align": align}
    if sortable:
        spec["sortable"] = True
    return spec


def indicator_classes(priority: int, state: AlarmState | None = None) -> str:
    """CSS classes of an alarm indicator: colour and shape per priority, flashing while unacknowledged."""
    extra = ""
    if state is AlarmState.ACTIVE_UNACK:
        extra = " unack"
    elif state is AlarmState.RTN_UNACK:
        extra = " rtn"
    return f"alarm-ind p{priority}{extra}"


def alarm_indicator(priority: int, state: AlarmState | None = None) -> ui.label:
    """Colour + shape + priority number in one element: never colour alone (ISA-101.01, ISA-18.2)."""
    return (
        ui.label(str(priority))
        .classes(indicator_classes(priority, state))
        .props(f'aria-label="{_("priority {priority} alarm").format(priority=priority)}"')
    )


class ValueView:
    """One tag's value with unit, quality badge and normal range; updated in place."""

    def __init__(
        self, tag: Tag, *, label: str | None = None, small: bool = False, on_click: Callable[[], Any] | None = None
    ) -> None:
        self.tag = tag
        with ui.column().classes("gap-0 hmi-panel p-2 min-w-[11rem]") as self.box:
            ui.label(label or tag.name.split(".")[-1]).classes("hmi-muted text-sm")
            with ui.row().classes("items-baseline gap-1 no-wrap"):
                self.value = ui.label("—").classes("hmi-value-sm" if small else "hmi-value")
                ui.label(tag.unit).classes("hmi-unit")
            self.badge = ui.label("").classes("q-badge good")
            limits = _limit_text(tag.alarms)
            if tag.normal_range or limits:
                normal = (
                    _("normal {low:g}–{high:g}").format(low=tag.normal_range[0], high=tag.normal_range[1])
                    if tag.normal_range
                    else ""
                )
                ui.label("  ".join(x for x in (normal, limits) if x)).classes("hmi-range")
        self.box.props(f'data-tag="{tag.name}"')
        if on_click is not None:
            # Touching the tile opens its faceplate (screens.faceplate).
            testid(self.box.classes("hmi-card-link").props('role="button"'), f"tile-{tag.name}").on("click", on_click)

    def show(self, state: TagState | None, now_badge: tuple[str, str]) -> None:
        """Render a new state: value text, and the quality class that greys out anything not good and live."""
        quality = state.quality.value if state else "stale"
        self.value.set_text(format_value(state, self.tag.data_type))
        cls, text = now_badge
        self.badge.set_text(text)
        self.badge.classes(replace=f"q-badge {cls}")
        self.box.classes(remove="q-good q-bad q-stale q-uncertain", add=f"q-{quality}")


def _limit_text(alarms: Sequence[AlarmDef]) -> str:
    parts = [f"{a.type} {a.limit:g}" for a in alarms if a.type != "discrete" and a.limit is not None]
    return "alarms " + " / ".join(parts) if parts else ""


class StateView:
    """A PackML state in words and shape, never as red/green: colour is kept for abnormal states (ISA-101.01)."""

    def __init__(self) -> None:
        self.label = ui.label(_("UNKNOWN")).classes("hmi-state unknown")

    def show(self, state: TagState | None) -> None:
        """Render a new state."""
        cls, words = line_state(state)
        self.label.set_text(words)
        self.label.classes(replace=f"hmi-state {cls}")


class LiveFeed:
    """Feeds a page from the tag cache: changes mark tags dirty, a timer renders them a few times a second.

    The subscription ends when the page's client goes away (docs/architecture.md, "Rules").
    """

    def __init__(
        self,
        rt: Runtime,
        names: Iterable[str],
        render: Callable[[dict[str, TagState | None]], None],
        interval: float = 0.5,
    ) -> None:
        self._rt = rt
        self._names = set(names)
        self._dirty: set[str] = set(self._names)
        self._render = render
        self._unsubscribe = rt.cache.subscribe(self._names, self._mark)
        self.timer = ui.timer(interval, self.flush)
        client = ui.context.client
        client.on_delete(self.close)

    def _mark(self, states: Sequence[TagState]) -> None:
        self._dirty.update(s.name for s in states)

    def flush(self) -> None:
        """Render what changed since the last flush."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        self._render({n: self._rt.cache.get(n) for n in dirty})

    def refresh_all(self) -> None:
        """Mark every tag dirty (e.g. to update STALE ages)."""
        self._dirty |= self._names

    def close(self) -> None:
        """End the cache subscription."""
        self._unsubscribe()


def alarm_counts(alarms: Iterable[Alarm]) -> dict[int, int]:
    """Number of listed alarms per priority 1-4."""
    counts = dict.fromkeys(range(1, 5), 0)
    for a in alarms:
        counts[a.priority] += 1
    return counts


def badge(state: TagState | None, rt: Runtime) -> tuple[str, str]:
    """The quality badge for `state` at the runtime's current time."""
    return quality_badge(state, rt.clock())
