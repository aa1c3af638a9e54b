"""Who acts on this browser: only a session id lives here; the person is resolved from the live session at each
command (hmi.access.sessions), never taken from what a page captured when it was built.

Every command handler of every screen goes through `command()` (or `act()` when it is not a click): the session
is checked at the moment of the touch (ended, expired, locked, account disabled) and a refusal records nothing
and sends the tab to the login page (21 CFR 11.10(d), 11.10(g)).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from weakref import WeakKeyDictionary, WeakSet

from nicegui import Client, app, ui
from nicegui.elements.mixins.disableable_element import DisableableElement
from nicegui.events import UiEventArguments

from hmi.access.context import ActionContext
from hmi.access.idle import IdlePolicy, IdleState
from hmi.access.kiosk import record_refusal
from hmi.access.sessions import SessionCheck, SessionEnd
from hmi.records.signatures import SigningSession
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import panel
from screens.i18n import _, message

log = logging.getLogger(__name__)

_KEY = "hmi_session"
# The same id in the browser's signed session cookie, written while a page is built: the other instance of a
# redundant pair (same HMI_STORAGE_SECRET, no copy of this process's per-browser storage) finds it there when a
# proxy sends the panel over (docs/deployment.md). It proves nothing by itself: the session row decides.
_COOKIE = "hmi_session"
_IDLE = "hmi_idle"
_SWITCHING = "hmi_switching"
# Set while this browser signs out on one of its pages; see `signing_out`.
_SIGNING_OUT = "hmi_signing_out"
# The card of the sign-in pages (login, and the identity provider's answers): never wider than a phone's screen.
SIGN_IN_CARD = "absolute-center items-stretch gap-3 hmi-panel p-6 w-[26rem] max-w-[calc(100vw-1rem)]"
# The session each open page was built under: a page must not act for whoever signed in on the browser later.
_page_session: WeakKeyDictionary[Client, str] = WeakKeyDictionary()
# Elements whose command is running: a second tap (double-tap, a queued click) does nothing.
_busy: WeakSet[Any] = WeakSet()
# Pages where a user switch is under way: the previous person's sessions end, but this page reloads for the new one.
_switching: WeakSet[Client] = WeakSet()


def switching(on: bool) -> None:
    """Mark (or unmark) this page as switching user, so the end of the previous person's session keeps it here.

    The browser is marked too: its other pages (another tab, a page being left) must not take the moment between
    the previous session's end and the new one's start for a sign-out and send the browser to sign-in. The next
    page built for a signed-in person clears the browser's mark (`resolve_page`)."""
    if on:
        _switching.add(ui.context.client)
        app.storage.user[_SWITCHING] = True
    else:
        _switching.discard(ui.context.client)
        app.storage.user.pop(_SWITCHING, None)


def is_switching(client: Client) -> bool:
    """True while a user switch runs on the page of `client` or elsewhere in its browser."""
    if client in _switching:
        return True
    try:
        with client:
            return bool(app.storage.user.get(_SWITCHING))
    except RuntimeError:
        # A page already gone (no request to find its browser's storage by): nothing to keep.
        return False


def signing_out(client: Client) -> bool:
    """True while the browser of `client` signs out on one of its pages.

    That page navigates itself (to the login page, or to the identity provider's logout). A page the browser is
    leaving for it still receives messages until the next page loads, so a "go to the login page" sent there would
    race, and could cancel, the signing-out page's own navigation. The browser's other pages stay until touched;
    the touch's session check refuses it (`screens.idle`)."""
    try:
        with client:
            return bool(app.storage.user.get(_SIGNING_OUT))
    except RuntimeError:
        # A page already gone (no request to find its browser's storage by).
        return False


def session_id() -> str | None:
    """This browser's session id, or None."""
    value = app.storage.user.get(_KEY)
    return value if isinstance(value, str) and value else None


def page_session_id(client: Client | None = None) -> str | None:
    """The session id the page of `client` (default: the current one) was built under."""
    return _page_session.get(client or ui.context.client)


def forget() -> None:
    """Drop this browser's session id (its session has ended).

    An empty id, not none: the id still in the cookie must not be taken up again here (`_carried`)."""
    app.storage.user[_KEY] = ""
    _set_cookie(None)


def _carried() -> str | None:
    """The session id the browser's cookie carries, when this process has never held one for the browser (a page
    sent here by the proxy from the other instance of a pair); None otherwise."""
    if _KEY in app.storage.user:
        return None
    value = app.storage.browser.get(_COOKIE)
    return value if isinstance(value, str) and value else None


