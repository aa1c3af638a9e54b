"""Alarm-system KPIs (ISA-18.2 / EEMUA 191) per area over a chosen window, against their targets; managers only."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.alarms.kpi import Kpi, KpiReport
from hmi.alarms.kpi_service import kpi_report, require_kpi_access
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.fitted_table import fitted_table
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, message
from screens.record_list import RangePicker, on_choice, span_text
from screens.restricted import Restriction, permitted
from screens.testid import testid
from screens.widgets import column

COLUMNS: list[dict[str, Any]] = [
    column("kpi", N_("KPI")),
    column("value", N_("Value"), align="right"),
    column("target", N_("Target")),
    column("result", N_("Result")),
    column("detail", N_("Detail")),
]
TOP_COLUMNS: list[dict[str, Any]] = [
    column("alarm", N_("Alarm")),
    column("line", N_("Line")),
    column("priority", N_("Pri")),
    column("count", N_("Activations"), align="right"),
    column("share", N_("Share"), align="right"),
]
# ISA-101: neutral bars; the flood line is dark and dashed and labelled, so it reads without colour.
BAR = "#5a5a5a"


def result_text(kpi: Kpi) -> str:
    """The verdict as a symbol and words, so it never depends on colour alone."""
    if kpi.met is None:
        return "– " + message(kpi.verdict)
    if kpi.met:
        return "✔ " + message(kpi.verdict)
    return ("▲ " if kpi.within_maximum else "✘ ") + message(kpi.verdict)


def value_text(kpi: Kpi) -> str:
    """The value as the table shows it: shares with one decimal, averages with two, counts whole."""
    if kpi.unit == "%":
        return f"{kpi.value:.1f}%"
    if kpi.key.startswith("per_"):
        return f"{kpi.value:.2f}"
    return f"{kpi.value:.0f}"


def _rows(report: KpiReport) -> list[dict[str, Any]]:
    return [
        {
            "key": k.key,
            "kpi": message(k.label),
            "value": value_text(k),
            "target": message(k.target_text),
            "result": result_text(k),
            "met": k.met,
            "detail": message(k.detail),
        }
        for k in report.kpis
    ]


def _figure(report: KpiReport, rt: Runtime) -> dict[str, Any]:
    zone = rt.plant.site.zone
    threshold = report.targets.flood_threshold
    minutes = report.targets.flood_period.total_seconds() / 60
    return {
        "data": [
            {
                "type": "bar",
                "name": _("activations per {minutes:g} min").format(minutes=minutes),
                "x": [p.start.astimezone(zone).strftime("%Y-%m-%d %H:%M") for p in report.series],
                "y": [p.count for p in report.series],
                "marker": {"color": BAR},
            }
        ],
        "layout": {
            "height": 300,
            "margin": {"l": 50, "r": 20, "t": 10, "b": 40},
            "paper_bgcolor": "#e8e8e8",
            "plot_bgcolor": "#f2f2f2",
            "bargap": 0.05,
            "xaxis": {"title": {"text": _("period start ({zone})").format(zone=zone.key)}, "gridcolor": "#cccccc"},
            "yaxis": {
                "title": {"text": _("alarms per {minutes:g} min").format(minutes=minutes)},
                "gridcolor": "#cccccc",
                "rangemode": "tozero",
                # Keep the flood line in view even on a quiet window.
                "range": [0, max(threshold + 2, report.peak + 1)],
            },
            "shapes": [
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": threshold,
                    "y1": threshold,
                    "line": {"color": "#1a1a1a", "width": 2, "dash": "dash"},
                }
            ],
            "annotations": [
                {
                    "xref": "paper",
                    "x": 1,
                    "y": threshold,
                    "xanchor": "right",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "text": _("flood: more than {threshold} in {minutes:g} min").format(
                        threshold=threshold, minutes=minutes
                    ),
                }
            ],
        },
        "config": {"displaylogo": False, "responsive": True},
    }


KPI_VIEWERS = Restriction(
    check=lambda rt, ctx: require_kpi_access(rt.audit, ctx),
    refused=lambda ctx, exc: _("Your role ({value}) may not view KPIs; a manager or an administrator can.").format(
        value=ctx.role.value
    ),
    unavailable=N_("KPIs cannot be shown"),
    testid="kpi-denied",
)


async def kpi_page(rt: Runtime, ctx: ActionContext) -> None:
    """The KPI screen: the permission is checked (and a refusal audited) by the service before anything shows."""
    with frame(rt, ctx, "KPIs"):
        ui.label(_("Alarm system performance")).classes("hmi-title")
        if await permitted(rt, ctx, KPI_VIEWERS):
            KpiScreen(rt, ctx)


class KpiScreen:
    """Area and window, then the KPI table, the activations chart, the most frequent alarms and the findings."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.ctx = ctx
        self.zone = rt.plant.site.zone
        areas = [area.name for area in rt.plant.areas]
        with ui.row().classes("w-full items-end gap-3"):
            self.area = testid(
                ui.select(
                    {**{a: a for a in areas}, "": _("all areas")},
                    value=areas[0] if areas else "",
                    label=_("Area (operator position)"),
                ).classes("w-56"),
                "kpi-area",
            )
            self.range = RangePicker(rt, "kpi", ("24h", "7d", "30d", "custom"), value="24h", label="Window")
            testid(ui.button(_("Show"), on_click=self.show), "kpi-apply")
        ui.label(
            _(
                "Benchmarking needs a window of 30 days or more; counts annunciated activations only "
                "(not shelved, suppressed or out of service)."
            )
        ).classes("hmi-muted text-sm")
        self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "kpi-status")
        self.summary = testid(ui.label("").classes("text-base"), "kpi-summary")
        # Columns by screen width, the rest in the row's details (screens/fitted_table.py); the KPI table's words are
        # the HMI's own and wrap at spaces only.
        self.table = testid(
            fitted_table(
                COLUMNS,
                {"target": 800, "detail": 1024},
                row_key="key",
                keep_words=("kpi", "value", "target", "result"),
                pagination=0,
            ).props("flat bordered hide-bottom"),
            "kpi-table",
        )
        ui.label(_("Activations per 10 minutes")).classes("font-bold")
        self.chart = testid(ui.plotly({"data": [], "layout": {"height": 300}}).classes("w-full"), "kpi-chart")
        ui.label(_("Most frequent alarms")).classes("font-bold")
        self.top = testid(
            fitted_table(
                TOP_COLUMNS,
                {"line": 800, "share": 600},
                row_key="alarm",
                keep_words=("priority", "count", "share"),
                pagination=0,
            )
            .classes("max-w-4xl")
            .props("flat bordered hide-bottom"),
            "kpi-top",
        )
        self.details = testid(ui.column().classes("w-full gap-1"), "kpi-details")
        on_choice([self.area, self.range.select], self.show)
        ui.timer(0.0, self.show, once=True)

    async def show(self) -> None:
        """Compute the report of the chosen area and window, and show it."""
        try:
            window = self.range.window()
            report = await kpi_report(
                self.rt.db,
                self.rt.audit,
                self.ctx,
                window.start,
                window.end,
                self.area.value or None,
                max_days=self.rt.plant.limits.kpi_max_days,
            )
        except PermissionDenied as exc:
            self.status.set_text(_("Refused: {exc}.").format(exc=message(exc)))
            return
        except ValueError as exc:
            self.status.set_text(_("Not shown: {exc}.").format(exc=message(exc)))
            return
        except DatabaseUnavailable as exc:
            self.status.set_text(_("KPIs cannot be computed: {exc}").format(exc=message(exc)))
            return
        self.status.set_text("")
        self.summary.set_text(
            _(
                "{value}, {span_text}: {activations} annunciated activations; {flood_periods} of "
                "{periods} ten-minute periods in flood; peak {peak} in one period."
            ).format(
                value=self.area.value or "All areas",
                span_text=span_text(window, self.zone),
                activations=report.activations,
                flood_periods=report.flood_periods,
                periods=report.periods,
                peak=report.peak,
            )
        )
        self.table.rows = _rows(report)
        self.table.update()
        self.chart.figure = _figure(report, self.rt)
        self.chart.update()
        self.top.rows = [
            {"alarm": a.alarm_id, "line": a.line, "priority": a.priority, "count": a.count, "share": f"{a.share:.1f}%"}
            for a in report.top
        ]
        self.top.update()
        self.details.clear()
        with self.details:
            findings(report, self.zone)


