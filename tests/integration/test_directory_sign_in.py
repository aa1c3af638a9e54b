"""Sign-in against a real OpenLDAP directory (tests/ldap_server.py): group -> role mapping, one stable row per
person, lockout and limits, disabled and removed people, the directory away, and signatures re-checked by a bind
(issue 14; 21 CFR 11.10(d), 11.300, 11.200(a); IEC 62443-3-3 SR 1.1, 1.2)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from hmi.access.auth import NO_LOCAL_PASSWORD, DirectoryAccountError, UserService
from hmi.access.context import ActionContext
from hmi.access.directory import DirectoryUnavailable
from hmi.access.directory_settings import LdapConfig
from hmi.access.roles import Role
from hmi.access.sessions import SessionEnd
from hmi.clock import ManualClock
from hmi.config import AccessPolicy
from hmi.records.audit import AuditLog
from hmi.records.signatures import SignatureRefused, SignatureService
from hmi.store.database import Database
from tests.conftest import FAST_HASHER
from tests.ldap_server import (
    DISABLED_ACCOUNT,
    ENGINEERS,
    LEADS,
    MANAGERS,
    OPERATORS,
    PERSONS,
    SUFFIX,
    USER_FILTER,
    LdapServer,
    Person,
    make_ca,
    running_ldap_server,
)
from tests.waiting import until

PASSWORDS = {p.uid: p.password for p in PERSONS}
LOCAL_ADMIN_PASSWORD = "break-glass-pw-1"


@pytest.fixture
def ldap_server(tmp_path: Path) -> Iterator[LdapServer]:
    """The plant directory on a real slapd (alice operator, bob operator+lead, carol engineer, dave in no mapped
    group, erin disabled)."""
    with running_ldap_server(tmp_path / "slapd") as server:
        yield server


def ldap_config(server: LdapServer) -> LdapConfig:
    return LdapConfig(
        url=server.url,
        base_dn=SUFFIX,
        user_filter=USER_FILTER,
        group_map={OPERATORS: Role.OPERATOR, LEADS: Role.LEAD, ENGINEERS: Role.ENGINEER, MANAGERS: Role.MANAGER},
        # Plain LDAP on loopback for the test only; a plant uses ldaps:// or start_tls.
        allow_plaintext=True,
        timeout_s=2,
    )


@pytest.fixture
async def directory_users(
    db: Database, audit: AuditLog, clock: ManualClock, ldap_server: LdapServer
) -> AsyncIterator[UserService]:
    """The user service of a plant that signs people in against `ldap_server`, lockout after 3 failures."""
    policy = AccessPolicy(lockout_attempts=3, ldap=ldap_config(ldap_server))
    service = UserService(db, audit, clock, hasher=FAST_HASHER, policy=policy)
    yield service
    await service.stop()


@pytest.fixture
async def root(directory_users: UserService) -> ActionContext:
    """The local break-glass administrator, signed in."""
    await directory_users.create_user("root", LOCAL_ADMIN_PASSWORD, Role.ADMIN, "Ada Admin")
    ctx = (await directory_users.sign_in("root", LOCAL_ADMIN_PASSWORD, station="office")).ctx
    assert ctx is not None
    return ctx


async def signed_in(users: UserService, uid: str, station: str = "panel-1") -> ActionContext:
    outcome = await users.sign_in(uid, PASSWORDS[uid.strip().lower()], station=station)
    assert outcome.ctx is not None, (outcome.reason, outcome.notice)
    return outcome.ctx


@pytest.mark.req("AUTH-102", "AUTH-103")
async def test_directory_people_sign_in_with_the_highest_role_of_their_groups(
    directory_users: UserService, audit: AuditLog, ldap_server: LdapServer
) -> None:
    alice = await signed_in(directory_users, "alice")
    bob = await signed_in(directory_users, "Bob ")
    carol = await signed_in(directory_users, "carol")
    assert (alice.role, bob.role, carol.role) == (Role.OPERATOR, Role.LEAD, Role.ENGINEER)
    assert (bob.username, bob.full_name) == ("bob", "Bob Lead")

    row = await directory_users.get("alice")
    assert row is not None
    with ldap_server.admin() as conn:
        conn.search(SUFFIX, "(uid=alice)", attributes=["entryUUID"])
        entry_uuid = str(conn.entries[0].entryUUID)
    assert (row.source, row.external_id, row.id) == ("ldap", entry_uuid, alice.user_id)
    # No usable local password: the stored text is no hash at all and never verifies.
    assert row.password_hash == NO_LOCAL_PASSWORD
    assert not await directory_users.verify_password(row.password_hash, PASSWORDS["alice"])
    assert not await directory_users.verify_password(row.password_hash, "")

    # The next sign-in finds the same row.
    again = await signed_in(directory_users, "alice")
    assert again.user_id == alice.user_id
    created = await audit.query(action="user.create", object_id="alice")
    assert len(created) == 1
    assert json.loads(created[0].new_value or "{}")["external_id"] == entry_uuid
    logins = await audit.query(action="login", username="alice")
    assert len(logins) == 2
    assert "directory account" in (logins[0].detail or "")
    assert await audit.verify() is None


@pytest.mark.req("AUTH-102")
async def test_groups_without_member_of_are_found_by_searching_for_the_member(
    directory_users: UserService, ldap_server: LdapServer
) -> None:
    with ldap_server.admin() as conn:
        conn.search(SUFFIX, "(uid=frank)", attributes=["memberOf"])
        assert not conn.entries[0].entry_attributes_as_dict.get("memberOf")
    frank = await signed_in(directory_users, "frank")
    assert (frank.role, frank.full_name) == (Role.MANAGER, "Frank Manager")


@pytest.mark.req("AUTH-102")
async def test_the_typed_name_is_escaped_in_the_directory_search(directory_users: UserService) -> None:
    for name in ("*", "al*", "alice)(uid=*", "*)(|(uid=*"):
        outcome = await directory_users.sign_in(name, PASSWORDS["alice"], station="panel-1")
        assert outcome.ctx is None
        assert outcome.reason in ("unknown user", "wrong password")
    # An empty password is never an (unauthenticated) bind that passes.
    assert (await directory_users.sign_in("alice", "", station="panel-1")).ctx is None
    assert await directory_users.get("alice") is None


@pytest.mark.req("AUTH-102")
async def test_a_person_in_no_mapped_group_is_refused_with_a_clear_message(
    directory_users: UserService, audit: AuditLog
) -> None:
    outcome = await directory_users.sign_in("dave", PASSWORDS["dave"], station="panel-1")
    assert outcome.ctx is None
    assert outcome.notice is not None
    assert "none of the directory groups that give a role" in outcome.notice
    [failed] = await audit.query(action="login.failed", username="dave")
    assert failed.reason == "in no directory group mapped to a role"
    assert "cn=Visitors" in (failed.detail or "")
    assert await directory_users.get("dave") is None


@pytest.mark.req("AUTH-104")
async def test_group_changes_take_effect_at_the_next_sign_in_and_are_audited(
    directory_users: UserService, audit: AuditLog, ldap_server: LdapServer
) -> None:
    alice = await signed_in(directory_users, "alice")
    assert alice.role is Role.OPERATOR
    ldap_server.add_member(ENGINEERS, "alice")
    promoted = await signed_in(directory_users, "alice")
    assert (promoted.user_id, promoted.role) == (alice.user_id, Role.ENGINEER)
    [change] = await audit.query(action="user.update", object_id="alice")
    assert (json.loads(change.old_value or "{}"), json.loads(change.new_value or "{}")) == (
        {"role": "operator"},
        {"role": "engineer"},
    )
    ldap_server.remove_member(ENGINEERS, "alice")
    ldap_server.remove_member(OPERATORS, "alice")
    refused = await directory_users.sign_in("alice", PASSWORDS["alice"], station="panel-1")
    assert refused.ctx is None
    assert refused.notice is not None


@pytest.mark.req("AUTH-103")
async def test_a_rename_in_the_directory_keeps_the_same_row(
    directory_users: UserService, audit: AuditLog, ldap_server: LdapServer
) -> None:
    alice = await signed_in(directory_users, "alice")
    ldap_server.rename("alice", "alicia")
    outcome = await directory_users.sign_in("alicia", PASSWORDS["alice"], station="panel-1")
    assert outcome.ctx is not None
    assert (outcome.ctx.user_id, outcome.ctx.username) == (alice.user_id, "alicia")
    assert await directory_users.get("alice") is None
    [change] = await audit.query(action="user.update", object_id="alicia")
    assert json.loads(change.new_value or "{}") == {"username": "alicia"}
    # The old name signs nobody in.
    assert (await directory_users.sign_in("alice", PASSWORDS["alice"])).ctx is None


@pytest.mark.req("AUTH-103")
async def test_a_name_given_again_to_another_directory_person_does_not_take_over_the_old_row(
    directory_users: UserService, audit: AuditLog, ldap_server: LdapServer, root: ActionContext
) -> None:
    alice = await signed_in(directory_users, "alice")
    # Alice leaves; a new person gets the login name alice (a new entry, a new entryUUID).
    ldap_server.delete("alice")
    with ldap_server.admin() as conn:
        ldap_server.add_person(conn, Person("alice", "Alice Newcomer", "newcomer-pw-1", ()))
    ldap_server.add_member(OPERATORS, "alice")
    refused = await directory_users.sign_in("alice", "newcomer-pw-1", station="panel-1")
    assert refused.ctx is None
    assert refused.notice is not None
    assert "belongs to another account" in refused.notice
    [failed] = await audit.query(action="login.failed", username="alice", limit=1)
    assert failed.reason == "user name held by another identity"
    row = await directory_users.get("alice")
    assert row is not None
    assert (row.id, row.full_name) == (alice.user_id, "Alice Operator")

    # An administrator retires the departed person's row: it keeps her records under a new name, disabled, and
    # the newcomer signs in with a row of her own.
    retired = await directory_users.retire(root, "alice", reason="left; the name went to a newcomer")
    assert (retired.id, retired.username, retired.disabled) == (alice.user_id, f"alice.retired-{alice.user_id}", True)
    newcomer = await directory_users.sign_in("alice", "newcomer-pw-1", station="panel-1")
    assert newcomer.ctx is not None
    assert (newcomer.ctx.full_name, newcomer.ctx.user_id != alice.user_id) == ("Alice Newcomer", True)
    [retire] = await audit.query(action="user.retire")
    assert retire.object_id == "alice"
    assert retire.user_id == root.user_id
    # The old person's earlier sign-in is still attributed to her row.
    logins = await audit.query(action="login", username="alice")
    assert {r.user_id for r in logins} == {alice.user_id, newcomer.ctx.user_id}
    with pytest.raises(ValueError, match="local account"):
        await directory_users.retire(root, "root")
    assert await audit.verify() is None


@pytest.mark.req("AUTH-103")
async def test_local_password_operations_are_refused_on_directory_accounts(
    directory_users: UserService, root: ActionContext
) -> None:
    await signed_in(directory_users, "alice")
    with pytest.raises(DirectoryAccountError, match="directory account"):
        await directory_users.reset_password(root, "alice", "a-new-local-pw-1")


@pytest.mark.req("AUTH-105")
async def test_wrong_directory_passwords_count_toward_the_lockout(
    directory_users: UserService, audit: AuditLog, root: ActionContext
) -> None:
    await signed_in(directory_users, "alice")
    for attempt in range(1, 4):
        outcome = await directory_users.sign_in("alice", f"guess {attempt}", station="panel-1")
        assert (outcome.ctx, outcome.reason, outcome.locked) == (None, "wrong password", attempt == 3)
    [lockout] = await audit.query(action="login.lockout")
    assert lockout.object_id == "alice"
    # The right directory password does not open the locked account.
    refused = await directory_users.sign_in("alice", PASSWORDS["alice"], station="panel-1")
    assert (refused.ok, refused.reason, refused.locked) == (False, "account locked", True)
    await directory_users.unlock(root, "alice")
    assert (await directory_users.sign_in("alice", PASSWORDS["alice"])).ok


@pytest.mark.req("AUTH-105")
async def test_the_rate_limit_holds_for_directory_names(
    db: Database, audit: AuditLog, clock: ManualClock, ldap_server: LdapServer
) -> None:
    policy = AccessPolicy(login_limit_per_account="2 per minute", ldap=ldap_config(ldap_server))
    users = UserService(db, audit, clock, hasher=FAST_HASHER, policy=policy)
    try:
        for _ in range(2):
            assert (await users.sign_in("bob", "wrong", station="panel-1")).ctx is None
        throttled = await users.sign_in("bob", PASSWORDS["bob"], station="panel-1")
        assert throttled.throttled is not None
        assert throttled.ctx is None
    finally:
        await users.stop()


@pytest.mark.req("AUTH-105")
async def test_an_account_disabled_in_the_hmi_cannot_sign_in(
    directory_users: UserService, root: ActionContext, audit: AuditLog
) -> None:
    await signed_in(directory_users, "alice")
    await directory_users.set_disabled(root, "alice", True, reason="left the plant")
    refused = await directory_users.sign_in("alice", PASSWORDS["alice"], station="panel-1")
    assert (refused.ctx, refused.reason) == (None, "account disabled")
    assert (await audit.query(action="login.failed", limit=1))[0].reason == "account disabled"


@pytest.mark.req("AUTH-105")
async def test_people_disabled_or_removed_in_the_directory_are_refused_and_signed_out(
    directory_users: UserService, audit: AuditLog, ldap_server: LdapServer
) -> None:
    # erin is disabled in the directory from the start (userAccountControl bit 2).
    erin = await directory_users.sign_in("erin", PASSWORDS["erin"], station="panel-1")
    assert (erin.ctx, erin.reason) == (None, "account disabled")
    [failed] = await audit.query(action="login.failed", username="erin")
    assert failed.reason == "disabled in the directory"

    alice = await signed_in(directory_users, "alice")
    carol = await signed_in(directory_users, "carol")
    alice_session = await directory_users.sessions.start(alice)
    carol_session = await directory_users.sessions.start(carol)
    assert await directory_users.recheck_directory() == 0

    ldap_server.set_account_control("alice", DISABLED_ACCOUNT)
    ldap_server.delete("carol")
    assert await directory_users.recheck_directory() == 2
    assert (await directory_users.sessions.check(alice_session)).ended is SessionEnd.DISABLED
    assert (await directory_users.sessions.check(carol_session)).ended is SessionEnd.UNKNOWN_USER
    reasons = {e.object_id: e.reason for e in await audit.query(action="user.signed_out")}
    assert reasons == {"alice": "disabled in the directory", "carol": "removed from the directory"}
    assert (await directory_users.sign_in("alice", PASSWORDS["alice"])).reason == "account disabled"
    assert (await directory_users.sign_in("carol", PASSWORDS["carol"])).ctx is None
    assert await audit.verify() is None


@pytest.mark.req("AUTH-106")
async def test_directory_down_is_a_clear_message_audited_and_local_accounts_still_sign_in(
    directory_users: UserService, audit: AuditLog, ldap_server: LdapServer, root: ActionContext
) -> None:
    alice_session = await directory_users.sessions.start(await signed_in(directory_users, "alice"))
    ldap_server.stop()
    outcome = await directory_users.sign_in("alice", PASSWORDS["alice"], station="panel-1")
    assert (outcome.ctx, outcome.reason) == (None, "directory unreachable")
    assert outcome.notice is not None
    assert outcome.notice.startswith(f"the directory at {ldap_server.url} cannot be reached: ")
    assert outcome.notice.endswith("; local accounts still work")
    assert PASSWORDS["alice"] not in outcome.notice
    [failed] = await audit.query(action="login.failed", username="alice")
    assert (failed.reason, failed.detail) == ("directory unreachable", outcome.notice)
    # Not counted toward the lockout: the person did nothing wrong.
    row = await directory_users.get("alice")
    assert row is not None
    assert row.failed_logins == 0

    # A name the records do not hold (perhaps a password typed as a name) is counted, hashed, never written.
    assert (await directory_users.sign_in("Secret-Typed-As-Name", "x", station="panel-1")).notice == outcome.notice
    await directory_users.refusals.flush(everything=True)
    [tallied] = await audit.query(action="login.failed.directory")
    assert "while the directory was unreachable" in (tallied.detail or "")
    assert all("secret-typed-as-name" not in str(entry.model_dump()).lower() for entry in await audit.query())

    # The break-glass administrator signs in, and the sign-in says so.
    local = await directory_users.sign_in("root", LOCAL_ADMIN_PASSWORD, station="office")
    assert local.ok
    assert "local account" in ((await audit.query(action="login", username="root", limit=1))[0].detail or "")

    # Nobody is signed out because the directory is away.
    with pytest.raises(DirectoryUnavailable, match="cannot be reached"):
        await directory_users.recheck_directory()
    assert (await directory_users.sessions.check(alice_session)).ctx is not None
    ldap_server.start()
    assert (await directory_users.sign_in("alice", PASSWORDS["alice"])).ok
    assert await audit.verify() is None


@pytest.mark.req("AUTH-107")
async def test_a_signature_rechecks_the_password_with_the_directory(
    directory_users: UserService, audit: AuditLog, clock: ManualClock, db: Database, ldap_server: LdapServer
) -> None:
    signatures = SignatureService(db, audit, directory_users, clock)
    bob = await signed_in(directory_users, "bob")

    def sign(password: str) -> object:
        return signatures.sign(
            bob, username="bob", password=password, meaning="Approved", object_type="note", object_id="1", content="x"
        )

    signature = await sign(PASSWORDS["bob"])
    assert signature.username == "bob"  # type: ignore[attr-defined]
    assert signature.printed_name == "Bob Lead"  # type: ignore[attr-defined]

    # The directory decides: after a password change there, only the new password signs.
    ldap_server.set_password("bob", "bob-new-dir-pw-2")
    with pytest.raises(SignatureRefused):
        await sign(PASSWORDS["bob"])
    [failed] = await audit.query(action="sign.failed")
    assert failed.reason == "wrong password"
    row = await directory_users.get("bob")
    assert row is not None
    assert row.failed_logins == 1
    await sign("bob-new-dir-pw-2")

    ldap_server.stop()
    with pytest.raises(SignatureRefused, match="cannot be reached"):
        await sign("bob-new-dir-pw-2")
    assert (await audit.query(action="sign.failed", limit=1))[0].reason.startswith("directory unreachable")  # type: ignore[union-attr]
    assert await audit.verify() is None


def test_no_local_password_is_an_argon2_hash() -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - whichever argon2 error: it must simply never verify
        PasswordHasher().verify(NO_LOCAL_PASSWORD, "")


@pytest.mark.req("AUTH-103")
async def test_an_existing_database_gets_the_source_columns(db: Database, users: UserService) -> None:
    await users.create_user("alice", LOCAL_ADMIN_PASSWORD, Role.OPERATOR)
    # The users table as a release before directory sign-in made it.
    async with db.session(write=True) as session:
        await session.execute(sa.text("ALTER TABLE users DROP COLUMN source"))
        await session.execute(sa.text("ALTER TABLE users DROP COLUMN external_id"))
        await session.commit()
    await db.stop()
    await db.start()
    user = await users.get("alice")
    assert user is not None
    assert (user.source, user.external_id) == ("local", None)
    assert (await users.sign_in("alice", LOCAL_ADMIN_PASSWORD)).ok


async def refused_for_its_certificate(users: UserService) -> None:
    """alice's sign-in through `users` is refused because the directory's certificate does not pass; `users` stops."""
    try:
        refused = await users.sign_in("alice", PASSWORDS["alice"], station="panel-1")
        assert (refused.ctx, refused.reason) == (None, "directory unreachable")
        assert refused.notice is not None
        assert "certificate" in refused.notice.lower()
    finally:
        await users.stop()


@pytest.mark.req("AUTH-102")
@pytest.mark.parametrize("transport", ["start_tls", "ldaps"])
async def test_the_password_goes_over_tls_checked_against_the_plant_ca(
    db: Database, audit: AuditLog, clock: ManualClock, ldap_server: LdapServer, tmp_path: Path, transport: str
) -> None:
    def users_with(ca_file: Path) -> UserService:
        tls = (
            {"url": ldap_server.url, "start_tls": True} if transport == "start_tls" else {"url": ldap_server.ldaps_url}
        )
        config = ldap_config(ldap_server).model_copy(update={**tls, "allow_plaintext": False, "ca_file": ca_file})
        return UserService(db, audit, clock, hasher=FAST_HASHER, policy=AccessPolicy(ldap=config))

    users = users_with(ldap_server.ca_file)
    try:
        assert (await users.sign_in("alice", PASSWORDS["alice"], station="panel-1")).ok
    finally:
        await users.stop()
    # A directory whose certificate the plant's CA did not sign gets no password.
    stranger, _cert, _key = make_ca(tmp_path, "another-ca")
    await refused_for_its_certificate(users_with(stranger))


@pytest.mark.req("AUTH-102")
async def test_a_directory_at_a_name_its_certificate_does_not_carry_gets_no_password(
    db: Database, audit: AuditLog, clock: ManualClock, ldap_server: LdapServer
) -> None:
    # The certificate is signed by the plant's CA, but for localhost and 127.0.0.1, not 127.0.0.2: an impostor
    # holding any certificate of the plant's CA must not receive passwords meant for another host.
    config = ldap_config(ldap_server).model_copy(
        update={"url": ldap_server.misnamed_url, "allow_plaintext": False, "ca_file": ldap_server.ca_file}
    )
    await refused_for_its_certificate(
        UserService(db, audit, clock, hasher=FAST_HASHER, policy=AccessPolicy(ldap=config))
    )
    # The same directory under a name its certificate carries signs her in.
    named = config.model_copy(update={"url": ldap_server.ldaps_url})
    users = UserService(db, audit, clock, hasher=FAST_HASHER, policy=AccessPolicy(ldap=named))
    try:
        assert (await users.sign_in("alice", PASSWORDS["alice"], station="panel-1")).ok
    finally:
        await users.stop()


@pytest.mark.req("AUTH-105")
async def test_the_periodic_check_signs_out_a_person_disabled_in_the_directory(
    db: Database, audit: AuditLog, clock: ManualClock, ldap_server: LdapServer
) -> None:
    config = ldap_config(ldap_server).model_copy(update={"recheck_min": 0.005})  # every 0.3 s
    users = UserService(db, audit, clock, hasher=FAST_HASHER, policy=AccessPolicy(ldap=config))
    await users.start()
    try:
        session_id = await users.sessions.start(await signed_in(users, "alice"))
        ldap_server.set_account_control("alice", DISABLED_ACCOUNT)

        async def ended() -> SessionEnd | None:
            return (await users.sessions.check(session_id)).ended

        assert await until(ended, timeout=15, what="alice's session to end") is SessionEnd.DISABLED
        [signed_out] = await audit.query(action="user.signed_out")
        assert (signed_out.object_id, signed_out.reason) == ("alice", "disabled in the directory")
    finally:
        await users.stop()