def _set_cookie(sid: str | None) -> None:
    """Put `sid` into (or, for None, take it out of) the signed cookie; only while a page is being built, before
    its response is sent (Starlette's session cookie), otherwise nothing."""
    request = ui.context.client.request
    if request is None or getattr(request.state, "responded", True):
        return
    cookie = app.storage.browser
    if sid is None:
        cookie.pop(_COOKIE, None)
    elif cookie.get(_COOKIE) != sid:
        cookie[_COOKIE] = sid


async def sign_in(rt: Runtime, ctx: ActionContext) -> None:
    """Start a new session for the person who just proved who they are (a new id: no session fixation)."""
    old = session_id()
    if old is not None:
        # Ends the previous session of this browser (if a switch user has not ended it already).
        await rt.sessions.end(old, SessionEnd.REPLACED)
    new = await rt.sessions.start(ctx)
    # A new session: the first electronic signature needs user id and password again (21 CFR 11.200(a)(1)(i)).
    end_signing(rt, ctx.username)
    app.storage.user[_KEY] = new
    app.storage.user[_IDLE] = {"last": rt.clock().isoformat(), "locked": False}


def end_signing(rt: Runtime, username: str) -> None:
    """The person's continuous session ended here (sign-in, sign-out, screen lock): their next signature is a first
    one, with the user id, in this browser and for the signature service."""
    SigningSession(app.storage.user, username).end()
    rt.signatures.end_signing(username)


def first_signing(rt: Runtime, ctx: ActionContext) -> bool:
    """True when the signature dialog must ask for the user id too: this browser's signing continuity ended, or
    the service (which enforces the rule, 21 CFR 11.200(a)(1)) has no full signature of this session on record."""
    return SigningSession(app.storage.user, ctx.username).first or rt.signatures.first_signing(ctx)


async def sign_out(rt: Runtime, *, idle: bool = False) -> ActionContext | None:
    """End this browser's session (audited; a plain logout ends all the person's sessions); returns who it was."""
    sid = session_id()
    app.storage.user[_KEY] = ""
    app.storage.user.pop(_IDLE, None)
    if sid is None:
        return None
    app.storage.user[_SIGNING_OUT] = True
    try:
        ctx = (await rt.sessions.check(sid)).ctx
        if ctx is None:
            return None
        end_signing(rt, ctx.username)
        await rt.users.logout(ctx, idle=idle, session_id=sid)
    except DatabaseUnavailable as exc:
        # The browser forgets the id anyway; the row ends at its expiry. Reported where administrators look.
        log.error("sign-out not recorded: %s", exc)
        return None
    finally:
        app.storage.user.pop(_SIGNING_OUT, None)
    return ctx


async def resolve_page(rt: Runtime) -> SessionCheck:
    """Check the session while a page is being built, and remember it as the session this page acts under."""
    sid = session_id()
    if sid is None and (sid := _carried()) is not None:
        app.storage.user[_KEY] = sid
    check = await rt.sessions.check(sid)
    if check.ctx is None:
        forget()
    elif sid is not None:
        _set_cookie(sid)
        _page_session[ui.context.client] = sid
        # A page is built for the person signed in now: any user switch on this browser is over.
        app.storage.user.pop(_SWITCHING, None)
    return check


def login_target() -> str:
    """The login page, returning to this page after sign-in."""
    path = here()
    return f"/login?next={quote(path, safe='/')}" if path not in ("/", "/login") else "/login"


def here() -> str:
    """This page's own address (path and query), to load it again."""
    request = ui.context.client.request
    if request is None:
        return "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def idle_state(rt: Runtime) -> tuple[datetime, bool]:
    """This browser's last activity and whether its screen is locked (server-side storage, server clock)."""
    data = app.storage.user.get(_IDLE)
    if not data:
        # A session from before this feature, or storage lost: start counting now.
        now = rt.clock()
        store_idle(now, False)
        return now, False
    return datetime.fromisoformat(str(data["last"])), bool(data.get("locked"))


def store_idle(last: datetime, locked: bool) -> None:
    """Remember this browser's last activity and lock state."""
    app.storage.user[_IDLE] = {"last": last.isoformat(), "locked": locked}


def idle_locked(rt: Runtime) -> bool:
    """True when this browser's screen is locked or idle long enough to lock (before the next timer tick)."""
    last, locked = idle_state(rt)
    return locked or IdlePolicy.from_access(rt.plant.access).state(last, rt.clock()) is not IdleState.ACTIVE


