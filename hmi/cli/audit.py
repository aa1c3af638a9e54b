"""`hmi audit verify | export`: check the hash chain and export the audit trail (STANDARDS.md 5.2, 5.3)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url

from hmi.audit import AuditLog
from hmi.audit_export import EXPORT_LIMIT, AuditFilter, audit_csv, audit_json, audit_pdf, read_rows
from hmi.cli.users import cli_actor, database_options
from hmi.clock import Clock, utc_now
from hmi.config import ConfigError, load_config
from hmi.store.database import ENV_VAR, Database, DatabaseUnavailable, resolve_db_url

EXIT_OK, EXIT_BROKEN, EXIT_UNAVAILABLE = 0, 1, 2
FORMATS = ("csv", "json", "pdf")


def register(sub: Any) -> None:
    """Add the `audit` sub-command and its own sub-commands."""
    common = database_options()

    p: argparse.ArgumentParser = sub.add_parser("audit", help="verify and export the audit trail")
    actions = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = actions.add_parser("verify", parents=[common],
                                help="walk the hash chain; exit 0 when intact, 1 at the first broken row")
    verify.set_defaults(handler=handle_verify)

    backup = actions.add_parser("backup", parents=[common],
                                help="online backup of the SQLite database (records and audit trail) to FILE")
    backup.add_argument("--out", required=True, type=Path, metavar="FILE")
    backup.set_defaults(handler=handle_backup)
    restore = actions.add_parser("restore", parents=[common],
                                 help="put a backup back in place (stop the HMI first), then verify its chain")
    restore.add_argument("--from", dest="source", required=True, type=Path, metavar="FILE")
    restore.set_defaults(handler=handle_restore)

    export = actions.add_parser("export", parents=[common], help="write audit rows as CSV, JSON or PDF")
    export.add_argument("--format", required=True, choices=FORMATS, help="csv/json (electronic) or pdf (printable)")
    export.add_argument("--out", required=True, type=Path, metavar="FILE", help="file to write")
    export.add_argument("--since", metavar="ISO", help="from this time (inclusive); without offset: plant time")
    export.add_argument("--until", metavar="ISO", help="up to this time (exclusive); without offset: plant time")
    export.add_argument("--user", metavar="NAME", help="only rows by this user name")
    export.add_argument("--object", metavar="TYPE[:ID]", help="only rows about this object type (and id)")
    export.add_argument("--action", metavar="NAME", help="only rows of this action, e.g. alarm.shelve")
    export.add_argument("--config", metavar="FILE", type=Path,
                        help="plant file: its name and time zone head the export")
    export.add_argument("--timezone", metavar="ZONE",
                        help="plant time zone (IANA name; default: from --config, else UTC)")
    export.set_defaults(handler=handle_export)


def handle_verify(args: argparse.Namespace, clock: Clock = utc_now) -> int:
    """Print `OK: N rows, chain intact` (0), `BROKEN at row ID: why` (1), or why the database is unusable (2)."""
    db = _open(args)
    if isinstance(db, int):
        return db

    async def work() -> int:
        await db.start()
        try:
            result = await AuditLog(db, clock).check_chain()
        finally:
            await db.stop()
        if result.intact:
            print(f"OK: {result.rows} rows, chain intact")
            # Deleting rows from the end leaves a valid, shorter chain; this hash lets a later check compare.
            print(f"last row hash: {result.last_hash}")
            return EXIT_OK
        print(f"BROKEN at row {result.broken_at}: {result.reason}")
        print(f"{result.rows} rows before it are intact")
        return EXIT_BROKEN

    try:
        return asyncio.run(work())
    except DatabaseUnavailable as exc:
        print(f"hmi audit verify: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def handle_export(args: argparse.Namespace, clock: Clock = utc_now) -> int:
    """Write the filtered rows to --out; the export itself is audited as `audit.export`."""
    try:
        title, zone = _plant(args)
        flt = AuditFilter.build(since=_time(args.since, zone, "--since"), until=_time(args.until, zone, "--until"),
                                username=args.user or "", obj=args.object or "", action=args.action or "")
    except (ValueError, ConfigError) as exc:
        print(f"hmi audit export: {exc}; nothing was exported", file=sys.stderr)
        return EXIT_BROKEN
    db = _open(args)
    if isinstance(db, int):
        return db
    actor = cli_actor()

    async def work() -> int:
        await db.start()
        try:
            audit = AuditLog(db, clock)
            rows = await read_rows(audit, flt, EXPORT_LIMIT + 1)
            if len(rows) > EXPORT_LIMIT:
                print(f"hmi audit export: more than {EXPORT_LIMIT} rows match; narrow the filter "
                      "(--since/--until); nothing was exported", file=sys.stderr)
                return EXIT_BROKEN
            content: bytes
            if args.format == "csv":
                # The byte-order mark lets spreadsheet programs recognise UTF-8.
                content = audit_csv(rows, zone).encode("utf-8-sig")
            elif args.format == "json":
                content = audit_json(rows).encode("utf-8")
            else:
                content = await asyncio.to_thread(
                    audit_pdf, rows, title=title, zone=zone, generated_by=actor.username, generated_at=clock(),
                    filter_text=flt.describe(zone))
            await asyncio.to_thread(args.out.write_bytes, content)
            await audit.record(actor, "audit.export", "audit", args.format, new_value=flt.as_dict(),
                               detail=f"{len(rows)} rows to {args.out}")
        finally:
            await db.stop()
        print(f"exported {len(rows)} rows to {args.out}")
        return EXIT_OK

    try:
        return asyncio.run(work())
    except DatabaseUnavailable as exc:
        print(f"hmi audit export: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except OSError as exc:
        print(f"hmi audit export: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_BROKEN


def _open(args: argparse.Namespace) -> Database | int:
    """The Database to read, or an exit code after a message (bad URL, missing SQLite file)."""
    try:
        url = resolve_db_url(args.db, args.data_dir)
        db = Database(url)
    except ValueError as exc:
        print(f"--db / {ENV_VAR}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if db.dialect == "sqlite":
        path = make_url(url).database or ""
        # Starting the database would create an empty file and report an intact, empty trail: misleading.
        if path not in ("", ":memory:") and not Path(path).is_file():
            print(f"{db.describe()} does not exist; give the right --db or --data-dir (or set {ENV_VAR})",
                  file=sys.stderr)
            return EXIT_UNAVAILABLE
    return db


def _plant(args: argparse.Namespace) -> tuple[str, ZoneInfo]:
    title, zone_name = "factory-hmi", "UTC"
    if args.config is not None:
        plant = load_config(args.config)
        title, zone_name = plant.site.name, plant.site.timezone
    if args.timezone:
        zone_name = args.timezone
    try:
        return title, ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone_name!r}; use an IANA name such as Europe/Berlin or UTC") from None


def _time(text: str | None, zone: ZoneInfo, option: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{option} {text!r} is not an ISO 8601 time such as 2025-01-06T07:00 or "
                         "2025-01-06T06:00+00:00") from None
    # A time without offset is what a person at the plant means: plant local time.
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)


def handle_backup(args: argparse.Namespace) -> int:
    """Online backup of the SQLite database."""
    from hmi.backup import BackupError, backup_sqlite, sqlite_path

    try:
        url = resolve_db_url(args.db, args.data_dir)
        rows = backup_sqlite(sqlite_path(url), args.out)
    except (BackupError, ValueError, OSError) as exc:
        print(f"hmi audit backup: {exc}", file=sys.stderr)
        return 2
    print(f"OK: backup written to {args.out} ({rows} audit rows)")
    return 0


def handle_restore(args: argparse.Namespace) -> int:
    """Restore a backup, then walk its audit chain (exit 1 if it is broken)."""
    from hmi.backup import BackupError, restore_sqlite, sqlite_path

    try:
        url = resolve_db_url(args.db, args.data_dir)
        restore_sqlite(args.source, sqlite_path(url))
    except (BackupError, ValueError, OSError) as exc:
        print(f"hmi audit restore: {exc}", file=sys.stderr)
        return 2
    print(f"restored {args.source}; checking its audit chain")
    return handle_verify(args)
