"""The alarm journal and KPI screens under NiceGUI's simulated user, on a real runtime and SQLite file."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from nicegui import ui

from hmi.alarms.kpi_service import KPI_ACTION
from hmi.shifts import ShiftSlot
from hmi.store.models import AlarmEvent, AlarmEventKind
from screens import ranges
from tests.screens.conftest import Harness, set_value, table_rows


def journal_row(alarm_id: str, at: datetime, kind: str = "activated", **fields: Any) -> dict[str, Any]:
    tag = alarm_id.rsplit(".", 1)[0]
    base: dict[str, Any] = {
        "alarm_id": alarm_id,
        "tag": tag,
        "area": "Packing",
        "line": "L1",
        "priority": "3",
        "kind": AlarmEventKind(kind),
        "state": "active_unack" if kind == "activated" else "normal",
        "value": None,
        "message": f"{tag} alarm",
        "source_time": at,
        "server_time": at,
        "user_id": None,
        "username": None,
        "comment": None,
        "action_id": None,
    }
    return base | fields


async def insert(hmi: Harness, rows: list[dict[str, Any]]) -> None:
    async with hmi.rt.db.session() as session:
        await session.execute(sa.insert(AlarmEvent), rows)
        await session.commit()


async def seed_journal(hmi: Harness) -> datetime:
    now = hmi.rt.clock()
    await insert(
        hmi,
        [
            journal_row(
                "L1.M1.Temp.H",
                now - timedelta(minutes=50),
                priority="2",
                value="85.0",
                message='=HYPERLINK("http://evil.example")',
            ),
            journal_row(
                "L1.M1.Temp.H",
                now - timedelta(minutes=40),
                "acknowledged",
                priority="2",
                state="active_ack",
                username="olga",
                comment="checked the valve",
            ),
            journal_row("L1.M1.Temp.H", now - timedelta(minutes=30), "cleared", priority="2", value="70.0"),
            journal_row(
                "L2.M3.Jam.discrete",
                now - timedelta(minutes=20),
                line="L2",
                priority="1",
                value="True",
                message="Jam at M3",
            ),
            journal_row("L1.M1.Old.H", now - timedelta(days=3), message="three days ago"),
        ],
    )
    return now


@pytest.mark.req("ALM-025")
async def test_journal_lists_and_filters(hmi: Harness) -> None:
    await seed_journal(hmi)
    await hmi.login("olga")
    await hmi.user.open("/journal")
    await hmi.user.should_see("4 entries, newest first", retries=50)
    rows = table_rows(hmi, "journal-table")
    assert [(r["tag"], r["kind"]) for r in rows] == [
        ("L2.M3.Jam", "activated"),
        ("L1.M1.Temp", "cleared"),
        ("L1.M1.Temp", "acknowledged"),
        ("L1.M1.Temp", "activated"),
    ]
    assert rows[2]["user"] == "olga"
    assert rows[2]["comment"] == "checked the valve"
    assert rows[2]["state"] == "acknowledged"
    # Plant local time with its zone (the test plant is in Europe/Berlin).
    assert rows[0]["time"].endswith(("CET", "CEST"))
    # Text from the plant goes into the table as plain cell text (Quasar shows it as written, never as markup).
    assert rows[3]["message"] == '=HYPERLINK("http://evil.example")'

    # The test plant has line L1 only; the L2 row stands for a line since removed from the configuration.
    set_value(hmi, "journal-line", "L1")
    await hmi.user.should_see("3 entries, newest first", retries=50)
    assert {r["line"] for r in table_rows(hmi, "journal-table")} == {"L1"}

    set_value(hmi, "journal-line", "")
    await hmi.user.should_see("4 entries", retries=50)
    hmi.user.find(marker="journal-tag").type("temp")
    set_value(hmi, "journal-kind", "acknowledged")
    await hmi.user.should_see("1 entries", retries=50)
    assert [(r["tag"], r["kind"]) for r in table_rows(hmi, "journal-table")] == [("L1.M1.Temp", "acknowledged")]

    set_value(hmi, "journal-kind", "")
    hmi.user.find(marker="journal-user").type("olga")
    hmi.user.find(marker="journal-apply").click()
    await hmi.user.should_see("1 entries", retries=50)

    # A wider range brings back the old row.
    hmi.user.find(marker="journal-user").clear()
    hmi.user.find(marker="journal-tag").clear()
    set_value(hmi, "journal-range", "7d")
    await hmi.user.should_see("5 entries", retries=50)
    assert table_rows(hmi, "journal-table")[-1]["message"] == "three days ago"

    set_value(hmi, "journal-priority", 1)
    await hmi.user.should_see("1 entries", retries=50)
    assert [r["priority"] for r in table_rows(hmi, "journal-table")] == ["1"]


@pytest.mark.req("SCR-007")
async def test_journal_custom_range_in_plant_time(hmi: Harness) -> None:
    now = await seed_journal(hmi)
    zone = hmi.rt.plant.site.zone
    await hmi.login("lena")
    await hmi.user.open("/journal")
    await hmi.user.should_see("4 entries", retries=50)
    set_value(hmi, "journal-range", "custom")
    hmi.user.find(marker="journal-from").type("yesterday")
    hmi.user.find(marker="journal-apply").click()
    await hmi.user.should_see("is not a time; write it as YYYY-MM-DD HH:MM", retries=50)
    frm = (now - timedelta(days=4)).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    to = (now - timedelta(days=2)).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    hmi.user.find(marker="journal-from").clear().type(frm)
    hmi.user.find(marker="journal-to").type(to)
    hmi.user.find(marker="journal-apply").click()
    await hmi.user.should_see("1 entries", retries=50)
    assert [r["message"] for r in table_rows(hmi, "journal-table")] == ["three days ago"]


@pytest.mark.req("ALM-025")
async def test_journal_csv_export(hmi: Harness) -> None:
    await seed_journal(hmi)
    await hmi.login("max")
    await hmi.user.open("/journal")
    await hmi.user.should_see("4 entries", retries=50)
    set_value(hmi, "journal-line", "L1")
    await hmi.user.should_see("3 entries", retries=50)
    hmi.user.find(marker="journal-export").click()
    response = await hmi.user.download.next(timeout=5)
    await hmi.user.should_see("Exported 3 entries.", retries=50)
    text = response.content.decode("utf-8-sig")
    records = list(csv.DictReader(io.StringIO(text)))
    assert [r["kind"] for r in records] == ["cleared", "acknowledged", "activated"]
    assert {r["line"] for r in records} == {"L1"}
    assert records[2]["time_utc"].endswith("+00:00")
    assert records[2]["time_local"].endswith(("+01:00", "+02:00"))
    assert records[2]["zone"] == "Europe/Berlin"
    # The formula a plant message might carry is defused for spreadsheets.
    assert records[2]["message"] == '\'=HYPERLINK("http://evil.example")'
    assert records[1]["comment"] == "checked the valve"


@pytest.mark.req("REC-006")
async def test_journal_export_is_on_the_audit_trail(hmi: Harness) -> None:
    await seed_journal(hmi)
    await hmi.login("max")
    await hmi.user.open("/journal")
    await hmi.user.should_see("4 entries", retries=50)
    hmi.user.find(marker="journal-export").click()
    await hmi.user.download.next(timeout=5)
    await hmi.user.should_see("Exported 4 entries.", retries=50)
    [entry] = await hmi.rt.audit.query(action="journal.export")
    assert entry.username == "max"
    assert entry.detail is not None
    assert entry.detail.startswith("4 rows to alarm-journal_")
    assert "since" in (entry.new_value or "")


@pytest.mark.req("ALM-025")
async def test_journal_shows_pages_of_rows(hmi: Harness) -> None:
    now = hmi.rt.clock()
    await insert(hmi, [journal_row(f"L1.M{i:03}.Temp.H", now - timedelta(seconds=600 - i)) for i in range(205)])
    await hmi.login("olga")
    await hmi.user.open("/journal")
    await hmi.user.should_see("(rows 1–200; older ones on the next page)", retries=50)
    assert len(table_rows(hmi, "journal-table")) == 200
    assert table_rows(hmi, "journal-table")[0]["tag"] == "L1.M204.Temp"
    hmi.user.find(marker="journal-older").click()
    await hmi.user.should_see("(rows 201–205)", retries=50)
    assert [r["tag"] for r in table_rows(hmi, "journal-table")][-1] == "L1.M000.Temp"
    hmi.user.find(marker="journal-newer").click()
    await hmi.user.should_see("(rows 1–200; older ones on the next page)", retries=50)


@pytest.mark.req("SEC-010")
async def test_journal_and_kpi_ranges_beyond_their_maximum_are_refused(hmi: Harness) -> None:
    zone = hmi.rt.plant.site.zone
    frm = (hmi.rt.clock() - timedelta(days=800)).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    await hmi.login("max")
    await hmi.user.open("/journal")
    await hmi.user.should_see("entries", retries=50)
    set_value(hmi, "journal-range", "custom")
    hmi.user.find(marker="journal-from").type(frm)
    hmi.user.find(marker="journal-apply").click()
    await hmi.user.should_see("at most 400 days can be read at once: choose a shorter range", retries=50)
    hmi.user.find(marker="journal-export").click()
    await hmi.user.should_see("Not exported: the export covers", retries=50)
    assert await hmi.rt.audit.query(action="journal.export") == []
    await hmi.user.open("/kpi")
    await hmi.user.should_see(marker="kpi-table", retries=50)
    set_value(hmi, "kpi-range", "custom")
    hmi.user.find(marker="kpi-from").type(frm)
    hmi.user.find(marker="kpi-apply").click()
    await hmi.user.should_see("the KPI window covers", retries=50)


@pytest.mark.req("ALM-026", "ALM-027", "ALM-028")
async def test_manager_sees_kpis_with_a_known_flood(hmi: Harness) -> None:
    now = hmi.rt.clock()
    # Periods are aligned to the window start (now - 24 h, a few seconds after `now` once the page opens), so
    # period boundaries fall on whole ten minutes before that: put the burst in the middle of one.
    flood_at = now - timedelta(hours=2, minutes=5)
    # 11 activations within one second: one ten-minute period in flood.
    await insert(
        hmi,
        [journal_row(f"L1.M{i}.Temp.H", flood_at + timedelta(milliseconds=50 * i)) for i in range(11)]
        + [journal_row("L1.M1.Jam.discrete", now - timedelta(hours=5), priority="1")]
        # Shelved: not annunciated, so not counted.
        + [journal_row(f"L1.M{i}.Speed.L", now - timedelta(hours=3), state="shelved") for i in range(20)],
    )
    await hmi.login("max")
    await hmi.user.open("/kpi")
    await hmi.user.should_see(marker="kpi-table", retries=50)
    await hmi.user.should_see("12 annunciated activations; 1 of 144 ten-minute periods in flood; peak 11", retries=50)
    rows = {r["key"]: r for r in table_rows(hmi, "kpi-table")}
    assert rows["flood_percent"]["detail"] == "1 of 144 periods in flood"
    assert rows["flood_percent"]["value"] == "0.7%"
    assert rows["flood_percent"]["result"] == "✔ meets target"
    assert rows["peak_10min"]["value"] == "11"
    assert rows["peak_10min"]["target"] == "≤ 10"
    assert rows["peak_10min"]["result"] == "✘ misses target"
    assert rows["per_10min"]["value"] == "0.08"
    top = table_rows(hmi, "kpi-top")
    assert len(top) == 10
    assert top[0]["alarm"] == "L1.M0.Temp.H"  # every alarm activated once: ties broken by id
    chart = next(iter(hmi.user.find(marker="kpi-chart").elements))
    assert isinstance(chart, ui.plotly)
    figure = chart.figure
    assert isinstance(figure, dict)
    assert max(figure["data"][0]["y"]) == 11
    assert len(figure["data"][0]["y"]) == 144
    assert figure["layout"]["shapes"][0]["y0"] == 10
    # All areas (the test plant has one) and a longer window: the same flood among more periods.
    set_value(hmi, "kpi-area", "")
    set_value(hmi, "kpi-range", "7d")
    await hmi.user.should_see("12 annunciated activations; 1 of 1008 ten-minute periods in flood", retries=50)
    await hmi.user.should_see("All areas")


@pytest.mark.req("ALM-028")
async def test_operator_is_refused_kpis_and_the_refusal_is_audited(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/kpi")
    await hmi.user.should_see("Your role (operator) may not view KPIs", retries=50)
    await hmi.user.should_not_see(marker="kpi-table")
    entries = await hmi.rt.audit.query(username="olga", action=f"{KPI_ACTION}.denied")
    assert len(entries) == 1
    assert entries[0].object_type == "alarm_kpi"


@pytest.mark.req("SCR-006")
async def test_navigation_offers_journal_and_kpis(hmi: Harness) -> None:
    await hmi.login("ada")
    hmi.user.find("Journal").click()
    await hmi.user.should_see(marker="journal-table", retries=50)
    hmi.user.find("KPIs").click()
    await hmi.user.should_see(marker="kpi-table", retries=50)


BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)


@pytest.mark.req("SCR-007")
def test_named_ranges_end_now() -> None:
    window = ranges.resolve("24h", NOW, BERLIN)
    assert (window.start, window.end, window.open_end) == (NOW - timedelta(days=1), NOW, True)
    shift = ShiftSlot(
        "Early", date(2025, 1, 6), datetime(2025, 1, 6, 5, 0, tzinfo=UTC), datetime(2025, 1, 6, 13, 0, tzinfo=UTC)
    )
    window = ranges.resolve("shift", NOW, BERLIN, shift=shift)
    assert (window.start, window.end, window.open_end) == (shift.start, shift.end, False)


@pytest.mark.req("SCR-007")
def test_custom_range_is_plant_local_time() -> None:
    window = ranges.resolve("custom", NOW, BERLIN, custom_from="2025-01-06 06:00", custom_to="2025-01-06 14:00")
    assert window.start == datetime(2025, 1, 6, 5, 0, tzinfo=UTC)  # 06:00 CET
    assert window.end == datetime(2025, 1, 6, 13, 0, tzinfo=UTC)
    assert ranges.file_stamp(window, BERLIN) == "2025-01-06_0600_to_2025-01-06_1400"
    open_ended = ranges.resolve("custom", NOW, BERLIN, custom_from="2025-01-06 06:00")
    assert (open_ended.end, open_ended.open_end) == (NOW, True)


@pytest.mark.parametrize(
    ("frm", "to", "message"),
    [
        ("", "", "give the 'from' time"),
        ("6 Jan", "", "is not a time; write it as YYYY-MM-DD HH:MM (plant time, Europe/Berlin)"),
        ("2025-01-06 14:00", "2025-01-06 06:00", "must be after"),
    ],
)
@pytest.mark.req("SCR-007")
def test_custom_range_errors_say_what_to_do(frm: str, to: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ranges.resolve("custom", NOW, BERLIN, custom_from=frm, custom_to=to)
