"""User and station administration (admins): add, disable/enable, reset password, unlock; enrol panels.

Users and stations are disabled, never deleted, so old records stay attributable. The services check
MANAGE_USERS / MANAGE_STATIONS themselves; this page only mirrors that and reports what they refuse.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import TypeVar

from nicegui import ui

from hmi.access.auth import SOURCE_LDAP, SOURCE_LOCAL, SOURCE_OIDC
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission, Role
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import Station
from screens import panel, session
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, message
from screens.restricted import Restriction, permitted
from screens.session import command
from screens.testid import testid

T = TypeVar("T")


class _Failed(Exception):
    """The service refused; the message is already shown."""


ADMINS_ONLY = Restriction(
    check=lambda rt, ctx: rt.audit.require(
        ctx, Permission.MANAGE_USERS, action="users.view", object_type="screen", object_id="/users"
    ),
    refused=lambda ctx, exc: _(
        "Refused: {exc}. User administration is for administrators; the attempt was recorded."
    ).format(exc=message(exc)),
    unavailable=N_("User administration cannot be shown"),
    testid="users-refused",
)


async def users_page(rt: Runtime, ctx: ActionContext) -> None:
    """The /users page: refused (and audited) for everyone without MANAGE_USERS."""
    with frame(rt, ctx, "Users"):
        if await permitted(rt, ctx, ADMINS_ONLY):
            await UsersAdmin(rt).render()


class UsersAdmin:
    """The administration panels; every button acts through UserService / StationService as the signed-in admin."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.zone = rt.plant.site.zone
        self.reset_user = ""

    async def render(self) -> None:
        """Build the panels (the lists load from the database)."""
        # One status line, said next to the panel whose button gave the outcome (self._near): on a phone the panels
        # are screens apart.
        self.message = testid(
            ui.label("").classes("text-base font-semibold hmi-wrap").props('role="status"'), "users-message"
        )
        self.places: dict[str, ui.element] = {}
        await self.notices()
        await self.user_list()
        self.places["users"] = testid(ui.element("div").classes("w-full"), "say-users")
        self._add_user_form()
        self.places["add"] = testid(ui.element("div").classes("w-full"), "say-add")
        await self.station_list()
        self.places["stations"] = testid(ui.element("div").classes("w-full"), "say-stations")
        self._enrol_form()
        self.places["enrol"] = testid(ui.element("div").classes("w-full"), "say-enrol")
        self._reset_dialog()
        self._near("users")

    @ui.refreshable_method
    async def notices(self) -> None:
        """Accounts locked by failed sign-ins, each with its Unlock."""
        locked = await self.rt.users.locked_users()
        if not locked:
            return
        with testid(ui.column().classes("hmi-panel p-3 gap-1 w-full").props('role="alert"'), "lockout-notice"):
            ui.label(_("Locked accounts (too many failed sign-ins)")).classes("font-bold")
            for user in locked:
                with ui.row().classes("items-center gap-3"):
                    since = local_time(user.locked_at, self.zone, date=True) if user.locked_at else ""
                    ui.label(_("{username} locked since {since}").format(username=user.username, since=since))
                    testid(
                        ui.button(
                            _("Unlock"), on_click=command(self.rt, partial(self.unlock, name=user.username))
                        ).props("outline no-caps"),
                        f"notice-unlock-{user.username}",
                    )

    @ui.refreshable_method
    async def user_list(self) -> None:
        """Every account with its state and what may be done to it."""
        rt = self.rt
        with testid(ui.column().classes("hmi-panel p-3 gap-1 w-full"), "user-list"):
            ui.label(_("Users")).classes("hmi-title")
            last = await rt.users.last_sign_ins()
            for user in await rt.users.list_users():
                status = "disabled" if user.disabled else "locked" if user.locked_at is not None else "active"
                name = user.username
                # The name and state first, the buttons after them; the row wraps on a narrow screen.
                with testid(ui.row().classes("hmi-list-row items-center gap-x-3 gap-y-1 w-full"), "user-row"):
                    ui.label(name).classes("font-mono hmi-wrap w-40")
                    ui.label(user.full_name or "—").classes("hmi-wrap w-56")
                    ui.label(user.role.value).classes("w-24")
                    # Where the identity and password live; a directory or provider account's role follows its
                    # groups there.
                    where = {SOURCE_LDAP: _("directory"), SOURCE_OIDC: _("identity provider")}.get(user.source)
                    source = testid(ui.label(where or _("local")).classes("w-24"), f"source-{name}")
                    if user.source == SOURCE_LDAP:
                        source.tooltip(_("directory id {id}").format(id=user.external_id))
                    elif user.source == SOURCE_OIDC:
                        source.tooltip(_("identity provider subject {id}").format(id=user.external_id))
                    testid(ui.label(status).classes("w-24 font-semibold"), f"status-{name}")
                    signed_in = last.get(user.id) if user.id is not None else None
                    testid(
                        ui.label(
                            _("last sign-in {when}").format(when=local_time(signed_in, self.zone, date=True))
                            if signed_in is not None
                            else _("never signed in")
                        ).classes("hmi-muted"),
                        f"last-sign-in-{name}",
                    )
                    enable = user.disabled
                    testid(
                        ui.button(
                            _("Enable") if enable else _("Disable"),
                            on_click=command(rt, partial(self.set_disabled, name=name, disabled=not enable)),
                        ).props("outline no-caps"),
                        f"{'enable' if enable else 'disable'}-{name}",
                    )
                    if user.source == SOURCE_LOCAL:
                        # A directory or provider account's password is set there only.
                        testid(
                            ui.button(_("Reset password"), on_click=lambda n=name: self.open_reset(n)).props(
                                "outline no-caps"
                            ),
                            f"reset-{name}",
                        )
                    if user.locked_at is not None:
                        testid(
                            ui.button(_("Unlock"), on_click=command(rt, partial(self.unlock, name=name))).props(
                                "outline no-caps"
                            ),
                            f"unlock-{name}",
                        )

    @ui.refreshable_method
    async def station_list(self) -> None:
        """This panel's station, and every enrolled station with its state."""
        rt = self.rt
        with testid(ui.column().classes("hmi-panel p-3 gap-1 w-full"), "station-list"):
            ui.label(_("Stations")).classes("hmi-title")
            here = await session.station_for(rt)
            text = (
                _("This panel is not enrolled: it records {here}.").format(here=here)
                if panel.is_address(here)
                else _("This panel is station {station}.").format(station=here)
            )
            testid(ui.label(text).classes("hmi-muted"), "this-panel")
            stations = await rt.stations.list()
            if not stations:
                ui.label(_("No stations enrolled yet: panels record their network address instead.")).classes(
                    "hmi-muted"
                )
            for station in stations:
                self._station_row(station)

    def _station_row(self, station: Station) -> None:
        rt, name = self.rt, station.name
        with testid(ui.row().classes("hmi-list-row items-center gap-x-3 gap-y-1 w-full"), "station-row"):
            ui.label(name).classes("font-mono hmi-wrap w-48")
            ui.label(station.area or "—").classes("w-32")
            if station.secret_hash is not None and station.enrolled_at is not None:
                enrolled = _("enrolled {when} by {who}").format(
                    when=local_time(station.enrolled_at, self.zone, date=True), who=station.enrolled_by
                )
            else:
                enrolled = _("no panel enrolled")
            testid(ui.label(enrolled).classes("hmi-wrap w-72"), f"station-enrolled-{name}")
            seen = local_time(station.last_seen_at, self.zone, date=True) if station.last_seen_at else "never"
            ui.label(_("last seen {seen}").format(seen=seen)).classes("w-48")
            testid(ui.label(_("disabled") if station.disabled else _("active")), f"station-status-{name}")
            testid(ui.label(_("kiosk (view only)") if station.kiosk else ""), f"station-kiosk-{name}")
            if station.secret_hash is not None:
                revoke = command(rt, lambda a: self.revoke_station(a, name))
                testid(ui.button(_("Revoke"), on_click=revoke).props("outline no-caps"), f"station-revoke-{name}")
            testid(
                ui.button(
                    _("Enable") if station.disabled else _("Disable"),
                    on_click=command(rt, partial(self.set_station, name=name, disabled=not station.disabled)),
                ).props("outline no-caps"),
                f"station-toggle-{name}",
            )
            # A wall screen: view only, no sign-in (docs/sign-in-and-stations.md, "Kiosk").
            kiosk = not station.kiosk

            async def toggle_kiosk(actor: ActionContext) -> None:
                await self.set_kiosk(actor, name, kiosk)

            testid(
                ui.button(
                    _("Normal station") if station.kiosk else _("Make kiosk"), on_click=command(rt, toggle_kiosk)
                ).props("outline no-caps"),
                f"station-kiosk-toggle-{name}",
            )

    def _add_user_form(self) -> None:
        with ui.column().classes("hmi-panel p-3 gap-2 w-full max-w-[28rem]"):
            ui.label(_("Add a user")).classes("hmi-title")
            self.new_name = testid(ui.input(_("User name")).classes("w-full"), "new-username")
            self.new_full = testid(ui.input(_("Full (printed) name")).classes("w-full"), "new-fullname")
            self.new_role = testid(
                ui.select([r.value for r in Role], value=Role.OPERATOR.value, label=_("Role")).classes("w-full"),
                "new-role",
            )
            self.new_pw = testid(
                ui.input(_("Password"), password=True).props("autocomplete=new-password").classes("w-full"),
                "new-password",
            )
            self.new_pw2 = testid(
                ui.input(_("Password again"), password=True).props("autocomplete=new-password").classes("w-full"),
                "new-password2",
            )
            ui.label(
                _("At least {password_min_length} characters, not the user name.").format(
                    password_min_length=self.rt.users.policy.password_min_length
                )
            ).classes("hmi-muted")
            testid(ui.button(_("Add user"), on_click=command(self.rt, self.add_user)), "add-user")

    def _enrol_form(self) -> None:
        with ui.row().classes("hmi-panel p-3 gap-2 items-end"):
            self.station_name = testid(ui.input(_("Station name")), "station-name")
            self.station_area = testid(
                ui.select([a.name for a in self.rt.plant.areas], label=_("Area")).classes("w-40"), "station-area"
            )
            # This panel, not another: the secret goes into this browser's cookie.
            testid(
                ui.button(_("Enrol this panel as this station"), on_click=command(self.rt, self.enrol_panel)),
                "station-enrol",
            )

    def _reset_dialog(self) -> None:
        with ui.dialog() as self.reset_dialog, ui.card().classes("gap-2 w-[24rem] max-w-full"):
            self.reset_title = ui.label("").classes("hmi-title")
            self.reset_pw = testid(ui.input(_("New password"), password=True), "reset-password")
            self.reset_pw2 = testid(ui.input(_("New password again"), password=True), "reset-password2")
            self.reset_error = testid(ui.label("").props('role="alert"'), "reset-error")
            with ui.row():
                testid(ui.button(_("Set password"), on_click=command(self.rt, self.reset_password)), "reset-confirm")
                ui.button(_("Cancel"), on_click=self.reset_dialog.close).props("outline")

    async def _call(self, work: Awaitable[T]) -> T:
        """Run a service call as the current admin; show and raise _Failed on anything the service refuses."""
        try:
            return await work
        except PermissionDenied as exc:
            self._say(_("Refused: {exc}.").format(exc=message(exc)))
        except (ValueError, LookupError) as exc:
            self._say(_("{exc}.").format(exc=message(exc)))
        except DatabaseUnavailable as exc:
            self._say(_("Nothing was changed: {exc}").format(exc=message(exc)))
        raise _Failed

    def _say(self, text: str) -> None:
        self.message.set_text(text)

    def _near(self, place: str) -> None:
        """Say the next outcome under the panel `place` (users, add, stations, enrol)."""
        target = self.places[place]
        slot = self.message.parent_slot
        if slot is None or slot.parent is not target:
            self.message.set_text("")
            self.message.move(target)

    async def _refresh(self) -> None:
        self.notices.refresh()
        self.user_list.refresh()
        self.station_list.refresh()

    async def _change(self, work: Awaitable[object], done: str) -> None:
        """Make a change through the service; when it is made, say `done` and show the lists as they are now."""
        try:
            await self._call(work)
        except _Failed:
            return
        self._say(done)
        await self._refresh()

    async def add_user(self, actor: ActionContext) -> None:
        """Create the user from the form; the password is typed twice."""
        self._near("add")
        try:
            if (self.new_pw.value or "") != (self.new_pw2.value or ""):
                self._say(_("The two passwords differ; nothing was changed."))
                return
            user = await self._call(
                self.rt.users.create_user(
                    self.new_name.value or "",
                    self.new_pw.value or "",
                    self.new_role.value or Role.OPERATOR,
                    self.new_full.value or "",
                    actor=actor,
                )
            )
        except _Failed:
            return
        finally:
            self.new_pw.value = self.new_pw2.value = ""
        self.new_name.value = self.new_full.value = ""
        self._say(_("User {name} ({role}) added.").format(name=user.username, role=user.role.value))
        await self._refresh()

    async def set_disabled(self, actor: ActionContext, name: str, disabled: bool) -> None:
        """Disable or enable an account."""
        self._near("users")
        await self._change(
            self.rt.users.set_disabled(actor, name, disabled),
            (_("User {name} disabled.") if disabled else _("User {name} enabled.")).format(name=name),
        )

    async def unlock(self, actor: ActionContext, name: str) -> None:
        """Lift a lockout."""
        self._near("users")
        await self._change(self.rt.users.unlock(actor, name), _("User {name} unlocked.").format(name=name))

    def open_reset(self, name: str) -> None:
        """Ask for the new password (twice)."""
        self.reset_user = name
        self.reset_title.set_text(_("New password for {name}").format(name=name))
        self.reset_pw.value = self.reset_pw2.value = ""
        self.reset_error.set_text("")
        self.reset_dialog.open()

    async def reset_password(self, actor: ActionContext) -> None:
        """Set the new password from the dialog."""
        self._near("users")
        first, second = self.reset_pw.value or "", self.reset_pw2.value or ""
        self.reset_pw.value = self.reset_pw2.value = ""
        if first != second:
            self.reset_error.set_text(_("The two passwords differ."))
            return
        try:
            await self._call(self.rt.users.reset_password(actor, self.reset_user, first))
        except _Failed:
            self.reset_error.set_text(self.message.text)
            return
        self.reset_dialog.close()
        self._say(_("Password of {name} replaced.").format(name=self.reset_user))

    async def enrol_panel(self, actor: ActionContext) -> None:
        """Enrol the panel this page runs on as the named station; the browser then collects its secret."""
        self._near("enrol")
        try:
            station, secret = await self._call(
                self.rt.stations.enrol(
                    actor, self.station_name.value or "", self.station_area.value or "", address=panel.client_address()
                )
            )
        except _Failed:
            return
        self.station_name.value = ""
        self._say(_("This panel is now station {name}.").format(name=station.name))
        panel.hand_over(self.rt, secret)

    async def revoke_station(self, actor: ActionContext, name: str) -> None:
        """Make the station's panel secret worthless: that panel is its network address again."""
        self._near("stations")
        await self._change(
            self.rt.stations.revoke(actor, name),
            _("Station {name} revoked: its panel now records its network address until enrolled again.").format(
                name=name
            ),
        )

    async def set_station(self, actor: ActionContext, name: str, disabled: bool) -> None:
        """Disable or enable a station."""
        self._near("stations")
        await self._change(
            self.rt.stations.set_disabled(actor, name, disabled),
            (_("Station {name} disabled.") if disabled else _("Station {name} enabled.")).format(name=name),
        )

    async def set_kiosk(self, actor: ActionContext, name: str, kiosk: bool) -> None:
        """Make a station a view-only wall screen (kiosk), or a normal station again."""
        await self._change(
            self.rt.stations.set_kiosk(actor, name, kiosk),
            (
                _("Station {name} is now a kiosk: it shows /kiosk without a sign-in and refuses everything else.")
                if kiosk
                else _("Station {name} is a normal station again: people sign in there.")
            ).format(name=name),
        )
