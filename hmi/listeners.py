"""The one listener registry of the core: `add` returns the remover, `emit` tells every listener in turn."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Listeners(Generic[T]):
    """Callables that hear each value `emit` is given, in the order they were added.

    Listeners run synchronously in `emit` (on the event loop), so they must only record or enqueue. One that raises
    is logged as `<what> listener failed` and the others still hear the value: one broken page or consumer must not
    stop the rest, nor the code that emits.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._listeners: dict[int, Callable[[T], object]] = {}
        self._next = 0

    def add(self, listener: Callable[[T], object]) -> Callable[[], None]:
        """Hear every value from now on; returns the remover (calling it more than once does no harm)."""
        self._next += 1
        key = self._next
        self._listeners[key] = listener

        def remove() -> None:
            self._listeners.pop(key, None)

        return remove

    def emit(self, value: T) -> None:
        """Call every listener with `value`; those added or removed meanwhile count from the next value."""
        for listener in list(self._listeners.values()):
            try:
                listener(value)
            except Exception:
                log.exception("%s listener failed: %r", self._what, listener)

    def __len__(self) -> int:
        return len(self._listeners)
