"""Idle screen lock and automatic logoff in the browser (STANDARDS.md 5.6).

The browser only reports that someone touched the screen; the server decides with its own clock (rt.clock()),
so a panel whose script stops never stays unlocked: no reports means idle. The lock state lives in the
server-side per-browser storage, so opening another page behind a locked screen does not unlock it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from nicegui import app, ui

from hmi.idle import IdlePolicy, IdleState
from hmi.runtime import Runtime
from hmi.signatures import SigningSession
from hmi.store.database import DatabaseUnavailable
from screens import panel, session
from screens.fmt import refusal_text

log = logging.getLogger(__name__)

_KEY = "hmi_idle"
REPORT_EVERY_S = 5
CHECK_EVERY_S = 2.0
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


def start(rt: Runtime) -> None:
    """Call at sign-in: the new person starts active and unlocked."""
    app.storage.user[_KEY] = {"last": rt.clock().isoformat(), "locked": False}


def _stored(rt: Runtime) -> tuple[datetime, bool]:
    data = app.storage.user.get(_KEY)
    if not data:
        # A session from before this feature, or storage lost: start counting now.
        start(rt)
        return rt.clock(), False
    return datetime.fromisoformat(str(data["last"])), bool(data.get("locked"))


def _store(last: datetime, locked: bool) -> None:
    app.storage.user[_KEY] = {"last": last.isoformat(), "locked": locked}


class IdleGuard:
    """One per page: covers the page when idle, asks for the password, signs out after the logoff time."""

    def __init__(self, rt: Runtime, on_switch_user: Callable[[], object] | None = None) -> None:
        self.rt = rt
        self.policy = IdlePolicy.from_access(rt.plant.access)
        self._done = False
        ui.add_body_html(ACTIVITY_JS)
        ui.on("hmi_activity", self.activity)
        with ui.dialog().props(
            'persistent maximized no-esc-dismiss transition-show=none transition-hide=none data-testid="idle-lock"'
        ) as self.dialog, ui.card().classes("w-full h-full items-center justify-center bg-[#3d3d3d] text-white"):
            ui.label("Screen locked").classes("text-3xl font-bold")
            self.who = ui.label("").classes("text-lg").mark("idle-who")
            ui.label("Values are hidden. Enter your password to continue.").classes("text-base")
            self.password = (
                ui.input("Password", password=True).props('dark autocomplete=current-password data-testid="idle-pw"')
                .classes("w-72").mark("idle-password")
            )
            self.password.on("keydown.enter", self.unlock)
            with ui.row().classes("gap-2"):
                ui.button("Unlock", on_click=self.unlock).props('data-testid="idle-unlock"').mark("idle-unlock")
                ui.button("Sign out", on_click=lambda: ui.navigate.to("/logout")).props("outline color=white")
                if on_switch_user is not None:
                    ui.button("Switch user", on_click=on_switch_user).props("outline color=white").mark(
                        "idle-switch")
            self.error = ui.label("").classes("text-base font-semibold").props('role="alert"').mark("idle-error")
        self.dialog.mark("idle-lock")
        last, locked = _stored(rt)
        # Decide before the first timer tick so a page opened behind an idle screen never shows its values.
        if locked or self.policy.state(last, rt.clock()) is not IdleState.ACTIVE:
            self._show()
        ui.timer(CHECK_EVERY_S, self.check)

    @property
    def locked(self) -> bool:
        """True while the lock overlay covers this page."""
        return bool(self.dialog.value)

    def activity(self) -> None:
        """The browser saw a touch or a key. While locked only the password counts, not a touch."""
        last, locked = _stored(self.rt)
        now = self.rt.clock()
        # A touch after the lock time (before the next check ran) must not undo the lock.
        if not locked and not self.locked and self.policy.state(last, now) is IdleState.ACTIVE:
            _store(now, False)

    async def check(self) -> None:
        """Lock or sign out when the idle time has passed (runs every few seconds on the server)."""
        if self._done:
            return
        last, locked = _stored(self.rt)
        state = self.policy.state(last, self.rt.clock())
        if state is IdleState.LOGOFF:
            await self._logoff()
        elif state is IdleState.LOCKED or locked:
            if not locked:
                _store(last, True)
                ctx = session.current()
                if ctx is not None:
                    # The lock breaks the session's continuity: the next signature needs the user id again.
                    SigningSession(app.storage.user, ctx.username).end()
                    await self._audit_quietly(self.rt.users.screen_locked(ctx))
            self._show()

    async def unlock(self) -> None:
        """Check the signed-in person's password; a wrong one counts toward the account lockout."""
        ctx = session.current()
        if ctx is None:
            ui.navigate.to("/login")
            return
        password, self.password.value = self.password.value or "", ""
        if not password:
            self.error.set_text("Enter your password.")
            return
        try:
            result = await self.rt.users.unlock_screen(ctx, password, address=panel.client_address())
        except DatabaseUnavailable as exc:
            self.error.set_text(f"Cannot check the password: {exc}")
            return
        if result.ok:
            _store(self.rt.clock(), False)
            self.error.set_text("")
            self.dialog.close()
            return
        if result.locked:
            # The account is locked now: nobody may go on working under this name.
            session.sign_out()
            await self._audit_quietly(self.rt.users.logout(ctx))
            self._done = True
            ui.navigate.to("/login")
            return
        self.error.set_text(refusal_text(result) if result.throttled is not None else "Wrong password.")

    def _show(self) -> None:
        ctx = session.current()
        self.who.set_text(f"Signed in: {ctx.full_name or ctx.username} ({ctx.username})" if ctx else "")
        if not self.dialog.value:
            self.dialog.open()

    async def _logoff(self) -> None:
        self._done = True
        ctx = session.sign_out()
        app.storage.user.pop(_KEY, None)
        if ctx is not None:
            await self._audit_quietly(self.rt.users.logout(ctx, idle=True))
        ui.navigate.to("/login")

    @staticmethod
    async def _audit_quietly(work: Awaitable[object]) -> None:
        try:
            await work
        except DatabaseUnavailable as exc:
            # The lock or logoff happens anyway; the missing audit row is reported where administrators look.
            log.error("idle lock / logoff not audited: %s", exc)
