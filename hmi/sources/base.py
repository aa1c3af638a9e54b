"""What every source shares: the Source protocol and the board of endpoint connection states."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hmi.listeners import Listeners


@dataclass(frozen=True, slots=True)
class EndpointStatus:
    """Connection state of one endpoint, shown in every screen's header and banner."""

    endpoint: str
    url: str
    connected: bool
    since: datetime
    detail: str = ""
    clock_skew_s: float = 0.0
    """Seconds the endpoint's source times were ahead of the HMI's clock beyond tolerance when last seen, else 0."""


class Source(Protocol):
    """A data source: started and stopped by the runtime, feeds the tag cache, reports to the StatusBoard."""

    name: str

    async def start(self) -> None:
        """Begin connecting in the background; never raises for an unreachable server."""

    async def stop(self) -> None:
        """End every task and subscription of the source."""


StatusListener = Callable[[EndpointStatus], None]


class StatusBoard:
    """Latest connection state per endpoint, with listeners (banner, header)."""

    def __init__(self) -> None:
        self._statuses: dict[str, EndpointStatus] = {}
        self._listeners: Listeners[EndpointStatus] = Listeners("status")

    def set(self, status: EndpointStatus) -> None:
        """Record a new state; listeners hear only real changes of connectedness or detail."""
        old = self._statuses.get(status.endpoint)
        if old == status:
            return
        self._statuses[status.endpoint] = status
        self._listeners.emit(status)

    def remove(self, endpoint: str) -> None:
        """Forget an endpoint a plant reload removed, so no banner names it any more."""
        self._statuses.pop(endpoint, None)

    def get(self, endpoint: str) -> EndpointStatus | None:
        """The state of one endpoint."""
        return self._statuses.get(endpoint)

    def all(self) -> list[EndpointStatus]:
        """Every endpoint's state."""
        return list(self._statuses.values())

    def disconnected(self) -> list[EndpointStatus]:
        """Endpoints that are down now."""
        return [s for s in self._statuses.values() if not s.connected]

    def skewed(self) -> list[EndpointStatus]:
        """Endpoints whose source times run ahead of the HMI's clock beyond their tolerance."""
        return [s for s in self._statuses.values() if s.clock_skew_s > 0]

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Hear every change; returns the unsubscribe function."""
        return self._listeners.add(listener)
