"""Who is signed in on this browser: kept server-side in NiceGUI's per-user storage, never trusted from the client."""

from __future__ import annotations

from nicegui import app, ui

from hmi.context import ActionContext
from hmi.roles import Role
from hmi.runtime import Runtime
from hmi.signatures import SigningSession
from screens import panel

_KEY = "hmi_session"


def sign_in(ctx: ActionContext) -> None:
    """Remember the signed-in person for this browser session."""
    # A new session: the first electronic signature needs user id and password again (STANDARDS.md 5.5).
    SigningSession(app.storage.user, ctx.username).end()
    app.storage.user[_KEY] = {
        "user_id": ctx.user_id,
        "username": ctx.username,
        "full_name": ctx.full_name,
        "role": ctx.role.value,
        "station": ctx.station,
    }


def sign_out() -> ActionContext | None:
    """Forget the signed-in person; returns who it was."""
    ctx = current()
    app.storage.user.pop(_KEY, None)
    if ctx is not None:
        SigningSession(app.storage.user, ctx.username).end()
    return ctx


def current() -> ActionContext | None:
    """The signed-in person, with a fresh action id for the next action."""
    data = app.storage.user.get(_KEY)
    if not data:
        return None
    return ActionContext(
        user_id=int(data["user_id"]),
        username=str(data["username"]),
        full_name=str(data["full_name"]),
        role=Role(data["role"]),
        station=str(data["station"]),
    )


def require() -> ActionContext | None:
    """The signed-in person, or None after sending the browser to the login page."""
    ctx = current()
    if ctx is None:
        path = ui.context.client.page.path if ui.context.client.page else "/"
        ui.navigate.to(f"/login?next={path}" if path not in ("/", "/login") else "/login")
    return ctx


async def station_for(rt: Runtime) -> str:
    """The station records from this browser carry: its enrolled station (by the panel secret), else its address."""
    # Only the secret counts: a name the browser sends or chose is never trusted (see hmi.stations).
    station = await rt.stations.identify(panel.panel_secret())
    return station.name if station is not None else panel.client_address()
