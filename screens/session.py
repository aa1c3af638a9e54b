"""Who is signed in on this browser: kept server-side in NiceGUI's per-user storage, never trusted from the client."""

from __future__ import annotations

from nicegui import app, ui

from hmi.context import ActionContext
from hmi.roles import Role

_KEY = "hmi_session"


def sign_in(ctx: ActionContext) -> None:
    """Remember the signed-in person for this browser session."""
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
