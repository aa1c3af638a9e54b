"""`hmi audit verify | export` end to end through hmi.cli.main, and the export formats, on both real databases.

21 CFR 11.10(e) and 11.10(a) (direct edits and deletions are refused by the database and found by verify) and
11.10(b) (exports in human-readable PDF and electronic CSV/JSON, filtered by time, user and object).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import re
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import DBAPIError

from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.clock import ManualClock
from hmi.records.audit import AuditLog, row_hash
from hmi.records.audit_export import (
    CHAIN_HEAD_PREFIX,
    AuditFilter,
    audit_csv,
    audit_json,
    audit_pdf,
    is_signature,
    manifestation,
    parse_object,
    read_rows,
)
from hmi.store.database import Database
from hmi.store.models import AuditEntry
from tests.conftest import drop_audit_guards, execute
from tests.integration.conftest import Hmi
from tests.opcua_server import free_port

BERLIN = ZoneInfo("Europe/Berlin")
OLGA = ActionContext(user_id=1, username="olga", full_name="Olga Operator", role=Role.OPERATOR, station="panel-1")
LENA = ActionContext(user_id=2, username="lena", full_name="Lena Lead", role=Role.LEAD, station="office")
MANIFESTATION = "Lena Lead (lena) · 2025-01-06 07:03:00 CET · Reviewed"


async def seed(audit: AuditLog, clock: ManualClock) -> list[AuditEntry]:
    """Five rows a morning shift leaves: login, a note, a shelve with a reason, a signature, a formula-like value."""
    rows = [await audit.record(OLGA, "login", "user", "olga")]
    clock.advance(60)
    rows.append(await audit.record(OLGA, "note.add", "shift_note", "7", new_value="filler 2 jammed twice"))
    clock.advance(60)
    rows.append(
        await audit.record(
            LENA,
            "alarm.shelve",
            "alarm",
            "L1.M1.Temp.H",
            old_value="unack_active",
            new_value="shelved",
            reason="sensor replaced, recalibrating",
        )
    )
    clock.advance(60)
    # As hmi.records.signatures records a signing: the manifestation as new value, the content binding as detail.
    rows.append(
        await audit.record(
            LENA, "sign", "shift_note", "7", new_value=MANIFESTATION, detail="signature 1; content sha256 abc"
        )
    )
    clock.advance(60)
    rows.append(await audit.record(OLGA, "note.add", "shift_note", "8", new_value='=HYPERLINK("http://evil")'))
    clock.advance(60)
    return rows


async def allow_tampering(db: Database) -> None:
    """First show the database refuses edits, then switch its guard off as the database owner could."""
    for statement in (
        "UPDATE audit_entries SET new_value = 'x' WHERE id = 3",
        "DELETE FROM audit_entries WHERE id = 3",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            await execute(db, statement)
    await drop_audit_guards(db)


def csv_records(text: str) -> list[dict[str, str]]:
    """The data rows of an audit CSV export; the chain-head footer must be its last line."""
    lines = text.splitlines()
    assert lines[-1].startswith(CHAIN_HEAD_PREFIX)
    return list(csv.DictReader(io.StringIO("\n".join(lines[:-1]))))


def pdf_text(pdf: bytes) -> bytes:
    """Every page stream of a reportlab PDF, decoded (reportlab compresses with ASCII85 + Flate)."""
    out = [pdf]
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, flags=re.DOTALL):
        data = raw.strip()
        try:
            if data.endswith(b"~>"):
                data = base64.a85decode(data, adobe=True)
            out.append(zlib.decompress(data))
        except (ValueError, zlib.error):
            out.append(raw)  # an uncompressed stream
    return b"\n".join(out)


@pytest.mark.req("REC-004")
async def test_verify_reports_an_intact_chain(hmi: Hmi, db: Database, audit: AuditLog, clock: ManualClock) -> None:
    rows = await seed(audit, clock)
    code, out, err = await hmi("audit", "verify", "--db", db.url)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "OK: 5 rows, chain intact"
    # The last hash lets a later check notice rows cut off the end (which leaves a valid, shorter chain).
    assert out.splitlines()[1] == f"last row hash: {rows[-1].row_hash}"


@pytest.mark.req("REC-004")
async def test_verify_finds_a_changed_value(hmi: Hmi, db: Database, audit: AuditLog, clock: ManualClock) -> None:
    await seed(audit, clock)
    await allow_tampering(db)
    await execute(db, "UPDATE audit_entries SET new_value = 'unshelved' WHERE id = 3")
    code, out, _ = await hmi("audit", "verify", "--db", db.url)
    assert code == 1
    assert out.splitlines()[0] == (
        "BROKEN at row 3: its content does not match its hash (the row was changed after it was written)"
    )


@pytest.mark.req("REC-004")
async def test_verify_finds_a_deleted_row(hmi: Hmi, db: Database, audit: AuditLog, clock: ManualClock) -> None:
    await seed(audit, clock)
    await allow_tampering(db)
    await execute(db, "DELETE FROM audit_entries WHERE id = 3")
    code, out, _ = await hmi("audit", "verify", "--db", db.url)
    assert code == 1
    assert out.splitlines()[0].startswith("BROKEN at row 4: row 3 missing (deleted)")
    assert out.splitlines()[1] == "2 rows before it are intact"


@pytest.mark.req("REC-004")
async def test_verify_finds_a_rehashed_row_by_its_successor(db: Database, audit: AuditLog, clock: ManualClock) -> None:
    # Someone who also recomputes the edited row's own hash still breaks the link of the row after it.
    rows = await seed(audit, clock)
    await allow_tampering(db)
    forged = rows[1].model_copy(update={"new_value": "nothing happened"})
    forged_hash = row_hash(forged)
    await execute(
        db, f"UPDATE audit_entries SET new_value = 'nothing happened', row_hash = '{forged_hash}' WHERE id = 2"
    )
    check = await audit.check_chain()
    assert (check.broken_at, check.rows) == (3, 2)
    assert check.reason == "its link to row 2 does not match that row's hash (row 2 or this link changed)"
    await execute(db, "DELETE FROM audit_entries WHERE id IN (1, 2)")
    check = await audit.check_chain()
    assert (check.broken_at, check.rows) == (3, 0)
    assert check.reason.startswith("rows 1-2 missing (deleted)")
    assert await audit.verify() == 3


@pytest.mark.req("REC-004")
async def test_unreachable_or_missing_database_exits_2(hmi: Hmi, tmp_path: Path) -> None:
    code, out, err = await hmi("audit", "verify", "--db", f"postgresql://hmi@127.0.0.1:{free_port()}/hmi")
    assert (code, out) == (2, "")
    assert "is not reachable: connection refused" in err
    code, _, err = await hmi("audit", "verify", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2
    assert "does not exist" in err
    assert not (tmp_path / "nowhere").exists()  # no empty database was created to report an "intact" trail
    code, _, err = await hmi(
        "audit",
        "export",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "x.csv"),
        "--db",
        f"postgresql://hmi@127.0.0.1:{free_port()}/hmi",
    )
    assert code == 2
    assert "is not reachable" in err


@pytest.mark.req("REC-006")
async def test_export_csv_filtered_by_user_and_object(
    hmi: Hmi, db: Database, audit: AuditLog, clock: ManualClock, tmp_path: Path
) -> None:
    await seed(audit, clock)
    out_file = tmp_path / "audit.csv"
    code, out, err = await hmi(
        "audit",
        "export",
        "--format",
        "csv",
        "--out",
        str(out_file),
        "--db",
        db.url,
        "--user",
        "olga",
        "--object",
        "shift_note",
        "--timezone",
        "Europe/Berlin",
    )
    assert (code, err) == (0, "")
    assert out == f"exported 2 rows to {out_file}\n"
    records = csv_records(out_file.read_text(encoding="utf-8-sig"))
    assert [(r["id"], r["action"], r["object_id"]) for r in records] == [("2", "note.add", "7"), ("5", "note.add", "8")]
    assert records[0]["time_utc"] == "2025-01-06T06:01:00.000000+00:00"
    assert records[0]["time_local"] == "2025-01-06T07:01:00.000000+01:00"
    assert records[0]["zone"] == "Europe/Berlin"
    assert records[1]["new_value"] == '\'=HYPERLINK("http://evil")'  # defused for spreadsheets
    # The export itself is on the record, with its filter.
    [export] = await audit.query(action="audit.export")
    assert export.username.startswith("cli")
    assert json.loads(export.new_value or "") == {"user": "olga", "object_type": "shift_note"}


@pytest.mark.req("REC-006")
async def test_export_json_by_time_object_id_and_action(
    hmi: Hmi, db: Database, audit: AuditLog, clock: ManualClock, tmp_path: Path
) -> None:
    await seed(audit, clock)
    out_file = tmp_path / "audit.json"
    # A time without offset is plant local time: 07:01 CET is 06:01 UTC.
    code, _, err = await hmi(
        "audit",
        "export",
        "--format",
        "json",
        "--out",
        str(out_file),
        "--db",
        db.url,
        "--since",
        "2025-01-06T07:01",
        "--until",
        "2025-01-06T06:04+00:00",
        "--timezone",
        "Europe/Berlin",
    )
    assert (code, err) == (0, "")
    assert [r["id"] for r in json.loads(out_file.read_text(encoding="utf-8"))["rows"]] == [2, 3, 4]
    code, _, _ = await hmi(
        "audit",
        "export",
        "--format",
        "json",
        "--out",
        str(out_file),
        "--db",
        db.url,
        "--object",
        "shift_note:7",
        "--action",
        "sign",
    )
    assert code == 0
    [row] = json.loads(out_file.read_text(encoding="utf-8"))["rows"]
    assert (row["id"], row["new_value"], row["username"]) == (4, MANIFESTATION, "lena")
    assert row["detail"] == "signature 1; content sha256 abc"
    assert row["at"] == "2025-01-06T06:03:00.000000+00:00"
    assert len(row["row_hash"]) == 64


@pytest.mark.req("REC-006")
async def test_export_pdf_is_a_pdf_with_the_rows(
    hmi: Hmi, db: Database, audit: AuditLog, clock: ManualClock, tmp_path: Path
) -> None:
    await seed(audit, clock)
    out_file = tmp_path / "audit.pdf"
    code, _, err = await hmi("audit", "export", "--format", "pdf", "--out", str(out_file), "--db", db.url)
    assert (code, err) == (0, "")
    pdf = out_file.read_bytes()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for action in (b"login", b"note.add", b"alarm.shelve", b"(sign)"):
        assert action in text


@pytest.mark.req("REC-006")
async def test_export_refuses_bad_filters(hmi: Hmi, db: Database, tmp_path: Path) -> None:
    code, _, err = await hmi(
        "audit", "export", "--format", "csv", "--out", str(tmp_path / "a.csv"), "--db", db.url, "--since", "yesterday"
    )
    assert code == 1
    assert "--since 'yesterday' is not an ISO 8601 time" in err
    code, _, err = await hmi(
        "audit", "export", "--format", "csv", "--out", str(tmp_path / "a.csv"), "--db", db.url, "--object", ":7"
    )
    assert code == 1
    assert "has no type" in err
    assert not (tmp_path / "a.csv").exists()


@pytest.mark.req("REC-006")
async def test_query_filters_by_object(audit: AuditLog, clock: ManualClock) -> None:
    await seed(audit, clock)
    assert [e.id for e in await audit.query(object_type="shift_note")] == [5, 4, 2]
    assert [e.id for e in await audit.query(object_type="shift_note", object_id="7")] == [4, 2]
    flt = AuditFilter.build(obj="alarm:L1.M1.Temp.H", username=" lena ")
    assert [e.id for e in await read_rows(audit, flt)] == [3]


@pytest.mark.req("REC-006")
def test_parse_object_splits_on_the_first_colon() -> None:
    assert parse_object("") == (None, None)
    assert parse_object("alarm") == ("alarm", None)
    assert parse_object("tag:ns=2;s=L1:Speed") == ("tag", "ns=2;s=L1:Speed")
    with pytest.raises(ValueError, match="TYPE or TYPE:ID"):
        parse_object(":7")


@pytest.mark.req("REC-006")
def test_filter_describes_itself_in_plant_time() -> None:
    flt = AuditFilter.build(since=datetime(2025, 1, 6, 6, 0, tzinfo=UTC), username="olga", obj="alarm:A1")
    assert flt.describe(BERLIN) == "from 2025-01-06 07:00 CET to now · user olga · object alarm:A1"
    assert flt.as_dict() == {
        "since": "2025-01-06T06:00:00.000000+00:00",
        "user": "olga",
        "object_type": "alarm",
        "object_id": "A1",
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        AuditFilter.build(since=datetime(2025, 1, 6))  # noqa: DTZ001 - the naive time is the point


@pytest.mark.req("REC-006")
async def test_formats_carry_every_field(audit: AuditLog, clock: ManualClock) -> None:
    rows = await read_rows(audit, AuditFilter()) if await seed(audit, clock) else []
    records = csv_records(audit_csv(rows, BERLIN))
    assert [r["action"] for r in records] == ["login", "note.add", "alarm.shelve", "sign", "note.add"]
    shelve = records[2]
    assert (shelve["old_value"], shelve["new_value"], shelve["reason"]) == (
        "unack_active",
        "shelved",
        "sensor replaced, recalibrating",
    )
    assert (shelve["user_id"], shelve["station"]) == ("2", "office")
    assert [r["id"] for r in json.loads(audit_json(rows))["rows"]] == [1, 2, 3, 4, 5]


@pytest.mark.req("REC-006", "REC-009")
async def test_pdf_shows_times_values_and_the_signature_in_bold(audit: AuditLog, clock: ManualClock) -> None:
    await seed(audit, clock)
    rows = await read_rows(audit, AuditFilter())
    pdf = await asyncio.to_thread(
        audit_pdf,
        rows,
        title="Test Plant",
        zone=BERLIN,
        generated_by="max",
        generated_at=clock.now() + timedelta(hours=1),
        filter_text="all rows",
        compress=False,
    )
    assert pdf.startswith(b"%PDF")
    for text in (
        b"Audit trail \\267 Test Plant",
        b"Page 1 of 1",
        b"2025-01-06 06:02:00 UTC",
        b"2025-01-06 07:02:00 CET",
        b"alarm.shelve",
        b"sensor replaced, recalibrating",
        b"unack_active",
        b"alarm:L1.M1.Temp.H",
    ):
        assert text in pdf, text
    # The manifestation is set in Helvetica-Bold: the font selected right before its text in the page stream.
    bold = re.search(rb"/(F\d+) \d+ Tf [^/]*?\(Lena Lead \\\(lena\\\) \\267 2025-01-06 07:03:00 CET", pdf)
    assert bold is not None
    assert re.search(rb"/BaseFont /Helvetica-Bold [^>]*/Name /" + bold.group(1) + rb"\b", pdf)
    # Other rows' values are in the regular face.
    assert b"signature 1; content sha256 abc" in pdf
    regular = re.search(rb"/(F\d+) \d+ Tf [^/]*?\(unack_active", pdf)
    assert regular is not None
    assert re.search(rb"/BaseFont /Helvetica [^>]*/Name /" + regular.group(1) + rb"\b", pdf)


@pytest.mark.req("REC-009")
def test_only_real_signings_show_a_manifestation() -> None:
    def entry(action: str, new_value: str | None, detail: str | None = None) -> AuditEntry:
        return AuditEntry(
            id=1,
            at=datetime(2025, 1, 6, tzinfo=UTC),
            username="lena",
            action=action,
            object_type="x",
            object_id="1",
            new_value=new_value,
            detail=detail,
            prev_hash="",
            row_hash="",
        )

    assert is_signature(entry("sign", MANIFESTATION))
    assert manifestation(entry("sign", MANIFESTATION, "signature 1")) == MANIFESTATION
    assert manifestation(entry("sign.note", None, MANIFESTATION)) == MANIFESTATION
    assert not is_signature(entry("sign.failed", None, "wrong password"))
    assert not is_signature(entry("sign.denied", None))
    assert not is_signature(entry("note.add", "text"))
