"""Who is signed in on this browser: kept server-side in NiceGUI's per-user storage, never trusted from the client."""

from __future__ import annotations

from nicegui import app, ui

from hmi.context import ActionContext
from hmi.roles import Role
from hmi.runtime import Runtime
from hmi.signatures import SigningSession

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


_STATION = "hmi_station"


def panel_station() -> str:
    """The registered station this browser (a panel) chose, or "" when it has not chosen one."""
    return str(app.storage.user.get(_STATION, ""))


def set_panel_station(name: str) -> None:
    """Remember the station this panel is (validated against the stations table by the caller)."""
    if name:
        app.storage.user[_STATION] = name
    else:
        app.storage.user.pop(_STATION, None)


async def station_for(rt: Runtime) -> str:
    """The station records from this browser carry: its registered station if still active, else its address."""
    chosen = panel_station()
    if chosen and await rt.stations.active(chosen) is not None:
        return chosen
    if chosen:
        # Disabled or unknown since it was chosen: forget it rather than stamp records with a retired name.
        set_panel_station("")
    request = ui.context.client.request
    return f"web:{request.client.host}" if request is not None and request.client is not None else "web"
