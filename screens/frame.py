"""The shared page frame: the one-row header (menu, plant, connection, clock, person), the menu drawer with the
navigation, the alarm banner and the status banners; laid out for 390 to 1920 px wide screens."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission, Role
from hmi.alarms.engine import Alarm
from hmi.control.recipes import VIEW_PERMISSIONS
from hmi.runtime import Runtime
from hmi.sources.base import EndpointStatus
from screens.alarm_banner import AlarmBanner
from screens.annunciation import AnnunciatorWidget
from screens.breadcrumbs import line_link
from screens.fmt import local_time
from screens.i18n import N_, _, message
from screens.idle import IdleGuard
from screens.plant_change import watch_plant
from screens.switch_user import SwitchUserDialog
from screens.testid import testid

# ISA-101: commands in neutral dark grey; colour stays reserved for alarms.
PRIMARY = "#3d3d3d"
NAV = (
    (N_("Overview"), "/"),
    (N_("Displays"), "/displays"),
    (N_("Alarms"), "/alarms"),
    (N_("Trends"), "/trends"),
    (N_("OEE"), "/oee"),
    (N_("Shift log"), "/notes"),
    (N_("Handover"), "/handover"),
    (N_("Recipes"), "/recipes"),
    (N_("Journal"), "/journal"),
    (N_("KPIs"), "/kpi"),
    (N_("Audit"), "/audit"),
    (N_("Notifications"), "/notifications"),
    (N_("Users"), "/users"),
    (N_("Preferences"), "/preferences"),
)
# Entries only some roles reach (any one of the permissions); the page itself checks again (and audits a refusal).
NAV_NEEDS: dict[str, tuple[Permission, ...]] = {
    "/users": (Permission.MANAGE_USERS,),
    "/notifications": (Permission.MANAGE_NOTIFICATIONS,),
    "/recipes": VIEW_PERMISSIONS,
}
# Who is told about records the database refused (set aside in quarantine): the people who can repair them.
QUARANTINE_ROLES = frozenset({Role.ENGINEER, Role.ADMIN})


# How long every screen of the instance that took over says so (the audit trail keeps it for good).
TAKEOVER_SHOWN = timedelta(minutes=15)
# From this width on the navigation stays in the header; below it, it is in the menu (assets/hmi.css "Panel sizes").
# All entries fit one header row only on a wall screen: at 1280 px they pushed the clock and the person aside.
INLINE_NAV_PX = 1920


@contextmanager
def frame(rt: Runtime, ctx: ActionContext, title: str) -> Iterator[None]:
    """Wrap a page's content in the header, the menu and the banners every screen shares."""
    ui.page_title(f"{_(title)} · {rt.plant.site.name}")
    ui.colors(primary=PRIMARY)
    header = Header(rt, ctx, title)
    # Idle lock, logoff and session end (21 CFR 11.10(d)); another person at a locked panel may switch user there.
    IdleGuard(rt, ctx, on_switch_user=header.switch.open)
    banners = Banners(rt, ctx)
    watch_plant(rt, ctx)  # a changed plant configuration (hmi reload): notice, reload, refusals for engineers

    def refresh() -> None:
        down, active = rt.board.disconnected(), rt.alarms.active()
        header.refresh(down, active)
        banners.refresh(down)

    refresh()
    ui.timer(1.0, refresh)
    with ui.column().classes("hmi-page w-full gap-3"):
        yield


def _nav_entries(ctx: ActionContext) -> list[tuple[str, str]]:
    """The screens this person's role reaches."""
    return [(text, href) for text, href in NAV if href not in NAV_NEEDS or any(ctx.can(p) for p in NAV_NEEDS[href])]


