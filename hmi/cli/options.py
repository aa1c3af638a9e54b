"""What the commands that open the database (`hmi users`, `hmi audit`) share: the --db / --data-dir / --key-file
options, the database URL they give, and who is acting."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from hmi.access.context import ActionContext
from hmi.records.audit import AuditKeyMissing, AuditLog, record_guard_report, system_context
from hmi.records.audit_key import KEY_ENV, AuditKeyError, optional_key
from hmi.store.database import ENV_VAR, Database, DatabaseUnavailable, resolve_db_url

S = TypeVar("S")

DEFAULT_DATA_DIR = Path("hmi-data")


def database_options() -> argparse.ArgumentParser:
    """A parent parser with --db, --data-dir and --key-file, shared by the commands that open the database."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="URL", help=f"database URL (default: ${ENV_VAR}, else SQLite in --data-dir)")
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder of the embedded SQLite database, audit key and anchor (default: ./hmi-data)",
    )
    common.add_argument(
        "--key-file",
        metavar="FILE",
        type=Path,
        default=None,
        help=f"audit HMAC key (default: ${KEY_ENV}, else audit.key in --data-dir)",
    )
    return common


def database_url(args: argparse.Namespace) -> str | None:
    """The database URL the options give (--db, else $HMI_DB_URL, else SQLite in --data-dir), or None after
    saying on stderr why it is not usable."""
    try:
        return resolve_db_url(args.db, args.data_dir)
    except ValueError as exc:
        print(f"--db / {ENV_VAR}: {exc}", file=sys.stderr)
        return None


def cli_actor() -> ActionContext:
    """The audit identity of whoever runs the command: `cli:<OS user>` at this host."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        # No login name in the environment or the password database (e.g. a bare container).
        who = ""
    return system_context(f"cli:{who}" if who else "cli", station=socket.gethostname(), full_name="command line")


def run_audited(
    args: argparse.Namespace,
    service: Callable[[Database, AuditLog], S],
    work: Callable[[S, ActionContext], Awaitable[None]],
    refusals: tuple[type[Exception], ...],
) -> int:
    """Open the database and the audit trail of `args`, run `work` on `service` as the command line's actor and
    return the exit code: 0 done, 1 refused (any of `refusals`) or database down, 2 bad options or audit key."""
    url = database_url(args)
    if url is None:
        return 2
    try:
        key = optional_key(args.key_file, args.data_dir)
    except AuditKeyError as exc:
        print(f"{exc}; nothing was changed", file=sys.stderr)
        return 2

    async def main() -> None:
        db = Database(url)
        await db.start()
        try:
            audit = AuditLog(db, key=key)
            await record_guard_report(audit, db, cli_actor())
            await work(service(db, audit), cli_actor())
        finally:
            await db.stop()

    refused: tuple[type[Exception], ...] = (AuditKeyMissing, *refusals)
    try:
        asyncio.run(main())
    except DatabaseUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    except refused as exc:
        print(f"{exc}; nothing was changed", file=sys.stderr)
        return 1
    return 0


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Rows under a header, each column as wide as its widest cell (the CLI's lists of users and tokens)."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
