"""Small widgets: alarm indicator, quality-aware value, line state, and the per-page live tag feed."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from nicegui import app, ui

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


# The shortest time between two flushes of one page. A change to a page that has not been sent anything for this long
# is rendered on the next turn of the event loop, after the batch it came in (one OPC UA publish reaches the cache in a
# few batches, processed back to back, so it still leaves in one websocket message); changes during the gap wait for
# its end and leave together. A source that trickles changes one by one thus reaches a page at most ten times a second.
MIN_GAP_S = 0.1


class Cancellable(Protocol):
    """What a scheduled call returns (asyncio.TimerHandle)."""

    def cancel(self) -> None:
        """Do not run the call."""


class Scheduler(Protocol):
    """Runs a callback after a delay and returns a handle to cancel it: asyncio's loop.call_later, or a test's."""

    def __call__(self, delay: float, callback: Callable[[], None], /) -> Cancellable: ...


class LiveFeed:
    """Feeds a page from the tag cache, pushed: a change marks its tag dirty and, unless one is already due, schedules
    ONE flush that renders every tag marked since, so a burst of changes reaches the browser in one websocket message;
    the flush is due at once (the next turn of the event loop) unless the last one was less than `interval` seconds
    ago, then when that gap ends. A page whose tags do not change costs nothing (no polling timer).

    The subscription and a pending flush end when the page's client goes away (docs/architecture.md, "Push path").
    """

    def __init__(
        self,
        rt: Runtime,
        names: Iterable[str],
        render: Callable[[dict[str, TagState | None]], None],
        interval: float = MIN_GAP_S,
        *,
        schedule: Scheduler | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self._rt = rt
        self._names = set(names)
        self._dirty: set[str] = set(self._names)
        self._render = render
        self._interval = interval
        loop = asyncio.get_running_loop()
        self._schedule: Scheduler = schedule or loop.call_later
        self._monotonic = monotonic or loop.time
        self._last_flush = -math.inf
        self._pending: Cancellable | None = None
        self._closed = False
        self._client = ui.context.client
        # Rendered in the slot the feed was made in, as a ui.timer would, so a render may add elements.
        self._slot = ui.context.slot
        self._unsubscribe = rt.cache.subscribe(self._names, self._mark)
        self._client.on_delete(self.close)
        self._due()  # the first values as soon as the page is built

    @property
    def pending(self) -> bool:
        """True while a flush is scheduled."""
        return self._pending is not None

    def _mark(self, states: Sequence[TagState]) -> None:
        # Runs inside the cache's update on the event loop: only note the names and make sure a flush is due.
        self._dirty.update(s.name for s in states)
        self._due()

    def _due(self) -> None:
        if self._pending is None and not self._closed and self._dirty:
            delay = max(0.0, self._last_flush + self._interval - self._monotonic())
            self._pending = self._schedule(delay, self._scheduled)

    def _scheduled(self) -> None:
        self._pending = None
        if self._closed:
            return
        if self._client.is_deleted or self._slot.parent.is_deleted:
            self.close()  # the page (or the dialog the feed was made in) is gone: nothing to render, nothing to hear
            return
        self._last_flush = self._monotonic()
        try:
            with self._slot:
                self.flush()
        except Exception as exc:  # as a ui.timer would: reported, and the next change is rendered again
            app.handle_exception(exc)

    def flush(self) -> None:
        """Render what changed since the last flush."""
        if not self._dirty or self._closed:
            return
        dirty, self._dirty = self._dirty, set()
        self._render({n: self._rt.cache.get(n) for n in dirty})

    def refresh_all(self) -> None:
        """Mark every tag dirty (e.g. to update STALE ages) and render them soon."""
        self._dirty |= self._names
        self._due()

    def close(self) -> None:
        """End the cache subscription and drop a flush not yet run."""
        self._closed = True
        self._unsubscribe()
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


def alarm_counts(alarms: Iterable[Alarm]) -> dict[int, int]:
    """Number of listed alarms per priority 1-4."""
    counts = dict.fromkeys(range(1, 5), 0)
    for a in alarms:
        counts[a.priority] += 1
    return counts


def badge(state: TagState | None, rt: Runtime) -> tuple[str, str]:
    """The quality badge for `state` at the runtime's current time."""
    return quality_badge(state, rt.clock())
