"""`hmi users add | list | disable | enable | reset-password | unlock | retire`: manage accounts from the command
line."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from hmi.access.auth import (
    SOURCE_LDAP,
    SOURCE_OIDC,
    PasswordPolicyError,
    UnknownUser,
    UserExists,
    UserService,
    check_password_policy,
)
from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.cli.options import database_options, print_table, run_audited


def register(sub: Any) -> None:
    """Add the `users` sub-command and its own sub-commands."""
    common = database_options()

    p: argparse.ArgumentParser = sub.add_parser("users", help="add, list, disable and reset user accounts")
    actions = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", parents=[common], help="create a user")
    add.add_argument("name", help="user name (letters, digits, . _ @ -)")
    add.add_argument("--role", required=True, choices=[r.value for r in Role], help="what the user may do")
    add.add_argument("--full-name", default="", metavar="TEXT", help="printed name shown on records")
    add.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    add.set_defaults(handler=handle_add)

    lst = actions.add_parser("list", parents=[common], help="list users")
    lst.set_defaults(handler=handle_list)

    for name, disabled, text in (
        ("disable", True, "stop a user from signing in (users are never deleted)"),
        ("enable", False, "let a disabled user sign in again"),
    ):
        q = actions.add_parser(name, parents=[common], help=text)
        q.add_argument("name", help="user name")
        q.set_defaults(handler=handle_set_disabled, disabled=disabled)

    unlock = actions.add_parser("unlock", parents=[common], help="let a user locked out by failed sign-ins in again")
    unlock.add_argument("name", help="user name")
    unlock.add_argument("--reason", default=None, metavar="TEXT", help="why (kept in the audit trail)")
    unlock.set_defaults(handler=handle_unlock)

    retire = actions.add_parser(
        "retire",
        parents=[common],
        help="free the login name of a directory or identity provider person who left (the row stays, disabled)",
    )
    retire.add_argument("name", help="user name")
    retire.add_argument("--reason", default=None, metavar="TEXT", help="why (kept in the audit trail)")
    retire.set_defaults(handler=handle_retire)

    reset = actions.add_parser("reset-password", parents=[common], help="give a user a new password")
    reset.add_argument("name", help="user name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    reset.set_defaults(handler=handle_reset_password)


def handle_add(args: argparse.Namespace) -> int:
    """Create a user; exit 1 with a message on a policy error, duplicate or unreachable database."""
    password = _read_password(args.name, args.password_stdin)
    if password is None:
        return 1

    async def work(users: UserService, actor: ActionContext) -> None:
        user = await users.create_user(args.name, password, args.role, args.full_name, actor=actor)
        print(f"created user {user.username} ({user.role.value})")

    return _run(args, work)


def handle_list(args: argparse.Namespace) -> int:
    """Print every user as a table."""

    async def work(users: UserService, actor: ActionContext) -> None:
        rows = [
            (
                u.username,
                u.full_name,
                u.role.value,
                "disabled" if u.disabled else "locked" if u.locked_at is not None else "active",
                u.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                # Where the password lives: a directory account's is set in the directory (docs/directory.md).
                {SOURCE_LDAP: "directory", SOURCE_OIDC: "identity provider"}.get(u.source, "local"),
            )
            for u in await users.list_users()
        ]
        if not rows:
            print("no users yet; add one with: hmi users add NAME --role admin")
            return
        header = ("USER", "FULL NAME", "ROLE", "STATUS", "CREATED", "SOURCE")
        print_table(header, rows)

    return _run(args, work)


def handle_set_disabled(args: argparse.Namespace) -> int:
    """Disable or re-enable a user."""

    async def work(users: UserService, actor: ActionContext) -> None:
        user = await users.set_disabled(actor, args.name, args.disabled)
        print(f"user {user.username} is now {'disabled' if user.disabled else 'enabled'}")

    return _run(args, work)


def handle_unlock(args: argparse.Namespace) -> int:
    """Lift the lockout of a user after too many failed sign-ins."""

    async def work(users: UserService, actor: ActionContext) -> None:
        user = await users.unlock(actor, args.name, reason=args.reason)
        print(f"user {user.username} is unlocked")

    return _run(args, work)


def handle_retire(args: argparse.Namespace) -> int:
    """Free a departed directory or provider person's login name; their row is kept under a new name."""

    async def work(users: UserService, actor: ActionContext) -> None:
        user = await users.retire(actor, args.name, reason=args.reason)
        print(f"user {args.name.strip().lower()} is retired: kept as {user.username} (disabled); the name is free")

    return _run(args, work)


def handle_reset_password(args: argparse.Namespace) -> int:
    """Set a new password for a user."""
    password = _read_password(args.name, args.password_stdin)
    if password is None:
        return 1

    async def work(users: UserService, actor: ActionContext) -> None:
        await users.reset_password(actor, args.name, password)
        print(f"password of {args.name.strip().lower()} replaced")

    return _run(args, work)


def _read_password(name: str, from_stdin: bool) -> str | None:
    """The new password from one stdin line or asked twice at the terminal; None (message printed) if not."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            print("no password on stdin (expected one line)", file=sys.stderr)
            return None
        return password
    if not sys.stdin.isatty():
        print("no terminal to ask for the password; pipe it in with --password-stdin", file=sys.stderr)
        return None
    try:
        password = getpass.getpass(f"new password for {name}: ")
        # Check before asking again so a too-short password does not cost the second typing.
        check_password_policy(name, password)
        if getpass.getpass("repeat the password: ") != password:
            print("the passwords do not match; nothing was changed", file=sys.stderr)
            return None
    except PasswordPolicyError as exc:
        print(f"{exc}; nothing was changed", file=sys.stderr)
        return None
    except EOFError:
        print("no password entered; nothing was changed", file=sys.stderr)
        return None
    return password


def _run(args: argparse.Namespace, work: Callable[[UserService, ActionContext], Awaitable[None]]) -> int:
    return run_audited(args, UserService, work, (UserExists, UnknownUser, PasswordPolicyError, ValueError))
