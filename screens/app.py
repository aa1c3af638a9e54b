"""Registers every page on NiceGUI for one Runtime and ties the runtime's start and stop to the app's lifespan."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from nicegui import app, ui

from hmi import assets
from hmi.access.context import ActionContext
from hmi.access.oidc_settings import BACKCHANNEL_LOGOUT_PATH, CALLBACK_PATH, SIGNED_OUT_PATH
from hmi.api import build_api
from hmi.api.app import MOUNT
from hmi.runtime import Runtime
from screens import appearance, i18n, oidc_sign_in, panel, session, sockets
from screens.alarm_detail import alarm_detail_page
from screens.alarms import alarms_page
from screens.audit import audit_page
from screens.display import display_page, displays_page
from screens.faceplate import tag_page, unit_page
from screens.handover import handover_page
from screens.i18n import _
from screens.idle import lock_screen
from screens.journal import journal_page
from screens.kiosk import kiosk_page, kiosk_station, refuse_page
from screens.kpi import kpi_page
from screens.line import line_page
from screens.login import login_page, logout
from screens.notes import notes_page
from screens.notifications import notifications_page
from screens.oee import oee_page
from screens.overview import overview_page
from screens.recipes import recipe_page, recipes_page
from screens.trends import trends_page
from screens.users import users_page

log = logging.getLogger(__name__)


def setup(
    rt: Runtime,
    *,
    before_start: Callable[[], Awaitable[None]] | None = None,
    after_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Define the pages for `rt`; the runtime starts with the app and stops with it."""
    ui.add_css(assets.read_text(assets.STYLE_SHEET), shared=True)
    i18n.use_plant_translations(lambda: rt.plant.translations)
    # Names for the tick boxes Quasar leaves unnamed (screen readers, axe); see the file for how.
    ui.add_body_html(f"<script>{assets.read_text(assets.A11Y_SCRIPT)}</script>", shared=True)
    panel.setup(rt)
    # Pages whose socket closed while connecting are let go, with their live feeds (screens/sockets.py).
    sockets.watch()
    # The REST API for MES and ERP systems (docs/api.md): the same runtime, services and audit trail.
    app.mount(MOUNT, build_api(rt))

    async def startup() -> None:
        # NiceGUI runs startup handlers as background tasks; pages wait for `rt.wait_ready()`.
        try:
            if before_start is not None:
                await before_start()
            await rt.start()
        except Exception as exc:
            rt.start_error = rt.start_error or str(exc)
            log.exception("the HMI runtime could not start")

    async def shutdown() -> None:
        await rt.stop()
        if after_stop is not None:
            await after_stop()

    app.on_startup(startup)
    app.on_shutdown(shutdown)
    _pages(rt)


async def ready(rt: Runtime) -> bool:
    """True when the runtime runs; otherwise the page says why it cannot be shown."""
    if await rt.wait_ready():
        return True
    ui.label(_("The HMI is not running: ") + (rt.start_error or "it is still starting; reload in a moment.")).classes(
        "hmi-title p-6"
    ).props('role="alert"')
    return False


async def show(rt: Runtime, build: Callable[[ActionContext], object]) -> None:
    """Every screen: built for the person of this browser's live session, checked before anything of it is built;
    the login page instead when nobody is signed in, the lock screen alone while the session is locked.
    A screen only some roles may see checks that first (screens.restricted)."""
    if not await ready(rt):
        return
    if await refused_at_kiosk(rt):
        return
    check = await session.resolve_page(rt)
    if check.ctx is None:
        ui.navigate.to(session.login_target())
        return
    await appearance.apply(rt, check.ctx)
    if check.locked or session.idle_locked(rt):
        # The stale page is never built behind the lock: only the lock screen, until the person unlocks.
        lock_screen(rt, check.ctx)
        return
    built = build(check.ctx)
    if inspect.isawaitable(built):
        await built


async def refused_at_kiosk(rt: Runtime) -> bool:
    """True (and the refusal shown and audited) when this browser is a kiosk station: a wall screen opens only
    /kiosk, never a page where people sign in or act (screens.kiosk)."""
    station = await kiosk_station(rt)
    if station is None:
        return False
    await refuse_page(rt, station.name, session.here())
    return True


# How long a page may take to build (its session check and first database reads) before NiceGUI gives up and shows
# an error page instead (NiceGUI's default is 3 s). On a panel server busy with a flood or a report, a screen that
# comes a few seconds late is what an operator needs, not "the page took too long" in place of the line.
PAGE_BUILD_S = 20.0


def page(path: str) -> ui.page:
    """A screen's address, with the build time above."""
    return ui.page(path, response_timeout=PAGE_BUILD_S)


