"""Checks a person's password against Active Directory or another LDAP directory and reads who they are.

A sign-in searches the person by the plant file's `user_filter` (the typed name escaped, RFC 4515 §3), binds as
that person with the typed password (RFC 4513 §5.1.3: over LDAPS or after StartTLS, so the password never crosses
the network in clear), and reads the person's immutable id, display name, groups and Active Directory's
"account disabled" flag. ldap3 is synchronous: every directory exchange runs on this module's own two worker
threads, with a connect and an answer timeout, so a slow or absent directory never holds the event loop and never
takes the threads argon2 or the historian use (IEC 62443-3-3 SR 1.1, 1.2: people are identified and authenticated
by the plant's one directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from hmi.access.directory_settings import DEFAULT_PORTS, LdapConfig
from hmi.access.roles import Role
from hmi.texts import Text

T = TypeVar("T")
log = logging.getLogger(__name__)

DIRECTORY_WORKERS = 2
# Active Directory's userAccountControl flag ACCOUNTDISABLE ([MS-ADTS] 2.2.16).
ACCOUNT_DISABLED = 0x2
# RFC 4511 result codes the sign-in tells apart from a broken directory.
INVALID_CREDENTIALS = 49
_SEARCH_OK = (0, 4, 32)  # success, sizeLimitExceeded (more than one match), noSuchObject (base_dn has nobody)
# One sign-in makes at most this many round trips (open, StartTLS, bind, search, user bind, group search): the
# caller's overall wait is bounded by them times the configured timeout.
_ROUND_TRIPS = 6


class DirectoryUnavailable(Exception):
    """The directory cannot be reached or used (down, TLS refused, service account refused); local accounts still
    sign in. The message names the directory and the reason, never a password."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(message)


class Verdict(StrEnum):
    """What the directory says about a sign-in attempt."""

    OK = "ok"
    UNKNOWN = "unknown"
    """No entry matches the name (or the person was removed from the directory)."""
    AMBIGUOUS = "ambiguous"
    """More than one entry matches: the user filter is too wide; nobody is signed in on a guess."""
    WRONG_PASSWORD = "wrong password"
    DISABLED = "disabled"
    """Active Directory's userAccountControl says the account is disabled."""


@dataclass(frozen=True, slots=True)
class DirectoryAccount:
    """A person as the directory describes them."""

    dn: str
    external_id: str
    full_name: str
    groups: tuple[str, ...]
    disabled: bool


@dataclass(frozen=True, slots=True)
class DirectoryCheck:
    """The outcome of a password check against the directory; `account` when the person was found."""

    verdict: Verdict
    account: DirectoryAccount | None = None
    role: Role | None = None
    """The highest role the person's groups map to (only after a successful bind); None: no mapped group."""


