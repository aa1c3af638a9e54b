"""Users and sign-in: argon2 password hashes, a minimal password policy, and every account change audited."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from hmi.access.context import ActionContext
from hmi.access.directory import Directory, DirectoryUnavailable, Verdict
from hmi.access.fresh_sign_in import FreshSignIns
from hmi.access.login_guard import LoginRateLimiter, RefusalTally, Throttled
from hmi.access.oidc import Identity, OidcClient
from hmi.access.roles import Permission, Role
from hmi.access.sessions import SessionEnd, SessionsEnded, SessionService
from hmi.clock import Clock, utc_now
from hmi.config import AccessPolicy
from hmi.records.audit import SYSTEM_USER_ID, AuditLog
from hmi.store.database import Database
from hmi.store.models import User, UserSession
from hmi.supervise import stop_tasks
from hmi.texts import Text

log = logging.getLogger(__name__)
T = TypeVar("T")

MIN_PASSWORD_LENGTH = 8
# argon2 copes with long input, but a megabyte "password" is an attack on CPU time, not a password.
MAX_PASSWORD_LENGTH = 1024
MAX_USERNAME_LENGTH = 64
_USERNAME = re.compile(r"^\w[\w.@-]*$")
# argon2 is deliberately slow and memory-hungry: two workers of its own, so a sign-in flood queues here and never
# takes the default executor's threads from the historian spool, exports and PDF rendering.
HASH_WORKERS = 2
# How often the aggregated refusals are written (their window is `RefusalTally.window`).
TALLY_FLUSH_S = 5.0
# Where an account's password lives (User.source): this table's argon2 hash, the plant's directory (LDAP), or its
# OpenID Connect identity provider.
SOURCE_LOCAL = "local"
SOURCE_LDAP = "ldap"
SOURCE_OIDC = "oidc"
# The stored "hash" of a directory or identity provider account: not an argon2 hash, so it never verifies; the
# directory or the provider checks passwords.
NO_LOCAL_PASSWORD = "!directory account: the password is checked by the directory"


class UserExists(ValueError):
    """A user with this name already exists (names are unique and never reused: users are never deleted)."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(
            Text(
                "user {username!r} already exists; choose another name or reset that user's password", username=username
            )
        )


class UnknownUser(LookupError):
    """No user has this name."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(Text("there is no user {username!r}; `hmi users list` shows who exists", username=username))

    def __str__(self) -> str:
        # LookupError would otherwise render the message with quotes around it, like KeyError.
        return str(self.args[0])


class PasswordPolicyError(ValueError):
    """The password does not meet the policy; the message says what is missing."""


class DirectoryAccountError(ValueError):
    """A local password operation on an account whose password the directory or the identity provider keeps."""

    def __init__(self, username: str, source: str = SOURCE_LDAP) -> None:
        self.username = username
        super().__init__(
            Text(
                "{username!r} is an identity provider account: its password is set at the identity provider "
                "(OpenID Connect), not in the HMI",
                username=username,
            )
            if source == SOURCE_OIDC
            else Text(
                "{username!r} is a directory account: its password is set in the directory (Active Directory / LDAP), "
                "not in the HMI",
                username=username,
            )
        )


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a password check: the person's context, or why not (already audited either way)."""

    ctx: ActionContext | None
    reason: str = ""
    locked: bool = False
    """The account is locked (by this attempt or before): only an administrator's unlock lets it in again."""
    throttled: Throttled | None = None
    """Refused before the password was checked: too many attempts; says which limit and when to retry."""
    notice: str | None = None
    """What the person must be told beyond "wrong name or password" (the directory is unreachable, no mapped
    group): says nothing about whether an account exists."""

    @property
    def ok(self) -> bool:
        """True when the password was right and the account may sign in."""
        return self.ctx is not None


@dataclass(frozen=True, slots=True)
class _External:
    """A person as the directory or the identity provider gives them (`origin`: its URL) at a sign-in."""

    source: str
    external_id: str
    full_name: str
    role: Role
    origin: str


