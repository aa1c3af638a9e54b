"""The trend screen on a real runtime: pens, live and history, ranges, zoom and pan, CSV, saved views."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from nicegui import ui

from hmi.oee.timeline import to_us
from hmi.store.models import Sample
from screens import trend_chart, trends
from tests.screens.conftest import Harness, element

HMI_CSS = Path(__file__).resolve().parents[2] / "assets" / "hmi.css"


def chart(hmi: Harness) -> dict[str, Any]:
    plot = element(hmi, "trend")
    assert isinstance(plot, ui.plotly)
    return plot.figure  # type: ignore[return-value]


async def open_trends(hmi: Harness, username: str | None, tags: str) -> None:
    """Sign in (unless `username` is None: already signed in) and open the trend screen with `tags`
    (comma-separated) until its chart is drawn."""
    if username is not None:
        await hmi.login(username)
    await hmi.user.open(f"/trends?tags={tags}")
    await hmi.user.should_see(marker="trend", retries=100)


async def recorded(hmi: Harness, tag: str, value: float) -> None:
    """Write `value` on the server and wait until the historian has it in the database."""
    await hmi.server.write(tag, value)
    await hmi.until(lambda: (s := hmi.rt.cache.get(tag)) is not None and s.value == value)
    await hmi.rt.recorder.flush()


def custom_range(hmi: Harness, start: str, end: str | None = None) -> None:
    """On the open trend screen, choose a custom range and type its start (and end), then apply it."""
    element(hmi, "trend-range").set_value("custom")
    hmi.user.find(marker="trend-from").type(start)
    if end is not None:
        hmi.user.find(marker="trend-to").type(end)
    hmi.user.find(marker="trend-apply").click()


async def backfill(hmi: Harness, tag: str, value: float, minutes_ago: tuple[int, ...]) -> None:
    """Write `value` straight into the historian's samples, `minutes_ago` before now (as a back-fill does)."""
    now = hmi.rt.clock()
    rows = [
        {
            "tag": tag,
            "t_us": to_us(now - timedelta(minutes=m)),
            "value": value,
            "text": None,
            "quality": "good",
            "status": 0,
        }
        for m in minutes_ago
    ]
    async with hmi.rt.db.session(write=True) as session:
        await session.execute(sa.insert(Sample.__table__), rows)  # type: ignore[attr-defined]
        await session.commit()


@pytest.mark.req("HIS-008")
async def test_live_trend_draws_recorded_values_with_limits(hmi: Harness) -> None:
    await recorded(hmi, "L1.M1.Temp", 71.5)
    await recorded(hmi, "L1.M1.Temp", 72.5)
    await open_trends(hmi, "olga", "L1.M1.Temp,L1.Speed")
    await hmi.user.should_see("LIVE", retries=50)
    figure = chart(hmi)
    temp, speed, _cursor_grid = figure["data"]
    assert 72.5 in temp["y"]
    assert 71.5 in temp["y"]
    assert temp["connectgaps"] is False
    assert speed["yaxis"] == "y2"  # bpm and °C on their own axes
    assert any(s.get("y0") == 80 for s in figure["layout"]["shapes"])  # the H limit is drawn


@pytest.mark.req("HIS-009")
async def test_ranges_zoom_pan_and_history_mode(hmi: Harness) -> None:
    await recorded(hmi, "L1.M1.Temp", 71.0)
    await open_trends(hmi, "lena", "L1.M1.Temp")
    element(hmi, "trend-range").set_value("24h")
    await hmi.user.should_see("LIVE", retries=50)

    def width_s() -> float:
        from screens.history_figure import parse_x

        zone = hmi.rt.plant.site.zone
        low, high = chart(hmi)["layout"]["xaxis"]["range"]
        return (parse_x(high, zone) - parse_x(low, zone)).total_seconds()

    await hmi.until(lambda: abs(width_s() - 86_400) < 5)
    hmi.user.find(marker="trend-zoom-in").click()
    await hmi.user.should_see("HISTORY", retries=50)
    await hmi.until(lambda: abs(width_s() - 43_200) < 5)
    hmi.user.find(marker="trend-back").click()
    await hmi.until(lambda: abs(width_s() - 43_200) < 5 and "HISTORY" in element(hmi, "trend-window").text)
    hmi.user.find(marker="trend-live").click()
    await hmi.user.should_see("LIVE", retries=50)
    for series in chart(hmi)["data"]:
        assert len(series["x"]) <= 2000


@pytest.mark.req("HIS-009", "SCR-007")
async def test_custom_range_errors_are_explained(hmi: Harness) -> None:
    await open_trends(hmi, "olga", "L1.M1.Temp")
    custom_range(hmi, "last tuesday")
    await hmi.user.should_see("is not a time; write it as YYYY-MM-DD HH:MM", retries=50)


