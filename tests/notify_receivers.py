"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and an HTTP server (aiohttp) on free
loopback ports, each keeping what it was sent."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from tests.opcua_server import free_port


class _Inbox:
    """aiosmtpd handler: keeps every message it is given (on the server's own thread)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on 127.0.0.1 (no TLS, no authentication) that keeps what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self._inbox = _Inbox()
        self._controller = Controller(self._inbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[Message]:
        """The messages received for `address`, oldest first."""
        return [m for rcpt, m in list(self._inbox.messages) if address in rcpt]

    def clear(self) -> None:
        self._inbox.messages.clear()


@dataclass
class Received:
    """One request the HTTP receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookReceiver:
    """An HTTP server on 127.0.0.1: POST /ok answers 204, POST /fail answers `fail_status` (500) until `healed`,
    POST /slow answers only when `release` is set."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    fail_status: int = 500
    healed: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path, dict(request.headers), await request.read()))
        if request.path == "/slow":
            await self.release.wait()
        if request.path == "/fail" and not self.healed:
            return web.Response(status=self.fail_status, text="receiver down")
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/ok", self._handle)
        app.router.add_post("/fail", self._handle)
        app.router.add_post("/slow", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]