class Header:
    """One row on every panel: the menu, plant, (on wide screens) the navigation, connection state, clock, the
    person and the alarm sound; below it the alarm banner. The menu holds the navigation, switch user and log out.

    Which parts show at which width is decided by the browser (CSS media queries in assets/hmi.css), never by the
    server: a panel turned or resized lays itself out again without a round trip.
    """

    def __init__(self, rt: Runtime, ctx: ActionContext, title: str) -> None:
        self.rt = rt
        entries = _nav_entries(ctx)
        person = f"{ctx.full_name or ctx.username} · {ctx.role.value}"
        self.menu = Menu(rt, entries, title, person)
        self.switch = self.menu.switch
        with ui.header().classes("hmi-header column no-wrap gap-0 p-0"):
            with ui.row().classes("hmi-topbar w-full items-center no-wrap gap-1"):
                testid(
                    ui.button(_("Menu"), icon="menu", on_click=self.menu.drawer.toggle).props(
                        'flat no-caps color=white aria-label="Menu: screens, switch user, log out"'
                    ),
                    "menu",
                ).classes("hmi-menu-button")
                ui.label(rt.plant.site.name).classes("hmi-plant text-lg font-bold")
                with testid(ui.row().classes("hmi-nav hmi-nav-inline gap-0 no-wrap"), "nav-inline"):
                    for text, href in entries:
                        nav = ui.button(_(text), on_click=lambda h=href: ui.navigate.to(h)).props(
                            "flat no-caps color=white"
                        )
                        if text == title:
                            nav.classes("bg-[#5a5a5a]").props('aria-current="page"')
                ui.space()
                self.conn = testid(ui.label("").classes("hmi-conn"), "conn-state")
                self.clock = testid(ui.label("").classes("hmi-clock font-mono"), "clock")
                testid(ui.label(person).classes("hmi-person"), "user")
                with ui.row().classes("hmi-sound items-center gap-1 no-wrap"):
                    self.annunciator = AnnunciatorWidget(rt.plant.alarm_policy.sound)
                self.annunciator.allow.props("icon=volume_up")
                self.annunciator.silence_button.props("icon=volume_off")
            self.alarm = AlarmBanner(rt.plant.site.zone)

    def refresh(self, down: Sequence[EndpointStatus], active: list[Alarm]) -> None:
        """Clock, connection state (`down`: the endpoints not connected), the sound and banner of the `active`
        alarms."""
        self.clock.set_text(local_time(self.rt.clock(), self.rt.plant.site.zone))
        # Short on the bar; the banner below names each endpoint and since when.
        short = _("OPC UA OK") if not down else _("OPC UA: {n} down").format(n=len(down))
        if self.conn.text != short:
            self.conn.set_text(short)
            self.conn.classes(replace="hmi-conn" + (" hmi-conn-down" if down else ""))
            self.conn.props["aria-label"] = (
                _("OPC UA: all connected") if not down else _("OPC UA: {n} endpoint(s) down").format(n=len(down))
            )
        self.annunciator.update(active)
        self.alarm.show(active)


