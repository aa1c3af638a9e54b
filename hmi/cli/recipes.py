"""`hmi recipes import FILE --user U --config PLANT`: recipes from a YAML file as draft versions by a person.

The person is the author of record (21 CFR 11.10(e)): the command asks for their password, and their role must
allow managing recipes. Approval happens on the screen, by another person, with a signature.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
from pathlib import Path
from typing import Any

from hmi.access.auth import UserService, normalise_username
from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.directory import DirectoryUnavailable
from hmi.cli.options import database_options, database_url
from hmi.config import ConfigError, load_config
from hmi.control.recipe_values import RecipeError
from hmi.control.recipes import RecipeService
from hmi.records.audit import AuditKeyMissing, AuditLog, record_guard_report
from hmi.records.audit_key import AuditKeyError, optional_key
from hmi.records.signatures import SignatureService
from hmi.store.database import Database, DatabaseUnavailable
from hmi.tags import TagCache


def register(sub: Any) -> None:
    """Add the `recipes` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser("recipes", help="import recipes (ISA-88 parameter sets) as drafts")
    actions = p.add_subparsers(dest="recipes_command", required=True, metavar="ACTION")
    imp = actions.add_parser(
        "import", parents=[database_options()], help="add the recipes of a YAML file as draft versions"
    )
    imp.add_argument("file", type=Path, help="YAML file: recipes: [{name, line, machine, description, parameters}]")
    imp.add_argument("--user", required=True, help="the engineer the drafts are by (asked for the password)")
    imp.add_argument("--config", required=True, type=Path, help="the plant file (the recipes' tags are checked in it)")
    imp.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    imp.set_defaults(handler=handle_import)


def _password(name: str, from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n") or None
    if not sys.stdin.isatty():
        print("no terminal to ask for the password; pipe it in with --password-stdin", file=sys.stderr)
        return None
    try:
        return getpass.getpass(f"password of {name}: ") or None
    except EOFError:
        return None


def handle_import(args: argparse.Namespace) -> int:
    """Import a recipe file; exit 1 with the reason when anything is wrong (then nothing of the file is stored)."""
    try:
        plant = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        print(f"{args.config} is not a valid plant configuration; run `hmi check {args.config}`", file=sys.stderr)
        return 2
    url = database_url(args)
    if url is None:
        return 2
    try:
        key = optional_key(args.key_file, args.data_dir)
    except AuditKeyError as exc:
        print(f"{exc}; nothing was imported", file=sys.stderr)
        return 2
    password = _password(args.user, args.password_stdin)
    if password is None:
        print("no password given; nothing was imported", file=sys.stderr)
        return 1

    async def main() -> int:
        db = Database(url)
        await db.start()
        try:
            audit = AuditLog(db, key=key)
            await record_guard_report(audit, db)
            # The plant's sign-in rules: a directory account's password is checked by the directory.
            users = UserService(db, audit, policy=plant.access)
            user = await users.get(normalise_username(args.user))
            try:
                refusal = await users.password_refusal(user, password) if user is not None else "unknown user"
            except DirectoryUnavailable as exc:
                await audit.record(None, "recipe.import.refused", "recipe", str(args.file)[:200], reason=exc.message)
                print(f"{exc.message}; nothing was imported", file=sys.stderr)
                return 1
            finally:
                # Only its worker threads: a later password check would start them again.
                await users.stop()
            if user is None or user.id is None or user.disabled or user.locked_at is not None or refusal is not None:
                await audit.record(
                    None,
                    "recipe.import.refused",
                    "recipe",
                    str(args.file)[:200],
                    reason=f"user id or password of {args.user!r} do not match, or the account is disabled or locked",
                )
                print("user id or password do not match (or the account is disabled or locked)", file=sys.stderr)
                return 1
            ctx = ActionContext(
                user_id=user.id,
                username=user.username,
                full_name=user.full_name,
                role=user.role,
                station=f"cli:{socket.gethostname()}",
            )
            service = RecipeService(plant, db, audit, SignatureService(db, audit, users), TagCache())
            saved = await service.import_file(ctx, args.file)
            for recipe, version in saved:
                where = recipe.line + (f" {recipe.machine}" if recipe.machine else "")
                state = f"version {version.version} (draft)" if version is not None else "unchanged"
                print(f"{recipe.name} ({where}): {state}")
            await users.stop()
            return 0
        finally:
            await db.stop()

    try:
        return asyncio.run(main())
    except DatabaseUnavailable as exc:
        print(exc, file=sys.stderr)
    except PermissionDenied as exc:
        print(f"refused: {exc}; an engineer imports recipes", file=sys.stderr)
    except (RecipeError, AuditKeyMissing) as exc:
        print(f"{exc}; nothing was imported", file=sys.stderr)
    return 1
