"""The shared page frame: header (plant, user, clock, connection), navigation, alarm and connection banners."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

from hmi.context import ActionContext
from hmi.runtime import Runtime
from screens.fmt import local_time
from screens.widgets import indicator_classes

# ISA-101: commands in neutral dark grey; colour stays reserved for alarms.
PRIMARY = "#3d3d3d"
NAV = (("Overview", "/"), ("Alarms", "/alarms"), ("Trends", "/trends"), ("Shift log", "/notes"))


@contextmanager
def frame(rt: Runtime, ctx: ActionContext, title: str) -> Iterator[None]:
    """Wrap a page's content in the header and banners every screen shares."""
    zone = rt.plant.site.zone
    ui.page_title(f"{title} · {rt.plant.site.name}")
    ui.colors(primary=PRIMARY)
    with ui.header().classes("hmi-header items-center gap-2 px-3 py-1"):
        ui.label(rt.plant.site.name).classes("text-lg font-bold")
        with ui.row().classes("hmi-nav gap-1"):
            for text, href in NAV:
                nav = ui.button(text, on_click=lambda h=href: ui.navigate.to(h)).props("flat no-caps color=white")
                if text == title:
                    nav.classes("bg-[#5a5a5a]").props('aria-current="page"')
        ui.space()
        conn = ui.label("").classes("text-sm").props('data-testid="conn-state"').mark("conn-state")
        clock = ui.label("").classes("text-base font-mono").props('data-testid="clock"').mark("clock")
        ui.label(f"{ctx.full_name or ctx.username} · {ctx.role.value}").classes("text-sm").props(
            'data-testid="user"'
        ).mark("user")
        ui.button("Log out", on_click=lambda: ui.navigate.to("/logout")).props("flat no-caps color=white")

    with ui.column().classes("w-full gap-1 px-3 pt-2"):
        conn_banner = (
            ui.row()
            .classes("hmi-banner-conn w-full items-center px-3 py-2")
            .props('data-testid="conn-banner" role="alert"')
            .mark("conn-banner")
        )
        conn_banner.set_visibility(False)
        with conn_banner:
            conn_text = ui.label("")
        alarm_banner = (
            ui.row()
            .classes("hmi-banner-alarm w-full items-center gap-3 px-3 py-1 no-wrap")
            .props('data-testid="alarm-banner"')
            .mark("alarm-banner")
        )
        # The banner's buttons act on whatever alarm it shows at the moment of the touch.
        target: dict[str, str] = {"id": "", "line": ""}
        with alarm_banner:
            ind = ui.label("").classes("alarm-ind p1")
            banner_text = ui.label("").classes("text-base font-semibold grow")
            banner_time = ui.label("").classes("hmi-muted")
            ui.button("Alarm", on_click=lambda: ui.navigate.to(f"/alarms?focus={target['id']}")).props(
                "outline no-caps"
            )
            open_line = ui.button("Line", on_click=lambda: ui.navigate.to(f"/line/{target['line']}")).props(
                "outline no-caps"
            )
        alarm_banner.set_visibility(False)

    def refresh() -> None:
        now = rt.clock()
        clock.set_text(local_time(now, zone))
        down = rt.board.disconnected()
        conn.set_text("OPC UA: " + ("all connected" if not down else f"{len(down)} endpoint(s) down"))
        conn_banner.set_visibility(bool(down))
        if down:
            conn_text.set_text(
                "  ·  ".join(
                    f"Connection lost: endpoint {s.endpoint} ({s.url}) since {local_time(s.since, zone, date=True)} — "
                    f"its values are STALE. {s.detail}"
                    for s in down
                )
            )
        top = next((a for a in rt.alarms.active() if a.state.unacknowledged), None)
        alarm_banner.set_visibility(top is not None)
        if top is not None:
            ind.set_text(str(top.priority))
            ind.classes(replace=indicator_classes(top.priority, top.state))
            unack = sum(1 for a in rt.alarms.active() if a.state.unacknowledged)
            banner_text.set_text(
                f"P{top.priority} {top.line}: {top.message}"
                + (f"  (+{unack - 1} more unacknowledged)" if unack > 1 else "")
            )
            banner_time.set_text(local_time(top.activated_at, zone))
            target["id"], target["line"] = top.id, top.line
            open_line.set_text(f"Line {top.line}")

    refresh()
    ui.timer(1.0, refresh)
    with ui.column().classes("w-full gap-3 p-3"):
        yield
