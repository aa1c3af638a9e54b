"""This panel's station secret: handed over once after enrolment and kept in a long-lived HttpOnly cookie.

A NiceGUI click handler cannot set a cookie (the page's HTTP response is long gone), so the enrol button leaves
the secret here under a one-time token and sends the browser to `/panel/enrolled?token=...`; that plain HTTP
response sets the cookie and redirects back. The token works once and for a minute only. The cookie is separate
from the session cookie so it outlives sign-out, session rotation and the session's lifetime.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from fastapi import Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from nicegui import app, ui

from hmi.runtime import Runtime

PANEL_COOKIE = "hmi_panel"
# A panel is enrolled for years, not for a session; revocation, not expiry, ends it. Browsers cap a cookie's
# lifetime at 400 days (RFC 6265bis §5.5), so every page the panel loads sets it again for another 400 days.
PANEL_COOKIE_MAX_AGE_S = 400 * 24 * 3600
HANDOVER_PATH = "/panel/enrolled"
HANDOVER_TTL = timedelta(minutes=1)


# Secrets waiting for their panel to collect them, by one-time token (random, so one table serves every runtime).
_PENDING: dict[str, tuple[str, datetime]] = {}


def hand_over(rt: Runtime, secret: str) -> None:
    """Send this browser to collect `secret` into its panel cookie (the caller has just enrolled the panel)."""
    now = rt.clock()
    for token, (_, at) in list(_PENDING.items()):
        if now - at > HANDOVER_TTL:
            del _PENDING[token]
    token = secrets.token_urlsafe(24)
    _PENDING[token] = (secret, now)
    ui.navigate.to(f"{HANDOVER_PATH}?token={token}")


def panel_secret() -> str:
    """The station secret this browser presented with its page request, or ""."""
    request = ui.context.client.request
    return request.cookies.get(PANEL_COOKIE, "") if request is not None else ""


def client_address() -> str:
    """`web:<address>` of this browser (as the server saw it), or "web" when unknown."""
    request = ui.context.client.request
    return f"web:{request.client.host}" if request is not None and request.client is not None else "web"


def is_address(station: str) -> bool:
    """True when `station` is a browser's address (`web:...`), not an enrolled station."""
    return station == "web" or station.startswith("web:")


def _set_cookie(response: Response, secret: str, request: Request) -> None:
    response.set_cookie(
        PANEL_COOKIE,
        secret,
        max_age=PANEL_COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def setup(rt: Runtime) -> None:
    """Register the hand-over route for `rt`'s pages, and the refresh of the panel cookie on every page."""

    @app.middleware("http")
    async def _refresh(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        secret = request.cookies.get(PANEL_COOKIE, "")
        # Pages only (not the hand-over, which sets a new secret); a worthless secret stays worthless.
        if secret and response.headers.get("X-Nicegui-Content") == "page":
            _set_cookie(response, secret, request)
        return response

    @app.get(HANDOVER_PATH, include_in_schema=False)
    async def _collect(request: Request, token: str = "") -> Response:
        entry = _PENDING.pop(token, None)
        if entry is None or rt.clock() - entry[1] > HANDOVER_TTL:
            return PlainTextResponse(
                "This enrolment link was used already or has expired: enrol the panel again under Users → Stations.",
                status_code=410,
            )
        response = RedirectResponse("/users", status_code=303)
        _set_cookie(response, entry[0], request)
        return response