@pytest.mark.req("SEC-010")
async def test_a_custom_range_beyond_the_maximum_is_refused_with_a_message(hmi: Harness) -> None:
    await open_trends(hmi, "olga", "L1.M1.Temp")
    custom_range(hmi, "2020-01-01 00:00", "2024-01-01 00:00")
    await hmi.user.should_see("at most 366 days can be read at once: choose a shorter range", retries=50)


@pytest.mark.req("HIS-011")
async def test_csv_export_of_what_is_shown(hmi: Harness) -> None:
    await recorded(hmi, "L1.M1.Temp", 73.25)
    await open_trends(hmi, "olga", "L1.M1.Temp")
    hmi.user.find(marker="trend-export").click()
    response = await hmi.user.download.next(timeout=10)
    records = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {r["tag"] for r in records} == {"L1.M1.Temp"}
    assert "73.25" in {r["value"] for r in records}
    assert all(r["unit"] == "°C" for r in records)


@pytest.mark.req("HIS-010")
async def test_saved_views_are_per_person(hmi: Harness) -> None:
    await open_trends(hmi, "olga", "L1.M1.Temp,L1.M1.Pressure")
    element(hmi, "trend-range").set_value("24h")
    hmi.user.find(marker="trend-view-name").type("Filler check")
    hmi.user.find(marker="trend-view-save").click()
    await hmi.user.should_see("Saved view 'Filler check'.", retries=50)

    await open_trends(hmi, None, "L1.Speed")
    views = element(hmi, "trend-views")
    await hmi.until(lambda: "Filler check" in views.options.values())
    views.set_value(next(k for k, v in views.options.items() if v == "Filler check"))
    hmi.user.find(marker="trend-view-open").click()
    await hmi.user.should_see("Opened view 'Filler check'.", retries=50)
    assert [t["name"] for t in chart(hmi)["data"]] == ["L1.M1.Temp [°C]", "L1.M1.Pressure [bar]", "cursor"]
    assert element(hmi, "trend-range").value == "24h"

    # Another person sees none of olga's views, and the service refuses to touch them.
    lena = (await hmi.rt.users.sign_in("lena", "correct-horse-7")).ctx
    assert await hmi.rt.trend_views.list(lena) == []
    [view] = await hmi.rt.trend_views.list((await hmi.rt.users.sign_in("olga", "correct-horse-7")).ctx)
    assert await hmi.rt.trend_views.get(lena, view.id) is None
    saved = await hmi.rt.audit.query(action="trend_view.save")
    assert [e.username for e in saved] == ["olga"]


@pytest.mark.req("HIS-008")
async def test_alarm_activations_are_marked_on_the_trend(hmi: Harness) -> None:
    from hmi.alarms.journal_query import activations

    await recorded(hmi, "L1.M1.Temp", 85.0)  # above H (80)
    now = hmi.rt.clock()
    await hmi.until(lambda: hmi.rt.alarms.get("L1.M1.Temp.H") is not None)

    async def journaled() -> bool:
        return bool(
            await activations(
                hmi.rt.db, ["L1.M1.Temp"], now.replace(year=now.year - 1), hmi.rt.clock().replace(year=now.year + 1)
            )
        )

    # The journal writes in batches of its own.
    await hmi.until(journaled, what="the activation of L1.M1.Temp.H in the journal")
    await open_trends(hmi, "olga", "L1.M1.Temp")
    labels = [shape.get("label", {}).get("text", "") for shape in chart(hmi)["layout"]["shapes"]]
    assert "P2 L1.M1.Temp.H" in labels


@pytest.mark.req("HIS-009")
async def test_open_live_trend_shows_history_back_filled_after_it_opened(
    hmi: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Re-read on every tick instead of every 10 s (absent before the fix, hence raising=False).
    monkeypatch.setattr(trends, "BACKFILL_REQUERY_S", 0.0, raising=False)
    await recorded(hmi, "L1.M1.Temp", 61.5)
    await open_trends(hmi, "olga", "L1.M1.Temp")
    await hmi.user.should_see("LIVE", retries=50)
    assert 44.5 not in chart(hmi)["data"][0]["y"]
    # The back-fill writes the minutes before the HMI started, which the ring buffer never held.
    await backfill(hmi, "L1.M1.Temp", 44.5, (8, 7, 6))
    await hmi.until(lambda: 44.5 in chart(hmi)["data"][0]["y"], timeout=15)


@pytest.mark.req("SCR-002")
async def test_line_page_live_trend_reads_the_historian_for_what_the_ring_does_not_hold(
    hmi: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trend_chart, "BACKFILL_REQUERY_S", 0.2, raising=False)
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="trend", retries=100)
    plot = next(e for e in hmi.user.find(marker="trend").elements if isinstance(e, ui.plotly))
    await backfill(hmi, "L1.M1.Temp", 44.5, (8, 7, 6))
    temp = next(t for t in plot.figure["data"] if t["name"].startswith("L1.M1.Temp"))
    await hmi.until(lambda: temp["y"].count(44.5) == 3, timeout=15)
    # Older points first, then the ring buffer's live ones: time order is kept.
    assert temp["x"] == sorted(temp["x"])


