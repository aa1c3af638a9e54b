"""OpenID Connect sign-in: the authorization code flow with PKCE against the plant's identity provider, as a core
without screens (docs/oidc.md).

`begin()` makes the authorization request (state, nonce, PKCE S256; `fresh=True` asks the provider to check the
password again for an electronic signature), `finish()` checks the answer and the id_token and maps the role claim
to an HMI role, `logout_url()` is RP-initiated logout. The screens own the redirect endpoints and the session.

Standards: OpenID Connect Core 1.0 §3.1 (authorization code flow; §3.1.3.7 id_token validation), OpenID Connect
Discovery 1.0, OpenID Connect RP-Initiated Logout 1.0, RFC 7636 (PKCE), RFC 9207 (issuer in the authorization
response) and RFC 9700 (OAuth 2.0 security best current practice).

Nothing here logs or raises a code, a token, a verifier or the client secret: refusals carry a Text for the person
and at most the provider's error code.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import ssl
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

from hmi.access.oidc_settings import OidcSettings, check_https_url
from hmi.access.roles import Role
from hmi.clock import Clock, utc_now
from hmi.texts import Text

# At most this many sign-ins may be under way at once; past it the oldest is forgotten (the person starts again),
# so a flood of started-but-never-finished sign-ins cannot grow the process.
PENDING_LIMIT = 1000
# Asymmetric algorithms only: a symmetric (HS*) id_token would be signed with the client secret, and "none" is
# never acceptable (OIDC Core §3.1.3.7 items 7-8; RFC 8725 §3.1, algorithm verification).
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# The provider's discovery document and keys change rarely; keys are fetched again when a token does not
# verify with the ones kept (the provider rotated them).
DISCOVERY_TTL = timedelta(hours=1)
# OpenID Connect Back-Channel Logout 1.0 §2.4: the event a logout token carries.
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# A logout token is sent as it is made: one issued longer ago than this is refused (§2.6 item 5, "recently").
LOGOUT_TOKEN_AGE_S = 300
# auth_time is whole seconds: a sign-in in the same second as the request may carry a time just before it.
_AUTH_TIME_ROUNDING_S = 1
# RFC 6749 §4.1.2.1 error codes are ASCII words; anything else from the query is not shown to people.
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
# RFC 7636 §4.1: 43-128 characters; 64 letters and digits are about 380 bits.
_VERIFIER_LENGTH = 64
_STATE_LENGTH = 43


class OidcError(Exception):
    """An OpenID Connect sign-in failed; `message` says why in words for the person (str(exc) is the same)."""

    def __init__(self, message: Text) -> None:
        super().__init__(message)
        self.message = message


class OidcRefused(OidcError):
    """The answer is not accepted: forged, replayed, expired, refused by the provider, or no HMI role."""


class OidcUnavailable(OidcError):
    """The identity provider cannot be reached or answers with something that is not a valid protocol answer."""


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A started sign-in, kept in the browser's server-side session until the provider sends the browser back
    (never sent to the browser). The client keeps its own copy too: the session's copy ties the answer to the
    browser that started the sign-in (CSRF), the client's copy is spent by the first answer (replay)."""

    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    next_url: str
    fresh: bool
    started: datetime
    # For a signature: the provider's subject of the person signing; an answer for anyone else is refused.
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed in at the provider, with the HMI role their claim maps to."""

    subject: str
    issuer: str
    username: str
    display_name: str
    role: Role
    auth_time: datetime | None
    # For RP-initiated logout (id_token_hint); it identifies the session at the provider, so it is kept out of repr.
    id_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The parts of the discovery document (OpenID Connect Discovery 1.0 §3) this client uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    algorithms: tuple[str, ...]
    auth_methods: tuple[str, ...]
    iss_parameter_supported: bool


def _query_of(callback: Mapping[str, str] | str) -> dict[str, str]:
    """The callback's query parameters, from a mapping, a full URL or a bare query string."""
    if not isinstance(callback, str):
        return dict(callback)
    query = urlsplit(callback).query if "?" in callback else callback
    return dict(parse_qsl(query, keep_blank_values=True))


def _with_query(url: str, params: Mapping[str, str]) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params, quote_via=quote)


def _strings(value: object, default: str) -> tuple[str, ...]:
    """A discovery list of names; its default (Discovery §3) when absent or not a list."""
    if not isinstance(value, list) or not value:
        return (default,)
    return tuple(v for v in value if isinstance(v, str))


