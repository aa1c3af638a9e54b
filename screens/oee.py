"""Manager overview: every line's state, OEE and its factors, production against plan, alarm load, top downtime
reasons; a Pareto of downtime and OEE by shift."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.alarms.journal_query import activation_counts
from hmi.oee.service import LineReport
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.fitted_table import fitted_table
from screens.frame import frame
from screens.history_figure import local_x
from screens.i18n import N_, _, message, options
from screens.line_status import count_text, minutes, pct
from screens.oee_figures import pareto_figure, shift_trend_figure
from screens.testid import testid
from screens.widgets import StateView, column

WINDOWS = {"shift": N_("This shift"), "day": N_("Today"), "week": N_("This week")}
SHIFTS_IN_TREND = 9
REFRESH_S = 60.0


def shift_oee(report: LineReport) -> float | None:
    """The report's OEE, or None when nothing was recorded in its planned time (unknown, not zero)."""
    if report.oee is None or report.planned_busy_s <= 0 or report.unknown_s >= report.planned_busy_s:
        return None
    return report.oee.oee


def _row(report: LineReport, active: int, raised: int, top: list[str]) -> dict[str, Any]:
    oee = report.oee
    flagged = oee is not None and oee.performance_flagged
    plan = report.plan
    share = report.recorded_share
    # OEE over part of the planned time is said to be that, beside the number, not only in its own column.
    partial = f" ({pct(share)} recorded)" if share is not None and share < 0.9995 else ""
    return {
        "line": report.line,
        "oee": pct(oee.oee if oee else None) + partial,
        "a": pct(oee.availability if oee else None),
        "p": pct(oee.performance if oee else None) + (f" ⚠ {message(report.performance_cause)}" if flagged else ""),
        "q": pct(oee.quality if oee else None),
        "recorded": "—" if share is None else pct(share),
        "good": count_text(report.good)
        + (
            _(" (+{count} unscheduled)").format(count=count_text(report.unscheduled_good))
            if report.unscheduled_good
            else ""
        ),
        "plan": "—" if plan is None else f"{plan:,.0f}",
        "vs_plan": "—" if not plan else f"{100 * report.good / plan:.0f} %",
        "alarms": _("{active} active / {raised} raised").format(active=active, raised=raised),
        "reasons": ", ".join(top) or "—",
    }


COLUMNS = [
    column("line", N_("Line")),
    column("oee", N_("OEE"), align="right"),
    column("a", N_("Availability"), align="right"),
    column("p", N_("Performance"), align="right"),
    column("q", N_("Quality"), align="right"),
    # How much of the planned time has a recorded state: OEE over a stretch without data is not to be trusted.
    column("recorded", N_("Recorded"), align="right"),
    column("good", N_("Good produced"), align="right"),
    column("plan", N_("Plan"), align="right"),
    column("vs_plan", N_("Good vs plan"), align="right"),
    column("alarms", N_("Alarm load")),
    column("reasons", N_("Top downtime reasons")),
]
# The line and its OEE are always shown; the rest from the width named, below it in the row's details
# (screens/fitted_table.py).
SHOWN_FROM = {
    "good": 800,
    "a": 1024,
    "p": 1024,
    "q": 1024,
    "alarms": 1024,
    "recorded": 1280,
    "plan": 1280,
    "vs_plan": 1280,
    "reasons": 1600,
}


def oee_page(rt: Runtime, ctx: ActionContext) -> None:
    """The manager overview."""
    OeeScreen(rt, ctx)


