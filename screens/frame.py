"""The shared page frame: header (plant, user, clock, connection), navigation, alarm and connection banners."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission, Role
from hmi.alarms.engine import Alarm
from hmi.control.recipes import VIEW_PERMISSIONS
from hmi.runtime import Runtime
from hmi.sources.base import EndpointStatus
from screens.annunciation import AnnunciatorWidget
from screens.fmt import local_time
from screens.idle import IdleGuard
from screens.plant_change import watch_plant
from screens.switch_user import SwitchUserDialog
from screens.testid import testid
from screens.widgets import indicator_classes

# ISA-101: commands in neutral dark grey; colour stays reserved for alarms.
PRIMARY = "#3d3d3d"
NAV = (
    ("Overview", "/"),
    ("Displays", "/displays"),
    ("Alarms", "/alarms"),
    ("Trends", "/trends"),
    ("OEE", "/oee"),
    ("Shift log", "/notes"),
    ("Handover", "/handover"),
    ("Recipes", "/recipes"),
    ("Journal", "/journal"),
    ("KPIs", "/kpi"),
    ("Audit", "/audit"),
    ("Users", "/users"),
)
# Entries only some roles reach (any one of the permissions); the page itself checks again (and audits a refusal).
NAV_NEEDS: dict[str, tuple[Permission, ...]] = {
    "/users": (Permission.MANAGE_USERS,),
    "/recipes": VIEW_PERMISSIONS,
}
# Who is told about records the database refused (set aside in quarantine): the people who can repair them.
QUARANTINE_ROLES = frozenset({Role.ENGINEER, Role.ADMIN})


BANNER_ROWS = 3


class BannerRow:
    """One line of the alarm banner; its buttons act on the alarm it shows at the moment of the touch."""

    def __init__(self) -> None:
        self.alarm_id = ""
        self.line = ""
        with testid(
            ui.row().classes("hmi-banner-alarm w-full items-center gap-3 px-3 py-1 no-wrap"), "alarm-banner"
        ) as self.row:
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
        self.text.set_text(
            f"{first}P{alarm.priority} {alarm.line}: {alarm.message}"
            + (f"  (+{more} more unacknowledged)" if more else "")
        )
        self.time.set_text(local_time(alarm.activated_at, zone))
        self.open_line.set_text(f"Line {alarm.line}")


@contextmanager
def frame(rt: Runtime, ctx: ActionContext, title: str) -> Iterator[None]:
    """Wrap a page's content in the header and banners every screen shares."""
    ui.page_title(f"{title} · {rt.plant.site.name}")
    ui.colors(primary=PRIMARY)
    header = Header(rt, ctx, title)
    # Idle lock, logoff and session end (21 CFR 11.10(d)); another person at a locked panel may switch user there.
    IdleGuard(rt, ctx, on_switch_user=header.switch.open)
    banners = Banners(rt, ctx)
    watch_plant(rt, ctx)  # a changed plant configuration (hmi reload): notice, reload, refusals for engineers

    def refresh() -> None:
        down, active = rt.board.disconnected(), rt.alarms.active()
        header.refresh(down, active)
        banners.refresh(down, active)

    refresh()
    ui.timer(1.0, refresh)
    with ui.column().classes("w-full gap-3 p-3"):
        yield


class Header:
    """Plant, navigation, connection state, clock, the person, alarm sound, switch user and log out."""

    def __init__(self, rt: Runtime, ctx: ActionContext, title: str) -> None:
        self.rt = rt
        with ui.header().classes("hmi-header items-center gap-2 px-3 py-1"):
            ui.label(rt.plant.site.name).classes("text-lg font-bold")
            with ui.row().classes("hmi-nav gap-1"):
                for text, href in NAV:
                    if href in NAV_NEEDS and not any(ctx.can(p) for p in NAV_NEEDS[href]):
                        continue
                    nav = ui.button(text, on_click=lambda h=href: ui.navigate.to(h)).props("flat no-caps color=white")
                    if text == title:
                        nav.classes("bg-[#5a5a5a]").props('aria-current="page"')
            ui.space()
            self.conn = testid(ui.label("").classes("text-sm"), "conn-state")
            self.clock = testid(ui.label("").classes("text-base font-mono"), "clock")
            testid(ui.label(f"{ctx.full_name or ctx.username} · {ctx.role.value}").classes("text-sm"), "user")
            self.annunciator = AnnunciatorWidget(rt.plant.alarm_policy.sound)
            self.switch = SwitchUserDialog(rt)
            testid(ui.button("Switch user", on_click=self.switch.open).props("flat no-caps color=white"), "switch-user")
            ui.button("Log out", on_click=lambda: ui.navigate.to("/logout")).props("flat no-caps color=white")

    def refresh(self, down: Sequence[EndpointStatus], active: list[Alarm]) -> None:
        """Clock, connection state (`down`: the endpoints not connected), the sound of the `active` alarms."""
        self.clock.set_text(local_time(self.rt.clock(), self.rt.plant.site.zone))
        self.conn.set_text("OPC UA: " + ("all connected" if not down else f"{len(down)} endpoint(s) down"))
        self.annunciator.update(active)


