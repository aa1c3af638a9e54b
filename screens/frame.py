"""The shared page frame: header (plant, user, clock, connection), navigation, alarm and connection banners."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission, Role
from hmi.alarms.engine import Alarm
from hmi.runtime import Runtime
from screens.annunciation import AnnunciatorWidget
from screens.fmt import local_time
from screens.idle import IdleGuard
from screens.switch_user import SwitchUserDialog
from screens.testid import testid
from screens.widgets import indicator_classes

# ISA-101: commands in neutral dark grey; colour stays reserved for alarms.
PRIMARY = "#3d3d3d"
NAV = (("Overview", "/"), ("Alarms", "/alarms"), ("Trends", "/trends"), ("OEE", "/oee"), ("Shift log", "/notes"),
       ("Handover", "/handover"), ("Journal", "/journal"), ("KPIs", "/kpi"), ("Audit", "/audit"), ("Users", "/users"))
# Entries only some roles reach; the page itself checks again (and audits a refusal).
NAV_NEEDS = {"/users": Permission.MANAGE_USERS}
# Who is told about records the database refused (set aside in quarantine): the people who can repair them.
QUARANTINE_ROLES = frozenset({Role.ENGINEER, Role.ADMIN})


BANNER_ROWS = 3


class BannerRow:
    """One line of the alarm banner; its buttons act on the alarm it shows at the moment of the touch."""

    def __init__(self) -> None:
        self.alarm_id = ""
        self.line = ""
        with testid(ui.row().classes("hmi-banner-alarm w-full items-center gap-3 px-3 py-1 no-wrap"),
                    "alarm-banner") as self.row:
            self.ind = ui.label("").classes("alarm-ind p1")
            self.text = ui.label("").classes("text-base font-semibold grow hmi-wrap")
            self.time = ui.label("").classes("hmi-muted")
            ui.button("Alarm", on_click=lambda: ui.navigate.to(f"/alarm/{self.alarm_id}")).props("outline no-caps")
            self.open_line = ui.button("Line", on_click=lambda: ui.navigate.to(f"/line/{self.line}")).props(
                "outline no-caps"
            )
        self.row.set_visibility(False)

    def show(self, alarm: Alarm | None, zone: ZoneInfo, more: int = 0) -> None:
        """Show `alarm`, or hide the row."""
        self.row.set_visibility(alarm is not None)
        if alarm is None:
            return
        self.alarm_id, self.line = alarm.id, alarm.line
        self.ind.set_text(str(alarm.priority))
        self.ind.classes(replace=indicator_classes(alarm.priority, alarm.state))
        first = "FIRST-OUT · " if alarm.first_out else ""
        self.text.set_text(f"{first}P{alarm.priority} {alarm.line}: {alarm.message}"
                           + (f"  (+{more} more unacknowledged)" if more else ""))
        self.time.set_text(local_time(alarm.activated_at, zone))
        self.open_line.set_text(f"Line {alarm.line}")


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
                if href in NAV_NEEDS and not ctx.can(NAV_NEEDS[href]):
                    continue
                nav = ui.button(text, on_click=lambda h=href: ui.navigate.to(h)).props("flat no-caps color=white")
                if text == title:
                    nav.classes("bg-[#5a5a5a]").props('aria-current="page"')
        ui.space()
        conn = testid(ui.label("").classes("text-sm"), "conn-state")
        clock = testid(ui.label("").classes("text-base font-mono"), "clock")
        testid(ui.label(f"{ctx.full_name or ctx.username} · {ctx.role.value}").classes("text-sm"), "user")
        annunciator = AnnunciatorWidget(rt.plant.alarm_policy.sound)
        switch = SwitchUserDialog(rt)
        testid(ui.button("Switch user", on_click=switch.open).props("flat no-caps color=white"), "switch-user")
        ui.button("Log out", on_click=lambda: ui.navigate.to("/logout")).props("flat no-caps color=white")
    # Idle lock, logoff and session end (21 CFR 11.10(d)); another person at a locked panel may switch user there.
    IdleGuard(rt, ctx, on_switch_user=switch.open)

    with ui.column().classes("w-full gap-1 px-3 pt-2"):
        conn_banner = testid(ui.row().classes("hmi-banner-conn w-full items-center px-3 py-2").props('role="alert"'),
                             "conn-banner")
        conn_banner.set_visibility(False)
        with conn_banner:
            conn_text = ui.label("")
        # Samples wait on local disk while the database is away; people should know the history has a backlog.
        hist_banner = testid(ui.label("").classes("hmi-banner-conn w-full px-3 py-1").props('role="status"'),
                             "historian-banner")
        hist_banner.set_visibility(False)
        # Alarm transitions not yet in the journal: many waiting, or the database away (nothing is dropped).
        journal_banner = testid(ui.label("").classes("hmi-banner-conn w-full px-3 py-1").props('role="status"'),
                                "journal-banner")
        journal_banner.set_visibility(False)
        quarantine_banner = testid(ui.label("").classes("hmi-banner-conn w-full px-3 py-1").props('role="status"'),
                                   "quarantine-banner")
        quarantine_banner.set_visibility(False)
        # Source times ahead of this HMI's clock: engineers set the clocks, so the endpoint is named for them.
        skew_banner = testid(ui.label("").classes("hmi-banner-conn w-full px-3 py-1").props('role="status"'),
                             "skew-banner")
        skew_banner.set_visibility(False)
        # The highest-priority unacknowledged alarms, one touch to the alarm or its line (STANDARDS.md 4.3).
        banner_rows = [BannerRow() for _ in range(BANNER_ROWS)]

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
        hist = rt.recorder.status
        hist_banner.set_visibility(hist.buffering_since is not None)
        if hist.buffering_since is not None:
            hist_banner.set_text(
                f"Historian: the database is unreachable since {local_time(hist.buffering_since, zone, date=True)}; "
                f"{hist.spooled_batches} batch(es) of samples wait on local disk and are written when it returns.")
        journal = rt.journal.status
        journal_banner.set_visibility(journal.behind)
        if journal.behind:
            why = (f"the database is unavailable since {local_time(journal.unavailable_since, zone, date=True)}"
                   if journal.unavailable_since is not None else "it is catching up")
            on_disk = f", {journal.spilled} of them on local disk" if journal.spilled else ""
            journal_banner.set_text(f"Alarm journal behind: {journal.pending + journal.spilled} transition(s) wait "
                                    f"to be written{on_disk} ({why}). Nothing is dropped.")
        refused = rt.quarantine.count if ctx.role in QUARANTINE_ROLES else 0
        quarantine_banner.set_visibility(refused > 0)
        if refused:
            where = "table quarantined_rows" + (f" and {rt.quarantine.fallback}" if rt.quarantine.fallback else "")
            quarantine_banner.set_text(f"{refused} record(s) the database refused are set aside in quarantine "
                                       f"({where}) with the reason; the rest were written. Repair and re-enter them.")
        skewed = rt.board.skewed() if ctx.role in (Role.ENGINEER, Role.ADMIN) else []
        skew_banner.set_visibility(bool(skewed))
        if skewed:
            skew_banner.set_text("  ·  ".join(
                f"Clock skew: endpoint {s.endpoint} ({s.url}) stamps values {s.clock_skew_s:g} s ahead of this HMI's "
                "clock; they are marked CLOCK SKEW. Set the PLC's or server's clock (NTP)." for s in skewed))
        active = rt.alarms.active()
        unack = [a for a in active if a.state.unacknowledged]
        for i, row in enumerate(banner_rows):
            more = len(unack) - BANNER_ROWS if i == BANNER_ROWS - 1 and len(unack) > BANNER_ROWS else 0
            row.show(unack[i] if i < len(unack) else None, zone, more)
        annunciator.update(active)

    refresh()
    ui.timer(1.0, refresh)
    with ui.column().classes("w-full gap-3 p-3"):
        yield