def window_of(hmi: Harness) -> str:
    return str(element(hmi, "trend-window").text)


@pytest.mark.req("TRD-007")
async def test_range_buttons_follow_a_drag_zoom_and_reset_returns(hmi: Harness) -> None:
    from screens.history_figure import local_x

    await recorded(hmi, "L1.M1.Temp", 71.0)
    await open_trends(hmi, "olga", "L1.M1.Temp")
    await hmi.user.should_see("LIVE", retries=50)
    live = element(hmi, "trend-live")
    assert element(hmi, "trend-range").value == "10m"
    assert live.text == "LIVE"
    assert live.props["aria-pressed"] == "true"

    # A drag across the chart: plotly reports the new x range (plant local time) in a relayout event.
    zone = hmi.rt.plant.site.zone
    now = hmi.rt.clock()
    low, high = now - timedelta(minutes=7), now - timedelta(minutes=3)
    hmi.user.find(marker="trend").trigger(
        "plotly_relayout", {"xaxis.range[0]": local_x(low, zone), "xaxis.range[1]": local_x(high, zone)}
    )
    await hmi.until(lambda: window_of(hmi).startswith("HISTORY"), what="the zoomed window shown")
    assert element(hmi, "trend-range").value == "custom"  # no named range lit any more
    assert element(hmi, "trend-from").value == low.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    assert element(hmi, "trend-to").value == high.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    assert live.text == "Back to live"
    assert live.props["aria-pressed"] == "false"

    # Reset zoom: back to the range chosen before the zoom, live again.
    hmi.user.find(marker="trend-reset").click()
    await hmi.until(lambda: window_of(hmi).startswith("LIVE"), what="live again")
    assert element(hmi, "trend-range").value == "10m"
    assert live.text == "LIVE"

    # The zoom buttons and a double tap (plotly's autorange) do the same with another named range.
    element(hmi, "trend-range").set_value("24h")
    await hmi.until(lambda: window_of(hmi).startswith("LIVE") and chart(hmi)["layout"]["xaxis"]["range"])
    hmi.user.find(marker="trend-zoom-in").click()
    await hmi.until(lambda: element(hmi, "trend-range").value == "custom", what="Custom after Zoom in")
    hmi.user.find(marker="trend").trigger("plotly_relayout", {"xaxis.autorange": True})
    await hmi.until(lambda: element(hmi, "trend-range").value == "24h" and window_of(hmi).startswith("LIVE"))


@pytest.mark.req("TRD-009")
async def test_tag_search_opens_the_tree_to_its_matches(hmi: Harness) -> None:
    await open_trends(hmi, "olga", "L1.Speed")
    tree = element(hmi, "trend-tree")
    # Only down to the chosen pen: the machine M1 is closed.
    assert "machine:L1.M1" not in tree.props["expanded"]
    hmi.user.find(marker="trend-search").type("pressure")
    await hmi.until(lambda: "machine:L1.M1" in tree.props["expanded"], what="the tree opened to the match")
    assert {"area:Packing", "line:L1", "machine:L1.M1"} <= set(tree.props["expanded"])
    assert tree.props["filter"] == "pressure"

    def matches(nodes: list[dict[str, Any]]) -> list[str]:
        return [n["id"] for n in nodes if n.get("match")] + [m for n in nodes for m in matches(n.get("children", []))]

    assert matches(tree.props["nodes"]) == ["L1.M1.Pressure"]  # marked for the bold, underlined highlight
    # Clearing the search: no marks, opened to the chosen pens again.
    hmi.user.find(marker="trend-search").clear()
    await hmi.until(lambda: "machine:L1.M1" not in tree.props["expanded"], what="the tree back to the pens")
    assert matches(tree.props["nodes"]) == []