def _status_banner(name: str) -> ui.label:
    banner = testid(ui.label("").classes("hmi-banner-conn w-full px-3 py-1").props('role="status"'), name)
    banner.set_visibility(False)
    return banner


def _say(banner: ui.label, text: str) -> None:
    """Show `banner` with `text`, or hide it when there is nothing to say."""
    banner.set_visibility(bool(text))
    if text:
        banner.set_text(text)


class Banners:
    """What people must know at once: lost connections, a historian or journal behind, records set aside in
    quarantine, clock skew, and the highest-priority unacknowledged alarms."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.zone = rt.plant.site.zone
        # Engineers and administrators repair records and set clocks: the banners about those are theirs.
        self.repairs = ctx.role in QUARANTINE_ROLES
        self.sets_clocks = ctx.role in (Role.ENGINEER, Role.ADMIN)
        with ui.column().classes("w-full gap-1 px-3 pt-2"):
            self.conn = testid(
                ui.row().classes("hmi-banner-conn w-full items-center px-3 py-2").props('role="alert"'), "conn-banner"
            )
            self.conn.set_visibility(False)
            with self.conn:
                self.conn_text = ui.label("")
            # Samples wait on local disk while the database is away; people should know the history has a backlog.
            self.historian = _status_banner("historian-banner")
            # Alarm transitions not yet in the journal: many waiting, or the database away (nothing is dropped).
            self.journal = _status_banner("journal-banner")
            self.quarantine = _status_banner("quarantine-banner")
            # Source times ahead of this HMI's clock: engineers set the clocks, so the endpoint is named for them.
            self.skew = _status_banner("skew-banner")
            # The highest-priority unacknowledged alarms, one touch to the alarm or its line (ISA-101.01 display
            # hierarchy and navigation).
            self.rows = [BannerRow() for _ in range(BANNER_ROWS)]

    def refresh(self, down: Sequence[EndpointStatus], active: list[Alarm]) -> None:
        """Every banner as things are now (`down`: the endpoints not connected)."""
        self.conn.set_visibility(bool(down))
        if down:
            self.conn_text.set_text(
                "  ·  ".join(
                    f"Connection lost: endpoint {s.endpoint} ({s.url}) since "
                    f"{local_time(s.since, self.zone, date=True)}"
                    f" — its values are STALE. {s.detail}"
                    for s in down
                )
            )
        _say(self.historian, self._historian())
        _say(self.journal, self._journal())
        _say(self.quarantine, self._quarantine())
        skewed = self.rt.board.skewed() if self.sets_clocks else []
        _say(
            self.skew,
            "  ·  ".join(
                f"Clock skew: endpoint {s.endpoint} ({s.url}) stamps values {s.clock_skew_s:g} s ahead of this HMI's "
                "clock; they are marked CLOCK SKEW. Set the PLC's or server's clock (NTP)."
                for s in skewed
            ),
        )
        unack = [a for a in active if a.state.unacknowledged]
        for i, row in enumerate(self.rows):
            more = len(unack) - BANNER_ROWS if i == BANNER_ROWS - 1 and len(unack) > BANNER_ROWS else 0
            row.show(unack[i] if i < len(unack) else None, self.zone, more)

    def _historian(self) -> str:
        hist = self.rt.recorder.status
        if hist.buffering_since is None:
            return ""
        return (
            f"Historian: the database is unreachable since {local_time(hist.buffering_since, self.zone, date=True)}"
            f"; {hist.spooled_batches} batch(es) of samples wait on local disk and are written when it returns."
        )

    def _journal(self) -> str:
        journal = self.rt.journal.status
        if not journal.behind:
            return ""
        why = (
            f"the database is unavailable since {local_time(journal.unavailable_since, self.zone, date=True)}"
            if journal.unavailable_since is not None
            else "it is catching up"
        )
        on_disk = f", {journal.spilled} of them on local disk" if journal.spilled else ""
        return (
            f"Alarm journal behind: {journal.pending + journal.spilled} transition(s) wait to be written{on_disk} "
            f"({why}). Nothing is dropped."
        )

    def _quarantine(self) -> str:
        refused = self.rt.quarantine.count if self.repairs else 0
        if not refused:
            return ""
        fallback = self.rt.quarantine.fallback
        where = "table quarantined_rows" + (f" and {fallback}" if fallback else "")
        return (
            f"{refused} record(s) the database refused are set aside in quarantine ({where}) with the reason; "
            "the rest were written. Repair and re-enter them."
        )