class Menu:
    """The drawer the menu button opens, on every width: switch user and log out, the screens of this role, then the
    plant's lines grouped by area, so a machine's faceplate is three touches away from any screen (menu, line, the
    machine on the line picture; ISA-101.01 §6 display hierarchy: overview, unit, detail)."""

    def __init__(self, rt: Runtime, entries: Sequence[tuple[str, str]], title: str, person: str) -> None:
        # Outside the drawer: the idle lock screen opens it too.
        self.switch = SwitchUserDialog(rt)
        with testid(ui.left_drawer(value=False).props("behavior=mobile overlay bordered"), "menu-drawer").classes(
            "hmi-drawer gap-0 p-0"
        ) as self.drawer:
            ui.label(person).classes("hmi-drawer-person")
            # The person's own actions first: on a 480 px high panel the list of screens below may need scrolling.
            with ui.row().classes("hmi-drawer-actions w-full no-wrap gap-0"):
                testid(
                    ui.button(_("Switch user"), icon="switch_account", on_click=self.switch.open).props("flat no-caps"),
                    "switch-user",
                ).classes("hmi-drawer-item")
                testid(
                    ui.button(_("Log out"), icon="logout", on_click=lambda: ui.navigate.to("/logout")).props(
                        "flat no-caps"
                    ),
                    "log-out",
                ).classes("hmi-drawer-item")
            ui.separator()
            with ui.column().classes("w-full gap-0").props('role="navigation" aria-label="Screens"'):
                for text, href in entries:
                    item = testid(
                        ui.button(_(text), on_click=lambda h=href: ui.navigate.to(h)).props("flat no-caps align=left"),
                        f"menu-{href.strip('/') or 'overview'}",
                    ).classes("hmi-drawer-item w-full")
                    if text == title:
                        item.classes("hmi-drawer-current").props('aria-current="page"')
            ui.separator()
            lines = testid(ui.column().classes("w-full gap-0").props('role="navigation"'), "menu-lines")
            lines.props["aria-label"] = _("Lines")
            with lines:
                for area in rt.plant.areas:
                    ui.label(area.name).classes("hmi-drawer-area")
                    for line in area.lines:
                        testid(
                            ui.button(
                                line.name,
                                icon="linear_scale",
                                on_click=lambda n=line.name: ui.navigate.to(line_link(n)),
                            ).props("flat no-caps align=left"),
                            f"menu-line-{line.name}",
                        ).classes("hmi-drawer-item hmi-drawer-line w-full")


def _status_banner(name: str) -> ui.label:
    banner = testid(ui.label("").classes("hmi-banner-conn hmi-wrap w-full").props('role="status"'), name)
    banner.set_visibility(False)
    return banner


def _say(banner: ui.label, text: str) -> None:
    """Show `banner` with `text`, or hide it when there is nothing to say."""
    banner.set_visibility(bool(text))
    if text:
        banner.set_text(text)


