"""Login and logout. In demo mode the page says so and lists the demo accounts."""

from __future__ import annotations

from nicegui import ui

from hmi.access.kiosk import record_refusal
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import oidc_sign_in, panel, session
from screens.fmt import refusal_text
from screens.frame import PRIMARY
from screens.i18n import _, message
from screens.testid import testid


async def login_page(rt: Runtime, next_path: str | None = None) -> None:
    """The sign-in form, naming the panel's station (enrolled by an administrator) or its network address."""
    ui.page_title(_("Sign in · {name}").format(name=rt.plant.site.name))
    ui.colors(primary=PRIMARY)
    if (await session.resolve_page(rt)).ctx is not None:
        ui.navigate.to(session.safe_next(next_path))
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
        ui.navigate.to(session.safe_next(next_path))

    try:
        station = await session.station_for(rt)
    except DatabaseUnavailable:
        station = panel.client_address()

    with ui.column().classes(session.SIGN_IN_CARD):
        ui.label(rt.plant.site.name).classes("hmi-title")
        ui.label(_("Sign in to the operator HMI")).classes("hmi-muted")
        username = testid(ui.input(_("User name")).props("autofocus autocomplete=username"), "username")
        password = testid(
            ui.input(_("Password"), password=True, password_toggle_button=True).props("autocomplete=current-password"),
            "password",
        )
        password.on("keydown.enter", attempt)
        testid(ui.button(_("Sign in"), on_click=attempt), "sign-in").classes("w-full")
        # Desktop and phone browsers may sign in at the plant's identity provider; panels keep the form above.
        oidc_sign_in.sign_in_button(rt, session.safe_next(next_path))
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
    """End the session (audited; every tab and panel of the person) and go back to the login page; a person who
    signed in at the identity provider goes through its logout first, which ends their session there too."""
    sid = session.session_id()
    ctx = await session.sign_out(rt)
    provider = await oidc_sign_in.logout_target(rt, ctx.source, sid) if ctx is not None else None
    ui.navigate.to(provider or "/login")