async def act(rt: Runtime) -> ActionContext | None:
    """The person behind a command at this moment, with a fresh action id; None after refusing it (nothing done)."""
    sid = session_id()
    built = page_session_id()
    if sid is None or sid != built:
        # Signed out, or another person signed in on this browser since the page was built (another tab).
        _refuse(_("Not done: you are no longer signed in on this page. Nothing was recorded; sign in again."))
        return None
    # Idle time passed but the lock timer has not run yet: still locked (the lock is decided by the server).
    locked_by_idle = idle_locked(rt)
    try:
        check = await rt.sessions.check(sid)
        # A session started at a station that is now a view-only kiosk acts no more (docs/sign-in-and-stations.md).
        at_kiosk = check.ctx is not None and await rt.stations.is_kiosk(check.ctx.station)
        if at_kiosk and check.ctx is not None:
            await record_refusal(rt.audit, check.ctx.station, "command", "command", ctx=check.ctx.for_action())
    except DatabaseUnavailable as exc:
        ui.notify(
            _("Not done: your sign-in cannot be checked: {exc}").format(exc=message(exc)),
            type="negative",
            multi_line=True,
        )
        return None
    if check.ctx is None:
        forget()
        _refuse(message(check.refusal))
        return None
    if at_kiosk:
        _refuse(_("Not done: this station is a view-only wall screen (kiosk). Nothing was recorded; the attempt was."))
        return None
    if check.locked or locked_by_idle:
        ui.notify(message(SessionCheck(check.ctx, locked=True).refusal), type="warning")
        # The page reloads as the lock screen; its values stop.
        ui.navigate.to(here())
        return None
    return check.ctx.for_action()


def _refuse(text: str) -> None:
    ui.notify(text, type="negative", multi_line=True)
    ui.navigate.to(login_target())


def command(
    rt: Runtime, work: Callable[[ActionContext], Awaitable[object]]
) -> Callable[[UiEventArguments], Awaitable[None] | None]:
    """An event handler that runs `work` for the person signed in at the touch, once at a time per element.

    The element is disabled while the command runs; a second tap meanwhile is ignored.
    """

    def handler(e: UiEventArguments) -> Awaitable[None] | None:
        sender = e.sender
        if sender in _busy:
            return None
        # Marked before anything is awaited, so a queued second event finds it busy.
        _busy.add(sender)
        disable = isinstance(sender, DisableableElement) and sender.enabled
        if disable:
            sender.disable()
        return _run(rt, sender, disable, work)

    return handler


async def _run(rt: Runtime, sender: Any, disabled: bool, work: Callable[[ActionContext], Awaitable[object]]) -> None:
    try:
        ctx = await act(rt)
        if ctx is not None:
            await work(ctx)
    finally:
        _busy.discard(sender)
        if disabled and not sender.is_deleted:
            sender.enable()


async def station_for(rt: Runtime) -> str:
    """The station records from this browser carry: its enrolled station (by the panel secret), else its address."""
    # Only the secret counts: a name the browser sends or chose is never trusted (see hmi.access.stations).
    station = await rt.stations.identify(panel.panel_secret())
    return station.name if station is not None else panel.client_address()


# What a local path may hold, before any decoding: RFC 3986 §3.3 path characters plus query, nothing else.
# No space, control character or backslash: browsers strip or rewrite those (WHATWG URL §4.4) and
# `/\t/evil.example` or `/\\evil.example` become `//evil.example`, another site.
_LOCAL_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$")
MAX_NEXT_LENGTH = 2000


def safe_next(target: str | None) -> str:
    """`target` if it is a path of this application, else "/": the login never redirects to another site."""
    if not target or len(target) > MAX_NEXT_LENGTH or not _LOCAL_PATH.match(target):
        return "/"
    # Every decoding must still be a local path: `/%2F%2Fevil` or `/%252F%252Fevil` is `//evil` to a lenient
    # proxy or browser that decodes once or twice more.
    form = target
    for _attempt in range(4):
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in form):
            return "/"
        parts = urlsplit(form)
        if parts.scheme or parts.netloc or not form.startswith("/") or form.startswith("//"):
            return "/"
        decoded = unquote(form)
        if decoded == form:
            break
        form = decoded
    else:
        return "/"  # still encoded after four rounds: nobody types that by accident
    # Back to the login page after signing in would only loop.
    return "/" if urlsplit(form).path.rstrip("/") in ("/login", "/logout") else target
