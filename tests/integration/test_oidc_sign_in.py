"""People who sign in at the plant's OpenID Connect provider (a real oidc-provider, tests/oidc_provider.py) in the
records: one row per provider subject, the refusals, and electronic signatures that take a fresh sign-in there."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from hmi.access.auth import NO_LOCAL_PASSWORD, SOURCE_OIDC, DirectoryAccountError, UserService
from hmi.access.context import ActionContext
from hmi.access.fresh_sign_in import FRESH_WINDOW
from hmi.access.oidc import Identity, OidcRefused
from hmi.access.oidc_settings import OidcSettings
from hmi.access.roles import Role
from hmi.access.sessions import SessionEnd
from hmi.clock import ManualClock, utc_now
from hmi.config import AccessPolicy
from hmi.records.audit import AuditLog
from hmi.records.signatures import NO_FRESH_SIGN_IN, SignatureRefused, SignatureService
from hmi.store.database import Database
from tests.conftest import FAST_HASHER
from tests.oidc_provider import ACCOUNTS, Browser, OidcProvider, callback_of
from tests.oidc_provider import oidc_provider as oidc_provider  # the fixture, imported so pytest finds it here

ADMIN_PASSWORD = "break-glass-admin-1"


@pytest.fixture
def now() -> ManualClock:
    # The provider's tokens carry the real time: the HMI's clock must agree with it (clock_skew_s).
    return ManualClock(utc_now())


@pytest.fixture
async def people(db: Database, now: ManualClock, oidc_provider: OidcProvider) -> AsyncIterator[UserService]:
    policy = AccessPolicy(oidc=OidcSettings.model_validate(oidc_provider.settings()))
    service = UserService(db, AuditLog(db, now), now, hasher=FAST_HASHER, policy=policy)
    yield service
    await service.stop()


async def identity_of(users: UserService, provider: OidcProvider, login: str) -> Identity:
    """`login` signs in at the provider with their password, in a browser of their own (a browser that holds
    someone's session at the provider would be answered for that person); the HMI checks the answer."""
    assert users.oidc is not None
    browser = Browser(provider)
    try:
        url, pending = await users.oidc.begin("/")
        return await users.oidc.finish(callback_of(await browser.sign_in(url, login)), pending)
    finally:
        await browser.aclose()


async def admin(users: UserService) -> ActionContext:
    await users.create_user("root", ADMIN_PASSWORD, Role.ADMIN, "Ada Admin")
    ctx = (await users.sign_in("root", ADMIN_PASSWORD, station="office")).ctx
    assert ctx is not None
    return ctx


@pytest.mark.req("AUTH-209")
async def test_a_provider_person_has_one_row_under_the_provider_subject(
    people: UserService, oidc_provider: OidcProvider, db: Database, now: ManualClock
) -> None:
    audit = AuditLog(db, now)
    lena = await identity_of(people, oidc_provider, "lena")
    first = await people.sign_in_identity(lena, "office-pc")
    assert first.ctx is not None
    assert (first.ctx.username, first.ctx.full_name, first.ctx.role, first.ctx.source) == (
        "lena",
        "Lena Lead",
        Role.LEAD,
        SOURCE_OIDC,
    )
    row = await people.get("lena")
    assert row is not None
    assert (row.source, row.external_id, row.id) == (SOURCE_OIDC, ACCOUNTS["lena"][1], first.ctx.user_id)
    # No usable local password: the provider checks it.
    assert row.password_hash == NO_LOCAL_PASSWORD

    # The next sign-in finds the same row, and nothing about the person changed.
    again = await people.sign_in_identity(await identity_of(people, oidc_provider, "lena"), "office-pc")
    assert again.ctx is not None
    assert again.ctx.user_id == first.ctx.user_id
    [created] = await audit.query(action="user.create", object_id="lena")
    assert json.loads(created.new_value or "{}")["external_id"] == ACCOUNTS["lena"][1]
    assert oidc_provider.issuer in (created.detail or "")
    logins = await audit.query(action="login", username="lena")
    assert len(logins) == 2
    assert all(f"subject {ACCOUNTS['lena'][1]}" in (r.detail or "") for r in logins)
    assert all(r.user_id == first.ctx.user_id for r in logins)

    # A role claim changed at the provider takes effect at the next sign-in, audited with old and new.
    promoted = replace(lena, role=Role.ENGINEER)
    third = await people.sign_in_identity(promoted, "office-pc")
    assert third.ctx is not None
    assert third.ctx.role is Role.ENGINEER
    [update] = await audit.query(action="user.update", object_id="lena")
    assert (json.loads(update.old_value or "{}"), json.loads(update.new_value or "{}")) == (
        {"role": "lead"},
        {"role": "engineer"},
    )
    assert await audit.verify() is None


@pytest.mark.req("AUTH-210")
async def test_a_name_held_by_another_account_and_accounts_disabled_here_are_refused(
    people: UserService, oidc_provider: OidcProvider, db: Database, now: ManualClock
) -> None:
    audit = AuditLog(db, now)
    root = await admin(people)
    # A local account already holds "otto": the provider's otto (another identity) must not take it over.
    await people.create_user("otto", "otto-local-password", Role.OPERATOR, "Otto Local")
    taken = await people.sign_in_identity(await identity_of(people, oidc_provider, "otto"), "office-pc")
    assert (taken.ctx, taken.reason) == (None, "user name taken")
    [refused] = await audit.query(action="login.failed", object_id="otto")
    assert refused.reason == "user name held by another identity"
    local = await people.get("otto")
    assert local is not None
    assert local.source == "local"

    lena = await identity_of(people, oidc_provider, "lena")
    assert (await people.sign_in_identity(lena, "office-pc")).ctx is not None
    await people.set_disabled(root, "lena", True, reason="left the company")
    disabled = await people.sign_in_identity(lena, "office-pc")
    assert (disabled.ctx, disabled.reason) == (None, "account disabled")

    # The password form cannot be used for a provider account, and guesses there never lock the person out.
    await people.set_disabled(root, "lena", False)
    for _ in range(people.policy.lockout_attempts + 1):
        form = await people.sign_in("lena", ACCOUNTS["lena"][0], station="panel-1")
        assert (form.ctx, form.reason) == (None, "identity provider account")
    row = await people.get("lena")
    assert row is not None
    assert (row.failed_logins, row.locked_at) == (0, None)
    with pytest.raises(DirectoryAccountError, match="identity provider account"):
        await people.reset_password(root, "lena", "a-new-password-1")


@pytest.mark.req("AUTH-212")
async def test_a_signature_takes_one_fresh_sign_in_at_the_provider(
    people: UserService, oidc_provider: OidcProvider, db: Database, now: ManualClock
) -> None:
    audit = AuditLog(db, now)
    signatures = SignatureService(db, audit, people, now)
    signed_in = await people.sign_in_identity(await identity_of(people, oidc_provider, "lena"), "office-pc")
    ctx = signed_in.ctx
    assert ctx is not None

    async def sign() -> int:
        made = await signatures.sign(
            ctx.for_action(),
            username=None,
            password="",
            meaning="Approved",
            object_type="report",
            object_id="r1",
            content="the report",
        )
        assert made.id is not None
        return made.user_id

    # No fresh sign-in: refused, audited, and not counted as a wrong password.
    with pytest.raises(SignatureRefused, match="confirm your identity at the identity provider"):
        await sign()
    [refused] = await audit.query(action="sign.failed")
    assert refused.reason == NO_FRESH_SIGN_IN
    row = await people.get("lena")
    assert row is not None
    assert row.failed_logins == 0

    # A fresh sign-in on another station does not count here; on this one it makes one signature.
    people.fresh.record(ctx.user_id, "another-pc", None)
    with pytest.raises(SignatureRefused):
        await sign()
    people.fresh.record(ctx.user_id, ctx.station, None)
    assert await sign() == ctx.user_id
    [signed] = await audit.query(action="sign")
    assert signed.user_id == ctx.user_id
    with pytest.raises(SignatureRefused):
        await sign()

    # One that waited longer than the window is not taken.
    people.fresh.record(ctx.user_id, ctx.station, None)
    now.advance((FRESH_WINDOW + timedelta(seconds=1)).total_seconds())
    with pytest.raises(SignatureRefused):
        await sign()


async def logout_token_from_the_provider(users: UserService, provider: OidcProvider) -> tuple[Identity, str]:
    """lena signs in at the provider, then signs out there; the logout token the provider sends to the HMI's
    back-channel logout address (received on that port here, as `hmi run` would) and her identity."""
    tokens: asyncio.Queue[str] = asyncio.Queue()

    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
        body = await reader.readexactly(int(length.group(1)) if length else 0)
        await tokens.put(parse_qs(body.decode())["logout_token"][0])
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(receive, "127.0.0.1", urlsplit(provider.redirect_uri).port)
    browser = Browser(provider)
    try:
        assert users.oidc is not None
        url, pending = await users.oidc.begin("/")
        identity = await users.oidc.finish(callback_of(await browser.sign_in(url, "lena")), pending)
        page = await browser.go(f"{provider.issuer}/session/end?client_id=factory-hmi")
        await browser.submit(page, logout="yes")
        return identity, await asyncio.wait_for(tokens.get(), 10)
    finally:
        await browser.aclose()
        server.close()
        await server.wait_closed()


@pytest.mark.req("AUTH-213")
async def test_a_logout_at_the_provider_ends_the_persons_sessions_here(
    people: UserService, oidc_provider: OidcProvider, db: Database, now: ManualClock
) -> None:
    audit = AuditLog(db, now)
    identity, token = await logout_token_from_the_provider(people, oidc_provider)
    ctx = (await people.sign_in_identity(identity, "office-pc")).ctx
    assert ctx is not None
    session_id = await people.sessions.start(ctx)

    # Neither an id_token (it carries a nonce and no logout event) nor a token the provider did not sign ends anything.
    for forged in (identity.id_token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", token[:-4] + "AAAA"):
        with pytest.raises(OidcRefused):
            await people.provider_logout(forged)
    assert (await people.sessions.check(session_id)).ctx is not None

    assert await people.provider_logout(token) == "lena"
    ended = await people.sessions.check(session_id)
    assert (ended.ctx, ended.ended) == (None, SessionEnd.PROVIDER_LOGOUT)
    [signed_out] = await audit.query(action="user.signed_out")
    assert (signed_out.object_id, signed_out.reason) == ("lena", "signed out at the identity provider")
    # A logout token is taken once.
    with pytest.raises(OidcRefused, match="used already"):
        await people.provider_logout(token)
