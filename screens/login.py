"""Login and logout. In demo mode the page says so and lists the demo accounts."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from nicegui import ui

from hmi.access.kiosk import record_refusal
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import panel, session
from screens.fmt import refusal_text
from screens.frame import PRIMARY
from screens.i18n import _, message
from screens.testid import testid

# What a local path may hold, before any decoding: RFC 3986 §3.3 path characters plus query, nothing else.
# No space, control character or backslash: browsers strip or rewrite those (WHATWG URL §4.4) and
# `/\t/evil.example` or `/\\evil.example` become `//evil.example`, another site.
_LOCAL_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$")
MAX_NEXT_LENGTH = 2000


def safe_next(target: str | None) -> str:
    """`target` if it is a path of this application, else "/": the login never redirects to another site."""
    if not target or len(target) > MAX_NEXT_LENGTH or not _LOCAL_PATH.match(target):
        return "/"
    # Every decoding must still be a local path: `/%2F%2Fevil` or `/%252F%252Fevil` is `//evil` to a lenient
    # proxy or browser that decodes once or twice more.
    form = target
    for _attempt in range(4):
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in form):
            return "/"
        parts = urlsplit(form)
        if parts.scheme or parts.netloc or not form.startswith("/") or form.startswith("//"):
            return "/"
        decoded = unquote(form)
        if decoded == form:
            break
        form = decoded
    else:
        return "/"  # still encoded after four rounds: nobody types that by accident
    # Back to the login page after signing in would only loop.
    return "/" if urlsplit(form).path.rstrip("/") in ("/login", "/logout") else target


async def login_page(rt: Runtime, next_path: str | None = None) -> None:
    """The sign-in form, naming the panel's station (enrolled by an administrator) or its network address."""
    ui.page_title(_("Sign in · {name}").format(name=rt.plant.site.name))
    ui.colors(primary=PRIMARY)
    if (await session.resolve_page(rt)).ctx is not None:
        ui.navigate.to(safe_next(next_path))
        return

    async def attempt() -> None:
        error.set_text("")
        if not username.value or not password.value:
            error.set_text(_("Enter your user name and password."))
            return
        try:
            station = await session.station_for(rt)
            if await rt.stations.is_kiosk(station):
                # The page was open before the station became a kiosk: nobody signs in at a wall screen.
                await record_refusal(rt.audit, station, "sign-in", "user")
                error.set_text(_("Nobody signs in here: this station is a view-only wall screen (kiosk)."))
                return
            result = await rt.users.sign_in(
                username.value.strip(), password.value, station=station, address=panel.client_address()
            )
        except DatabaseUnavailable as exc:
            error.set_text(_("Cannot sign in: {exc}").format(exc=message(exc)))
            return
        if result.ctx is None:
            password.set_value("")
            error.set_text(refusal_text(result))
            return
        try:
            # A new session id at every sign-in: an id planted in this browser before is worthless.
            await session.sign_in(rt, result.ctx)
        except DatabaseUnavailable as exc:
            error.set_text(_("Cannot sign in: {exc}").format(exc=message(exc)))
            return
        ui.navigate.to(safe_next(next_path))

    try:
        station = await session.station_for(rt)
    except DatabaseUnavailable:
        station = panel.client_address()

    with ui.column().classes("absolute-center items-stretch gap-3 hmi-panel p-6 w-[26rem]"):
        ui.label(rt.plant.site.name).classes("hmi-title")
        ui.label(_("Sign in to the operator HMI")).classes("hmi-muted")
        username = testid(ui.input(_("User name")).props("autofocus autocomplete=username"), "username")
        password = testid(
            ui.input(_("Password"), password=True, password_toggle_button=True).props("autocomplete=current-password"),
            "password",
        )
        password.on("keydown.enter", attempt)
        testid(ui.button(_("Sign in"), on_click=attempt), "sign-in").classes("w-full")
        # Shown, never chosen: only an administrator's enrolment on this panel makes it a station.
        text = (
            _("This panel is station {station}.").format(station=station)
            if not panel.is_address(station)
            else _("This panel is not enrolled as a station: records name its address ({station}).").format(
                station=station
            )
        )
        testid(ui.label(text).classes("hmi-muted"), "station-label")
        error = testid(ui.label("").classes("text-base font-semibold").props('role="alert"'), "login-error")
        if rt.demo is not None:
            with testid(ui.column().classes("gap-0 pt-2"), "demo-notice"):
                ui.label(_("DEMO MODE: simulated plant, demo accounts. Do not use in production.")).classes("font-bold")
                for name, role in rt.demo.users:
                    ui.label(
                        _("{name} ({value}) — password: {password_hint}").format(
                            name=name, value=role.value, password_hint=rt.demo.password_hint
                        )
                    ).classes("font-mono text-sm")


async def logout(rt: Runtime) -> None:
    """End the session (audited; every tab and panel of the person) and go back to the login page."""
    await session.sign_out(rt)
    ui.navigate.to("/login")
