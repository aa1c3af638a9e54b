"""Login and logout. In demo mode the page says so and lists the demo accounts."""

from __future__ import annotations

from nicegui import ui

from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import session
from screens.frame import PRIMARY


def _safe_next(target: str | None) -> str:
    # Only local paths: an attacker-supplied absolute URL must not turn the login into an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def login_page(rt: Runtime, next_path: str | None = None) -> None:
    """The sign-in form, with the panel's station (chosen once from the registered stations)."""
    ui.page_title(f"Sign in · {rt.plant.site.name}")
    ui.colors(primary=PRIMARY)
    if (await session.resolve_page(rt)).ctx is not None:
        ui.navigate.to(_safe_next(next_path))
        return

    async def attempt() -> None:
        error.set_text("")
        if not username.value or not password.value:
            error.set_text("Enter your user name and password.")
            return
        try:
            station = await session.station_for(rt)
            result = await rt.users.sign_in(username.value.strip(), password.value, station=station)
        except DatabaseUnavailable as exc:
            error.set_text(f"Cannot sign in: {exc}")
            return
        if result.ctx is None:
            password.set_value("")
            error.set_text("This account is locked after too many failed sign-ins; ask an administrator to unlock it."
                           if result.locked else "Wrong user name or password, or the account is disabled.")
            return
        try:
            # A new session id at every sign-in: an id planted in this browser before is worthless.
            await session.sign_in(rt, result.ctx)
        except DatabaseUnavailable as exc:
            error.set_text(f"Cannot sign in: {exc}")
            return
        ui.navigate.to(_safe_next(next_path))

    async def choose_station(name: str | None) -> None:
        if name and await rt.stations.active(name) is not None:
            session.set_panel_station(name)
            station_label.set_text(f"This panel is station {name}.")
            station_pick.set_visibility(False)

    try:
        stations = [s.name for s in await rt.stations.list(include_disabled=False)]
    except DatabaseUnavailable:
        stations = []

    with ui.column().classes("absolute-center items-stretch gap-3 hmi-panel p-6 w-[26rem]"):
        ui.label(rt.plant.site.name).classes("hmi-title")
        ui.label("Sign in to the operator HMI").classes("hmi-muted")
        username = (
            ui.input("User name").props('autofocus autocomplete=username data-testid="username"').mark("username")
        )
        password = (
            ui.input("Password", password=True, password_toggle_button=True)
            .props('autocomplete=current-password data-testid="password"')
            .mark("password")
        )
        password.on("keydown.enter", attempt)
        ui.button("Sign in", on_click=attempt).props('data-testid="sign-in"').mark("sign-in").classes("w-full")
        current_station = session.panel_station()
        station_label = ui.label(f"This panel is station {current_station}." if current_station in stations
                                 else "").classes("hmi-muted").mark("station-label")
        # Chosen once per panel; afterwards only shown. Registered stations only, so records name a known place.
        station_pick = ui.select(stations, label="This panel is station …",
                                 on_change=lambda e: choose_station(e.value)).mark("station-pick").classes("w-full")
        station_pick.set_visibility(bool(stations) and current_station not in stations)
        error = (
            ui.label("")
            .classes("text-base font-semibold")
            .props('role="alert" data-testid="login-error"')
            .mark("login-error")
        )
        if rt.demo is not None:
            with ui.column().classes("gap-0 pt-2").props('data-testid="demo-notice"').mark("demo-notice"):
                ui.label("DEMO MODE: simulated plant, demo accounts. Do not use in production.").classes("font-bold")
                for name, role in rt.demo.users:
                    ui.label(f"{name} ({role.value}) — password: {rt.demo.password_hint}").classes("font-mono text-sm")


async def logout(rt: Runtime) -> None:
    """End the session (audited; every tab and panel of the person) and go back to the login page."""
    await session.sign_out(rt)
    ui.navigate.to("/login")
