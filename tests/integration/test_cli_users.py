"""`hmi users ...` end to end through hmi.cli.main, against both real databases."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hmi.access.auth import NO_LOCAL_PASSWORD, SOURCE_LDAP, UserService
from hmi.access.roles import Role
from hmi.cli import main
from hmi.records.audit import AuditLog
from hmi.store.database import Database
from hmi.store.models import User
from tests.integration.conftest import Hmi


def db_args(db: Database) -> Sequence[str]:
    return ("--db", db.url)


@pytest.mark.req("ACC-014")
async def test_add_with_password_from_stdin(hmi: Hmi, db: Database, users: UserService, audit: AuditLog) -> None:
    code, out, err = await hmi(
        "users",
        "add",
        "Olga",
        "--role",
        "operator",
        "--full-name",
        "Olga Orlova",
        "--password-stdin",
        *db_args(db),
        stdin="line one secret\n",
    )
    assert (code, err) == (0, "")
    assert out == "created user olga (operator)\n"
    ctx = (await users.sign_in("olga", "line one secret")).ctx
    assert ctx is not None
    assert (ctx.role, ctx.full_name) == (Role.OPERATOR, "Olga Orlova")
    [created] = await audit.query(action="user.create")
    assert created.username.startswith("cli")
    assert created.user_id is None
    assert created.station


@pytest.mark.req("ACC-002", "ACC-014")
async def test_duplicate_and_policy_errors_exit_1_with_a_message(hmi: Hmi, db: Database) -> None:
    assert (
        await hmi("users", "add", "olga", "--role", "lead", "--password-stdin", *db_args(db), stdin="line one secret\n")
    )[0] == 0
    code, _, err = await hmi(
        "users", "add", "OLGA", "--role", "lead", "--password-stdin", *db_args(db), stdin="another secret\n"
    )
    assert code == 1
    assert "user 'olga' already exists" in err
    assert "Traceback" not in err
    code, _, err = await hmi(
        "users", "add", "pete", "--role", "lead", "--password-stdin", *db_args(db), stdin="short\n"
    )
    assert code == 1
    assert "at least 8 characters" in err
    code, _, err = await hmi("users", "add", "pete", "--role", "lead", "--password-stdin", *db_args(db), stdin="")
    assert code == 1
    assert "no password on stdin" in err


@pytest.mark.req("ACC-014")
async def test_list_disable_enable_and_reset_password(hmi: Hmi, db: Database, users: UserService) -> None:
    await hmi(
        "users",
        "add",
        "olga",
        "--role",
        "operator",
        "--full-name",
        "Olga Orlova",
        "--password-stdin",
        *db_args(db),
        stdin="line one secret\n",
    )
    code, out, _ = await hmi("users", "list", *db_args(db))
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["USER", "FULL", "NAME", "ROLE", "STATUS", "CREATED", "SOURCE"]
    assert row.split()[-1] == "local"
    assert row.split()[:5] == ["olga", "Olga", "Orlova", "operator", "active"]

    assert await hmi("users", "disable", "olga", *db_args(db)) == (0, "user olga is now disabled\n", "")
    assert (await users.sign_in("olga", "line one secret")).ctx is None
    assert (await hmi("users", "enable", "olga", *db_args(db)))[0] == 0

    code, out, _ = await hmi(
        "users", "reset-password", "olga", "--password-stdin", *db_args(db), stdin="a new secret\n"
    )
    assert (code, out) == (0, "password of olga replaced\n")
    assert (await users.sign_in("olga", "a new secret")).ctx is not None

    code, _, err = await hmi("users", "disable", "nobody", *db_args(db))
    assert code == 1
    assert "there is no user 'nobody'" in err


@pytest.mark.req("OPS-003")
async def test_env_url_is_used_without_db_option(
    hmi: Hmi, db: Database, users: UserService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMI_DB_URL", db.url)
    assert (await hmi("users", "add", "olga", "--role", "lead", "--password-stdin", stdin="line one secret\n"))[0] == 0
    assert await users.get("olga") is not None


@pytest.mark.req("OPS-003")
async def test_default_database_is_in_the_data_folder(
    hmi: Hmi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, _ = await hmi("users", "add", "olga", "--role", "lead", "--password-stdin", stdin="line one secret\n")
    assert code == 0
    assert (tmp_path / "hmi-data" / "hmi.db").is_file()
    code, _, _ = await hmi(
        "users",
        "add",
        "pete",
        "--role",
        "lead",
        "--password-stdin",
        "--data-dir",
        "elsewhere",
        stdin="line one secret\n",
    )
    assert code == 0
    assert (tmp_path / "elsewhere" / "hmi.db").is_file()


@pytest.mark.req("OPS-003")
async def test_unreachable_database_is_a_message_not_a_traceback(hmi: Hmi) -> None:
    code, out, err = await hmi("users", "list", "--db", "postgresql://hmi:topsecret@127.0.0.1:1/plant")
    assert (code, out) == (1, "")
    assert err.startswith("PostgreSQL at 127.0.0.1:1/plant is not reachable: connection refused.")
    assert "Traceback" not in err
    assert "topsecret" not in err


@pytest.mark.req("OPS-003")
async def test_unsupported_url_is_a_usage_error(hmi: Hmi) -> None:
    code, _, err = await hmi("users", "list", "--db", "mysql://x@y/z")
    assert code == 2
    assert "not supported" in err


@pytest.mark.req("ACC-014")
async def test_without_a_terminal_the_password_must_come_from_stdin(hmi: Hmi, tmp_path: Path) -> None:
    code, _, err = await hmi("users", "add", "olga", "--role", "lead", "--data-dir", str(tmp_path))
    assert code == 1
    assert "--password-stdin" in err


class Terminal(io.StringIO):
    """Standard input that claims to be a terminal: the outermost edge, so a stand-in is allowed here."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("answers", "code", "message"),
    [
        (["line one secret", "line one secret"], 0, "created user olga"),
        (["line one secret", "line one secreT"], 1, "the passwords do not match"),
        (["short"], 1, "at least 8 characters"),
    ],
)
@pytest.mark.req("ACC-014")
async def test_password_is_asked_twice_at_a_terminal(
    db: Database,
    users: UserService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answers: list[str],
    code: int,
    message: str,
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return answers[len(prompts) - 1]

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", Terminal())
    assert await asyncio.to_thread(main, ["users", "add", "olga", "--role", "lead", *db_args(db)]) == code
    out, err = capsys.readouterr()
    assert message in out + err
    # A policy failure is reported before the second prompt.
    assert prompts == ["new password for olga: ", "repeat the password: "][: len(answers)]
    assert (await users.get("olga") is not None) == (code == 0)


@pytest.mark.req("ACC-003", "ACC-014")
async def test_unlock_a_locked_account(hmi: Hmi, db: Database, users: UserService, audit: AuditLog) -> None:
    await users.create_user("olga", "line one secret", Role.OPERATOR)
    for _ in range(users.policy.lockout_attempts):
        await users.sign_in("olga", "wrong guess")
    code, out, _ = await hmi("users", "list", *db_args(db))
    assert out.splitlines()[1].split()[2] == "locked"
    code, out, err = await hmi("users", "unlock", "olga", "--reason", "helpdesk call 42", *db_args(db))
    assert (code, out, err) == (0, "user olga is unlocked\n", "")
    assert (await users.sign_in("olga", "line one secret")).ok
    [unlock] = await audit.query(action="user.unlock")
    assert (unlock.object_id, unlock.reason) == ("olga", "helpdesk call 42")
    assert unlock.username.startswith("cli")
    code, _, err = await hmi("users", "unlock", "nobody", *db_args(db))
    assert code == 1
    assert "no user 'nobody'" in err


@pytest.mark.req("AUTH-103", "ACC-014")
async def test_a_directory_account_is_listed_as_such_and_gets_no_local_password(hmi: Hmi, db: Database) -> None:
    # The row a first directory sign-in makes (tests/integration/test_directory_sign_in.py).
    async with db.session(write=True) as session:
        session.add(
            User(
                username="dora",
                role=Role.LEAD,
                password_hash=NO_LOCAL_PASSWORD,
                created_at=datetime.now(UTC),
                source=SOURCE_LDAP,
                external_id="6f1c2a9e-0000-4000-8000-000000000001",
            )
        )
        await session.commit()
    code, out, _ = await hmi("users", "list", *db_args(db))
    assert out.splitlines()[1].split()[-1] == "directory"
    code, out, err = await hmi(
        "users", "reset-password", "dora", "--password-stdin", *db_args(db), stdin="a new secret\n"
    )
    assert code == 1
    assert "'dora' is a directory account: its password is set in the directory" in err

    # Dora left and the directory gave her login name to someone else: retiring frees it, her row stays.
    code, out, err = await hmi("users", "retire", "dora", "--reason", "left in May", *db_args(db))
    assert code == 0, err
    assert "kept as dora.retired-" in out
    code, out, _ = await hmi("users", "list", *db_args(db))
    [row] = [line for line in out.splitlines() if line.startswith("dora.retired-")]
    assert "disabled" in row.split()
    code, _, err = await hmi("users", "retire", "nobody", *db_args(db))
    assert code == 1
    assert "no user 'nobody'" in err
