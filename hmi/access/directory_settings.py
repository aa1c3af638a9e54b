"""The plant file's `access: {ldap: ...}` section: which directory people sign in against and how groups map to roles.

Only pydantic, the roles and the secrets type: hmi/config.py imports this module, so it must not import the plant
models. The bind password is a `Secret` like every other password of the plant file ({env: ...} or {file: ...}).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hmi.access.roles import Role
from hmi.secrets import Secret

DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}
# An attribute description (RFC 4512 §2.5): a name of letters, digits and hyphens, starting with a letter.
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
_RDN_SEPARATOR = re.compile(r"(?<!\\),")


def normalise_dn(dn: str) -> str:
    """A DN as compared with the group map: case-insensitive, no spaces around `,` and `=` (AD and OpenLDAP write
    the same group as `CN=HMI-Operators,OU=Groups` and `cn=HMI-Operators, ou=groups`)."""
    # A comma escaped in a value (RFC 4514 §2.4: `CN=Smith\, John`) does not end the RDN.
    rdns = _RDN_SEPARATOR.split(dn)
    return ",".join("=".join(part.strip() for part in rdn.split("=", 1)) for rdn in rdns).casefold()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LdapConfig(_Model):
    """Sign-in against Active Directory or another LDAP directory (docs/directory.md)."""

    url: str = Field(description="ldaps://host[:636], or ldap://host[:389] with start_tls")
    base_dn: str = Field(min_length=3, max_length=500, description="where people (and groups) are searched")
    user_filter: str = Field(
        "(&(objectClass=person)(sAMAccountName={username}))",
        max_length=500,
        description="finds one person by the typed name; {username} is replaced, escaped (RFC 4515)",
    )
    group_map: dict[str, Role] = Field(description="group DN -> HMI role; the highest role of a person's groups wins")
    ca_file: Path | None = Field(None, description="PEM file of the CA(s) to trust; absent: the system's CAs")
    bind_dn: str | None = Field(None, max_length=500, description="service account that searches; absent: anonymous")
    bind_password: Secret | None = Field(None, description="text, {env: VARIABLE} or {file: /path}; never logged")
    start_tls: bool = Field(False, description="upgrade ldap:// to TLS (StartTLS, RFC 4511 §4.14) before any bind")
    id_attribute: str = Field(
        "entryUUID", description="the immutable id of a person: entryUUID (RFC 4530), objectGUID on AD"
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="connect and answer timeout of every directory request")
    recheck_min: float = Field(
        5.0, gt=0, le=1440, description="how often people signed in are looked up again (removed, disabled: signed out)"
    )
    allow_plaintext: bool = Field(
        False, description="allow ldap:// without start_tls (passwords in clear): only for a test directory"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError("must start with ldaps:// (e.g. ldaps://dc1.plant.example) or ldap:// with start_tls")
        if not parts.hostname:
            raise ValueError(f"{value!r} names no host; write e.g. ldaps://dc1.plant.example:636")
        try:
            parts.port  # noqa: B018 (urlsplit checks the port only when it is read)
        except ValueError:
            raise ValueError(f"{value!r} has no valid port; write e.g. ldaps://dc1.plant.example:636") from None
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("give only scheme, host and port (the search base goes in base_dn)")
        return value

    @field_validator("user_filter")
    @classmethod
    def _filter(cls, value: str) -> str:
        if "{username}" not in value:
            raise ValueError("must contain {username}, e.g. (&(objectClass=person)(sAMAccountName={username}))")
        if not (value.startswith("(") and value.endswith(")")) or value.count("(") != value.count(")"):
            raise ValueError("must be one LDAP filter in parentheses (RFC 4515), e.g. (uid={username})")
        try:
            value.format(username="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may hold no other {...} than {username}; write a literal brace as {{ or }}") from None
        return value

    @field_validator("group_map")
    @classmethod
    def _groups(cls, value: dict[str, Role]) -> dict[str, Role]:
        if not value:
            raise ValueError("map at least one group to a role, e.g. {'CN=HMI-Operators,OU=Groups,DC=plant': operator}")
        seen: dict[str, str] = {}
        for dn in value:
            if "=" not in dn:
                raise ValueError(f"{dn!r} is not a DN; write the group's full DN, e.g. CN=HMI-Operators,OU=Groups,...")
            key = normalise_dn(dn)
            if key in seen:
                raise ValueError(f"{dn!r} and {seen[key]!r} are the same group; keep one")
            seen[key] = dn
        return value

    @field_validator("id_attribute")
    @classmethod
    def _attribute(cls, value: str) -> str:
        if not _ATTRIBUTE.match(value):
            raise ValueError("must be an attribute name such as entryUUID or objectGUID")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LdapConfig:
        if (self.bind_dn is None) != (self.bind_password is None):
            raise ValueError("bind_dn and bind_password go together: give both (service account) or neither")
        scheme = urlsplit(self.url).scheme
        if scheme == "ldaps" and self.start_tls:
            raise ValueError("start_tls is for ldap://; ldaps:// is TLS from the start: remove start_tls")
        if scheme == "ldap" and not self.start_tls and not self.allow_plaintext:
            raise ValueError("ldap:// without start_tls sends passwords in clear; use ldaps://, or set start_tls: true")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(
                f"ca_file {self.ca_file} does not exist; give the PEM file of the CA that signed the directory's "
                "certificate, or leave ca_file out to trust the system's CAs"
            )
        return self

    def role_of(self, groups: list[str]) -> Role | None:
        """The highest role that `groups` (DNs) map to, or None when no group is mapped."""
        mapped = {normalise_dn(dn): role for dn, role in self.group_map.items()}
        order = list(Role)
        roles = [mapped[key] for key in map(normalise_dn, groups) if key in mapped]
        return max(roles, key=order.index) if roles else None
