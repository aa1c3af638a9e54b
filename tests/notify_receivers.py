"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and an HTTP server (aiohttp) on free
loopback ports, each keeping what it was sent."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files in `folder`), the certificate also its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps what it receives: plain, or (with `tls`: certificate and key) one that
    requires STARTTLS and then AUTH with `login` (user, password)."""

    def __init__(self, tls: tuple[Path, Path] | None = None, login: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self._inbox = _Inbox()
        self.logins: list[str] = []
        kwargs: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            kwargs = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        if login is not None:
            kwargs["authenticator"] = self._authenticator(login)
            kwargs["auth_required"] = True
        self._controller = Controller(self._inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticator(self, login: tuple[str, str]) -> Any:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
            if ok:
                self.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        return check

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
