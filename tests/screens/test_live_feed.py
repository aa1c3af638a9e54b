"""The push path of a page (screens.widgets.LiveFeed) on a real runtime and a simulated browser user: a change is
rendered on the next turn of the event loop after it reaches the tag cache (not at a timer tick) unless the page was
sent something less than a gap ago, and the changes of a gap make one flush.

The feed's scheduler and clock are the test's (the injected clock of the push path): the test sees what is scheduled
and with which delay, and runs it itself, so nothing here waits for time to pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from screens.widgets import MIN_GAP_S, LiveFeed
from tests.screens.conftest import Harness

NAMES = ["L1.M1.Temp", "L1.M1.Pressure"]


class Handle:
    def __init__(self, calls: list[Handle], delay: float, callback: Callable[[], None]) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False
        calls.append(self)

    def cancel(self) -> None:
        self.cancelled = True


class Scheduled:
    """A scheduler that records each call_later and runs it when the test says."""

    def __init__(self) -> None:
        self.calls: list[Handle] = []

    def __call__(self, delay: float, callback: Callable[[], None], /) -> Handle:
        return Handle(self.calls, delay, callback)


class Clock:
    """The feed's monotonic clock, set by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def open_feed(hmi: Harness, clock: Clock | None = None) -> tuple[LiveFeed, Scheduled, list[dict[str, object]]]:
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    scheduled, rendered = Scheduled(), []
    assert hmi.user.client is not None
    with hmi.user.client:
        feed = LiveFeed(
            hmi.rt,
            NAMES,
            lambda states: rendered.append({n: s and s.value for n, s in states.items()}),
            schedule=scheduled,
            monotonic=clock or Clock(),
        )
    return feed, scheduled, rendered


def change(hmi: Harness, name: str, value: float) -> None:
    """A new value of `name` in the tag cache, as the OPC UA source would put it there."""
    state = hmi.rt.cache.get(name)
    assert state is not None
    hmi.rt.cache.update([replace(state, value=value)])


@pytest.mark.req("OPC-013")
async def test_a_change_is_rendered_at_once_and_the_changes_of_a_gap_in_one_flush(hmi: Harness) -> None:
    clock = Clock()
    feed, scheduled, rendered = await open_feed(hmi, clock)
    # The first values at once, when the page is built.
    assert [c.delay for c in scheduled.calls] == [0.0]
    scheduled.calls.pop().callback()
    assert rendered == [{"L1.M1.Temp": 70.0, "L1.M1.Pressure": 4.0}]
    # Nothing changes: nothing is scheduled, no timer polls.
    assert not feed.pending
    assert scheduled.calls == []

    # Changes within the gap after that flush: one flush for all of them, due when the gap ends.
    clock.now += MIN_GAP_S / 4
    change(hmi, "L1.M1.Temp", 71.5)
    change(hmi, "L1.M1.Pressure", 4.5)
    change(hmi, "L1.M1.Temp", 72.5)
    assert len(scheduled.calls) == 1
    assert scheduled.calls[0].delay == pytest.approx(MIN_GAP_S * 3 / 4)
    clock.now += MIN_GAP_S * 3 / 4
    scheduled.calls.pop().callback()
    assert rendered[1:] == [{"L1.M1.Temp": 72.5, "L1.M1.Pressure": 4.5}]
    assert not feed.pending

    # A change after a quiet spell waits for nothing: rendered on the next turn of the loop, with what joins it.
    clock.now += 5.0
    change(hmi, "L1.M1.Temp", 73.0)
    change(hmi, "L1.M1.Pressure", 5.0)
    assert [c.delay for c in scheduled.calls] == [0.0]
    scheduled.calls.pop().callback()
    assert rendered[2:] == [{"L1.M1.Temp": 73.0, "L1.M1.Pressure": 5.0}]

    # A tag the feed does not show schedules nothing.
    change(hmi, "L1.M1.Level", 10.0)
    assert scheduled.calls == []


@pytest.mark.req("OPC-013")
async def test_a_flush_due_for_a_closed_page_is_cancelled_and_does_nothing(hmi: Harness) -> None:
    feed, scheduled, rendered = await open_feed(hmi)
    scheduled.calls.pop().callback()
    listeners = hmi.rt.cache.listener_count
    change(hmi, "L1.M1.Temp", 75.0)
    due = scheduled.calls.pop()
    feed.close()  # what the client's on_delete calls
    assert due.cancelled
    assert hmi.rt.cache.listener_count == listeners - 1
    due.callback()  # had the loop run it anyway: no render, no error
    change(hmi, "L1.M1.Temp", 76.0)
    assert rendered == [{"L1.M1.Temp": 70.0, "L1.M1.Pressure": 4.0}]
    assert scheduled.calls == []
