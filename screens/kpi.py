"""Alarm-system KPIs (ISA-18.2 / EEMUA 191) per area over a chosen window, against their targets; managers only."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.alarms.kpi import Kpi, KpiReport
from hmi.alarms.kpi_service import kpi_report, require_kpi_access
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens import ranges
from screens.fmt import local_time
from screens.frame import frame
from screens.restricted import Restriction, permitted

COLUMNS: list[dict[str, Any]] = [
    {"name": "kpi", "label": "KPI", "field": "kpi", "align": "left"},
    {"name": "value", "label": "Value", "field": "value", "align": "right"},
    {"name": "target", "label": "Target", "field": "target", "align": "left"},
    {"name": "result", "label": "Result", "field": "result", "align": "left"},
    {"name": "detail", "label": "Detail", "field": "detail", "align": "left"},
]
TOP_COLUMNS: list[dict[str, Any]] = [
    {"name": "alarm", "label": "Alarm", "field": "alarm", "align": "left"},
    {"name": "line", "label": "Line", "field": "line", "align": "left"},
    {"name": "priority", "label": "Pri", "field": "priority", "align": "left"},
    {"name": "count", "label": "Activations", "field": "count", "align": "right"},
    {"name": "share", "label": "Share", "field": "share", "align": "right"},
]
# ISA-101: neutral bars; the flood line is dark and dashed and labelled, so it reads without colour.
BAR = "#5a5a5a"


def result_text(kpi: Kpi) -> str:
    """The verdict as a symbol and words, so it never depends on colour alone."""
    if kpi.met is None:
        return "– " + kpi.verdict
    if kpi.met:
        return "✔ " + kpi.verdict
    return ("▲ " if kpi.within_maximum else "✘ ") + kpi.verdict


def value_text(kpi: Kpi) -> str:
    """The value as the table shows it: shares with one decimal, averages with two, counts whole."""
    if kpi.unit == "%":
        return f"{kpi.value:.1f}%"
    if kpi.key.startswith("per_"):
        return f"{kpi.value:.2f}"
    return f"{kpi.value:.0f}"


def _rows(report: KpiReport) -> list[dict[str, Any]]:
    return [
        {"key": k.key, "kpi": k.label, "value": value_text(k), "target": k.target_text, "result": result_text(k),
         "met": k.met, "detail": k.detail}
        for k in report.kpis
    ]


def _figure(report: KpiReport, rt: Runtime) -> dict[str, Any]:
    zone = rt.plant.site.zone
    threshold = report.targets.flood_threshold
    minutes = report.targets.flood_period.total_seconds() / 60
    return {
        "data": [{
            "type": "bar",
            "name": f"activations per {minutes:g} min",
            "x": [p.start.astimezone(zone).strftime("%Y-%m-%d %H:%M") for p in report.series],
            "y": [p.count for p in report.series],
            "marker": {"color": BAR},
        }],
        "layout": {
            "height": 300,
            "margin": {"l": 50, "r": 20, "t": 10, "b": 40},
            "paper_bgcolor": "#e8e8e8",
            "plot_bgcolor": "#f2f2f2",
            "bargap": 0.05,
            "xaxis": {"title": {"text": f"period start ({zone.key})"}, "gridcolor": "#cccccc"},
            "yaxis": {"title": {"text": f"alarms per {minutes:g} min"}, "gridcolor": "#cccccc", "rangemode": "tozero",
                      # Keep the flood line in view even on a quiet window.
                      "range": [0, max(threshold + 2, report.peak + 1)]},
            "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
                        "line": {"color": "#1a1a1a", "width": 2, "dash": "dash"}}],
            "annotations": [{"xref": "paper", "x": 1, "y": threshold, "xanchor": "right", "yanchor": "bottom",
                             "showarrow": False, "text": f"flood: more than {threshold} in {minutes:g} min"}],
        },
        "config": {"displaylogo": False, "responsive": True},
    }


KPI_VIEWERS = Restriction(
    check=lambda rt, ctx: require_kpi_access(rt.audit, ctx),
    refused=lambda ctx, _: f"Your role ({ctx.role.value}) may not view KPIs; a manager or an administrator can.",
    unavailable="KPIs cannot be shown",
    testid="kpi-denied",
)


async def kpi_page(rt: Runtime, ctx: ActionContext) -> None:
    """The KPI screen: the permission is checked (and a refusal audited) by the service before anything shows."""
    zone = rt.plant.site.zone
    areas = [area.name for area in rt.plant.areas]
    with frame(rt, ctx, "KPIs"):
        ui.label("Alarm system performance").classes("hmi-title")
        if not await permitted(rt, ctx, KPI_VIEWERS):
            return

        def build() -> None:
            with ui.row().classes("w-full items-end gap-3"):
                area = (
                    ui.select({**{a: a for a in areas}, "": "all areas"}, value=areas[0] if areas else "",
                              label="Area (operator position)")
                    .classes("w-56")
                    .props('data-testid="kpi-area"')
                    .mark("kpi-area")
                )
                rng = (
                    ui.select(ranges.choices("24h", "7d", "30d", "custom"), value="24h", label="Window")
                    .classes("w-44")
                    .props('data-testid="kpi-range"')
                    .mark("kpi-range")
                )
                with ui.row().classes("items-end gap-3") as custom:
                    since_in = ui.input(f"From ({ranges.LOCAL_HINT})").props('data-testid="kpi-from"').mark(
                        "kpi-from").classes("w-48")
                    until_in = ui.input(f"To ({ranges.LOCAL_HINT}, empty: now)").props(
                        'data-testid="kpi-to"').mark("kpi-to").classes("w-56")
                custom.bind_visibility_from(rng, "value", value="custom")
                ui.button("Show", on_click=lambda: show()).props('data-testid="kpi-apply"').mark("kpi-apply")
            ui.label("Benchmarking needs a window of 30 days or more; counts annunciated activations only "
                     "(not shelved, suppressed or out of service).").classes("hmi-muted text-sm")
            status = ui.label("").classes("font-semibold").props('role="status" data-testid="kpi-status"').mark(
                "kpi-status")
            summary = ui.label("").classes("text-base").props('data-testid="kpi-summary"').mark("kpi-summary")
            table = (
                ui.table(columns=COLUMNS, rows=[], row_key="key", pagination=0)
                .classes("w-full")
                .props('data-testid="kpi-table" flat bordered hide-bottom')
                .mark("kpi-table")
            )
            ui.label("Activations per 10 minutes").classes("font-bold")
            chart = ui.plotly({"data": [], "layout": {"height": 300}}).classes("w-full").props(
                'data-testid="kpi-chart"').mark("kpi-chart")
            ui.label("Most frequent alarms").classes("font-bold")
            top = (
                ui.table(columns=TOP_COLUMNS, rows=[], row_key="alarm", pagination=0)
                .classes("w-full max-w-4xl")
                .props('data-testid="kpi-top" flat bordered hide-bottom')
                .mark("kpi-top")
            )
            details = ui.column().classes("w-full gap-1").props('data-testid="kpi-details"').mark("kpi-details")

            async def show() -> None:
                try:
                    window = ranges.resolve(rng.value, rt.clock(), zone, custom_from=since_in.value or "",
                                            custom_to=until_in.value or "")
                    report = await kpi_report(rt.db, rt.audit, ctx, window.start, window.end, area.value or None,
                                               max_days=rt.plant.limits.kpi_max_days)
                except PermissionDenied as exc:
                    status.set_text(f"Refused: {exc}.")
                    return
                except ValueError as exc:
                    status.set_text(f"Not shown: {exc}.")
                    return
                except DatabaseUnavailable as exc:
                    status.set_text(f"KPIs cannot be computed: {exc}")
                    return
                status.set_text("")
                where = area.value or "All areas"
                span = f"{local_time(window.start, zone, date=True)} – {local_time(window.end, zone, date=True)}"
                summary.set_text(
                    f"{where}, {span}: "
                    f"{report.activations} annunciated activations; {report.flood_periods} of {report.periods} "
                    f"ten-minute periods in flood; peak {report.peak} in one period."
                )
                table.rows = _rows(report)
                table.update()
                chart.figure = _figure(report, rt)
                chart.update()
                top.rows = [{"alarm": a.alarm_id, "line": a.line, "priority": a.priority, "count": a.count,
                             "share": f"{a.share:.1f}%"} for a in report.top]
                top.update()
                details.clear()
                with details:
                    # Labels, never HTML: alarm ids come from the plant configuration.
                    for c in report.chattering:
                        ui.label(f"Chattering: {c.alarm_id} ({c.line}, P{c.priority}) — {c.peak} activations within "
                                 f"{report.targets.chatter_window.total_seconds():g} s, {c.activations} in the window")
                    for f in report.fleeting:
                        ui.label(f"Fleeting: {f.alarm_id} ({f.line}, P{f.priority}) — {f.count} activation(s) "
                                 f"shorter than {report.targets.fleeting_limit.total_seconds():g} s, "
                                 f"shortest {f.shortest_s:.1f} s")
                    for s in report.stale:
                        until = "still active" if s.until is None else f"until {local_time(s.until, zone, date=True)}"
                        ui.label(f"Stale: {s.alarm_id} ({s.line}, P{s.priority}) — active since "
                                 f"{local_time(s.since, zone, date=True)}, {until}")

            for control in (area, rng):
                control.on_value_change(lambda e: show() if e.value != "custom" else None)
            ui.timer(0.0, show, once=True)

        build()