def _pages(rt: Runtime) -> None:
    """The addresses of the screens."""

    @page("/login")
    async def _login(next: str | None = None) -> None:
        if await ready(rt) and not await refused_at_kiosk(rt):
            # Before anyone signs in, the panel shows its station's theme (a dark control room stays dark).
            await appearance.apply(rt, None)
            await login_page(rt, next)

    @page("/logout")
    async def _logout() -> None:
        if await ready(rt):
            await logout(rt)

    @page(oidc_sign_in.START_PATH)
    async def _oidc_start(next: str | None = None, fresh: int = 0) -> Response | None:
        if await ready(rt) and not await refused_at_kiosk(rt):
            return await oidc_sign_in.start(rt, next, fresh=fresh == 1)
        return None

    @page(CALLBACK_PATH)
    async def _oidc_callback(request: Request) -> Response | None:
        if await ready(rt) and not await refused_at_kiosk(rt):
            return await oidc_sign_in.callback(rt, request)
        return None

    @app.post(BACKCHANNEL_LOGOUT_PATH, include_in_schema=False)
    async def _oidc_backchannel_logout(request: Request) -> Response:
        # Called by the identity provider, not a browser: no page, no cookie; the signed logout token decides.
        return await oidc_sign_in.backchannel_logout(rt, request)

    @page(SIGNED_OUT_PATH)
    async def _oidc_signed_out() -> Response:
        # The provider's logout is done; the HMI session ended before the browser went there.
        return RedirectResponse("/login", status_code=303)

    @page("/")
    async def _overview() -> None:
        await show(rt, lambda ctx: overview_page(rt, ctx))

    @page("/kiosk")
    async def _kiosk() -> None:
        # No sign-in: a kiosk station is proven by its panel secret (screens.kiosk).
        if await ready(rt):
            # A wall screen in a dark control room takes its station's theme and language like any panel.
            await appearance.apply(rt, None)
            await kiosk_page(rt)

    @page("/line/{name}")
    async def _line(name: str, faceplate: str | None = None) -> None:
        await show(rt, lambda ctx: line_page(rt, ctx, name, faceplate))

    @page("/displays")
    async def _displays() -> None:
        await show(rt, lambda ctx: displays_page(rt, ctx))

    @page("/display/{name}")
    async def _display(name: str) -> None:
        await show(rt, lambda ctx: display_page(rt, ctx, name))

    @page("/faceplate/tag/{name}")
    async def _faceplate_tag(name: str) -> None:
        await show(rt, lambda ctx: tag_page(rt, ctx, name))

    @page("/faceplate/machine/{line}/{machine}")
    async def _faceplate_machine(line: str, machine: str) -> None:
        await show(rt, lambda ctx: unit_page(rt, ctx, line, machine))

    @page("/faceplate/line/{line}")
    async def _faceplate_line(line: str) -> None:
        await show(rt, lambda ctx: unit_page(rt, ctx, line))

    @page("/alarms")
    async def _alarms(focus: str | None = None, tab: str | None = None) -> None:
        await show(rt, lambda ctx: alarms_page(rt, ctx, focus, tab))

    @page("/alarm/{alarm_id}")
    async def _alarm(alarm_id: str) -> None:
        await show(rt, lambda ctx: alarm_detail_page(rt, ctx, alarm_id))

    @page("/trends")
    async def _trends(tags: str | None = None) -> None:
        await show(rt, lambda ctx: trends_page(rt, ctx, tags))

    @page("/oee")
    async def _oee() -> None:
        await show(rt, lambda ctx: oee_page(rt, ctx))

    @page("/notes")
    async def _notes() -> None:
        await show(rt, lambda ctx: notes_page(rt, ctx))

    @page("/handover")
    async def _handover() -> None:
        await show(rt, lambda ctx: handover_page(rt, ctx))

    @page("/recipes")
    async def _recipes() -> None:
        await show(rt, lambda ctx: recipes_page(rt, ctx))

    @page("/recipes/{name}")
    async def _recipe(name: str) -> None:
        await show(rt, lambda ctx: recipe_page(rt, ctx, name))

    @page("/journal")
    async def _journal() -> None:
        await show(rt, lambda ctx: journal_page(rt, ctx))

    @page("/users")
    async def _users() -> None:
        await show(rt, lambda ctx: users_page(rt, ctx))

    @page("/kpi")
    async def _kpi() -> None:
        await show(rt, lambda ctx: kpi_page(rt, ctx))

    @page("/audit")
    async def _audit() -> None:
        await show(rt, lambda ctx: audit_page(rt, ctx))

    @page("/notifications")
    async def _notifications() -> None:
        await show(rt, lambda ctx: notifications_page(rt, ctx))

    @page("/preferences")
    async def _preferences() -> None:
        await show(rt, lambda ctx: appearance.preferences_page(rt, ctx))