def normalise_username(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding spaces: `Alice ` is `alice`."""
    return username.strip().lower()


def check_username(username: str) -> str:
    """The normalised name, or ValueError saying what is wrong with it."""
    name = normalise_username(username)
    if not name:
        raise ValueError(Text("a user name cannot be empty"))
    if len(name) > MAX_USERNAME_LENGTH:
        raise ValueError(Text("a user name can be at most {most} characters", most=MAX_USERNAME_LENGTH))
    if not _USERNAME.match(name):
        raise ValueError(Text("user name {name!r} may only hold letters, digits and . _ @ - (no spaces)", name=name))
    return name


def check_password_policy(username: str, password: str, min_length: int = MIN_PASSWORD_LENGTH) -> None:
    """Raise PasswordPolicyError unless the password has min_length..1024 characters and is not the user name."""
    if len(password) < min_length:
        raise PasswordPolicyError(Text("the password must have at least {least} characters", least=min_length))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(Text("the password can have at most {most} characters", most=MAX_PASSWORD_LENGTH))
    if password.strip().casefold() == normalise_username(username).casefold():
        raise PasswordPolicyError(Text("the password must not be the user name"))


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> tuple[bool, bool]:
    """(matches, needs rehash); runs in a worker thread because argon2 is deliberately slow."""
    try:
        hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, hasher.check_needs_rehash(password_hash)


class UserService:
    """Creates, signs in, disables and resets users; checks permissions itself and audits every change."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock = utc_now,
        hasher: PasswordHasher | None = None,
        policy: AccessPolicy | None = None,
        directory: Directory | None = None,
    ) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self.policy = policy or AccessPolicy()
        self._dummy_hash: str | None = None
        # Account changes end the person's sessions in the same transaction that audits them.
        self.sessions = SessionService(db, clock, timedelta(hours=self.policy.session_hours))
        self._executor: ThreadPoolExecutor | None = None
        self._limiter = LoginRateLimiter(self.policy.login_limit_per_account, self.policy.login_limit_per_address)
        self.refusals = RefusalTally(audit, clock)
        self._flusher: asyncio.Task[None] | None = None
        self._rechecker: asyncio.Task[None] | None = None
        ldap = self.policy.ldap
        self.directory = directory if directory is not None else (Directory(ldap) if ldap is not None else None)
        oidc = self.policy.oidc
        self.oidc = OidcClient(oidc, clock=clock) if oidc is not None else None
        # Fresh authentications at the identity provider, each good for one electronic signature.
        self.fresh = FreshSignIns(clock)

    async def start(self) -> None:
        """Start writing the aggregated sign-in refusals (unknown names, attempts beyond a limit) every few seconds."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_refusals(), name="login-refusal-tally")
        if self.directory is not None and self._rechecker is None:
            every = self.directory.config.recheck_min * 60
            self._rechecker = asyncio.create_task(self._recheck_directory(every), name="directory-recheck")

    async def stop(self) -> None:
        """Write what the tally holds, stop its task and the argon2 workers."""
        flusher, self._flusher = self._flusher, None
        rechecker, self._rechecker = self._rechecker, None
        await stop_tasks(flusher, rechecker)
        try:
            await self.refusals.flush(everything=True)
        except Exception:
            log.exception("refused sign-ins could not be audited at stop")
        if self._executor is not None:
            # Not waiting: a hash under way finishes on its own; nothing queued behind it is still wanted.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self.directory is not None:
            self.directory.close()
        if self.oidc is not None:
            await self.oidc.aclose()

    async def _flush_refusals(self) -> None:
        while True:
            await asyncio.sleep(TALLY_FLUSH_S)
            try:
                await self.refusals.flush()
            except Exception:
                # Kept in the tally for the next round; the task must outlive a bad moment of the database.
                log.exception("refused sign-ins could not be audited")

    async def _recheck_directory(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.recheck_directory()
            except DirectoryUnavailable as exc:
                # Nobody is signed out on a guess; the failure is on the record and the next round tries again.
                log.warning("directory re-check skipped: %s", exc.message)
                try:
                    await self._audit.record(
                        None,
                        "directory.unreachable",
                        "directory",
                        exc.url,
                        reason="re-check of signed-in people",
                        detail=exc.message,
                    )
                except Exception:
                    log.exception("the directory failure could not be audited")
            except Exception:
                log.exception("directory re-check failed")

    async def recheck_directory(self) -> int:
        """Sign out the directory people with a live session whom the directory no longer holds or marks disabled
        (21 CFR 11.300(b): access ends when the credentials are withdrawn); returns how many were signed out.
        DirectoryUnavailable passes through: nobody is signed out because the directory is away."""
        if self.directory is None:
            return 0
        live = select(UserSession.user_id).where(
            col(UserSession.ended_at).is_(None), col(UserSession.expires_at) > self._clock()
        )
        async with self._db.session() as session:
            statement = select(User).where(User.source == SOURCE_LDAP, col(User.id).in_(live))
            people = list((await session.execute(statement)).scalars())
        signed_out = 0
        for person in people:
            if person.id is None or person.external_id is None:
                continue
            account = await self.directory.lookup(person.external_id)
            if account is not None and not account.disabled:
                continue
            gone = account is None
            await self._sign_out_everywhere(
                person.id,
                person.username,
                SessionEnd.UNKNOWN_USER if gone else SessionEnd.DISABLED,
                "removed from the directory" if gone else "disabled in the directory",
                f"found at the periodic directory check ({self.directory.url}); every session ended",
            )
            signed_out += 1
        return signed_out

    async def _sign_out_everywhere(
        self, user_id: int, username: str, end: SessionEnd, reason: str, detail: str
    ) -> None:
        """End every session of a person whom the directory or the identity provider withdrew, audited as
        `user.signed_out` in the same transaction; their open pages are told after the commit."""
        async with self._audit.transaction() as session:
            ended = await self.sessions.end_user(user_id, end, session=session)
            await self._audit.record(
                None, "user.signed_out", "user", username, reason=reason, detail=detail, session=session
            )
        self.fresh.forget(user_id)
        self.sessions.notify(ended)

    async def _hashing(self, work: Callable[..., T], *args: object) -> T:
        """Run argon2 work on this service's own workers (created on first use, again after `stop`)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="argon2")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    async def verify_password(self, password_hash: str, password: str) -> bool:
        """True when `password` matches `password_hash` (on the argon2 workers); used by signatures too."""
        return (await self._hashing(_verify, self._hasher, password_hash, password))[0]

    async def password_refusal(self, user: User, password: str) -> str | None:
        """None when `password` is `user`'s, else why not ("wrong password" counts toward the lockout). A directory
        account's password is checked by a bind against the directory, which must still know the same person (its
        immutable id); DirectoryUnavailable when the directory cannot answer. Used by electronic signatures."""
        if user.source == SOURCE_OIDC:
            # Never counted as a wrong password: the provider keeps it, and a signature needs a fresh sign-in there.
            return "identity provider account: the password is checked at the identity provider"
        if user.source != SOURCE_LDAP:
            return None if await self.verify_password(user.password_hash, password) else "wrong password"
        if self.directory is None:
            return "directory sign-in is not configured"
        check = await self.directory.authenticate(user.username, password)
        if check.account is not None and check.account.external_id != user.external_id:
            return "the directory holds another person under this name"
        match check.verdict:
            case Verdict.OK:
                return None
            case Verdict.WRONG_PASSWORD:
                return "wrong password"
            case Verdict.DISABLED:
                return "disabled in the directory"
            case _:
                return "not found in the directory"

    def check_policy(self, username: str, password: str) -> None:
        """PasswordPolicyError unless `password` meets this plant's policy for `username`."""
        check_password_policy(username, password, self.policy.password_min_length)

    async def create_user(
        self,
        username: str,
        password: str,
        role: Role | str,
        full_name: str = "",
        *,
        actor: ActionContext | None = None,
        enforce_policy: bool = True,
    ) -> User:
        """Create a user (actor needs MANAGE_USERS; None is the system); UserExists, PasswordPolicyError."""
        name = check_username(username)
        try:
            role = Role(role)
        except ValueError:
            raise ValueError(
                Text("unknown role {role!r}; choose one of: {roles}", role=role, roles=", ".join(r.value for r in Role))
            ) from None
        if actor is not None:
            await self._audit.require(
                actor, Permission.MANAGE_USERS, action="user.create", object_type="user", object_id=name
            )
        if enforce_policy:
            self.check_policy(name, password)
        if await self.get(name) is not None:
            raise UserExists(name)
        password_hash = await self._hashing(self._hasher.hash, password)
        user = User(
            username=name,
            full_name=full_name.strip(),
            role=role,
            password_hash=password_hash,
            disabled=False,
            created_at=self._clock(),
        )
        try:
            async with self._audit.transaction() as session:
                session.add(user)
                await session.flush()
                await self._audit.record(
                    actor,
                    "user.create",
                    "user",
                    name,
                    session=session,
                    new_value={"username": name, "full_name": user.full_name, "role": role.value, "disabled": False},
                )
        except IntegrityError as exc:
            # Two creators raced past the check above; the unique index decided.
            raise UserExists(name) from exc
        return user

    async def sign_in(self, username: str, password: str, station: str = "", *, address: str = "") -> SignIn:
        """The signed-in person's context (`ctx`), or the reason for a refusal (unknown, wrong password, disabled,
        locked); all audited. `address` (default: the station) is rate-limited."""
        return await self._check(username, password, station, "login", address=address)

    async def unlock_screen(self, ctx: ActionContext, password: str, *, address: str = "") -> SignIn:
        """Check the signed-in person's password at the idle screen lock; failures count toward the lockout."""
        return await self._check(ctx.username, password, ctx.station, "screen.unlock", address=address)

    async def switch_user(
        self, current: ActionContext | None, username: str, password: str, station: str, *, address: str = ""
    ) -> SignIn:
        """Sign `username` in on a panel in place of `current`: `logout.switch` and `login` audited together."""
        return await self._check(username, password, station, "login", replaces=current, address=address)

    async def sign_in_identity(self, identity: Identity, station: str, purpose: str = "login") -> SignIn:
        """Sign in the person the identity provider vouched for (`OidcClient.finish`): their one row in the records
        is found by the provider's subject, made at the first sign-in and brought up to the provider's name, display
        name and role at each one. Refused, and audited, when the HMI disabled or locked the account or another
        account holds the user name. The password was checked at the provider: nothing counts toward the lockout."""
        name = normalise_username(identity.username)[:MAX_USERNAME_LENGTH]
        origin = identity.issuer
        row = await self._external_row(SOURCE_OIDC, identity.subject)
        holder = await self.get(name) if name else None
        if not _USERNAME.match(name):
            await self._audit_failed_login(
                name, station, row, "user name not usable", purpose, detail=f"preferred_username from {origin}"
            )
            return SignIn(
                None,
                "user name not usable",
                notice=Text(
                    "the identity provider's user name {name!r} may only hold letters, digits and . _ @ -; "
                    "ask the administrator",
                    name=name,
                ),
            )
        when = identity.auth_time.isoformat() if identity.auth_time is not None else "not stated"
        person = _External(SOURCE_OIDC, identity.subject, identity.display_name, identity.role, origin)
        detail = f"identity provider account ({origin}, subject {identity.subject}); authenticated there at {when}"
        return await self._accept_external(holder, row, name, person, station, purpose, None, detail)

    async def provider_logout(self, logout_token: str) -> str | None:
        """End every session of the person whose session the identity provider ended (a back-channel logout:
        signed out there, or signed out by its administrators); audited as `user.signed_out`. The user name, or None
        when the person has no account here. OidcError when the token is not valid (nothing ends)."""
        if self.oidc is None:
            return None
        subject = await self.oidc.logout_subject(logout_token)
        row = await self._external_row(SOURCE_OIDC, subject)
        if row is None or row.id is None:
            return None
        await self._sign_out_everywhere(
            row.id,
            row.username,
            SessionEnd.PROVIDER_LOGOUT,
            "signed out at the identity provider",
            f"back-channel logout from {self.oidc.settings.issuer} for subject {subject}; every session ended",
        )
        return row.username

    async def logout(self, ctx: ActionContext, *, idle: bool = False, session_id: str | None = None) -> None:
        """Sign out: `logout` ends all the person's sessions; `logout.idle` (inactivity) ends only `session_id`."""
        if idle:
            minutes = f"{self.policy.logoff_min:g}"
            await self._audit.record(
                ctx,
                "logout.idle",
                "user",
                ctx.username,
                detail=f"signed out automatically after {minutes} idle minutes",
            )
            if session_id is not None:
                # Idleness is a property of this panel; the person may be working at another one.
                await self.sessions.end(session_id, SessionEnd.IDLE)
            return
        async with self._audit.transaction() as session:
            await self._audit.record(ctx, "logout", "user", ctx.username, session=session)
            ended = await self.sessions.end_user(ctx.user_id, SessionEnd.LOGOUT, session=session)
        self.sessions.notify(ended)
        self.fresh.forget(ctx.user_id)

    async def screen_locked(self, ctx: ActionContext) -> None:
        """Audit that the idle lock covered `ctx`'s screen."""
        await self._audit.record(
            ctx, "screen.lock", "user", ctx.username, detail=f"locked after {self.policy.idle_lock_min:g} idle minutes"
        )

    async def unlock(self, actor: ActionContext, username: str, *, reason: str | None = None) -> User:
        """Lift a lockout (needs MANAGE_USERS) and clear the failed-login count; audited as `user.unlock`."""
        name = normalise_username(username)
        await self._audit.require(
            actor, Permission.MANAGE_USERS, action="user.unlock", object_type="user", object_id=name
        )
        async with self._audit.transaction() as session:
            user = await _user_in(session, name)
            old = {"locked": user.locked_at is not None, "failed_logins": user.failed_logins}
            user.locked_at = None
            user.failed_logins = 0
            await self._audit.record(
                actor,
                "user.unlock",
                "user",
                name,
                old_value=old,
                new_value={"locked": False, "failed_logins": 0},
                reason=reason,
                session=session,
            )
        return user

    async def locked_users(self) -> list[User]:
        """Accounts locked after too many failed sign-ins, longest locked first: the administrators' notice."""
        async with self._db.session() as session:
            statement = select(User).where(col(User.locked_at).is_not(None)).order_by(col(User.locked_at))
            return list((await session.execute(statement)).scalars())

    async def _check(
        self,
        username: str,
        password: str,
        station: str,
        purpose: str,
        *,
        replaces: ActionContext | None = None,
        address: str = "",
    ) -> SignIn:
        name = normalise_username(username)[:MAX_USERNAME_LENGTH]
        address = address or station
        throttled = self._limiter.hit(name, address)
        if throttled is not None:
            # Refused before argon2 runs: a flood costs a dictionary look-up, not a hash each.
            self.refusals.add(
                "login.throttled",
                address or "(no address)",
                station,
                name,
                f"more than {throttled.limit} per {throttled.scope}",
            )
            return SignIn(None, "too many attempts", throttled=throttled)
        user = await self.get(name) if name else None
        if name and (user is None or user.source == SOURCE_LDAP) and self.directory is not None:
            # Local accounts never ask the directory: the break-glass administrator signs in while it is away.
            return await self._check_directory(
                self.directory, name, user, password, station, purpose, replaces, address
            )
        if user is not None and user.source == SOURCE_OIDC:
            # Not counted toward the lockout: guesses here cannot be right, and must not lock the person out.
            await self._audit_failed_login(
                name, station, user, "identity provider account on the password form", purpose
            )
            return SignIn(
                None,
                "identity provider account",
                notice=Text("this account signs in through the identity provider; use the button below the form"),
            )
        if user is not None and user.source == SOURCE_LDAP:
            await self._audit_failed_login(name, station, user, "directory sign-in is not configured", purpose)
            return SignIn(
                None,
                "directory not configured",
                notice=Text("directory accounts cannot sign in: this plant has no access.ldap section"),
            )
        if user is None:
            # Spend the same time as a real check so response time does not reveal which names exist.
            await self._hashing(_verify, self._hasher, await self._dummy(), password)
            # One audit row per address and minute with the count, not one each: a scan of names by the
            # thousand would otherwise bury the trail (and a password typed as a name is stored only as a hash).
            self.refusals.add(
                "login.failed.unknown", address or "(no address)", station, name, f"{purpose}: unknown user"
            )
            return SignIn(None, "unknown user")
        matches, needs_rehash = await self._hashing(_verify, self._hasher, user.password_hash, password)
        if user.locked_at is not None:
            # Even the right password does not open a locked account: the attempt may be the guesser's.
            await self._audit_failed_login(name, station, user, "account locked", purpose)
            return SignIn(None, "account locked", locked=True)
        if not matches:
            return await self._count_failure(user, station, purpose)
        if user.disabled:
            await self._audit_failed_login(name, station, user, "account disabled", purpose)
            return SignIn(None, "account disabled")
        new_hash = await self._hashing(self._hasher.hash, password) if needs_rehash else None
        local_id = user.id

        async def stored_local(session: AsyncSession) -> User:
            stored = await session.get(User, local_id)
            if stored is None:
                raise UnknownUser(name)
            if new_hash is not None:
                # Hash parameters were raised since this hash was made; upgrade it while we know the password.
                stored.password_hash = new_hash
            return stored

        notes = ["password rehashed"] if new_hash else []
        if self.directory is not None:
            # Every local sign-in of a plant that signs people in against its directory is a break-glass one.
            notes.append(f"local account; the directory at {self.directory.url} was not asked")
        return await self._accept(stored_local, station, purpose, replaces, "; ".join(notes) or None)

    async def _accept(
        self,
        stored_in: Callable[[AsyncSession], Awaitable[User]],
        station: str,
        purpose: str,
        replaces: ActionContext | None,
        detail: str | None,
    ) -> SignIn:
        """Sign the person in: `stored_in` reads (and brings up to date) their row in the audited transaction that
        clears the failure count, ends a replaced person's sessions and audits `purpose`."""
        ended: SessionsEnded | None = None
        async with self._audit.transaction() as session:
            stored = await stored_in(session)
            # "Consecutive" failures: a success starts the count again.
            stored.failed_logins = 0
            assert stored.id is not None
            ctx = ActionContext(
                user_id=stored.id,
                username=stored.username,
                full_name=stored.full_name,
                role=stored.role,
                station=station,
                source=stored.source,
            )
            if replaces is not None:
                await self._audit.record(
                    replaces.for_action(),
                    "logout.switch",
                    "user",
                    replaces.username,
                    detail=f"user switch to {ctx.username}",
                    session=session,
                )
                ended = await self.sessions.end_user(replaces.user_id, SessionEnd.SWITCH, session=session)
            await self._audit.record(ctx, purpose, "user", stored.username, session=session, detail=detail)
        if ended is not None:
            self.sessions.notify(ended)
        return SignIn(ctx)

    async def _count_failure(self, user: User, station: str, purpose: str) -> SignIn:
        limit = self.policy.lockout_attempts
        async with self._audit.transaction() as session:
            # Counted on the row read under the write lock, so parallel wrong guesses cannot undercount.
            stored = await session.get(User, user.id, populate_existing=True)
            assert stored is not None
            stored.failed_logins += 1
            count = stored.failed_logins
            ctx = self._failure_ctx(user.username, station, user)
            await self._audit.record(
                ctx,
                f"{purpose}.failed",
                "user",
                user.username,
                reason="wrong password",
                detail=f"failed attempt {count} of {limit} in a row",
                session=session,
            )
            locked = count >= limit
            ended: SessionsEnded | None = None
            if locked and stored.locked_at is None:
                ended = await self.lock_out(ctx, stored, f"{count} failed sign-ins in a row", session=session)
        if ended is not None:
            self.sessions.notify(ended)
        return SignIn(None, "wrong password", locked=locked)

    async def _check_directory(
        self,
        directory: Directory,
        name: str,
        user: User | None,
        password: str,
        station: str,
        purpose: str,
        replaces: ActionContext | None,
        address: str,
    ) -> SignIn:
        """The sign-in of a name the records do not hold as a local account: the directory checks the password and
        says who the person is; the records' row (made at the first sign-in) follows the directory."""
        if user is not None and user.locked_at is not None:
            # Not asked: the directory would count the attempt toward its own lockout as well.
            await self._audit_failed_login(name, station, user, "account locked", purpose)
            return SignIn(None, "account locked", locked=True)
        try:
            check = await directory.authenticate(name, password)
        except DirectoryUnavailable as exc:
            log.warning("a directory sign-in was refused: %s", exc.message)
            if user is None:
                # A name the records do not hold may be a password typed into the wrong field: counted per address
                # with the name hashed, like unknown names, never written out.
                self.refusals.add("login.failed.directory", address or "(no address)", station, name, exc.message)
            else:
                await self._audit_failed_login(
                    name, station, user, "directory unreachable", purpose, detail=exc.message
                )
            return SignIn(None, "directory unreachable", notice=exc.message)
        account = check.account
        row = await self._external_row(SOURCE_LDAP, account.external_id) if account is not None else user
        match check.verdict:
            case Verdict.UNKNOWN if user is None:
                self.refusals.add(
                    "login.failed.unknown", address or "(no address)", station, name, f"{purpose}: unknown user"
                )
                return SignIn(None, "unknown user")
            case Verdict.UNKNOWN:
                await self._audit_failed_login(name, station, user, "not found in the directory", purpose)
                return SignIn(None, "unknown user")
            case Verdict.AMBIGUOUS:
                await self._audit_failed_login(
                    name,
                    station,
                    user,
                    "more than one directory entry matches",
                    purpose,
                    detail="narrow access.ldap.user_filter so that it finds one person per name",
                )
                return SignIn(None, "ambiguous user name")
            case Verdict.WRONG_PASSWORD if row is not None:
                return await self._count_failure(row, station, purpose)
            case Verdict.WRONG_PASSWORD:
                # No row to count on yet (never signed in here): the rate limits and the directory's own lockout hold.
                await self._audit_failed_login(name, station, None, "wrong password", purpose, detail="directory")
                return SignIn(None, "wrong password")
            case Verdict.DISABLED:
                return await self._refuse_disabled(name, station, row, purpose)
        assert account is not None
        if row is not None and row.locked_at is not None:
            await self._audit_failed_login(name, station, row, "account locked", purpose)
            return SignIn(None, "account locked", locked=True)
        if check.role is None:
            await self._audit_failed_login(
                name,
                station,
                row,
                "in no directory group mapped to a role",
                purpose,
                detail=f"groups: {'; '.join(account.groups) or '(none)'}",
            )
            return SignIn(
                None,
                "no role",
                notice=Text(
                    "you are in none of the directory groups that give a role on this HMI; "
                    "ask an administrator to add you to one"
                ),
            )
        person = _External(SOURCE_LDAP, account.external_id, account.full_name, check.role, directory.url)
        return await self._accept_external(
            user, row, name, person, station, purpose, replaces, f"directory account ({directory.url})"
        )

    async def _accept_external(
        self,
        holder: User | None,
        row: User | None,
        name: str,
        person: _External,
        station: str,
        purpose: str,
        replaces: ActionContext | None,
        detail: str,
    ) -> SignIn:
        """Sign in a person the directory or the identity provider vouched for, whose row (found by their immutable
        id) is `row` and the account holding `name` is `holder`: refused (and audited) when another account holds
        the name or the HMI locked or disabled the person's account."""
        if holder is not None and (row is None or holder.id != row.id):
            # Another identity holds this name in the records (a person who left, whose name was given again).
            await self._audit_failed_login(
                name,
                station,
                holder,
                "user name held by another identity",
                purpose,
                detail=f"{person.source} id {person.external_id} ({person.origin}) differs from the records' account "
                "of this name",
            )
            return SignIn(
                None,
                "user name taken",
                notice=Text("this user name belongs to another account in the records; ask an administrator"),
            )
        if row is not None and row.locked_at is not None:
            await self._audit_failed_login(name, station, row, "account locked", purpose)
            return SignIn(None, "account locked", locked=True)
        if row is not None and row.disabled:
            await self._audit_failed_login(name, station, row, "account disabled", purpose)
            return SignIn(None, "account disabled")
        try:
            return await self._accept(
                lambda session: self._synced(session, row, name, person), station, purpose, replaces, detail
            )
        except IntegrityError:
            # Another sign-in of the same person made the row first; the next attempt finds it.
            return SignIn(None, "try again", notice=Text("the sign-in collided with another one; try again"))

    async def _synced(self, session: AsyncSession, row: User | None, name: str, person: _External) -> User:
        """The directory or identity provider person's row in `session`: made at the first sign-in, else brought up
        to the name, display name and role `origin` (the directory's or provider's URL) gives now (groups take
        effect at each sign-in); every change audited."""
        full_name, role, source, external_id, origin = (
            person.full_name.strip()[:200],
            person.role,
            person.source,
            person.external_id,
            person.origin,
        )
        kind = "identity provider" if source == SOURCE_OIDC else "directory"
        stored = await session.get(User, row.id, populate_existing=True) if row is not None else None
        if stored is None:
            stored = User(
                username=name,
                full_name=full_name,
                role=role,
                password_hash=NO_LOCAL_PASSWORD,
                disabled=False,
                created_at=self._clock(),
                source=source,
                external_id=external_id,
            )
            session.add(stored)
            await session.flush()
            await self._audit.record(
                None,
                "user.create",
                "user",
                name,
                session=session,
                new_value={
                    "username": name,
                    "full_name": full_name,
                    "role": role.value,
                    "disabled": False,
                    "source": source,
                    "external_id": external_id,
                },
                detail=f"first sign-in of a {kind} account ({origin})",
            )
            return stored
        old: dict[str, str] = {}
        new: dict[str, str] = {}
        for field, value in (("username", name), ("full_name", full_name), ("role", role)):
            if getattr(stored, field) != value:
                old[field], new[field] = str(getattr(stored, field)), str(value)
                setattr(stored, field, value)
        if new:
            await self._audit.record(
                None,
                "user.update",
                "user",
                name,
                session=session,
                old_value=old,
                new_value=new,
                detail=f"changed at the {kind} ({origin}), taken over at sign-in",
            )
        return stored

    async def _refuse_disabled(self, name: str, station: str, row: User | None, purpose: str) -> SignIn:
        """Refuse a person the directory marks disabled, and end the sessions they still have here."""
        ended: SessionsEnded | None = None
        async with self._audit.transaction() as session:
            await self._audit.record(
                self._failure_ctx(name, station, row),
                f"{purpose}.failed",
                "user",
                name,
                reason="disabled in the directory",
                session=session,
            )
            if row is not None and row.id is not None:
                ended = await self.sessions.end_user(row.id, SessionEnd.DISABLED, session=session)
        if ended is not None:
            self.sessions.notify(ended)
        return SignIn(None, "account disabled")

    async def _external_row(self, source: str, external_id: str) -> User | None:
        """The records' row of the directory or identity provider person `external_id`, whatever name it carries
        now."""
        async with self._db.session() as session:
            statement = select(User).where(User.source == source, User.external_id == external_id)
            return (await session.execute(statement)).scalar_one_or_none()

    async def lock_out(self, ctx: ActionContext, stored: User, after: str, *, session: AsyncSession) -> SessionsEnded:
        """Lock the account `stored` (read in `session`, the caller's transaction), end its sessions and audit
        `login.lockout`; `after` says what locked it. `sessions.notify()` the result after the commit. Only an
        administrator's unlock lets the person sign in again."""
        stored.locked_at = self._clock()
        # The guesser may be at another panel than the person, or at the person's unattended panel (wrong
        # signature passwords): nobody works under this name any more.
        assert stored.id is not None
        ended = await self.sessions.end_user(stored.id, SessionEnd.LOCKOUT, session=session)
        await self._audit.record(
            ctx,
            "login.lockout",
            "user",
            stored.username,
            session=session,
            old_value={"locked": False},
            new_value={"locked": True},
            detail=f"locked after {after}; an administrator must unlock it",
        )
        return ended

    async def list_users(self) -> list[User]:
        """Every user, disabled ones included, by name."""
        async with self._db.session() as session:
            return list((await session.execute(select(User).order_by(col(User.username)))).scalars())

    async def last_sign_ins(self) -> dict[int, datetime]:
        """When each person last signed in (their newest session's start), by user id: the administrators' view."""
        statement = select(UserSession.user_id, func.max(UserSession.created_at)).group_by(col(UserSession.user_id))
        async with self._db.session() as session:
            return {user_id: at for user_id, at in (await session.execute(statement)).all() if at is not None}

    async def get(self, username: str) -> User | None:
        """The user with this name (case-insensitive), or None."""
        async with self._db.session() as session:
            statement = select(User).where(User.username == normalise_username(username))
            return (await session.execute(statement)).scalar_one_or_none()

    async def set_disabled(
        self, actor: ActionContext, username: str, disabled: bool, *, reason: str | None = None
    ) -> User:
        """Disable (or re-enable) a user; needs MANAGE_USERS. A disabled user cannot sign in."""
        name = normalise_username(username)
        action = "user.disable" if disabled else "user.enable"
        await self._audit.require(actor, Permission.MANAGE_USERS, action=action, object_type="user", object_id=name)
        if disabled and actor.user_id != SYSTEM_USER_ID and actor.username == name:
            raise ValueError(Text("you cannot disable your own account; ask another administrator"))
        ended: SessionsEnded | None = None
        async with self._audit.transaction() as session:
            user = await _user_in(session, name)
            if user.disabled != disabled:
                await self._audit.record(
                    actor,
                    action,
                    "user",
                    name,
                    old_value={"disabled": user.disabled},
                    new_value={"disabled": disabled},
                    reason=reason,
                    session=session,
                )
                user.disabled = disabled
            if disabled and user.id is not None:
                # Also when already disabled: a session left over from before must not go on acting.
                ended = await self.sessions.end_user(user.id, SessionEnd.DISABLED, session=session)
        if ended is not None:
            self.sessions.notify(ended)
        return user

    async def retire(self, actor: ActionContext, username: str, *, reason: str | None = None) -> User:
        """Free the login name of a directory or identity provider person who left, so the directory's or provider's
        new holder of that name can sign in (needs MANAGE_USERS). The row stays, under the name
        `<name>.retired-<id>`, disabled and with every session ended: the records keep attributing the old
        person's actions to it (21 CFR 11.10(e)); audited as `user.retire` with the old and new name."""
        name = normalise_username(username)
        await self._audit.require(
            actor, Permission.MANAGE_USERS, action="user.retire", object_type="user", object_id=name
        )
        ended: SessionsEnded | None = None
        async with self._audit.transaction() as session:
            user = await _user_in(session, name)
            if user.source == SOURCE_LOCAL:
                raise ValueError(
                    Text(
                        "{username!r} is a local account: its name is nobody else's to claim; disable it instead",
                        username=name,
                    )
                )
            assert user.id is not None
            suffix = f".retired-{user.id}"
            new_name = name[: MAX_USERNAME_LENGTH - len(suffix)] + suffix
            await self._audit.record(
                actor,
                "user.retire",
                "user",
                name,
                old_value={"username": name, "disabled": user.disabled},
                new_value={"username": new_name, "disabled": True},
                reason=reason,
                detail=f"{user.source} account {user.external_id}: its login name is free for the next holder",
                session=session,
            )
            user.username = new_name
            user.disabled = True
            ended = await self.sessions.end_user(user.id, SessionEnd.DISABLED, session=session)
        self.sessions.notify(ended)
        return user

    async def reset_password(
        self,
        actor: ActionContext,
        username: str,
        new_password: str,
        *,
        reason: str | None = None,
        enforce_policy: bool = True,
    ) -> None:
        """Replace a user's password; needs MANAGE_USERS. The audit row says that it changed, never the hash."""
        name = normalise_username(username)
        await self._audit.require(
            actor, Permission.MANAGE_USERS, action="user.reset_password", object_type="user", object_id=name
        )
        user = await self.get(name)
        if user is None:
            raise UnknownUser(name)
        if user.source != SOURCE_LOCAL:
            raise DirectoryAccountError(name, user.source)
        if enforce_policy:
            self.check_policy(name, new_password)
        if enforce_policy and await self.verify_password(user.password_hash, new_password):
            raise PasswordPolicyError(Text("the new password must differ from the current one"))
        password_hash = await self._hashing(self._hasher.hash, new_password)
        async with self._audit.transaction() as session:
            user = await _user_in(session, name)
            user.password_hash = password_hash
            await self._audit.record(
                actor, "user.reset_password", "user", name, reason=reason, detail="password replaced", session=session
            )
            # Whoever knew the old password (the reason for a reset, often) is signed out everywhere.
            assert user.id is not None
            ended = await self.sessions.end_user(user.id, SessionEnd.PASSWORD_RESET, session=session)
        self.sessions.notify(ended)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hashing(self._hasher.hash, "not a password of anyone")
        return self._dummy_hash

    @staticmethod
    def _failure_ctx(name: str, station: str, user: User | None) -> ActionContext:
        return ActionContext(
            user_id=user.id if user and user.id is not None else SYSTEM_USER_ID,
            username=name or "(empty)",
            full_name=user.full_name if user else "",
            role=user.role if user else Role.OPERATOR,
            station=station,
        )

    async def _audit_failed_login(
        self, name: str, station: str, user: User | None, why: str, purpose: str = "login", detail: str | None = None
    ) -> None:
        ctx = self._failure_ctx(name, station, user)
        await self._audit.record(ctx, f"{purpose}.failed", "user", name or "(empty)", reason=why, detail=detail)


async def _user_in(session: AsyncSession, name: str) -> User:
    """The user named `name` (normalised) as read in `session`; UnknownUser when there is none."""
    user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
    if user is None:
        raise UnknownUser(name)
    return user