class OeeScreen:
    """Every line's state and OEE for the chosen window, the downtime Pareto and the OEE of the last shifts."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.lines = [line for _skip, line in rt.plant.lines()]
        with frame(rt, ctx, "OEE"):
            with ui.row().classes("items-center gap-3"):
                ui.label(_("Lines, OEE and downtime")).classes("hmi-title")
                self.window = testid(ui.toggle(options(WINDOWS), value="shift").props("no-caps"), "oee-window")
                self.span = testid(ui.label("").classes("hmi-muted"), "oee-span")
            self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "oee-status")
            self.states: dict[str, StateView] = {}
            with ui.row().classes("gap-2"):
                for line in self.lines:
                    with (
                        ui.column()
                        .classes("hmi-panel p-2 gap-1 hmi-card-link")
                        .on("click", lambda n=line.name: ui.navigate.to(f"/line/{n}"))
                    ):
                        ui.label(line.name).classes("font-semibold")
                        if line.state_tag:
                            self.states[line.state_tag] = StateView()
            self.table = testid(
                fitted_table(COLUMNS, SHOWN_FROM, row_key="line", keep_words=("oee", "a", "p", "q", "recorded")).props(
                    "flat bordered"
                ),
                "oee-table",
            )
            # Side by side where there is room for both, one above the other on narrow screens.
            with ui.row().classes("hmi-halves w-full gap-3 items-start"):
                with ui.column().classes("hmi-panel p-2"):
                    ui.label(_("Downtime by reason (all lines)")).classes("font-semibold")
                    self.pareto_box = testid(ui.column().classes("w-full"), "oee-pareto")
                with ui.column().classes("hmi-panel p-2"):
                    ui.label(
                        _("OEE by shift (last {SHIFTS_IN_TREND})").format(SHIFTS_IN_TREND=SHIFTS_IN_TREND)
                    ).classes("font-semibold")
                    self.trend_box = testid(ui.column().classes("w-full"), "oee-by-shift")
        self.window.on_value_change(self.refresh)
        self.show_states()
        ui.timer(2.0, self.show_states)
        ui.timer(0.0, self.refresh, once=True)
        ui.timer(REFRESH_S, self.refresh)

    def show_states(self) -> None:
        """Each line's state now."""
        for name, view in self.states.items():
            view.show(self.rt.cache.get(name))

    async def refresh(self) -> None:
        """The table and the Pareto of the chosen window, then the OEE by shift."""
        rt = self.rt
        start, end = rt.oee.windows(rt.clock())[self.window.value]
        try:
            reports = [await rt.oee.report(line.name, start, end) for line in self.lines]
            raised = await activation_counts(rt.db, start, end)
        except DatabaseUnavailable as exc:
            self.status.set_text(_("History cannot be read: {exc}").format(exc=message(exc)))
            return
        # The reports hold each line's stops already: the Pareto is made from them, not read again.
        pareto = rt.oee.pareto_of(reports)
        tops = {r.line: rt.oee.pareto_of([r]) for r in reports}
        self.status.set_text("")
        active: dict[str, int] = {}
        for alarm in rt.alarms.active():
            active[alarm.line] = active.get(alarm.line, 0) + 1
        self.table.rows = [
            _row(
                r,
                active.get(r.line, 0),
                raised.get(r.line, 0),
                [f"{p.text} {minutes(p.duration_s)}" for p in tops[r.line] if p.reason is not None][:3],
            )
            for r in reports
        ]
        self.table.update()
        self.span.set_text(
            _("{astimezone:%Y-%m-%d %H:%M} – now ({key})").format(
                astimezone=start.astimezone(rt.plant.site.zone), key=rt.plant.site.zone.key
            )
        )
        self.pareto_box.clear()
        with self.pareto_box:
            if pareto:
                ui.plotly(pareto_figure(pareto)).classes("w-full")
            else:
                ui.label(_("No stops in this window.")).classes("hmi-muted")
        await self.show_trend()

    async def show_trend(self) -> None:
        """The OEE of each line's last shifts."""
        zone = self.rt.plant.site.zone
        series: list[tuple[str, list[tuple[str, str, float | None]]]] = []
        for line in self.lines:
            if line.oee is None:
                continue
            shifts = await self.rt.oee.by_shift(line.name, SHIFTS_IN_TREND, now=self.rt.clock())
            points = [
                (local_x(slot.start, zone), f"{slot.date:%m-%d} {slot.name}", shift_oee(rep)) for slot, rep in shifts
            ]
            # Shifts before the first recording would only stretch the axis over nothing.
            while points and points[0][2] is None:
                points.pop(0)
            series.append((line.name, points))
        self.trend_box.clear()
        with self.trend_box:
            ui.plotly(shift_trend_figure(series)).classes("w-full")
