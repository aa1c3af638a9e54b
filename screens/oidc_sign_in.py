"""Sign-in through the plant's OpenID Connect provider, for desktop and phone browsers (docs/oidc.md).

Three addresses: the start (`/auth/oidc/start`, from the login page's button or a signature dialog) sends the
browser to the provider; the callback (`/auth/oidc/callback`, the plant file's `redirect_uri`) checks the answer
and signs the person in, or records a fresh authentication for a signature; the provider sends the browser back to
`/auth/oidc/signed-out` after its logout.

The started sign-in's secrets (PKCE verifier, nonce) stay in the OIDC client's memory; this browser's server-side
storage holds only the states it started, so an answer delivered to another browser (login CSRF) is refused.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from urllib.parse import parse_qs, quote

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from nicegui import app, ui

from hmi.access.auth import SOURCE_OIDC
from hmi.access.fresh_sign_in import FRESH_WINDOW
from hmi.access.oidc import Identity, OidcClient, OidcError
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import panel, session
from screens.fmt import refusal_text
from screens.i18n import _, message
from screens.testid import testid

log = logging.getLogger(__name__)

START_PATH = "/auth/oidc/start"
# The states of the sign-ins this browser started and has not finished (a few: a signature's fresh sign-in in
# another tab may run beside an abandoned one).
_STATES = "hmi_oidc_states"
_MOST_STATES = 4
# HMI session id -> the id_token of its sign-in, the hint for the provider's logout (OpenID Connect RP-Initiated
# Logout 1.0 §2). In memory only: a token is not written to disk; without it the provider may ask to confirm.
_ID_TOKENS: OrderedDict[str, str] = OrderedDict()
_MOST_ID_TOKENS = 5000
_REFUSED = "login.failed.oidc"
# The largest back-channel logout request read (a logout token is a signed JWT of a few kilobytes).
_MOST_LOGOUT_BODY = 64 * 1024


def start_url(next_path: str = "/", *, fresh: bool = False) -> str:
    """The address that starts a sign-in at the provider (or, `fresh`, a re-authentication for a signature)."""
    return f"{START_PATH}?fresh=1" if fresh else f"{START_PATH}?next={quote(next_path, safe='/')}"


def sign_in_button(rt: Runtime, next_path: str) -> None:
    """The login page's "Sign in with …" button, when the plant file has an `access.oidc` section."""
    client = rt.users.oidc
    if client is None:
        return
    target = start_url(next_path)
    testid(
        ui.button(
            _("Sign in with {provider}").format(provider=client.settings.label),
            on_click=lambda: ui.navigate.to(target),
        )
        .props("outline no-caps")
        .classes("w-full"),
        "oidc-sign-in",
    )


async def start(rt: Runtime, next_path: str | None, fresh: bool) -> RedirectResponse | None:
    """Send the browser to the provider; a page saying why not when it cannot be asked."""
    client = rt.users.oidc
    if client is None:
        _problem(_("This HMI signs nobody in through an identity provider (no access.oidc in the plant file)."))
        return None
    subject: str | None = None
    target = session.safe_next(next_path)
    if fresh:
        check = await session.resolve_page(rt)
        ctx = check.ctx
        if ctx is None:
            ui.navigate.to("/login")
            return None
        user = await rt.users.get(ctx.username)
        if user is None or user.source != SOURCE_OIDC or user.external_id is None:
            _problem(_("Only accounts of the identity provider confirm their identity there; sign with your password."))
            return None
        # The provider must ask for this person's password again, and an answer for anyone else is refused.
        subject, target = user.external_id, START_PATH
    try:
        url, pending = await client.begin(target, fresh=fresh, subject=subject)
    except OidcError as exc:
        _problem(message(exc.message))
        return None
    started = [s for s in app.storage.user.get(_STATES, []) if isinstance(s, str) and client.pending(s) is not None]
    app.storage.user[_STATES] = [*started[-(_MOST_STATES - 1) :], pending.state]
    return RedirectResponse(url, status_code=303)


async def callback(rt: Runtime, request: Request) -> RedirectResponse | None:
    """Check the provider's answer; sign the person in (to the page they asked for), or record the fresh sign-in
    of a signature; a page saying why not otherwise, the refusal audited."""
    client = rt.users.oidc
    if client is None:
        _problem(_("This HMI signs nobody in through an identity provider (no access.oidc in the plant file)."))
        return None
    query = dict(request.query_params)
    state = query.get("state", "")
    started = [s for s in app.storage.user.get(_STATES, []) if isinstance(s, str)]
    pending = client.pending(state) if state in started else None
    station = await _station(rt)
    address = panel.client_address()
    if pending is None:
        # Not a sign-in this browser started (login CSRF), already finished, or forgotten after its time limit.
        rt.users.refusals.add(_REFUSED, address, station, "(identity provider)", "answer not started in this browser")
        _problem(_("This sign-in answer does not belong to a sign-in started in this browser, or it was used already."))
        return None
    app.storage.user[_STATES] = [s for s in started if s != state]
    try:
        identity = await client.finish(query, pending)
    except OidcError as exc:
        rt.users.refusals.add(_REFUSED, address, station, "(identity provider)", str(exc.message)[:200])
        _problem(message(exc.message))
        return None
    if pending.fresh:
        await _confirmed(rt, client, identity)
        return None
    try:
        result = await rt.users.sign_in_identity(identity, station)
        if result.ctx is None:
            # No password was typed here: "wrong user name or password" would mislead.
            disabled = result.reason == "account disabled"
            _problem(
                _("This account is disabled in the HMI; ask an administrator.") if disabled else refusal_text(result)
            )
            return None
        await session.sign_in(rt, result.ctx)
    except DatabaseUnavailable as exc:
        _problem(_("Cannot sign in: {exc}").format(exc=message(exc)))
        return None
    sid = session.session_id()
    if sid is not None:
        _ID_TOKENS[sid] = identity.id_token
        while len(_ID_TOKENS) > _MOST_ID_TOKENS:
            _ID_TOKENS.popitem(last=False)
    return RedirectResponse(pending.next_url, status_code=303)


