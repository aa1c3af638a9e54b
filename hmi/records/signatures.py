"""Electronic signatures (21 CFR 11.50, 11.70, 11.200): the signer re-enters the password (user id and
password on the first signing of a session), and the stored signature holds the printed name, server UTC time,
meaning and the SHA-256 of the exact content signed, so it cannot be carried over to other content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from hmi.access.auth import MAX_PASSWORD_LENGTH, SOURCE_OIDC, UserService, normalise_username
from hmi.access.context import ActionContext
from hmi.access.directory import DirectoryUnavailable
from hmi.access.fresh_sign_in import FRESH_WINDOW
from hmi.access.sessions import SessionsEnded
from hmi.clock import Clock, utc_now
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.store.models import Signature, User
from hmi.texts import Text

# Common meanings; any short text is accepted, these keep the wording the same across screens and exports.
ACKNOWLEDGED = "Acknowledged"
APPROVED = "Approved"
SHELVED = "Shelved"
REMOVED_FROM_SERVICE = "Removed from service"
HANDED_OVER = "Handed over"
ACCEPTED = "Reviewed / accepted"
MAX_MEANING = 64
# The refusal reason (audited) of an identity provider account's signature without a fresh sign-in at the provider.
NO_FRESH_SIGN_IN = "no fresh sign-in at the identity provider"


class SignatureError(ValueError):
    """Base of signature problems; a ValueError so command runners show its message as a refusal."""


class SignatureRequired(SignatureError):
    """The plant's signature policy requires an electronic signature for this action and none was given."""

    def __init__(self, what: str) -> None:
        self.what = what
        # `what` may be a Text itself ("signing the handover"), translated with the sentence where it is shown.
        super().__init__(Text("{what} needs an electronic signature: re-enter your password to sign", what=what))


class SignatureRefused(SignatureError):
    """The password (or user id) did not match the signed-in person; the attempt was audited."""


class UserIdRequired(SignatureRefused):
    """A password-only signature without a recent full one (user id and password) by the same person on the same
    station: the first signing of a continuous session needs both components (21 CFR 11.200(a)(1)(i))."""


@dataclass(frozen=True, slots=True)
class SignatureRequest:
    """What a screen collects to sign: the password, the user id on the first signing of a session (None on
    later ones), and the meaning (empty: the action's own meaning, e.g. "Shelved")."""

    password: str
    username: str | None = None
    meaning: str = ""

    def __repr__(self) -> str:
        # Never print the password into a log or a traceback.
        return f"SignatureRequest(username={self.username!r}, meaning={self.meaning!r})"


@dataclass(frozen=True, slots=True)
class Signer:
    """A person whose password was just checked, ready to sign: made by `SignatureService.prepare`."""

    user_id: int
    username: str
    printed_name: str
    meaning: str
    action_id: str


class SigningSession:
    """The screen's hint whether the signed-in person has already signed in this continuous session (21 CFR
    11.200(a)(1)): the first signing needs user id and password, later ones the password alone.

    It keeps its flag in any mutable mapping the screen owns for one browser session (e.g. NiceGUI's
    `app.storage.user`), so the core stays free of UI code. A different person on the same panel (quick user
    switch) starts over; sign-in, sign-out and the idle lock should call `end()`. It only decides which fields a
    dialog shows: `SignatureService.prepare` enforces the rule itself (`first_signing`).
    """

    KEY = "hmi_signing"

    def __init__(self, store: MutableMapping[str, Any], username: str) -> None:
        self._store = store
        self._username = normalise_username(username)

    @property
    def first(self) -> bool:
        """True when the next signing must give the user id as well as the password."""
        data = self._store.get(self.KEY)
        return not (isinstance(data, dict) and data.get("username") == self._username and data.get("signed"))

    def signed(self) -> None:
        """Remember that this person has signed once in this session."""
        self._store[self.KEY] = {"username": self._username, "signed": True}

    def end(self) -> None:
        """The session's continuity ended (sign-out, idle lock, user switch): the next signing is a first one."""
        self._store.pop(self.KEY, None)


def content_hash(content: str | bytes) -> str:
    """SHA-256 hex of the content signed; text is hashed as its UTF-8 bytes."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> str:
    """The one text a structure is signed as: sorted keys, compact separators, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def manifestation_text(
    printed_name: str, username: str, at: datetime, meaning: str, zone: ZoneInfo | None = None
) -> str:
    """ "Signed by <printed name> (<user>) on <time> — meaning: <meaning>"; UTC unless a zone is given."""
    when = _utc_text(at) if zone is None else at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"Signed by {printed_name} ({username}) on {when} — meaning: {meaning}"