def _claim_values(value: object) -> list[str]:
    """A role claim as a list of names: providers send a list of groups or a single name."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def highest_role(claim: object, role_map: Mapping[str, Role]) -> Role | None:
    """The most trusted HMI role among the claim's mapped values (Role's order), None when none is mapped."""
    order = list(Role)
    mapped = [role_map[v] for v in _claim_values(claim) if v in role_map]
    return max(mapped, key=order.index) if mapped else None


class OidcClient:
    """The HMI as an OpenID Connect relying party of one provider."""

    def __init__(
        self, settings: OidcSettings, *, http: httpx.AsyncClient | None = None, clock: Clock = utc_now
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._http = http
        self._own_http = http is None
        self._lock = asyncio.Lock()
        self._http_lock = asyncio.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at: datetime | None = None
        self._keys: KeySet | None = None
        self._pending: OrderedDict[str, PendingLogin] = OrderedDict()
        # Logout tokens already taken (their jti), against replay; bounded like the sign-ins under way.
        self._logout_jtis: OrderedDict[str, int] = OrderedDict()

    async def aclose(self) -> None:
        """Close the HTTP client this object made (not one it was given)."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    # ------------------------------------------------------------------------------------------ HTTP

    async def _client(self) -> httpx.AsyncClient:
        async with self._http_lock:
            if self._http is None:
                # Making the TLS context reads CA files from disk: off the event loop.
                self._http = await asyncio.to_thread(self._new_http_client)
        return self._http

    def _new_http_client(self) -> httpx.AsyncClient:
        verify: ssl.SSLContext | bool = True
        if self.settings.ca_file is not None:
            try:
                verify = ssl.create_default_context(cafile=str(self.settings.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise OidcUnavailable(
                    Text(
                        "The CA file {path} for the identity provider cannot be used ({reason}); correct "
                        "access.oidc.ca_file.",
                        path=str(self.settings.ca_file),
                        reason=getattr(exc, "strerror", None) or type(exc).__name__,
                    )
                ) from None
        # No redirects: an endpoint that redirects is misconfigured, and following it could leak the code.
        return httpx.AsyncClient(timeout=self.settings.timeout_s, verify=verify, follow_redirects=False)

    def _unreachable(self, exc: httpx.HTTPError) -> OidcUnavailable:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return OidcUnavailable(
                    Text(
                        "The identity provider {issuer} presented a certificate this HMI does not trust; set "
                        "access.oidc.ca_file to the CA that signed it.",
                        issuer=self.settings.issuer,
                    )
                )
            cause = cause.__cause__ or cause.__context__
        return OidcUnavailable(
            Text(
                "The identity provider {issuer} cannot be reached; try again, or sign in with a local account.",
                issuer=self.settings.issuer,
            )
        )

    def _invalid_answer(self, what: Text) -> OidcUnavailable:
        return OidcUnavailable(
            Text(
                "The identity provider {issuer} sent an invalid {what}; ask the administrator to check the "
                "provider and the plant file's access.oidc section.",
                issuer=self.settings.issuer,
                what=what,
            )
        )

    async def _get_json(self, url: str, what: Text) -> dict[str, Any]:
        client = await self._client()
        try:
            response = await client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            raise self._invalid_answer(what)
        return self._json_object(response, what)

    def _json_object(self, response: httpx.Response, what: Text) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise self._invalid_answer(what) from None
        if not isinstance(data, dict):
            raise self._invalid_answer(what)
        return data

    # ------------------------------------------------------------------------------------------ discovery

    async def discover(self) -> ProviderMetadata:
        """The provider's metadata from its discovery document, fetched at most once an hour (failures are not
        kept, so the next sign-in asks again)."""
        async with self._lock:
            now = self._clock()
            if self._metadata is not None and self._metadata_at is not None and now - self._metadata_at < DISCOVERY_TTL:
                return self._metadata
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            doc = await self._get_json(url, Text("discovery document"))
            self._metadata = self._parse_metadata(doc)
            self._metadata_at = now
            self._keys = None
            return self._metadata

    def _parse_metadata(self, doc: dict[str, Any]) -> ProviderMetadata:
        # Discovery §4.3: the issuer in the document must be exactly the one configured (a mix-up defence).
        if doc.get("issuer") != self.settings.issuer:
            raise OidcUnavailable(
                Text(
                    "The identity provider calls itself {stated!r}, not the issuer {issuer} in the plant file; "
                    "correct access.oidc.issuer.",
                    stated=str(doc.get("issuer"))[:200],
                    issuer=self.settings.issuer,
                )
            )
        endpoints: dict[str, str] = {}
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = doc.get(key)
            try:
                endpoints[key] = check_https_url(value, key) if isinstance(value, str) else ""
            except ValueError:
                endpoints[key] = ""
            if not endpoints[key]:
                raise self._invalid_answer(Text("discovery document ({key})", key=key))
        end_session = doc.get("end_session_endpoint")
        try:
            # The id_token goes there as a hint: never over plain HTTP (then only the HMI session ends at logout).
            end_session = check_https_url(end_session, "end_session_endpoint") if isinstance(end_session, str) else None
        except ValueError:
            end_session = None
        algorithms = _strings(doc.get("id_token_signing_alg_values_supported"), "RS256")
        methods = _strings(doc.get("token_endpoint_auth_methods_supported"), "client_secret_basic")
        return ProviderMetadata(
            issuer=self.settings.issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            end_session_endpoint=end_session,
            algorithms=tuple(a for a in algorithms if a in SIGNING_ALGORITHMS),
            auth_methods=methods,
            iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        )

    async def _key_set(self, meta: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            doc = await self._get_json(meta.jwks_uri, Text("key set (jwks_uri)"))
            try:
                self._keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError):
                raise self._invalid_answer(Text("key set (jwks_uri)")) from None
        return self._keys

    # ------------------------------------------------------------------------------------------ the flow

    def _remember(self, pending: PendingLogin) -> None:
        limit = timedelta(minutes=self.settings.pending_minutes)
        now = self._clock()
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if now - oldest.started <= limit and len(self._pending) < PENDING_LIMIT:
                break
            self._pending.popitem(last=False)
        self._pending[pending.state] = pending

    async def begin(
        self, next_url: str, *, fresh: bool = False, subject: str | None = None
    ) -> tuple[str, PendingLogin]:
        """The URL to send the browser to and the sign-in to keep until it comes back.

        `next_url` is the HMI path to return to (the screen passes it through its own check first). `fresh=True`
        is for an electronic signature: the provider must ask for the password again (OIDC Core §3.1.2.1 prompt=login,
        max_age=0), and `finish()` checks that it did; `subject` (the signed-in person's `Identity.subject`) makes
        `finish()` refuse a password entered for another account.
        """
        if not next_url.startswith("/") or next_url.startswith("//"):
            # A programming error of the caller (the screen checks what people send first), not a refusal.
            raise ValueError("next_url must be a path of this application, e.g. /alarms")
        meta = await self.discover()
        verifier = generate_token(_VERIFIER_LENGTH)
        pending = PendingLogin(
            state=generate_token(_STATE_LENGTH),
            nonce=generate_token(_STATE_LENGTH),
            code_verifier=verifier,
            next_url=next_url,
            fresh=fresh,
            started=self._clock(),
            subject=subject,
        )
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if fresh:
            params |= {"prompt": "login", "max_age": "0"}
        self._remember(pending)
        return _with_query(meta.authorization_endpoint, params), pending

    async def finish(self, callback_query: Mapping[str, str] | str, pending: PendingLogin) -> Identity:
        """The identity of the person the provider sent back, after every check of OIDC Core §3.1.2.7 and §3.1.3.7;
        OidcRefused (or OidcUnavailable) with the reason in words otherwise."""
        query = _query_of(callback_query)
        state = query.get("state", "")
        if not hmac.compare_digest(state.encode(), pending.state.encode()):
            # Not consumed: a forged answer must not cancel the person's own sign-in.
            raise OidcRefused(
                Text("The sign-in answer does not belong to this sign-in (state mismatch); start the sign-in again.")
            )
        # Equal, not identical: the screen may keep a copy of the pending sign-in rather than the object itself.
        if self._pending.pop(pending.state, None) != pending:
            raise OidcRefused(Text("This sign-in answer was already used or is no longer known; sign in again."))
        if self._clock() - pending.started > timedelta(minutes=self.settings.pending_minutes):
            raise OidcRefused(
                Text(
                    "The sign-in took longer than {minutes:g} minutes; sign in again.",
                    minutes=self.settings.pending_minutes,
                )
            )
        meta = await self.discover()
        self._check_issuer_parameter(query, meta)
        if "error" in query:
            error = query["error"] if _ERROR_CODE.fullmatch(query["error"]) else "unknown_error"
            raise OidcRefused(Text("The identity provider refused the sign-in ({error}).", error=error))
        code = query.get("code")
        if not code:
            raise OidcRefused(Text("The sign-in answer carries no authorization code; sign in again."))
        id_token = await self._exchange(meta, code, pending)
        claims = await self._verify(meta, id_token, pending)
        return self._identity(claims, id_token)

    def _check_issuer_parameter(self, query: Mapping[str, str], meta: ProviderMetadata) -> None:
        # RFC 9207 §2.4: with the iss parameter, an answer from another provider (mix-up attack) is refused here.
        iss = query.get("iss")
        if (iss is None and meta.iss_parameter_supported) or (iss is not None and iss != meta.issuer):
            raise OidcRefused(Text("The sign-in answer comes from another identity provider; sign in again."))

    async def _exchange(self, meta: ProviderMetadata, code: str, pending: PendingLogin) -> str:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
            "code_verifier": pending.code_verifier,
        }
        auth: httpx.Auth | None = None
        secret = self.settings.client_secret
        if secret is None:
            data["client_id"] = self.settings.client_id
        elif "client_secret_basic" in meta.auth_methods or "client_secret_post" not in meta.auth_methods:
            # RFC 6749 §2.3.1: id and secret are form-encoded before they go into the Basic header.
            auth = httpx.BasicAuth(quote(self.settings.client_id, safe=""), quote(secret.reveal(), safe=""))
        else:
            data |= {"client_id": self.settings.client_id, "client_secret": secret.reveal()}
        client = await self._client()
        try:
            response = await client.post(
                meta.token_endpoint,
                data=data,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        body = self._json_object(response, Text("token answer"))
        if response.status_code != 200:
            error = body.get("error")
            shown = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else "unknown_error"
            raise OidcRefused(
                Text("The identity provider did not accept the sign-in ({error}); sign in again.", error=shown)
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise self._invalid_answer(Text("token answer (no id_token)"))
        return id_token

    async def _signed_claims(self, meta: ProviderMetadata, token_text: str) -> dict[str, Any]:
        """The claims of a JWT the provider signed with one of its published keys (asymmetric algorithms only)."""
        if not meta.algorithms:
            raise self._invalid_answer(Text("discovery document (no supported id_token signing algorithm)"))
        keys = await self._key_set(meta)
        try:
            token = jwt.decode(token_text, keys, algorithms=meta.algorithms)
        except (JoseError, ValueError):
            # The provider may have rotated its keys since they were fetched: fetch once more, then refuse.
            keys = await self._key_set(meta, refresh=True)
            try:
                token = jwt.decode(token_text, keys, algorithms=meta.algorithms)
            except (JoseError, ValueError):
                raise OidcRefused(
                    Text("The identity provider's answer is not signed with its keys; sign in again.")
                ) from None
        return dict(token.claims)

    async def _verify(self, meta: ProviderMetadata, id_token: str, pending: PendingLogin) -> dict[str, Any]:
        claims = await self._signed_claims(meta, id_token)
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock().timestamp()),
            leeway=self.settings.clock_skew_s,
            iss={"essential": True, "value": meta.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": self.settings.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": pending.nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise OidcRefused(Text("The identity provider's answer has expired; sign in again.")) from None
        except ClaimError as exc:
            raise self._claim_refusal(exc.claim) from None
        aud = claims["aud"]
        azp = claims.get("azp")
        # OIDC Core §3.1.3.7 items 4-5: with several audiences the token must name this client as its party.
        if (isinstance(aud, list) and len(aud) > 1 and azp is None) or (
            azp is not None and azp != self.settings.client_id
        ):
            raise self._claim_refusal("azp")
        if pending.fresh:
            self._check_fresh(claims, pending)
        if pending.subject is not None and claims["sub"] != pending.subject:
            # 21 CFR 11.200(a)(2): a signature is made by its genuine owner only.
            raise OidcRefused(
                Text(
                    "The password was entered for another account ({username}); sign with your own account.",
                    username=str(claims.get("preferred_username") or claims["sub"])[:120],
                )
            )
        return claims

    def _claim_refusal(self, claim: str) -> OidcRefused:
        if claim in ("aud", "azp"):
            return OidcRefused(
                Text("The identity provider's answer was issued to another application; it is not accepted here.")
            )
        if claim == "nonce":
            return OidcRefused(
                Text("The identity provider's answer does not belong to this sign-in (nonce); sign in again.")
            )
        if claim == "iss":
            return OidcRefused(Text("The identity provider's answer names another issuer; it is not accepted here."))
        return OidcRefused(
            Text("The identity provider's answer has a missing or invalid {claim} claim; sign in again.", claim=claim)
        )

    def _check_fresh(self, claims: Mapping[str, Any], pending: PendingLogin) -> None:
        # OIDC Core §3.1.2.1 (max_age) and §3.1.3.7 item 13: a signature needs a password entered after it was
        # asked for (21 CFR 11.200(a)); a provider that answered from an older session is refused.
        auth_time = claims.get("auth_time")
        earliest = pending.started.timestamp() - self.settings.clock_skew_s - _AUTH_TIME_ROUNDING_S
        if not isinstance(auth_time, int | float) or isinstance(auth_time, bool) or auth_time < earliest:
            raise OidcRefused(
                Text(
                    "The identity provider did not ask for the password again; a signature needs a fresh sign-in. "
                    "Sign again."
                )
            )

    def _identity(self, claims: Mapping[str, Any], id_token: str) -> Identity:
        username = claims.get("preferred_username")
        if not isinstance(username, str) or not username.strip():
            raise OidcRefused(
                Text(
                    "The identity provider sent no user name (preferred_username); ask the administrator to add the "
                    "profile scope."
                )
            )
        role = highest_role(claims.get(self.settings.role_claim), self.settings.role_map)
        if role is None:
            raise OidcRefused(
                Text(
                    "{username} has no HMI role at the identity provider; ask the administrator for one.",
                    username=username,
                )
            )
        name = claims.get("name")
        auth_time = claims.get("auth_time")
        return Identity(
            subject=str(claims["sub"]),
            issuer=str(claims["iss"]),
            username=username,
            display_name=name if isinstance(name, str) and name.strip() else username,
            role=role,
            auth_time=datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int | float) else None,
            id_token=id_token,
        )

    async def logout_url(self, id_token_hint: str | None, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser so the provider ends its session too (OpenID Connect RP-Initiated Logout 1.0
        §2), or None when the provider offers no end_session_endpoint (then only the HMI session ends). Without
        `id_token_hint` (this process did not see the sign-in) the provider may ask the person to confirm."""
        meta = await self.discover()
        if meta.end_session_endpoint is None:
            return None
        params = {"post_logout_redirect_uri": post_logout_redirect_uri, "client_id": self.settings.client_id}
        if id_token_hint is not None:
            params = {"id_token_hint": id_token_hint, **params}
        return _with_query(meta.end_session_endpoint, params)

    async def logout_subject(self, logout_token: str) -> str:
        """The subject whose sessions the provider ended, from a logout token it sent to the back-channel logout
        endpoint (OpenID Connect Back-Channel Logout 1.0 §2.6): signed with the provider's keys, this issuer, this
        client as audience, issued within the clock skew, the back-channel logout event, a subject, no nonce, and a
        `jti` not seen before (a replayed token is refused). OidcRefused otherwise."""
        meta = await self.discover()
        claims = await self._signed_claims(meta, logout_token)
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock().timestamp()),
            leeway=self.settings.clock_skew_s,
            iss={"essential": True, "value": meta.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            iat={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
            issued = int(claims["iat"])
        except (ClaimError, ExpiredTokenError, TypeError, ValueError):
            raise OidcRefused(Text("The logout token is not valid for this application.")) from None
        if abs(self._clock().timestamp() - issued) > LOGOUT_TOKEN_AGE_S + self.settings.clock_skew_s:
            raise OidcRefused(Text("The logout token is not valid for this application."))
        events = claims.get("events")
        subject = claims.get("sub")
        # §2.4: the event member must be there; a nonce must not (an id_token is not a logout token).
        if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events or "nonce" in claims:
            raise OidcRefused(Text("The logout token is not valid for this application."))
        if not isinstance(subject, str) or not subject:
            # A token naming only a provider session (sid) cannot be matched: the HMI keeps people, not their sids.
            raise OidcRefused(Text("The logout token names no subject; configure the provider to send sub."))
        jti = str(claims["jti"])
        if jti in self._logout_jtis:
            raise OidcRefused(Text("The logout token was used already."))
        self._logout_jtis[jti] = issued
        while len(self._logout_jtis) > PENDING_LIMIT:
            self._logout_jtis.popitem(last=False)
        return subject

    def pending(self, state: str) -> PendingLogin | None:
        """The sign-in under way with `state`, not spent (the screen compares it with the browser's own first)."""
        return self._pending.get(state)
