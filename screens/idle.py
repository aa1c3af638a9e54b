"""Idle screen lock, automatic logoff and the end of a session, watched for every open page (21 CFR 11.10(d);
EU GMP Annex 11 §12.1: inactivity locks the screen).

The browser only reports that someone touched the screen; the server decides with its own clock (rt.clock()),
so a panel whose script stops never stays unlocked: no reports means idle. The lock is kept on the server
session, so commands are refused while it holds, and a locked page is reloaded as the lock screen alone: the
page and its live values are not built or pushed until the person unlocks. A session ended anywhere (logout in
another tab, disabled account, password reset, lockout) sends every page of it to the login page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.idle import IdlePolicy, IdleState
from hmi.access.sessions import SessionsEnded, session_key
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import panel, session
from screens.fmt import refusal_text
from screens.i18n import _, message
from screens.switch_user import SwitchUserDialog
from screens.testid import testid

log = logging.getLogger(__name__)

REPORT_EVERY_S = 5
CHECK_EVERY_S = 2.0
# How often (server clock) each page asks the database whether its session still holds: this catches expiry
# and changes made by another process (the CLI, another instance); this process's own changes arrive at once.
SESSION_CHECK = timedelta(seconds=5)
# Reports at most one activity per REPORT_EVERY_S: a finger dragging over a trend must not flood the socket.
ACTIVITY_JS = """
<script>
(() => {
  let last = 0;
  const report = () => {
    const now = Date.now();
    if (now - last < REPORT_MS) return;
    last = now;
    if (typeof emitEvent === "function") emitEvent("hmi_activity");
  };
  for (const type of ["pointerdown", "keydown", "touchstart", "wheel"]) {
    document.addEventListener(type, report, {capture: true, passive: true});
  }
})();
</script>
""".replace("REPORT_MS", str(REPORT_EVERY_S * 1000))


class IdleGuard:
    """One per page: locks it when idle, asks for the password, signs out after the logoff time, and leaves for
    the login page as soon as the page's session ends."""

    def __init__(
        self,
        rt: Runtime,
        ctx: ActionContext,
        on_switch_user: Callable[[], object] | None = None,
        *,
        lock_screen: bool = False,
    ) -> None:
        self.rt = rt
        self.ctx = ctx
        self.policy = IdlePolicy.from_access(rt.plant.access)
        self.lock_screen = lock_screen
        self.client = ui.context.client
        self.session_id = session.page_session_id() or ""
        self._done = False
        self._checked = rt.clock()
        ui.add_body_html(ACTIVITY_JS)
        ui.on("hmi_activity", self.activity)
        with (
            testid(
                ui.dialog().props("persistent maximized no-esc-dismiss transition-show=none transition-hide=none"),
                "idle-lock",
            ) as self.dialog,
            ui.card().classes("w-full h-full items-center justify-center bg-[#3d3d3d] text-white"),
        ):
            ui.label(_("Screen locked")).classes("text-3xl font-bold")
            self.who = testid(
                ui.label(
                    _("Signed in: {value} ({username})").format(
                        value=ctx.full_name or ctx.username, username=ctx.username
                    )
                ).classes("text-lg"),
                "idle-who",
            )
            ui.label(_("Values are hidden. Enter your password to continue.")).classes("text-base")
            self.password = testid(
                ui.input(_("Password"), password=True).props("dark autocomplete=current-password").classes("w-72"),
                "idle-password",
            )
            self.password.on("keydown.enter", self.unlock)
            with ui.row().classes("gap-2"):
                testid(ui.button(_("Unlock"), on_click=self.unlock), "idle-unlock")
                ui.button(_("Sign out"), on_click=lambda: ui.navigate.to("/logout")).props("outline color=white")
                if on_switch_user is not None:
                    testid(
                        ui.button(_("Switch user"), on_click=on_switch_user).props("outline color=white"), "idle-switch"
                    )
            self.error = testid(ui.label("").classes("text-base font-semibold").props('role="alert"'), "idle-error")
        if lock_screen:
            self.dialog.open()
        self._unsubscribe = rt.sessions.subscribe(self._ended)
        self.client.on_delete(self._unsubscribe)
        ui.timer(CHECK_EVERY_S, self.check)

    @property
    def locked(self) -> bool:
        """True while the lock covers this page."""
        return bool(self.dialog.value)

    def activity(self) -> None:
        """The browser saw a touch or a key. While locked only the password counts, not a touch."""
        last, locked = session.idle_state(self.rt)
        now = self.rt.clock()
        # A touch after the lock time (before the next check ran) must not undo the lock.
        if not locked and not self.locked and self.policy.state(last, now) is IdleState.ACTIVE:
            session.store_idle(now, False)

    def _ended(self, event: SessionsEnded) -> None:
        """Sessions ended in this process: leave at once if this page's session is one of them."""
        if self._done or not event.concerns(session_key(self.session_id), self.ctx.user_id):
            return
        if session.is_switching(self.client):
            # The switch dialog reloads this page for the next person itself.
            return
        if session.signing_out(self.client):
            # The browser signs out on another of its pages, which navigates itself (perhaps to the identity
            # provider's logout): a message sent here could cancel that navigation. This page stays as it is until
            # touched; the touch's session check refuses it and sends it to the login page.
            self._done = True
            return
        self._leave("/login")

    def _leave(self, target: str) -> None:
        self._done = True
        if not self.client.is_deleted:
            with self.client:
                ui.navigate.to(target)

    async def check(self) -> None:
        """Lock, sign out or leave when due (runs every few seconds on the server, decided by the server clock)."""
        if self._done or session.is_switching(self.client):
            # During a user switch the session changes under this page; the switch dialog reloads it itself.
            return
        if session.session_id() != self.session_id:
            # Signed out or another person signed in on this browser (another tab): this page is not theirs.
            self._leave("/login" if session.session_id() is None else session.here())
            return
        last, locked = session.idle_state(self.rt)
        now = self.rt.clock()
        state = self.policy.state(last, now)
        if state is IdleState.LOGOFF:
            await self._logoff()
            return
        if state is IdleState.LOCKED or locked:
            if not locked:
                await self._lock(last)
            if not self.lock_screen:
                # Cover the values now; the reload builds only the lock screen, so nothing more is pushed.
                self.dialog.open()
                self._leave(session.here())
            return
        if now - self._checked >= SESSION_CHECK or now < self._checked:
            self._checked = now
            await self._check_session()

    async def _lock(self, last: datetime) -> None:
        session.store_idle(last, True)
        # The lock breaks the session's continuity: the next signature needs the user id again.
        session.end_signing(self.rt, self.ctx.username)
        await self._quietly(self.rt.sessions.set_locked(self.session_id, True))
        await self._quietly(self.rt.users.screen_locked(self.ctx.for_action()))

    async def _check_session(self) -> None:
        try:
            check = await self.rt.sessions.check(self.session_id)
        except DatabaseUnavailable as exc:
            log.warning("session check skipped: %s", exc)
            return
        if self._done or session.is_switching(self.client) or session.session_id() != self.session_id:
            # The browser's session changed while this check waited (a user switch, a sign-in in another tab): the
            # new session is not this page's to forget; the switch or the next check moves the page.
            return
        if check.ctx is None:
            session.forget()
            self._leave("/login")
        elif check.locked and not self.lock_screen:
            self._leave(session.here())

    async def unlock(self) -> None:
        """Check the signed-in person's password; a wrong one counts toward the account lockout."""
        try:
            check = await self.rt.sessions.check(self.session_id)
        except DatabaseUnavailable as exc:
            self.error.set_text(_("Cannot check the password: {exc}").format(exc=message(exc)))
            return
        if check.ctx is None or session.session_id() != self.session_id:
            self._leave("/login")
            return
        password, self.password.value = self.password.value or "", ""
        if not password:
            self.error.set_text(_("Enter your password."))
            return
        try:
            result = await self.rt.users.unlock_screen(check.ctx, password, address=panel.client_address())
            if result.ok:
                await self.rt.sessions.set_locked(self.session_id, False)
        except DatabaseUnavailable as exc:
            self.error.set_text(_("Cannot check the password: {exc}").format(exc=message(exc)))
            return
        if result.ok:
            session.store_idle(self.rt.clock(), False)
            self.error.set_text("")
            self.dialog.close()
            # The page is built now, for the person as the account stands now.
            self._leave(session.here())
            return
        if result.locked:
            # The account is locked now (its sessions ended with the lockout): nobody works under this name.
            await session.sign_out(self.rt)
            self._leave("/login")
            return
        # A limit, or what the directory said (unreachable, no role any more), is worth more than "wrong password".
        said = result.throttled is not None or result.notice is not None
        self.error.set_text(refusal_text(result) if said else _("Wrong password."))

    async def _logoff(self) -> None:
        self._done = True
        await session.sign_out(self.rt, idle=True)
        self._leave("/login")

    @staticmethod
    async def _quietly(work: Awaitable[object]) -> None:
        try:
            await work
        except DatabaseUnavailable as exc:
            # The lock happens anyway on this panel; the missing record is reported where administrators look.
            log.error("idle lock not recorded: %s", exc)


def lock_screen(rt: Runtime, ctx: ActionContext) -> None:
    """The page shown instead of any screen while this browser's session is locked."""
    ui.page_title(_("Screen locked · {name}").format(name=rt.plant.site.name))
    switch = SwitchUserDialog(rt)
    IdleGuard(rt, ctx, on_switch_user=switch.open, lock_screen=True)
