"""OpenID Connect sign-in against a real provider (oidc-provider under Node.js, tests/oidc_provider.py): the whole
authorization code flow with PKCE as a browser walks it, the id_token checks, the refusals, fresh authentication for
signatures and RP-initiated logout (issue 14)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from hmi.access.oidc import PENDING_LIMIT, Identity, OidcClient, OidcRefused, OidcUnavailable, PendingLogin
from hmi.access.oidc_settings import OidcSettings
from hmi.access.roles import Role
from hmi.clock import utc_now
from tests.oidc_provider import (
    ACCOUNTS,
    OTHER_CLIENT_ID,
    Browser,
    OidcProvider,
    asks_for_password,
    callback_of,
)
from tests.oidc_provider import oidc_provider as oidc_provider  # the fixtures, imported so pytest finds them here
from tests.oidc_provider import oidc_provider_tls as oidc_provider_tls
from tests.opcua_server import free_port


def client_for(provider: OidcProvider, *, clock: Callable[[], datetime] = utc_now, **overrides: object) -> OidcClient:
    return OidcClient(OidcSettings.model_validate(provider.settings(**overrides)), clock=clock)


@pytest.fixture
async def client(oidc_provider: OidcProvider) -> AsyncIterator[OidcClient]:
    oidc = client_for(oidc_provider)
    yield oidc
    await oidc.aclose()


@pytest.fixture
async def browser(oidc_provider: OidcProvider) -> AsyncIterator[Browser]:
    walk = Browser(oidc_provider)
    yield walk
    await walk.aclose()


def params_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_params(url: str, drop: tuple[str, ...] = (), **extra: str) -> str:
    """`url` with the query parameters `drop` removed and `extra` set."""
    params = {k: v for k, v in params_of(url).items() if k not in drop} | extra
    return url.split("?", 1)[0] + "?" + urlencode(params)


async def lena_signed_in(client: OidcClient, browser: Browser) -> Identity:
    """lena signs in with her password, which starts her session at the provider."""
    url, pending = await client.begin("/")
    return await client.finish(callback_of(await browser.sign_in(url, "lena")), pending)


async def silently(client: OidcClient, browser: Browser) -> tuple[str, PendingLogin]:
    """A sign-in with prompt=none (OIDC Core §3.1.2.1): the provider answers from its session or with
    login_required, never with a page. (callback URL, pending login)"""
    url, pending = await client.begin("/")
    return callback_of(await browser.go(with_params(url, prompt="none"))), pending


@pytest.mark.req("AUTH-202", "AUTH-203", "AUTH-205")
async def test_a_lead_signs_in_with_the_code_flow_and_pkce(
    client: OidcClient, browser: Browser, oidc_provider: OidcProvider
) -> None:
    url, pending = await client.begin("/alarms")
    params = params_of(url)
    assert (params["response_type"], params["client_id"], params["code_challenge_method"]) == (
        "code",
        "factory-hmi",
        "S256",
    )
    assert params["state"] == pending.state
    assert params["nonce"] == pending.nonce
    assert len(params["code_challenge"]) == 43  # base64url of a SHA-256 digest, never the verifier itself
    assert pending.code_verifier not in url
    assert params["scope"] == "openid profile"
    assert "prompt" not in params
    assert "max_age" not in params

    callback = callback_of(await browser.sign_in(url, "lena"))
    assert callback.startswith(oidc_provider.redirect_uri + "?")
    before = utc_now()
    # The screen may keep a copy of the pending sign-in (its session store), not the object begin() made.
    identity = await client.finish(callback, replace(pending))

    # lena is in HMI-Operators and HMI-Leads: the higher role wins.
    assert (identity.subject, identity.issuer, identity.username, identity.display_name, identity.role) == (
        ACCOUNTS["lena"][1],
        oidc_provider.issuer,
        "lena",
        "Lena Lead",
        Role.LEAD,
    )
    assert pending.next_url == "/alarms"
    assert identity.auth_time is not None
    assert before - timedelta(seconds=30) <= identity.auth_time <= before + timedelta(seconds=1)
    # The id_token is kept for logout, never shown; nor are the pending login's secrets.
    assert identity.id_token.count(".") == 2
    assert identity.id_token not in repr(identity)
    assert pending.code_verifier not in repr(pending)
    assert pending.nonce not in repr(pending)


@pytest.mark.req("AUTH-205")
async def test_an_operator_gets_the_operator_role(client: OidcClient, browser: Browser) -> None:
    url, pending = await client.begin("/")
    identity = await client.finish(callback_of(await browser.sign_in(url, "otto")), pending)
    assert (identity.username, identity.role) == ("otto", Role.OPERATOR)


@pytest.mark.req("AUTH-205")
async def test_an_account_without_an_hmi_role_is_refused(client: OidcClient, browser: Browser) -> None:
    url, pending = await client.begin("/")
    callback = callback_of(await browser.sign_in(url, "eve"))
    with pytest.raises(OidcRefused, match="eve has no HMI role at the identity provider"):
        await client.finish(callback, pending)


@pytest.mark.req("AUTH-202")
async def test_a_wrong_password_at_the_provider_sends_nobody_back(client: OidcClient, browser: Browser) -> None:
    url, _pending = await client.begin("/")
    page = await browser.sign_in(url, "lena", password="otto-op-pw")
    assert not page.redirect
    assert asks_for_password(page)
    assert "Invalid user name or password." in page.html
    # The right password on the same form then completes the sign-in.
    assert callback_of(await browser.submit(page, login="lena", password=ACCOUNTS["lena"][0]))


@pytest.mark.req("AUTH-204")
async def test_an_answer_for_another_sign_in_is_refused_and_leaves_the_own_one_usable(
    client: OidcClient, browser: Browser
) -> None:
    url, pending = await client.begin("/")
    callback = callback_of(await browser.sign_in(url, "lena"))
    code = params_of(callback)["code"]
    forged = with_params(callback, state="attacker-state")
    with pytest.raises(OidcRefused, match=r"does not belong to this sign-in \(state mismatch\)") as info:
        await client.finish(forged, pending)
    assert code not in str(info.value)
    identity = await client.finish(callback, pending)
    assert identity.username == "lena"


@pytest.mark.req("AUTH-204")
async def test_a_replayed_answer_is_refused(client: OidcClient, browser: Browser) -> None:
    url, pending = await client.begin("/")
    callback = callback_of(await browser.sign_in(url, "lena"))
    await client.finish(callback, pending)
    with pytest.raises(OidcRefused, match="already used or is no longer known") as info:
        await client.finish(callback, pending)
    assert params_of(callback)["code"] not in str(info.value)


@pytest.mark.req("AUTH-204")
async def test_an_error_answer_from_the_provider_is_refused(client: OidcClient, browser: Browser) -> None:
    # No session at the provider and prompt=none: it answers login_required instead of a code (OIDC Core §3.1.2.6).
    callback, pending = await silently(client, browser)
    assert params_of(callback)["error"] == "login_required"
    with pytest.raises(OidcRefused, match=r"The identity provider refused the sign-in \(login_required\)\."):
        await client.finish(callback, pending)


@pytest.mark.req("AUTH-204")
async def test_an_answer_from_another_issuer_is_refused(client: OidcClient, browser: Browser) -> None:
    url, pending = await client.begin("/")
    callback = callback_of(await browser.sign_in(url, "lena"))
    with pytest.raises(OidcRefused, match="comes from another identity provider"):
        await client.finish(with_params(callback, iss="https://idp.attacker.example"), pending)


@pytest.mark.req("AUTH-204")
async def test_a_sign_in_older_than_the_limit_and_sign_ins_past_the_bound_are_refused(
    oidc_provider: OidcProvider, browser: Browser
) -> None:
    offset = timedelta()
    oidc = client_for(oidc_provider, clock=lambda: utc_now() + offset)
    try:
        url, pending = await oidc.begin("/")
        callback = callback_of(await browser.sign_in(url, "lena"))
        offset = timedelta(minutes=10, seconds=1)
        with pytest.raises(OidcRefused, match="took longer than 10 minutes"):
            await oidc.finish(callback, pending)

        offset = timedelta()
        _url, first = await oidc.begin("/")
        for _ in range(PENDING_LIMIT):
            await oidc.begin("/")
        with pytest.raises(OidcRefused, match="already used or is no longer known"):
            await oidc.finish(f"state={first.state}&code=unused", first)
    finally:
        await oidc.aclose()


class _Rewriting(httpx.AsyncBaseTransport):
    """The network between the HMI and the provider, where `rewrite[path]` changes the JSON answers of that path
    (a substituted or tampered id_token, a broken discovery document)."""

    def __init__(self) -> None:
        self.rewrite: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        change = self.rewrite.get(request.url.path)
        if change is None:
            return response
        await response.aread()
        return httpx.Response(response.status_code, json=change(json.loads(response.content)))

    async def aclose(self) -> None:
        await self.inner.aclose()

    def id_token(self, change: Callable[[str], str]) -> None:
        """Token answers carry `change(their id_token)` instead."""
        self.rewrite["/token"] = lambda body: body | {"id_token": change(body["id_token"])}


@pytest.fixture
async def changed(oidc_provider: OidcProvider) -> AsyncIterator[tuple[OidcClient, _Rewriting]]:
    """A client whose answers from the provider pass through _Rewriting."""
    network = _Rewriting()
    http = httpx.AsyncClient(transport=network, timeout=10)
    yield OidcClient(OidcSettings.model_validate(oidc_provider.settings()), http=http), network
    await http.aclose()


async def other_apps_id_token(provider: OidcProvider, browser: Browser, url: str, pending: PendingLogin) -> str:
    """An id_token the provider issues to another client for the same request (same nonce and PKCE challenge)."""
    callback = callback_of(await browser.sign_in(with_params(url, client_id=OTHER_CLIENT_ID), "lena"))
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{provider.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": params_of(callback)["code"],
                "redirect_uri": provider.redirect_uri,
                "code_verifier": pending.code_verifier,
            },
            auth=(OTHER_CLIENT_ID, provider.client_secret),
        )
    assert answer.status_code == 200, answer.text
    id_token: str = answer.json()["id_token"]
    return id_token


@pytest.mark.req("AUTH-203")
async def test_an_id_token_for_another_audience_is_refused(
    oidc_provider: OidcProvider, browser: Browser, changed: tuple[OidcClient, _Rewriting]
) -> None:
    oidc, network = changed
    url, pending = await oidc.begin("/")
    # Signed by the provider, with the right issuer and nonce, but issued to other-app.
    foreign = await other_apps_id_token(oidc_provider, browser, url, pending)
    network.id_token(lambda _own: foreign)
    callback = callback_of(await browser.go(url))  # lena's session at the provider answers at once
    with pytest.raises(OidcRefused, match="issued to another application"):
        await oidc.finish(callback, pending)


def _claims_changed(id_token: str, **claims: object) -> str:
    """`id_token` with `claims` changed in its payload and its signature kept."""
    header, payload, signature = id_token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) | claims
    changed = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


@pytest.mark.req("AUTH-203")
async def test_an_id_token_changed_on_the_way_is_refused(
    browser: Browser, changed: tuple[OidcClient, _Rewriting]
) -> None:
    oidc, network = changed
    network.id_token(lambda own: _claims_changed(own, hmi_roles=["HMI-Leads"]))
    url, pending = await oidc.begin("/")
    callback = callback_of(await browser.sign_in(url, "eve"))
    with pytest.raises(OidcRefused, match="not signed with its keys"):
        await oidc.finish(callback, pending)


@pytest.mark.req("AUTH-206")
async def test_a_signature_needs_a_fresh_authentication(
    oidc_provider: OidcProvider, client: OidcClient, browser: Browser
) -> None:
    await lena_signed_in(client, browser)
    # auth_time is whole seconds: let the session's sign-in fall clearly into the past.
    await asyncio.sleep(2.1)

    # A plain sign-in is answered from the provider's session without the password...
    url, _pending = await client.begin("/")
    assert callback_of(await browser.go(url))

    # ...a signature's sign-in asks for the password again, and the identity carries the new authentication time.
    url, pending = await client.begin("/handover", fresh=True)
    assert (params_of(url)["prompt"], params_of(url)["max_age"]) == ("login", "0")
    page = await browser.go(url)
    assert asks_for_password(page)
    callback = callback_of(await browser.submit(page, login="lena", password=ACCOUNTS["lena"][0]))
    identity = await client.finish(callback, pending)
    assert identity.auth_time is not None
    assert identity.auth_time >= pending.started - timedelta(seconds=1)
    assert pending.fresh


@pytest.mark.req("AUTH-206")
async def test_a_signature_with_another_persons_password_is_refused(client: OidcClient, browser: Browser) -> None:
    lena = await lena_signed_in(client, browser)
    url, pending = await client.begin("/handover", fresh=True, subject=lena.subject)
    callback = callback_of(await browser.sign_in(url, "otto"))
    with pytest.raises(OidcRefused, match=r"entered for another account \(otto\)"):
        await client.finish(callback, pending)

    url, pending = await client.begin("/handover", fresh=True, subject=lena.subject)
    signer = await client.finish(callback_of(await browser.sign_in(url, "lena")), pending)
    assert signer.subject == lena.subject


@pytest.mark.req("AUTH-206")
async def test_max_age_alone_makes_the_provider_ask_for_the_password(client: OidcClient, browser: Browser) -> None:
    await lena_signed_in(client, browser)
    url, _pending = await client.begin("/handover", fresh=True)
    assert asks_for_password(await browser.go(with_params(url, drop=("prompt",))))


@pytest.mark.req("AUTH-206")
async def test_a_signature_answered_from_an_old_session_is_refused(
    oidc_provider: OidcProvider, browser: Browser
) -> None:
    # A provider that ignores prompt=login and max_age (simulated by leaving them out): auth_time is the old one.
    oidc = client_for(oidc_provider, clock_skew_s=0)
    try:
        await lena_signed_in(oidc, browser)
        await asyncio.sleep(2.1)
        url, pending = await oidc.begin("/handover", fresh=True)
        callback = callback_of(await browser.go(with_params(url, drop=("prompt", "max_age"))))
        with pytest.raises(OidcRefused, match="did not ask for the password again"):
            await oidc.finish(callback, pending)
    finally:
        await oidc.aclose()


@pytest.mark.req("AUTH-207")
async def test_logout_ends_the_session_at_the_provider(
    oidc_provider: OidcProvider, client: OidcClient, browser: Browser
) -> None:
    identity = await lena_signed_in(client, browser)

    # While the provider's session lasts, a silent authorization (prompt=none) succeeds.
    callback, _pending = await silently(client, browser)
    assert "code" in params_of(callback)

    logout = await client.logout_url(identity.id_token, oidc_provider.post_logout_redirect_uri)
    assert logout is not None
    assert logout.startswith(f"{oidc_provider.issuer}/session/end?")
    assert params_of(logout)["client_id"] == "factory-hmi"
    page = await browser.go(logout)
    assert callback_of(await browser.submit(page, logout="yes")) == oidc_provider.post_logout_redirect_uri

    callback, pending = await silently(client, browser)
    assert params_of(callback)["error"] == "login_required"
    with pytest.raises(OidcRefused, match=r"\(login_required\)"):
        await client.finish(callback, pending)


async def begin_is_refused(provider: OidcProvider, match: str, **overrides: object) -> None:
    """begin() with the settings changed by `overrides` raises OidcUnavailable matching `match`."""
    oidc = client_for(provider, **overrides)
    try:
        with pytest.raises(OidcUnavailable, match=match):
            await oidc.begin("/")
    finally:
        await oidc.aclose()


@pytest.mark.req("AUTH-208")
async def test_an_unreachable_or_silent_provider_is_named_without_a_sign_in(oidc_provider: OidcProvider) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    await begin_is_refused(oidc_provider, f"The identity provider {closed} cannot be reached", issuer=closed)

    # A provider that accepts the connection and never answers is given up after timeout_s.
    held: list[asyncio.StreamWriter] = []  # kept open, never written to
    silent = await asyncio.start_server(lambda _r, w: held.append(w), "127.0.0.1", 0)
    issuer = f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}"
    try:
        started = asyncio.get_running_loop().time()
        await begin_is_refused(oidc_provider, "cannot be reached", issuer=issuer, timeout_s=0.5)
        assert 0.4 < asyncio.get_running_loop().time() - started < 5
        assert held
    finally:
        silent.close()


@pytest.mark.req("AUTH-208")
async def test_a_provider_calling_itself_by_another_issuer_is_refused(oidc_provider: OidcProvider) -> None:
    # Same server, reached under another name: its discovery document names 127.0.0.1, not localhost.
    other_name = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    await begin_is_refused(oidc_provider, r"calls itself 'http://127\.0\.0\.1:\d+', not the issuer", issuer=other_name)


@pytest.mark.req("AUTH-201", "AUTH-208")
async def test_a_provider_with_a_certificate_of_its_own_is_trusted_through_ca_file(
    oidc_provider_tls: OidcProvider,
) -> None:
    assert oidc_provider_tls.issuer.startswith("https://")
    await begin_is_refused(
        oidc_provider_tls, r"presented a certificate this HMI does not trust; set access\.oidc\.ca_file", ca_file=None
    )

    oidc, browser = client_for(oidc_provider_tls), Browser(oidc_provider_tls)
    try:
        url, pending = await oidc.begin("/")
        identity = await oidc.finish(callback_of(await browser.sign_in(url, "otto")), pending)
        assert (identity.username, identity.role, identity.issuer) == ("otto", Role.OPERATOR, oidc_provider_tls.issuer)
    finally:
        await oidc.aclose()
        await browser.aclose()


@pytest.mark.req("AUTH-208")
async def test_a_broken_discovery_document_is_named(changed: tuple[OidcClient, _Rewriting]) -> None:
    oidc, network = changed
    network.rewrite["/.well-known/openid-configuration"] = lambda doc: doc | {"token_endpoint": "http://idp.example/t"}
    with pytest.raises(OidcUnavailable, match=r"sent an invalid discovery document \(token_endpoint\)") as info:
        await oidc.begin("/")
    assert info.value.message.fields["what"].template == "discovery document ({key})"  # translated on the screens