def findings(report: KpiReport, zone: ZoneInfo) -> None:
    """Chattering, fleeting and stale alarms of the report, one line each."""
    # Labels, never HTML: alarm ids come from the plant configuration.
    for c in report.chattering:
        ui.label(
            _(
                "Chattering: {alarm_id} ({line}, P{priority}) — {peak} activations within "
                "{total_seconds:g} s, {activations} in the window"
            ).format(
                alarm_id=c.alarm_id,
                line=c.line,
                priority=c.priority,
                peak=c.peak,
                total_seconds=report.targets.chatter_window.total_seconds(),
                activations=c.activations,
            )
        )
    for f in report.fleeting:
        ui.label(
            _(
                "Fleeting: {alarm_id} ({line}, P{priority}) — {count} activation(s) shorter than "
                "{total_seconds:g} s, shortest {shortest_s:.1f} s"
            ).format(
                alarm_id=f.alarm_id,
                line=f.line,
                priority=f.priority,
                count=f.count,
                total_seconds=report.targets.fleeting_limit.total_seconds(),
                shortest_s=f.shortest_s,
            )
        )
    for s in report.stale:
        until = (
            _("still active")
            if s.until is None
            else _("until {when}").format(when=local_time(s.until, zone, date=True))
        )
        ui.label(
            _("Stale: {alarm_id} ({line}, P{priority}) — active since {local_time}, {until}").format(
                alarm_id=s.alarm_id,
                line=s.line,
                priority=s.priority,
                local_time=local_time(s.since, zone, date=True),
                until=until,
            )
        )