async def _confirmed(rt: Runtime, client: OidcClient, identity: Identity) -> None:
    """The signed-in person entered their password at the provider again: one signature may follow."""
    ctx = (await session.resolve_page(rt)).ctx
    if ctx is None:
        ui.navigate.to("/login")
        return
    user = await rt.users.get(ctx.username)
    if user is None or user.source != SOURCE_OIDC or user.external_id != identity.subject:
        # Another person signed in on this browser since the confirmation was asked for: it is not theirs.
        _problem(_("The identity confirmed is not the person signed in here now; sign again."))
        return
    auth_time = identity.auth_time
    rt.users.fresh.record(ctx.user_id, ctx.station, auth_time)
    await rt.audit.record(
        ctx,
        "sign.reauthenticated",
        "user",
        ctx.username,
        detail=(
            f"fresh sign-in at the identity provider ({client.settings.issuer}) for an electronic signature; "
            f"authenticated there at {auth_time.isoformat() if auth_time is not None else 'a time not stated'}"
        ),
    )
    minutes = int(FRESH_WINDOW.total_seconds() // 60)
    with ui.column().classes(session.SIGN_IN_CARD):
        testid(
            ui.label(
                _("Identity confirmed. Go back to the signature and press Sign within {minutes} minutes.").format(
                    minutes=minutes
                )
            ).classes("hmi-title"),
            "oidc-confirmed",
        ).props('role="status"')
        ui.label(_("You can close this tab.")).classes("hmi-muted")


async def logout_target(rt: Runtime, source: str, sid: str | None) -> str | None:
    """The provider's logout address for a person who signed in there, so their session at the provider ends too
    (21 CFR 11.10(d)); None for other accounts or when the provider cannot be asked."""
    client = rt.users.oidc
    token = _ID_TOKENS.pop(sid, None) if sid is not None else None
    if client is None or source != SOURCE_OIDC:
        return None
    try:
        return await client.logout_url(token, client.settings.signed_out_uri)
    except OidcError as exc:
        # The HMI session has ended; the provider's may outlive it. Said in the log where administrators look.
        log.warning("the identity provider's logout could not be reached: %s", exc.message)
        return None


async def backchannel_logout(rt: Runtime, request: Request) -> Response:
    """The provider ended a person's session there: end theirs here (OpenID Connect Back-Channel Logout 1.0 §2.8:
    200 when done, 400 with an error for a token that is not valid, never cached)."""
    headers = {"Cache-Control": "no-store"}
    if rt.users.oidc is None:
        return JSONResponse({"error": "invalid_request"}, status_code=400, headers=headers)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MOST_LOGOUT_BODY:
            # Anyone can post here: a logout token is a few kilobytes, a bigger body is not read into memory.
            return JSONResponse({"error": "invalid_request"}, status_code=413, headers=headers)
    tokens = parse_qs(body.decode("utf-8", errors="replace")).get("logout_token", [])
    token = tokens[0] if len(tokens) == 1 else ""
    if not token:
        return JSONResponse({"error": "invalid_request"}, status_code=400, headers=headers)
    try:
        who = await rt.users.provider_logout(token)
    except OidcError as exc:
        log.warning("a back-channel logout was refused: %s", exc.message)
        return JSONResponse({"error": "invalid_request"}, status_code=400, headers=headers)
    except DatabaseUnavailable as exc:
        # The provider may retry; the person's HMI session has not ended yet.
        log.error("a back-channel logout could not be recorded: %s", exc)
        return JSONResponse({"error": "temporarily_unavailable"}, status_code=503, headers=headers)
    log.info("the identity provider signed out %s", who or "a person without an account here")
    return Response(status_code=200, headers=headers)


async def _station(rt: Runtime) -> str:
    try:
        return await session.station_for(rt)
    except DatabaseUnavailable:
        return panel.client_address()


def _problem(text: str) -> None:
    """A page that says why the sign-in did not happen, with the way back to the login page."""
    with ui.column().classes(session.SIGN_IN_CARD):
        ui.label(_("Not signed in")).classes("hmi-title")
        testid(ui.label(text).classes("text-base font-semibold").props('role="alert"'), "oidc-problem")
        testid(ui.button(_("Back to sign-in"), on_click=lambda: ui.navigate.to("/login")), "oidc-back")
