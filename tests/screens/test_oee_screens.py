"""Line states, stops with reasons, and the manager overview on a real runtime (OPC UA server, SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from nicegui import ui

from tests.screens.conftest import Harness, element


async def a_stop(hmi: Harness) -> str:
    """Hold line L1 for a moment and let it run again; the historian records both states. Returns the stop key."""
    for state in ("Held", "Execute"):
        await hmi.server.write("L1.State", state)
        await hmi.until(lambda s=state: (c := hmi.rt.cache.get("L1.State")) is not None and c.value == s)
    await hmi.rt.recorder.flush()
    now = hmi.rt.clock()
    # Before the HMI's first recording the state is unknown: that is a stop too ("No data"), listed before it.
    stops = await hmi.rt.oee.stops("L1", now - timedelta(hours=1), now)
    assert [s.state for s in stops][-1:] == ["Held"]
    assert set([s.state for s in stops][:-1]) <= {"No data"}
    return f"stop-{int(stops[-1].start.timestamp())}"


@pytest.mark.req("OEE-007", "OEE-009")
async def test_operator_gives_a_stop_its_reason(hmi: Harness) -> None:
    key = await a_stop(hmi)
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="line-timeline", retries=100)
    await hmi.user.should_see(marker=key, retries=50)
    timeline = element(hmi, "line-timeline")
    assert isinstance(timeline, ui.plotly)
    drawn = {t["name"]: len(t["x"]) for t in timeline.figure["data"]}
    assert drawn["Down"] >= 1
    assert drawn["Running"] >= 1
    hmi.user.find(marker=f"assign-{key}").click()
    element(hmi, "reason-select").set_value("other")
    hmi.user.find(marker="reason-assign").click()
    # "Other" needs a comment; the service says so and nothing is stored.
    await hmi.user.should_see("needs a comment saying what stopped the line", retries=50)
    hmi.user.find(marker="reason-comment").type("<b>guard door</b> opened")
    hmi.user.find(marker="reason-assign").click()
    await hmi.user.should_see("Reason saved.", retries=50)
    await hmi.user.should_see("Other (say what in the comment) — olga: <b>guard door</b> opened", retries=50)
    entries = await hmi.rt.audit.query(action="downtime.assign")
    [entry] = entries
    assert entry.username == "olga"


@pytest.mark.req("OEE-007")
async def test_manager_reads_but_does_not_assign(hmi: Harness) -> None:
    key = await a_stop(hmi)
    await hmi.login("max")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker=key, retries=100)
    await hmi.user.should_not_see(marker=f"assign-{key}")


@pytest.mark.req("OEE-009")
async def test_manager_overview(hmi: Harness) -> None:
    await a_stop(hmi)
    now = hmi.rt.clock()
    stop = (await hmi.rt.oee.stops("L1", now - timedelta(hours=1), now))[-1]
    lena = (await hmi.rt.users.sign_in("lena", "correct-horse-7")).ctx
    assert lena is not None
    await hmi.rt.oee.assign_reason(lena.for_action(), "L1", stop.start, "jam")
    await hmi.login("max")
    await hmi.user.open("/oee")
    await hmi.user.should_see(marker="oee-table", retries=100)
    table = element(hmi, "oee-table")
    await hmi.until(lambda: len(table.rows) == 1)
    [row] = table.rows
    assert row["line"] == "L1"
    assert row["oee"].split(" (")[0].endswith("%")  # with the recorded share beside it when below 100 %
    assert "Jam / mechanical fault" in row["reasons"]
    await hmi.user.should_see(marker="oee-pareto")
    element(hmi, "oee-window").set_value("week")
    await hmi.user.should_see("now (Europe/Berlin)", retries=50)


@pytest.mark.req("SCR-009")
async def test_counter_reading_and_quantity_produced_are_told_apart_in_integers(hmi: Harness) -> None:
    await hmi.until(lambda: hmi.rt.cache.get("L1.Good") is not None)
    before = hmi.rt.cache.get("L1.Good").value  # type: ignore[union-attr]
    for value in (before + 1000, before + 1039):
        await hmi.server.write("L1.Good", value)
        await hmi.until(lambda v=value: hmi.rt.cache.get("L1.Good").value == v)  # type: ignore[union-attr]
        await hmi.rt.recorder.flush()
    now = hmi.rt.clock()
    start, end = hmi.rt.oee.windows(now)["shift"]
    made = (await hmi.rt.oee.report("L1", start, end)).good
    assert made >= 1039
    await hmi.login("lena")
    await hmi.user.open("/line/L1")
    # The tile is the PLC's counter, and says so; the card says what was produced, as a whole number.
    await hmi.user.should_see("Good · PLC counter reading", retries=50)
    await hmi.user.should_see(marker="line-oee-counts", retries=100)
    counts = element(hmi, "line-oee-counts").text
    assert counts.startswith(f"Produced in planned time: good {round(made):,} ·")
    assert ".0" not in counts
    await hmi.user.open("/handover")
    hmi.user.find(marker="handover-draft").click()
    await hmi.user.should_see("Report drafted.", retries=50)
    line = element(hmi, "handover-production-L1").text
    assert line.startswith(f"L1: produced this shift: good {round(made):,}, rejects ")
    assert f"PLC counter readings: good {before + 1039:,}" in line
    assert ".0" not in line


def stop_labels(figure: dict[str, object]) -> list[str]:
    """The labels of a trend's stop bands."""
    shapes = figure["layout"]["shapes"]  # type: ignore[index]
    return [s["label"]["text"] for s in shapes if "stopped" in s.get("label", {}).get("text", "")]


@pytest.mark.req("TRD-006")
async def test_the_line_trends_band_a_stop_of_the_line(hmi: Harness) -> None:
    await a_stop(hmi)
    await hmi.login("olga")
    # The line page's live trend reads the stops of its pens' line.
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="trend", retries=100)
    live = element(hmi, "trend")
    assert isinstance(live, ui.plotly)
    await hmi.until(lambda: stop_labels(live.figure) == ["L1 stopped: DOWN"], what="the stop's band on the live trend")
    # The trend screen does the same for the window it shows.
    await hmi.user.open("/trends?tags=L1.Speed")
    await hmi.user.should_see(marker="trend", retries=100)
    await hmi.until(
        lambda: stop_labels(element(hmi, "trend").figure) == ["L1 stopped: DOWN"], what="the stop's band on /trends"
    )