def test_search_tree_finds_labels_and_their_ancestors() -> None:
    nodes = [
        {
            "id": "area:A",
            "label": "A",
            "children": [
                {"id": "line:L", "label": "L", "children": [{"id": "L.Temp", "label": "L.Temp"}]},
                {"id": "line:K", "label": "K", "children": [{"id": "K.Speed", "label": "K.Speed"}]},
            ],
        }
    ]
    assert trends.search_tree(nodes, "TEMP") == (["L.Temp"], ["area:A", "line:L"])
    assert trends.search_tree(nodes, "  ") == ([], [])
    marked = trends.mark_matches(nodes, {"L.Temp"})
    assert marked[0]["children"][0]["children"][0]["match"] is True
    assert marked[0]["match"] is False
    assert "match" not in nodes[0]  # the tree's own nodes are left as they are


@pytest.mark.req("TRD-004", "TRD-005")
async def test_a_touch_reads_every_pen_beside_the_chart(hmi: Harness) -> None:
    from screens.history_figure import local_x

    await recorded(hmi, "L1.M1.Temp", 72.5)
    await open_trends(hmi, "olga", "L1.M1.Temp,L1.Speed")
    await hmi.user.should_see("LIVE", retries=50)
    at = hmi.rt.clock()
    # A tap on a touch panel is a plotly click at that time.
    hmi.user.find(marker="trend").trigger("plotly_click", {"points": [{"x": local_x(at, hmi.rt.plant.site.zone)}]})
    await hmi.user.should_see("Cursor", retries=50)
    temp = hmi.user.find(marker="cursor-L1.M1.Temp")
    texts = [e.text for e in temp.elements.pop().descendants() if isinstance(e, ui.label)]
    assert "L1.M1.Temp" in texts  # the whole name, wrapped by CSS, not cut
    assert "72.5 °C" in texts
    assert any(t.startswith("H 80 · HH 95") for t in texts)  # every limit named, labelled on the chart or not
    name = next(e for e in element(hmi, "cursor-L1.M1.Temp").descendants() if getattr(e, "text", "") == "L1.M1.Temp")
    assert name.props["title"] == "L1.M1.Temp"  # and in full on hover
    assert chart(hmi)["layout"]["hovermode"] == "x unified"  # with a mouse, hovering reads them too


@pytest.mark.req("TRD-006")
async def test_a_bad_value_is_a_gap_in_the_drawn_trend(hmi: Harness) -> None:
    from asyncua import ua

    await recorded(hmi, "L1.M1.Temp", 71.0)
    await hmi.server.write("L1.M1.Temp", 71.0, status=ua.StatusCodes.BadSensorFailure)
    await hmi.until(lambda: (s := hmi.rt.cache.get("L1.M1.Temp")) is not None and s.quality.value == "bad")
    await hmi.rt.recorder.flush()
    await recorded(hmi, "L1.M1.Temp", 73.0)
    await open_trends(hmi, "olga", "L1.M1.Temp")
    await hmi.user.should_see("LIVE", retries=50)
    temp = chart(hmi)["data"][0]
    assert temp["connectgaps"] is False
    assert temp["line"]["shape"] == "hv"
    y = temp["y"]
    assert None in y[y.index(71.0) : y.index(73.0)]  # the line breaks between the good values, no line across
    labels = [s.get("label", {}).get("text", "") for s in chart(hmi)["layout"]["shapes"] if s["type"] == "rect"]
    assert any("BAD" in text for text in labels)


@pytest.mark.req("TRD-008")
async def test_chart_tools_are_touch_sized_buttons(hmi: Harness) -> None:
    await open_trends(hmi, "olga", "L1.M1.Temp")
    assert chart(hmi)["config"]["displayModeBar"] is False  # plotly's 22 px buttons are not shown
    for marker in ("trend-reset", "trend-live", "trend-drag", "trend-picture", "trend-export", "trend-zoom-in"):
        assert "hmi-trend-tool" in element(hmi, marker).classes
    css = await asyncio.to_thread(HMI_CSS.read_text, "utf-8")
    assert "--hmi-touch: 48px;" in css
    assert (
        ".hmi-trend-tool, .hmi-trend-tool .q-btn { min-height: var(--hmi-touch); min-width: var(--hmi-touch); }" in css
    )
    # Drag pans instead of zooming when chosen.
    element(hmi, "trend-drag").set_value("pan")
    await hmi.until(lambda: chart(hmi)["layout"]["dragmode"] == "pan")
    # The embedded live trend of the line screen has no mode bar either, and holds values between points.
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="trend", retries=100)
    plot = next(e for e in hmi.user.find(marker="trend").elements if isinstance(e, ui.plotly))
    assert plot.figure["config"]["displayModeBar"] is False
    assert all(t["line"]["shape"] == "hv" and t["connectgaps"] is False for t in plot.figure["data"])