class Banners:
    """What people must know at once besides the alarms (those are in the header's banner): lost connections, a
    historian or journal behind, records set aside in quarantine, clock skew. Each is one compact row whose text
    wraps on a narrow screen."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.zone = rt.plant.site.zone
        # Engineers and administrators repair records and set clocks: the banners about those are theirs.
        self.repairs = ctx.role in QUARANTINE_ROLES
        self.sets_clocks = ctx.role in (Role.ENGINEER, Role.ADMIN)
        with ui.column().classes("hmi-status-banners w-full gap-1"):
            self.conn = testid(
                ui.row().classes("hmi-banner-conn w-full items-center").props('role="alert"'), "conn-banner"
            )
            self.conn.set_visibility(False)
            with self.conn:
                self.conn_text = ui.label("").classes("hmi-wrap")
            # Samples wait on local disk while the database is away; people should know the history has a backlog.
            self.historian = _status_banner("historian-banner")
            # Alarm transitions not yet in the journal: many waiting, or the database away (nothing is dropped).
            self.journal = _status_banner("journal-banner")
            self.quarantine = _status_banner("quarantine-banner")
            # Source times ahead of this HMI's clock: engineers set the clocks, so the endpoint is named for them.
            self.skew = _status_banner("skew-banner")
            # The MQTT publisher cannot reach its broker (messages wait on disk) or had to drop some: engineers
            # look after the broker connection (docs/mqtt.md).
            self.mqtt = _status_banner("mqtt-banner")
            # Which server of a redundant pair this is: a takeover, or a standby that does not read the plant.
            self.cluster = _status_banner("cluster-banner")

    def refresh(self, down: Sequence[EndpointStatus]) -> None:
        """Every banner as things are now (`down`: the endpoints not connected)."""
        self.conn.set_visibility(bool(down))
        if down:
            self.conn_text.set_text(
                "  ·  ".join(
                    _(
                        "Connection lost: endpoint {endpoint} ({url}) since {when} — its values are STALE. {detail}"
                    ).format(
                        endpoint=s.endpoint,
                        url=s.url,
                        when=local_time(s.since, self.zone, date=True),
                        detail=message(s.detail),
                    )
                    for s in down
                )
            )
        _say(self.historian, self._historian())
        _say(self.journal, self._journal())
        _say(self.quarantine, self._quarantine())
        _say(self.mqtt, self._mqtt() if self.sets_clocks else "")
        _say(self.cluster, self._cluster())
        skewed = self.rt.board.skewed() if self.sets_clocks else []
        _say(
            self.skew,
            "  ·  ".join(
                _(
                    "Clock skew: endpoint {endpoint} ({url}) stamps values {skew:g} s ahead of this HMI's clock; they "
                    "are marked CLOCK SKEW. Set the PLC's or server's clock (NTP)."
                ).format(endpoint=s.endpoint, url=s.url, skew=s.clock_skew_s)
                for s in skewed
            ),
        )

    def _historian(self) -> str:
        hist = self.rt.recorder.status
        if hist.buffering_since is None:
            return ""
        return _(
            "Historian: the database is unreachable since {when}; {batches} batch(es) of samples wait on local disk "
            "and are written when it returns."
        ).format(when=local_time(hist.buffering_since, self.zone, date=True), batches=hist.spooled_batches)

    def _cluster(self) -> str:
        rt = self.rt
        if rt.leadership is None:
            return ""
        if not rt.active:
            return _(
                "Standby server {instance}: the active server {active} reads the plant and sends its values and "
                "alarms here. Alarms are acknowledged and shelved on the active server."
            ).format(instance=rt.instance, active=rt.leadership.active_instance or _("unknown"))
        if rt.took_over_at is None or rt.clock() - rt.took_over_at > TAKEOVER_SHOWN:
            return ""
        return _(
            "Server {instance} took over as the active server at {when}: the server active before stopped. Values "
            "were STALE during the change-over."
        ).format(instance=rt.instance, when=local_time(rt.took_over_at, self.zone, date=True))

    def _mqtt(self) -> str:
        publisher = self.rt.mqtt
        if publisher is None or not (status := publisher.status).trouble:
            return ""
        dropped = (
            _("; {n} message(s) were dropped (the oldest, buffer full)").format(n=status.dropped)
            if status.dropped
            else ""
        )
        if status.state != "unreachable":
            return _("MQTT: connected to {url}{dropped}.").format(url=publisher.config.url, dropped=dropped)
        since = local_time(status.since, self.zone, date=True) if status.since is not None else "?"
        return _(
            "MQTT: broker {url} unreachable since {since} ({detail}); {n} message(s) wait on local disk and are sent "
            "in order when it returns{dropped}."
        ).format(
            url=publisher.config.url, since=since, detail=message(status.detail), n=status.on_disk, dropped=dropped
        )

    def _journal(self) -> str:
        journal = self.rt.journal.status
        if not journal.behind:
            return ""
        why = (
            _("the database is unavailable since {when}").format(
                when=local_time(journal.unavailable_since, self.zone, date=True)
            )
            if journal.unavailable_since is not None
            else _("it is catching up")
        )
        on_disk = _(", {n} of them on local disk").format(n=journal.spilled) if journal.spilled else ""
        return _(
            "Alarm journal behind: {n} transition(s) wait to be written{on_disk} ({why}). Nothing is dropped."
        ).format(n=journal.pending + journal.spilled, on_disk=on_disk, why=why)

    def _quarantine(self) -> str:
        refused = self.rt.quarantine.count if self.repairs else 0
        if not refused:
            return ""
        fallback = self.rt.quarantine.fallback
        where = _("table quarantined_rows") + (_(" and {file}").format(file=fallback) if fallback else "")
        return _(
            "{n} record(s) the database refused are set aside in quarantine ({where}) with the reason; the rest "
            "were written. Repair and re-enter them."
        ).format(n=refused, where=where)
