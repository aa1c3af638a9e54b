"""The plant file's `access: {oidc: ...}` section: which OpenID Connect provider signs people in, and how its role
claim maps to HMI roles (docs/oidc.md).

Only pydantic, the roles and the secrets type: hmi/config.py imports this module, so it must not import the plant
models or the protocol code (hmi/access/oidc.py).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hmi.access.roles import Role
from hmi.hosts import is_loopback
from hmi.secrets import Secret

# Claim values are group or role names from the provider; keys this long are a mistake, not a group.
_MAX_CLAIM_VALUE = 256
# Where the HMI serves the provider's answer and where the provider sends the browser after its logout: both are
# registered at the provider with the HMI's address in front (https://hmi.example.com/auth/oidc/callback).
CALLBACK_PATH = "/auth/oidc/callback"
SIGNED_OUT_PATH = "/auth/oidc/signed-out"
# Where the provider tells the HMI that a person's session there ended (OpenID Connect Back-Channel Logout 1.0).
BACKCHANNEL_LOGOUT_PATH = "/auth/oidc/backchannel-logout"


def check_https_url(value: str, what: str) -> str:
    """`value` if it is an absolute https:// URL without fragment; http:// only to this machine (a provider under
    test). OpenID Connect Core 1.0 §3.1.2 and §3.1.3 require TLS towards the provider, RFC 9700 §2.6 for the
    authorization response on its way back."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute https:// URL, e.g. https://login.example.com/realms/plant")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"{what} must use https:// (http:// is accepted only for 127.0.0.1 or localhost)")
    if parts.fragment:
        raise ValueError(f"{what} must not have a #fragment")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OidcSettings(_Model):
    """Sign-in through an OpenID Connect provider: authorization code flow with PKCE (docs/oidc.md)."""

    issuer: str = Field(description="the provider's issuer URL, exactly as its discovery document states it")
    label: str = Field(
        "identity provider",
        min_length=1,
        max_length=60,
        description='how the login page names the provider: "Sign in with <label>", e.g. Plant login',
    )
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: Secret | None = Field(
        None, description="for a confidential client: text, {env: VARIABLE} or {file: /path}; never logged"
    )
    redirect_uri: str = Field(description="the HMI's callback URL, registered at the provider")
    scopes: tuple[str, ...] = Field(("openid", "profile"), description="requested scopes; openid is required")
    role_claim: str = Field("roles", min_length=1, max_length=120, description="the id_token claim naming roles")
    role_map: dict[str, Role] = Field(description="claim value -> HMI role; the highest mapped role wins")
    ca_file: Path | None = Field(None, description="PEM file of the CA(s) to trust; absent: the system's CAs")
    timeout_s: float = Field(10.0, gt=0, le=60, description="longest wait for one answer from the provider")
    clock_skew_s: int = Field(60, ge=0, le=300, description="tolerated clock difference to the provider")
    pending_minutes: float = Field(10.0, gt=0, le=60, description="how long a started sign-in may take")

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        check_https_url(value, "issuer")
        if urlsplit(value).query:
            raise ValueError("issuer must not have a ?query (OpenID Connect Discovery §3)")
        return value

    @field_validator("redirect_uri")
    @classmethod
    def _redirect(cls, value: str) -> str:
        check_https_url(value, "redirect_uri")
        parts = urlsplit(value)
        if parts.path != CALLBACK_PATH or parts.query:
            raise ValueError(
                f"redirect_uri must be the HMI's address followed by {CALLBACK_PATH}, e.g. "
                f"https://{parts.hostname or 'hmi.example.com'}{CALLBACK_PATH} (the HMI serves the answer there)"
            )
        return value

    @property
    def signed_out_uri(self) -> str:
        """Where the provider sends the browser after its logout (register it as a post-logout redirect URI)."""
        parts = urlsplit(self.redirect_uri)
        return f"{parts.scheme}://{parts.netloc}{SIGNED_OUT_PATH}"

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("scopes must include openid (OpenID Connect Core §3.1.2.1), e.g. [openid, profile]")
        bad = [s for s in value if not s or any(c.isspace() for c in s)]
        if bad:
            raise ValueError(f"a scope is one word without spaces; check {bad!r}")
        return value

    @field_validator("role_map")
    @classmethod
    def _role_map(cls, value: dict[str, Role]) -> dict[str, Role]:
        if not value:
            raise ValueError(
                "role_map needs at least one entry, claim value -> role, e.g. {HMI-Operators: operator, "
                "HMI-Leads: lead}"
            )
        for key in value:
            if not key.strip() or len(key) > _MAX_CLAIM_VALUE:
                raise ValueError(f"role_map key {key!r} must be a group or role name of 1 to {_MAX_CLAIM_VALUE} chars")
        return value

    def file_issues(self) -> list[tuple[tuple[str, ...], str]]:
        """The ca_file when it cannot be read, with its place in the section and the fix."""
        if self.ca_file is None:
            return []
        try:
            with self.ca_file.open("rb"):
                pass
        except OSError as exc:
            return [(("ca_file",), f"cannot read {self.ca_file} ({exc.strerror or exc}); give a readable PEM file")]
        return []
