"""Registers every page on NiceGUI for one Runtime and ties the runtime's start and stop to the app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from nicegui import app, ui

from hmi import assets
from hmi.access.context import ActionContext
from hmi.runtime import Runtime
from screens import panel, session
from screens.alarm_detail import alarm_detail_page
from screens.alarms import alarms_page
from screens.audit import audit_page
from screens.handover import handover_page
from screens.idle import lock_screen
from screens.journal import journal_page
from screens.kpi import kpi_page
from screens.line import line_page
from screens.login import login_page, logout
from screens.notes import notes_page
from screens.oee import oee_page
from screens.overview import overview_page
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
    panel.setup(rt)

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

    async def ready() -> bool:
        if await rt.wait_ready():
            return True
        ui.label("The HMI is not running: " + (rt.start_error or "it is still starting; reload in a moment.")
                 ).classes("hmi-title p-6").props('role="alert"')
        return False

    async def signed_in() -> ActionContext | None:
        """The person of this browser's live session, checked before anything of the page is built."""
        if not await ready():
            return None
        check = await session.resolve_page(rt)
        if check.ctx is None:
            ui.navigate.to(session.login_target())
            return None
        if check.locked or session.idle_locked(rt):
            # The stale page is never built behind the lock: only the lock screen, until the person unlocks.
            lock_screen(rt, check.ctx)
            return None
        return check.ctx

    @ui.page("/login")
    async def _login(next: str | None = None) -> None:
        if await ready():
            await login_page(rt, next)

    @ui.page("/logout")
    async def _logout() -> None:
        if await ready():
            await logout(rt)

    @ui.page("/")
    async def _overview() -> None:
        if (ctx := await signed_in()) is not None:
            overview_page(rt, ctx)

    @ui.page("/line/{name}")
    async def _line(name: str) -> None:
        if (ctx := await signed_in()) is not None:
            line_page(rt, ctx, name)

    @ui.page("/alarms")
    async def _alarms(focus: str | None = None, tab: str | None = None) -> None:
        if (ctx := await signed_in()) is not None:
            alarms_page(rt, ctx, focus, tab)

    @ui.page("/alarm/{alarm_id}")
    async def _alarm(alarm_id: str) -> None:
        if (ctx := await signed_in()) is not None:
            alarm_detail_page(rt, ctx, alarm_id)

    @ui.page("/trends")
    async def _trends(tags: str | None = None) -> None:
        if (ctx := await signed_in()) is not None:
            trends_page(rt, ctx, tags)

    @ui.page("/oee")
    async def _oee() -> None:
        if (ctx := await signed_in()) is not None:
            oee_page(rt, ctx)

    @ui.page("/notes")
    async def _notes() -> None:
        if (ctx := await signed_in()) is not None:
            notes_page(rt, ctx)

    @ui.page("/handover")
    async def _handover() -> None:
        if (ctx := await signed_in()) is not None:
            handover_page(rt, ctx)

    @ui.page("/journal")
    async def _journal() -> None:
        if (ctx := await signed_in()) is not None:
            journal_page(rt, ctx)

    @ui.page("/users")
    async def _users() -> None:
        if (ctx := await signed_in()) is not None:
            await users_page(rt, ctx)

    @ui.page("/kpi")
    async def _kpi() -> None:
        if (ctx := await signed_in()) is not None:
            kpi_page(rt, ctx)

    @ui.page("/audit")
    async def _audit() -> None:
        if (ctx := await signed_in()) is not None:
            audit_page(rt, ctx)
