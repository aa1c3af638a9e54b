"""`hmi tokens create | list | revoke`: the API tokens MES and ERP systems call the REST API with (docs/api.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from hmi.access.api_tokens import ApiTokenService, TokenError, parse_duration
from hmi.access.context import ActionContext
from hmi.cli.options import database_options, print_table, run_audited


def register(sub: Any) -> None:
    """Add the `tokens` sub-command and its own sub-commands."""
    common = database_options()
    p: argparse.ArgumentParser = sub.add_parser("tokens", help="create, list and revoke REST API tokens")
    actions = p.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")

    create = actions.add_parser("create", parents=[common], help="create a token (its secret is printed once)")
    create.add_argument("name", help="token name, shown in the audit trail as 'via API NAME' (e.g. mes-line1)")
    create.add_argument("--user", required=True, metavar="USER", help="the account the token acts as")
    create.add_argument(
        "--expires", metavar="DURATION", default=None, help="validity, e.g. 90d, 12h, 2w (default: none)"
    )
    create.set_defaults(handler=handle_create)

    lst = actions.add_parser("list", parents=[common], help="list tokens (never their secrets)")
    lst.set_defaults(handler=handle_list)

    revoke = actions.add_parser("revoke", parents=[common], help="revoke a token at once")
    revoke.add_argument("name", help="token name")
    revoke.add_argument("--reason", default=None, metavar="TEXT", help="why (kept in the audit trail)")
    revoke.set_defaults(handler=handle_revoke)


def handle_create(args: argparse.Namespace) -> int:
    """Create a token and print its secret once."""
    try:
        valid_for = parse_duration(args.expires) if args.expires is not None else None
    except TokenError as exc:
        print(f"--expires: {exc}; nothing was changed", file=sys.stderr)
        return 2

    async def work(tokens: ApiTokenService, actor: ActionContext) -> None:
        info, secret = await tokens.create(actor, args.name, args.user, valid_for=valid_for)
        until = f"until {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "without expiry"
        print(f"created token {info.name} acting as {info.username}, valid {until}")
        print("the token (shown only now; store it in the calling system's secret store):")
        print(secret)

    return _run(args, work)


def handle_list(args: argparse.Namespace) -> int:
    """Print every token as a table."""

    def when(at: datetime | None) -> str:
        return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else "-"

    async def work(tokens: ApiTokenService, actor: ActionContext) -> None:
        now = datetime.now(UTC)
        rows = [
            (
                t.name,
                t.username,
                t.status(now),
                when(t.created_at),
                t.created_by,
                when(t.expires_at),
                when(t.last_used_at),
            )
            for t in await tokens.list()
        ]
        if not rows:
            print("no API tokens yet; create one with: hmi tokens create NAME --user USER --expires 90d")
            return
        header = ("TOKEN", "USER", "STATUS", "CREATED", "BY", "EXPIRES", "LAST USED")
        print_table(header, rows)

    return _run(args, work)


def handle_revoke(args: argparse.Namespace) -> int:
    """Revoke a token."""

    async def work(tokens: ApiTokenService, actor: ActionContext) -> None:
        info = await tokens.revoke(actor, args.name, reason=args.reason)
        print(f"token {info.name} of {info.username} is revoked; its next request is refused")

    return _run(args, work)


def _run(args: argparse.Namespace, work: Callable[[ApiTokenService, ActionContext], Awaitable[None]]) -> int:
    return run_audited(args, ApiTokenService, work, (TokenError,))
