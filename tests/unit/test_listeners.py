"""Listeners: the one registry behind every `subscribe` of the core."""

from __future__ import annotations

import pytest

from hmi.listeners import Listeners


def test_every_listener_hears_in_the_order_added() -> None:
    heard: list[tuple[str, int]] = []
    listeners: Listeners[int] = Listeners("test")
    listeners.add(lambda v: heard.append(("a", v)))
    listeners.add(lambda v: heard.append(("b", v)))
    listeners.emit(1)
    assert heard == [("a", 1), ("b", 1)]
    assert len(listeners) == 2


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[int] = []

    def broken(value: int) -> None:
        raise RuntimeError(f"page gone ({value})")

    listeners: Listeners[int] = Listeners("quarantine")
    listeners.add(heard.append)
    listeners.add(broken)
    listeners.add(heard.append)
    listeners.emit(7)
    listeners.emit(8)
    assert heard == [7, 7, 8, 8]
    assert caplog.text.count("quarantine listener failed") == 2
    assert "page gone (7)" in caplog.text


def test_the_remover_removes_only_its_listener_and_is_idempotent() -> None:
    heard: list[str] = []
    listeners: Listeners[str] = Listeners("test")
    remove_first = listeners.add(heard.append)
    # The same callable added twice is two subscriptions; each remover ends its own.
    remove_second = listeners.add(heard.append)
    listeners.emit("both")
    remove_first()
    remove_first()
    listeners.emit("one")
    assert (heard, len(listeners)) == (["both", "both", "one"], 1)
    remove_second()
    remove_second()
    listeners.emit("none")
    assert (heard, len(listeners)) == (["both", "both", "one"], 0)


def test_listeners_added_or_removed_while_emitting_count_from_the_next_value() -> None:
    heard: list[tuple[str, int]] = []
    listeners: Listeners[int] = Listeners("test")

    def first(value: int) -> None:
        heard.append(("first", value))
        if value == 1:
            listeners.add(lambda v: heard.append(("late", v)))
            remove_last()

    listeners.add(first)
    remove_last = listeners.add(lambda v: heard.append(("last", v)))
    listeners.emit(1)
    listeners.emit(2)
    assert heard == [("first", 1), ("last", 1), ("first", 2), ("late", 2)]