class Directory:
    """The plant's directory: checks passwords by binding and reads people, on worker threads with timeouts."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self._executor: ThreadPoolExecutor | None = None

    @property
    def url(self) -> str:
        """The directory's address as written in the plant file (for messages)."""
        return self.config.url

    async def authenticate(self, username: str, password: str) -> DirectoryCheck:
        """Search `username`, bind as that person with `password`, read id, name, groups and the disabled flag.

        DirectoryUnavailable when the directory cannot be reached or answers with an error."""
        if not password:
            # RFC 4513 §5.1.2: a bind with a name and an empty password is an unauthenticated bind that many
            # servers accept. It must never count as a right password.
            return DirectoryCheck(Verdict.WRONG_PASSWORD)
        return await self._run(self._authenticate, username, password)

    async def lookup(self, external_id: str) -> DirectoryAccount | None:
        """The person whose immutable id is `external_id` as the directory has them now; None when removed."""
        return await self._run(self._lookup, external_id)

    def close(self) -> None:
        """Stop the worker threads (an exchange under way ends by its own timeout)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=DIRECTORY_WORKERS, thread_name_prefix="ldap")
        future = asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        limit = self.config.timeout_s * _ROUND_TRIPS + 1
        try:
            async with asyncio.timeout(limit):
                return await future
        except TimeoutError:
            raise self._unavailable(Text("no answer within {seconds:g} s", seconds=limit)) from None
        except DirectoryUnavailable:
            raise
        except Exception as exc:
            # ldap3 raises more than its own exceptions (socket and struct errors among them): whatever broke the
            # exchange, the person is told the directory failed and the sign-in is audited as such.
            log.exception("the directory exchange with %s failed", self.url)
            raise self._unavailable(_reason(exc)) from None

    def _unavailable(self, why: str) -> DirectoryUnavailable:
        return DirectoryUnavailable(
            self.url,
            Text("the directory at {url} cannot be reached: {why}; local accounts still work", url=self.url, why=why),
        )

    # ----------------------------------------------------------------------------------------- worker threads

    def _server(self) -> Server:
        parts = urlsplit(self.config.url)
        scheme = parts.scheme
        ca_file = str(self.config.ca_file) if self.config.ca_file is not None else None
        # The directory's certificate is always checked (chain and host name): a password sent to an impostor is lost.
        # No version: ldap3 then takes Python's default context (TLS 1.2 or newer; the system's CAs unless ca_file).
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)
        return Server(
            parts.hostname or "",
            port=parts.port or DEFAULT_PORTS[scheme],
            use_ssl=scheme == "ldaps",
            tls=tls,
            get_info=NONE,
            connect_timeout=self.config.timeout_s,
        )

    def _connect(self, server: Server, user: str | None, password: str | None) -> Connection:
        """An open connection (TLS when configured), not yet bound; DirectoryUnavailable when it cannot be made."""
        conn = Connection(
            server,
            user=user,
            password=password,
            read_only=True,
            # ldap3 packs the answer timeout into SO_RCVTIMEO as whole seconds.
            receive_timeout=max(1, math.ceil(self.config.timeout_s)),
            raise_exceptions=False,
        )
        try:
            conn.open()
            if self.config.start_tls and not conn.start_tls():
                raise self._unavailable(Text("StartTLS was refused ({result})", result=_result_text(conn)))
        except (LDAPException, OSError) as exc:
            _close(conn)
            raise self._unavailable(_reason(exc)) from None
        return conn

    def _searcher(self, server: Server) -> Connection:
        """A connection bound as the service account (or anonymous) to search people."""
        password = self.config.bind_password.reveal() if self.config.bind_password is not None else None
        conn = self._connect(server, self.config.bind_dn, password)
        try:
            bound = conn.bind()
        except LDAPException as exc:
            _close(conn)
            raise self._unavailable(_reason(exc)) from None
        if not bound:
            why = _result_text(conn)
            _close(conn)
            raise self._unavailable(
                Text("the service account (bind_dn) was refused ({why}); check bind_dn and bind_password", why=why)
            )
        return conn

    def _attributes(self) -> list[str]:
        return [self.config.id_attribute, "displayName", "cn", "memberOf", "userAccountControl"]

    def _authenticate(self, username: str, password: str) -> DirectoryCheck:
        server = self._server()
        searcher = self._searcher(server)
        try:
            query = self.config.user_filter.format(username=escape_filter_chars(username))
            entries = self._search(searcher, query)
        finally:
            _close(searcher)
        if not entries:
            return DirectoryCheck(Verdict.UNKNOWN)
        if len(entries) > 1:
            return DirectoryCheck(Verdict.AMBIGUOUS)
        dn, raw = entries[0]
        if _disabled(raw):
            # Not bound: Active Directory refuses a disabled account's bind as a wrong password, which would count
            # toward the HMI's lockout. The person is told no more than for a wrong password.
            return DirectoryCheck(Verdict.DISABLED, self._account(dn, raw, ()))
        person = self._connect(server, dn, password)
        try:
            try:
                bound = person.bind()
            except LDAPException as exc:
                raise self._unavailable(_reason(exc)) from None
            if not bound:
                if person.result.get("result") == INVALID_CREDENTIALS:
                    return DirectoryCheck(Verdict.WRONG_PASSWORD, self._account(dn, raw, ()))
                raise self._unavailable(Text("the bind as the person was refused ({why})", why=_result_text(person)))
            groups = self._groups(person, dn, raw)
        finally:
            _close(person)
        account = self._account(dn, raw, groups)
        return DirectoryCheck(Verdict.OK, account, self.config.role_of(list(groups)))

    def _lookup(self, external_id: str) -> DirectoryAccount | None:
        searcher = self._searcher(self._server())
        try:
            query = f"({self.config.id_attribute}={self._id_filter_value(external_id)})"
            entries = self._search(searcher, query)
            if len(entries) != 1:
                return None
            dn, raw = entries[0]
            return self._account(dn, raw, self._groups(searcher, dn, raw))
        finally:
            _close(searcher)

    def _search(self, conn: Connection, query: str) -> list[tuple[str, dict[str, list[bytes]]]]:
        """(dn, raw attributes) of the entries under base_dn that match; at most two (two make a name ambiguous)."""
        try:
            conn.search(
                self.config.base_dn,
                query,
                SUBTREE,
                attributes=self._attributes(),
                size_limit=2,
                time_limit=max(1, int(self.config.timeout_s)),
            )
        except LDAPException as exc:
            raise self._unavailable(_reason(exc)) from None
        if conn.result.get("result") not in _SEARCH_OK:
            raise self._unavailable(Text("the search was refused ({why})", why=_result_text(conn)))
        return [
            (str(item["dn"]), dict(item.get("raw_attributes") or {}))
            for item in conn.response or []
            if item.get("type") == "searchResEntry"
        ]

    def _groups(self, conn: Connection, dn: str, raw: dict[str, list[bytes]]) -> tuple[str, ...]:
        """The person's group DNs: memberOf when the directory keeps it (AD, OpenLDAP's memberof overlay), else the
        groups that name the person as `member` or `uniqueMember`."""
        member_of = _values(raw, "memberOf")
        if member_of:
            return tuple(member_of)
        who = escape_filter_chars(dn)
        try:
            conn.search(
                self.config.base_dn,
                f"(|(member={who})(uniqueMember={who}))",
                SUBTREE,
                attributes=[],
                time_limit=max(1, int(self.config.timeout_s)),
            )
        except LDAPException as exc:
            raise self._unavailable(_reason(exc)) from None
        return tuple(str(item["dn"]) for item in conn.response or [] if item.get("type") == "searchResEntry")

    def _account(self, dn: str, raw: dict[str, list[bytes]], groups: tuple[str, ...]) -> DirectoryAccount:
        ids = _raw(raw, self.config.id_attribute)
        if not ids:
            raise self._unavailable(
                Text(
                    "the entry has no {attribute}; set access.ldap.id_attribute to the directory's immutable id",
                    attribute=self.config.id_attribute,
                )
            )
        names = _values(raw, "displayName") or _values(raw, "cn")
        return DirectoryAccount(
            dn=dn,
            external_id=self._id_text(ids[0]),
            full_name=names[0] if names else "",
            groups=groups,
            disabled=_disabled(raw),
        )

    def _id_text(self, value: bytes) -> str:
        # objectGUID is 16 raw bytes (little-endian GUID); shown the way AD's own tools show it.
        if self.config.id_attribute.casefold() == "objectguid" and len(value) == 16:
            return str(uuid.UUID(bytes_le=value))
        return value.decode("utf-8", "replace")

    def _id_filter_value(self, external_id: str) -> str:
        if self.config.id_attribute.casefold() == "objectguid":
            try:
                return "".join(f"\\{b:02x}" for b in uuid.UUID(external_id).bytes_le)
            except ValueError:
                pass
        return str(escape_filter_chars(external_id))


def _close(conn: Connection) -> None:
    """Close `conn` whatever state a failed exchange left it in (an unbind on a broken socket raises)."""
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()


def _raw(raw: dict[str, list[bytes]], name: str) -> list[bytes]:
    # Attribute names are case-insensitive (RFC 4512 §2.5); servers answer in their own spelling.
    for key, values in raw.items():
        if key.casefold() == name.casefold():
            return list(values)
    return []


def _values(raw: dict[str, list[bytes]], name: str) -> list[str]:
    return [value.decode("utf-8", "replace") for value in _raw(raw, name)]


def _disabled(raw: dict[str, list[bytes]]) -> bool:
    flags = _values(raw, "userAccountControl")
    try:
        return bool(flags) and bool(int(flags[0]) & ACCOUNT_DISABLED)
    except ValueError:
        return False


def _result_text(conn: Connection) -> str:
    result = conn.result or {}
    description = str(result.get("description") or "error")
    message = str(result.get("message") or "").strip()
    return f"{description}: {message}" if message else description


def _reason(exc: Exception) -> str:
    # ldap3's socket errors carry the OS error in their text; the first line is what a person needs.
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
