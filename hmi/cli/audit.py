"""`hmi audit verify | export | backup | restore`: check the keyed chain against its anchor, export, back up and
restore the audit trail (21 CFR 11.10(b), (c) and (e))."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url

from hmi.cli.options import cli_actor, database_options, database_url
from hmi.clock import Clock, utc_now
from hmi.config import ConfigError, load_config
from hmi.records.audit import AuditKeyMissing, AuditLog, record_guard_report
from hmi.records.audit_anchor import ANCHOR_FILE_NAME, Anchor, AnchorFile, AnchorFileError
from hmi.records.audit_export import EXPORT_LIMIT, AuditFilter, audit_csv, audit_json, audit_pdf, read_rows
from hmi.records.audit_key import AuditKeyError, key_id, optional_key
from hmi.store.database import ENV_VAR, Database, DatabaseUnavailable, resolve_db_url

EXIT_OK, EXIT_BROKEN, EXIT_UNAVAILABLE = 0, 1, 2
FORMATS = ("csv", "json", "pdf")


def register(sub: Any) -> None:
    """Add the `audit` sub-command and its own sub-commands."""
    common = argparse.ArgumentParser(add_help=False, parents=[database_options()])
    common.add_argument(
        "--anchor-file",
        metavar="FILE",
        type=Path,
        default=None,
        help=f"audit anchor file (default: {ANCHOR_FILE_NAME} in --data-dir)",
    )

    p: argparse.ArgumentParser = sub.add_parser("audit", help="verify and export the audit trail")
    actions = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = actions.add_parser(
        "verify",
        parents=[common],
        help="check every row's HMAC, the chain and the anchored head; exit 0 when intact, 1 at the first broken row",
    )
    verify.set_defaults(handler=handle_verify)

    backup = actions.add_parser(
        "backup", parents=[common], help="online backup of the SQLite database (records and audit trail) to FILE"
    )
    backup.add_argument("--out", required=True, type=Path, metavar="FILE")
    backup.set_defaults(handler=handle_backup)
    restore = actions.add_parser(
        "restore",
        parents=[common],
        help="check a backup, keep a dated copy of the live database, put the backup "
        "in its place (refused while an HMI runs on it), then verify",
    )
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
    export.add_argument(
        "--config", metavar="FILE", type=Path, help="plant file: its name and time zone head the export"
    )
    export.add_argument(
        "--timezone", metavar="ZONE", help="plant time zone (IANA name; default: from --config, else UTC)"
    )
    export.set_defaults(handler=handle_export)


def handle_verify(args: argparse.Namespace, clock: Clock = utc_now) -> int:
    """Print `OK: N rows, chain intact` (0), `BROKEN at row ID: why` (1), or why it cannot be checked (2)."""
    db = _open(args, install_guards=False)
    if isinstance(db, int):
        return db
    try:
        key = optional_key(args.key_file, args.data_dir)
        anchor_path = _anchor_path(args)
        anchor = AnchorFile(anchor_path).last()
    except AuditKeyError as exc:
        print(f"hmi audit verify: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except AnchorFileError as exc:
        print(f"BROKEN: {exc}")
        return EXIT_BROKEN

    async def work() -> int:
        await db.start()
        try:
            audit = AuditLog(db, clock, key)
            # Read-only: verify neither writes rows nor re-installs guards; the next HMI start does both.
            missing = db.guard_report.replaced if db.guard_report.had_audit_rows else ()
            guards = (
                (
                    f"append-only guards missing or altered: {', '.join(missing)}; they are re-installed and "
                    "recorded at the next start of the HMI"
                )
                if missing
                else None
            )
            result = await audit.check_chain(anchor=anchor)
        finally:
            await db.stop()
        if not result.intact:
            print(f"BROKEN at row {result.broken_at}: {result.reason}")
            print(f"{result.rows} rows before it are intact")
            if guards:
                print(f"WARNING: {guards}")
            return EXIT_BROKEN
        print(f"OK: {result.rows} rows, chain intact")
        # Deleting rows from the end leaves a valid, shorter chain; this hash lets a later check compare.
        print(f"last row hash: {result.last_hash}")
        print(
            f"{result.keyed} keyed rows (HMAC-SHA256), {result.legacy} unkeyed rows (SHA-256, written before "
            "the key existed)"
        )
        if key is None:
            print(
                "WARNING: checked without the audit key: an unkeyed chain can be recomputed by anyone who can "
                "write the database; give --key-file"
            )
        elif anchor is not None and anchor.key_id not in (None, key_id(key)):
            print(f"WARNING: the anchor was written with key {anchor.key_id}, this key is {key_id(key)}")
        if anchor is None:
            print(f"WARNING: no anchor in {anchor_path}: rows cut off the end of the chain cannot be detected")
        else:
            print(f"tail matches the anchor of {anchor.describe()}")
        if guards:
            print(f"WARNING: {guards}")
        return EXIT_OK

    try:
        return asyncio.run(work())
    except AuditKeyMissing:
        print(
            "hmi audit verify: the trail has keyed rows; give the audit key with --key-file (or --data-dir "
            "holding audit.key) to check them",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    except DatabaseUnavailable as exc:
        print(f"hmi audit verify: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _anchor_path(args: argparse.Namespace) -> Path:
    return Path(args.anchor_file) if args.anchor_file else Path(args.data_dir) / ANCHOR_FILE_NAME


def handle_export(args: argparse.Namespace, clock: Clock = utc_now) -> int:
    """Write the filtered rows to --out; the export itself is audited as `audit.export`."""
    try:
        title, zone = _plant(args)
        flt = AuditFilter.build(
            since=_time(args.since, zone, "--since"),
            until=_time(args.until, zone, "--until"),
            username=args.user or "",
            obj=args.object or "",
            action=args.action or "",
        )
    except (ValueError, ConfigError) as exc:
        print(f"hmi audit export: {exc}; nothing was exported", file=sys.stderr)
        return EXIT_BROKEN
    db = _open(args)
    if isinstance(db, int):
        return db
    try:
        key = optional_key(args.key_file, args.data_dir)
    except AuditKeyError as exc:
        print(f"hmi audit export: {exc}; nothing was exported", file=sys.stderr)
        return EXIT_UNAVAILABLE
    actor = cli_actor()

    async def work() -> int:
        await db.start()
        try:
            audit = AuditLog(db, clock, key)
            await record_guard_report(audit, db, actor)
            head: Anchor = await audit.head()
            rows = await read_rows(audit, flt, EXPORT_LIMIT + 1)
            if len(rows) > EXPORT_LIMIT:
                print(
                    f"hmi audit export: more than {EXPORT_LIMIT} rows match; narrow the filter "
                    "(--since/--until); nothing was exported",
                    file=sys.stderr,
                )
                return EXIT_BROKEN
            content: bytes
            if args.format == "csv":
                # The byte-order mark lets spreadsheet programs recognise UTF-8.
                content = audit_csv(rows, zone, head).encode("utf-8-sig")
            elif args.format == "json":
                content = audit_json(rows, head).encode("utf-8")
            else:
                content = await asyncio.to_thread(
                    audit_pdf,
                    rows,
                    title=title,
                    zone=zone,
                    generated_by=actor.username,
                    generated_at=clock(),
                    filter_text=flt.describe(zone),
                    head=head,
                )
            await asyncio.to_thread(args.out.write_bytes, content)
            await audit.record(
                actor,
                "audit.export",
                "audit",
                args.format,
                new_value=flt.as_dict(),
                detail=f"{len(rows)} rows to {args.out}",
            )
        finally:
            await db.stop()
        print(f"exported {len(rows)} rows to {args.out}")
        return EXIT_OK

    try:
        return asyncio.run(work())
    except (DatabaseUnavailable, AuditKeyMissing) as exc:
        print(f"hmi audit export: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except OSError as exc:
        print(f"hmi audit export: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_BROKEN


def _open(args: argparse.Namespace, *, install_guards: bool = True) -> Database | int:
    """The Database to read, or an exit code after a message (bad URL, missing SQLite file)."""
    url = database_url(args)
    if url is None:
        return EXIT_UNAVAILABLE
    db = Database(url, install_guards=install_guards)
    if db.dialect == "sqlite":
        path = make_url(url).database or ""
        # Starting the database would create an empty file and report an intact, empty trail: misleading.
        if path not in ("", ":memory:") and not Path(path).is_file():
            print(
                f"{db.describe()} does not exist; give the right --db or --data-dir (or set {ENV_VAR})", file=sys.stderr
            )
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
        raise ValueError(
            f"{option} {text!r} is not an ISO 8601 time such as 2025-01-06T07:00 or 2025-01-06T06:00+00:00"
        ) from None
    # A time without offset is what a person at the plant means: plant local time.
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)


def handle_backup(args: argparse.Namespace) -> int:
    """Online backup of the SQLite database."""
    from hmi.records.backup import BackupError, backup_sqlite, sqlite_path

    try:
        url = resolve_db_url(args.db, args.data_dir)
        rows = backup_sqlite(sqlite_path(url), args.out)
    except (BackupError, ValueError, OSError) as exc:
        print(f"hmi audit backup: {exc}", file=sys.stderr)
        return 2
    print(f"OK: backup written to {args.out} ({rows} audit rows)")
    return 0


def handle_restore(args: argparse.Namespace, clock: Clock = utc_now) -> int:
    """Check the backup, keep a dated copy of the live database, restore; then verify (exit 1 if broken)."""
    from hmi.records.backup import BackupError, restore_sqlite, sqlite_path

    try:
        url = resolve_db_url(args.db, args.data_dir)
        target = sqlite_path(url)
        key = optional_key(args.key_file, args.data_dir)
        done = asyncio.run(
            restore_sqlite(
                args.source, target, key=key, anchors=AnchorFile(_anchor_path(args)), actor=cli_actor(), clock=clock
            )
        )
    except (BackupError, AuditKeyError, ValueError, OSError, DatabaseUnavailable) as exc:
        print(f"hmi audit restore: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    kept = f"; the database it replaced is kept as {done.kept}" if done.kept else ""
    print(f"restored {args.source} ({done.anchor.rows} audit rows){kept}; checking its audit chain")
    return handle_verify(args, clock)