def manifestation(signature: Signature, zone: ZoneInfo | None = None) -> str:
    """What screens and PDFs show for a signature: printed name, user id, date and time (plant zone), meaning."""
    return manifestation_text(signature.printed_name, signature.username, signature.signed_at, signature.meaning, zone)


def verify(signature: Signature, content: str | bytes) -> bool:
    """True when `signature` was made over exactly `content`; any other content fails."""
    return signature.content_hash == content_hash(content)


class SignatureService:
    """Checks the signer's password, stores signatures with their audit row, verifies and shows them."""

    def __init__(self, db: Database, audit: AuditLog, users: UserService, clock: Clock = utc_now) -> None:
        self._db = db
        self._audit = audit
        self._users = users
        self._clock = clock
        # (user name, station) -> time of the last signature of a continuous signing session, which began with
        # a full signature. Kept here, on the server: what a screen says about its session is not evidence.
        self._signing: dict[tuple[str, str], datetime] = {}

    def _continuity(self) -> timedelta:
        # A session idle this long is logged off (AccessPolicy.logoff_min): its continuity has ended anyway.
        return timedelta(minutes=self._users.policy.logoff_min)

    def first_signing(self, ctx: ActionContext) -> bool:
        """True when `ctx`'s next signature must give the user id as well as the password."""
        last = self._signing.get((normalise_username(ctx.username), ctx.station))
        return last is None or self._clock() - last > self._continuity()

    def end_signing(self, username: str) -> None:
        """The person's sessions ended (sign-out, idle lock, user switch, disabled): the next signing is a first one
        on every station."""
        name = normalise_username(username)
        for key in [k for k in self._signing if k[0] == name]:
            del self._signing[key]

    async def prepare(
        self,
        ctx: ActionContext,
        *,
        username: str | None,
        password: str,
        meaning: str,
        object_type: str = "",
        object_id: str = "",
    ) -> Signer:
        """Check the password (and the user id on a first signing) against the signed-in person, off the event
        loop; SignatureRefused (audited as `sign.failed`, a failed authentication) when they do not match.

        Call it before opening the transaction the signature is written in: a refusal is audited in its own.
        """
        meaning = meaning.strip()
        if not meaning or len(meaning) > MAX_MEANING:
            raise ValueError(
                Text(
                    "a signature needs a meaning of 1 to {most} characters, e.g. {example!r}",
                    most=MAX_MEANING,
                    example=APPROVED,
                )
            )
        why: str | None = None
        if username is not None and normalise_username(username) != normalise_username(ctx.username):
            # A signature is the signed-in person's own: nobody signs for someone else on their session.
            why = f"user id {normalise_username(username)[:64]!r} is not the signed-in person"
        user = await self._users.get(ctx.username)
        refusal: str | None = "wrong password"
        unreachable: DirectoryUnavailable | None = None
        provider_account = user is not None and user.source == SOURCE_OIDC
        if provider_account and user is not None and user.id is not None:
            # The provider checked user id and password for this signing (fresh sign-in, subject matched): its proof
            # is taken once, by this person on this station (hmi.access.fresh_sign_in).
            fresh = self._users.fresh.take(user.id, ctx.station)
            refusal = None if fresh is not None else NO_FRESH_SIGN_IN
        elif user is not None and 0 < len(password) <= MAX_PASSWORD_LENGTH:
            try:
                # A directory account's password is re-checked by a bind against the directory, not a local hash.
                refusal = await self._users.password_refusal(user, password)
            except DirectoryUnavailable as exc:
                unreachable = exc
                refusal = f"directory unreachable: {exc.message}"
        if why is None and refusal is not None:
            why = refusal
        if why is None and user is not None and user.locked_at is not None:
            why = "account locked"
        if why is None and (user is None or user.disabled):
            why = "account disabled"
        # After the password check, so a wrong password counts toward the lockout whichever form was used.
        first = username is None and not provider_account and self.first_signing(ctx)
        if why is None and first:
            why = "user id missing on the first signing of the session"
        if why is not None or user is None or user.id is None:
            await self._refuse(
                ctx,
                user.id if user is not None else None,
                why or "unknown user",
                meaning,
                object_type,
                object_id,
                count=why == "wrong password",
            )
            if unreachable is not None and why == refusal:
                raise SignatureRefused(Text("the signature was refused: {why}", why=unreachable.message))
            if why == NO_FRESH_SIGN_IN:
                raise SignatureRefused(
                    Text(
                        "the signature was refused: confirm your identity at the identity provider first, then sign "
                        "within {minutes} minutes",
                        minutes=int(FRESH_WINDOW.total_seconds() // 60),
                    )
                )
            if first and why == "user id missing on the first signing of the session":
                raise UserIdRequired(
                    Text(
                        "the signature was refused: this is your first signature in this session; "
                        "give your user id as well as your password"
                    )
                )
            raise SignatureRefused(Text("the signature was refused: user id or password do not match; try again"))
        self._signing[(normalise_username(ctx.username), ctx.station)] = self._clock()
        return Signer(user.id, user.username, user.full_name or user.username, meaning, ctx.id)

    async def _refuse(
        self,
        ctx: ActionContext,
        user_id: int | None,
        why: str,
        meaning: str,
        object_type: str,
        object_id: str,
        *,
        count: bool,
    ) -> None:
        """Audit a refused signature; a wrong password counts toward the sign-in lockout like a failed login."""
        limit = self._users.policy.lockout_attempts
        ended: SessionsEnded | None = None
        async with self._audit.transaction() as session:
            detail = f"refused electronic signature, meaning: {meaning}"
            stored = await session.get(User, user_id, populate_existing=True) if count and user_id else None
            if stored is not None:
                stored.failed_logins += 1
                detail += f"; failed attempt {stored.failed_logins} of {limit} in a row"
            await self._audit.record(
                ctx,
                "sign.failed",
                object_type or "signature",
                object_id or ctx.username,
                reason=why,
                detail=detail,
                session=session,
            )
            if stored is not None and stored.failed_logins >= limit and stored.locked_at is None:
                ended = await self._users.lock_out(
                    ctx,
                    stored,
                    f"{stored.failed_logins} failed attempts in a row (signatures included)",
                    session=session,
                )
        if ended is not None:
            self._users.sessions.notify(ended)

    async def write(
        self,
        ctx: ActionContext,
        signer: Signer,
        *,
        object_type: str,
        object_id: str,
        content: str | bytes,
        session: AsyncSession,
    ) -> Signature:
        """Store the signature and its `sign` audit row in `session` (the caller's transaction)."""
        at = self._clock()
        signature = Signature(
            user_id=signer.user_id,
            username=signer.username,
            printed_name=signer.printed_name,
            signed_at=at.astimezone(UTC),
            meaning=signer.meaning,
            object_type=object_type,
            object_id=str(object_id)[:200],
            content_hash=content_hash(content),
            action_id=ctx.id,
        )
        session.add(signature)
        await session.flush()
        # The audit row repeats the content hash: the hash chain then protects the binding as well.
        await self._audit.record(
            ctx,
            "sign",
            object_type,
            str(object_id)[:200],
            session=session,
            new_value=manifestation(signature),
            detail=f"signature {signature.id}; content sha256 {signature.content_hash}",
        )
        return signature

    async def sign(
        self,
        ctx: ActionContext,
        *,
        username: str | None,
        password: str,
        meaning: str,
        object_type: str,
        object_id: str,
        content: str | bytes,
        session: AsyncSession | None = None,
    ) -> Signature:
        """Sign `content` as the signed-in person; `username` on the first signing of a session, None later.

        With `session` the signature joins the caller's transaction (do not hold `AuditLog.transaction()` while
        the password might be wrong: use `prepare` first, then `write`, as the alarm service does).
        """
        signer = await self.prepare(
            ctx, username=username, password=password, meaning=meaning, object_type=object_type, object_id=object_id
        )
        if session is not None:
            return await self.write(
                ctx, signer, object_type=object_type, object_id=object_id, content=content, session=session
            )
        async with self._audit.transaction() as own:
            return await self.write(
                ctx, signer, object_type=object_type, object_id=object_id, content=content, session=own
            )

    def verify(self, signature: Signature, content: str | bytes) -> bool:
        """True when `signature` was made over exactly `content`."""
        return verify(signature, content)

    def manifestation(self, signature: Signature, zone: ZoneInfo | None = None) -> str:
        """The signature as people read it (plant zone when given, else UTC)."""
        return manifestation(signature, zone)

    async def get(self, signature_id: int) -> Signature | None:
        """One signature by id."""
        async with self._db.session() as session:
            return await session.get(Signature, signature_id)

    async def of(self, object_type: str, object_id: str) -> list[Signature]:
        """Every signature on one object, oldest first."""
        statement = (
            select(Signature)
            .where(Signature.object_type == object_type, Signature.object_id == object_id)
            .order_by(col(Signature.signed_at), col(Signature.id))
        )
        async with self._db.session() as session:
            return list((await session.execute(statement)).scalars())
