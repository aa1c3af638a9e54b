"""`hmi tokens create | list | revoke` end to end through hmi.cli.main, against both real databases, and what a
presented secret resolves to."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hmi.access.api_tokens import ApiTokenService, hash_secret
from hmi.access.auth import UserService
from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.config import ConfigError, parse_config
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from tests.integration.conftest import Hmi


@pytest.fixture
async def mes(users: UserService) -> str:
    await users.create_user("mes", "a long enough password", Role.LEAD, "MES line 1")
    return "mes"


def secret_of(out: str) -> str:
    return out.strip().splitlines()[-1]


@pytest.mark.req("API-001")
async def test_create_prints_the_secret_once_and_stores_only_its_hash(
    hmi: Hmi, db: Database, mes: str, audit: AuditLog, clock: ManualClock
) -> None:
    code, out, err = await hmi("tokens", "create", "mes-line1", "--user", "MES", "--expires", "90d", "--db", db.url)
    assert (code, err) == (0, "")
    secret = secret_of(out)
    assert secret.startswith("hmi_")
    assert len(secret) > 40
    assert "acting as mes" in out
    async with db.session() as session:
        stored = (await session.execute(sa.text("SELECT name, secret_hash FROM api_tokens"))).all()
    assert [tuple(r) for r in stored] == [("mes-line1", hash_secret(secret))]
    [row] = await audit.query(action="api_token.create")
    assert row.object_id == "mes-line1"
    assert json.loads(row.new_value or "")["user"] == "mes"
    assert secret not in (row.new_value or "") + (row.detail or "")
    # Listed without the secret.
    code, out, _ = await hmi("tokens", "list", "--db", db.url)
    assert code == 0
    assert "mes-line1" in out
    assert "active" in out
    assert secret not in out
    # The secret resolves to the user, acting "via API <name>"; resolved through a service on the test's clock.
    tokens = ApiTokenService(db, audit, clock)
    check = await tokens.resolve(secret)
    assert check.ctx is not None
    assert (check.ctx.username, check.ctx.role, check.ctx.station) == ("mes", Role.LEAD, "via API mes-line1")


@pytest.mark.req("API-001")
async def test_revoked_expired_and_unknown_tokens_do_not_resolve(
    db: Database, mes: str, audit: AuditLog, clock: ManualClock, users: UserService, hmi: Hmi
) -> None:
    tokens = ApiTokenService(db, audit, clock)
    admin = await users.create_user("root", "a long enough password", Role.ADMIN)
    assert admin.id is not None
    root = ActionContext(admin.id, "root", "root", Role.ADMIN, station="office")
    _, short = await tokens.create(root, "short", "mes", valid_for=timedelta(hours=1))
    _, kept = await tokens.create(root, "kept", "mes")
    clock.advance(3601)
    assert "expired" in (await tokens.resolve(short)).reason
    assert (await tokens.resolve(kept)).ctx is not None
    code, _out, err = await hmi("tokens", "revoke", "kept", "--reason", "leaked", "--db", db.url)
    assert (code, err) == (0, ""), err
    assert "revoked" in (await tokens.resolve(kept)).reason
    assert "not known" in (await tokens.resolve("hmi_nothing")).reason
    assert "not an HMI API token" in (await tokens.resolve("Basic abc")).reason
    [revoked] = await audit.query(action="api_token.revoke")
    assert (revoked.object_id, revoked.reason) == ("kept", "leaked")
    # A token acts as its user now: disabled, the user's token stops working too.
    _, again = await tokens.create(root, "again", "mes")
    await users.set_disabled(root, "mes", True)
    assert "disabled" in (await tokens.resolve(again)).reason


@pytest.mark.req("API-001")
async def test_refusals_name_the_fix(hmi: Hmi, db: Database, mes: str) -> None:
    code, _, err = await hmi("tokens", "create", "x", "--user", "nobody", "--db", db.url)
    assert code == 1
    assert "there is no user 'nobody'" in err
    code, _, err = await hmi("tokens", "create", "x", "--user", "mes", "--expires", "soon", "--db", db.url)
    assert code == 2
    assert "90d" in err
    assert (await hmi("tokens", "create", "x", "--user", "mes", "--db", db.url))[0] == 0
    code, _, err = await hmi("tokens", "create", "x", "--user", "mes", "--db", db.url)
    assert code == 1
    assert "exists already" in err
    code, _, err = await hmi("tokens", "revoke", "y", "--db", db.url)
    assert code == 1
    assert "no token 'y'" in err
    code, _, err = await hmi("tokens", "create", "bad name!", "--user", "mes", "--db", db.url)
    assert code == 1
    assert "not a token name" in err


@pytest.mark.req("API-003")
def test_the_plant_file_sets_the_rate_limit_and_hmi_check_refuses_a_wrong_one() -> None:
    base = 'site: {name: S}\nendpoints: [{name: e, url: "opc.tcp://127.0.0.1:4840"}]\n'
    base += 'areas: [{name: A, lines: [{name: L1, tags: [{name: T, endpoint: e, node_id: "ns=2;s=T"}]}]}]\n'
    assert parse_config(base).access.api_limit_per_token == "120 per minute"
    assert parse_config(base + 'access: {api_limit_per_token: "10/second"}').access.api_limit_per_token == "10/second"
    with pytest.raises(ConfigError, match=r"api_limit_per_token.*'lots' is not a rate limit"):
        parse_config(base + "access: {api_limit_per_token: lots}")
