"""The push path of a page (screens.widgets.LiveFeed) on a real runtime and a simulated browser user: a change is
rendered on the next turn of the event loop after it reaches the tag cache (not at a timer tick) unless the page was
sent something less than a gap ago, and the changes of a gap make one flush.

The feed's scheduler and clock are the test's (the injected clock of the push path): the test sees what is scheduled
and with which delay, and runs it itself, so nothing here waits for time to pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from nicegui import Client, core
from nicegui.nicegui import _on_handshake

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


def feeds(hmi: Harness) -> int:
    """How many live feeds the tag cache serves."""
    return hmi.rt.cache.listener_owners().get("LiveFeed._mark", 0)


@pytest.mark.req("OPC-013")
async def test_a_page_whose_socket_closed_while_connecting_is_let_go_with_its_feed(hmi: Harness) -> None:
    # The connect race of an overloaded server (screens/sockets.py, found by bench/soak.py): NiceGUI registers the
    # socket in python-socketio's connect handler, engine.io closes it in the CONNECT reply's ping-timeout check, and
    # python-socketio reports no disconnect because the connection was still pending. Built here from its parts: a
    # line page requested as a browser would, NiceGUI's own handshake for a socket whose engine.io session is gone,
    # then python-socketio marking that connection connected as it does after the handler.
    await hmi.login("olga")
    before = feeds(hmi)
    known = set(Client.instances)
    response = await hmi.user.http_client.get("/line/L1")
    assert response.status_code == 200
    (client,) = (c for cid, c in Client.instances.items() if cid not in known)
    assert feeds(hmi) == before + 1
    sid = await core.sio.manager.pre_connect("engine-io-session-gone", "/")
    ok = await _on_handshake(sid, {"client_id": client.id, "tab_id": "tab-1", "document_id": "doc-1"})
    assert ok
    await core.sio.manager.connect(sid, "/")
    assert client.has_socket_connection  # what NiceGUI believes: it neither prunes nor deletes this client

    # The browser is long gone: the page is deleted after the sweep and the reconnect timeout, its feed with it.
    await hmi.until(lambda: client.is_deleted, timeout=30, what="the page of the dead socket to be deleted")
    assert feeds(hmi) == before
