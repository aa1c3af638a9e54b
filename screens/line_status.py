"""A line's recorded states and OEE on its screen: state timeline, OEE card, stops and their downtime reasons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission
from hmi.config import Line
from hmi.oee.service import MAX_COMMENT_LENGTH, LineReport, Stop
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.fmt import CATEGORY_WORD, local_time
from screens.i18n import N_, _, message, number, plant, plant_text
from screens.oee_figures import timeline_figure
from screens.session import command
from screens.testid import testid

MAX_STOPS_SHOWN = 50
REFRESH_S = 30.0
COUNTER_WORDS = N_("PLC counter reading")
"""What a counter tag's value is called wherever it is shown beside a quantity produced."""


def pct(value: float | None) -> str:
    """A ratio as a percentage with one decimal; a dash when it cannot be computed."""
    return "—" if value is None else f"{number(100 * value)} %"


def count_text(quantity: object) -> str:
    """A produced quantity or counter reading as a whole number of items ("39,328"); a dash when unknown."""
    if isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity != quantity:
        return "—"
    return number(round(quantity), 0)


def minutes(seconds: float) -> str:
    """A duration for people: "42 s", "17 min" or "2 h 05 min"."""
    if seconds < 59.5:
        return f"{round(seconds)} s"
    mins = round(seconds / 60)
    return f"{mins // 60} h {mins % 60:02d} min" if mins >= 60 else f"{mins} min"


def oee_card(report: LineReport, name: str) -> None:
    """OEE and its three factors, with the counts they come from; a performance above 100 % is flagged."""
    oee = report.oee
    with testid(ui.column().classes("hmi-panel p-2 gap-1 min-w-[16rem]"), name):
        if oee is None:
            ui.label(_("No OEE: the line has no oee section in the plant file.")).classes("hmi-muted")
            return
        ui.label(_("OEE {pct}").format(pct=pct(oee.oee))).classes("hmi-value-sm")
        share = report.recorded_share
        if share is not None and share < 0.9995:
            # Unrecorded time is left out of the factors; how much of the planned time they cover is said plainly.
            testid(
                ui.label(
                    _("Recorded {pct} of the planned time: the factors cover only that").format(pct=pct(share))
                ).classes("font-semibold"),
                "line-oee-recorded",
            )
        ui.label(
            _("Availability {pct} · Performance {pct2} · Quality {pct3}").format(
                pct=pct(oee.availability), pct2=pct(oee.performance), pct3=pct(oee.quality)
            )
        )
        if oee.performance_flagged:
            testid(
                ui.label(
                    _("Performance above 100 %: {performance_cause}").format(
                        performance_cause=message(report.performance_cause)
                    )
                )
                .classes("q-badge uncertain hmi-wrap")
                .props('role="alert"'),
                "line-oee-cause",
            )
        plan = "—" if report.plan is None else count_text(report.plan)
        # Quantities made in this window (the sum of the counters' increases), not the PLC counters' readings.
        testid(
            ui.label(
                _("Produced in planned time: good {count_text} · rejects {count_text2} · plan {plan}").format(
                    count_text=count_text(report.good), count_text2=count_text(report.rejects), plan=plan
                )
            ).classes("hmi-muted"),
            "line-oee-counts",
        )
        if report.unscheduled_good or report.unscheduled_rejects:
            ui.label(
                _("Produced outside the schedule: good {count_text} · rejects {count_text2}").format(
                    count_text=count_text(report.unscheduled_good), count_text2=count_text(report.unscheduled_rejects)
                )
            ).classes("hmi-muted")
        ui.label(
            _("Planned busy {minutes} · producing {minutes2}").format(
                minutes=minutes(report.planned_busy_s), minutes2=minutes(report.actual_production_s)
            )
            + (_(" · no data {minutes}").format(minutes=minutes(report.unknown_s)) if report.unknown_s >= 60 else "")
        ).classes("hmi-muted")


class LineStatusPanel:
    """The line screen's history section; reads the historian every REFRESH_S and after each assignment."""

    def __init__(self, rt: Runtime, ctx: ActionContext, line: Line) -> None:
        self.rt = rt
        self.ctx = ctx
        self.line = line
        self.zone = rt.plant.site.zone
        self.stops: list[Stop] = []
        with ui.column().classes("w-full hmi-panel p-2 gap-2"):
            with ui.row().classes("items-center gap-3"):
                ui.label(_("Line states and OEE")).classes("font-semibold")
                self.window = testid(
                    ui.toggle({"shift": _("This shift"), "day": _("Today")}, value="shift").props("no-caps"),
                    "line-window",
                )
                self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "line-status-msg")
            with ui.row().classes("w-full items-start gap-3 no-wrap"):
                self.card = ui.column()
                # min-w-0: as a flex item the column would otherwise be at least as wide as the chart in it, so a
                # chart drawn before the page was laid out (plotly's default 700 px) would hold the page that wide
                # on a phone; bounded by the row, the chart's resize observer fits it to the column.
                self.timeline = ui.column().classes("grow min-w-0")
            ui.label(_("Stops (newest first) — give each a reason")).classes("font-semibold")
            # Scrolls on its own: a shift can have dozens of stops and the page should not grow with them.
            with ui.scroll_area().classes("w-full h-80"):
                self.table = testid(ui.column().classes("w-full gap-1"), "line-stops")
            # The reason dialog lives here, outside the stop list: the list is rebuilt on every refresh, and a
            # dialog built inside it would vanish while the person is typing.
            self.dialog_host = ui.element()
        self.window.on_value_change(lambda: self.refresh())
        ui.timer(0.0, self.refresh, once=True)
        ui.timer(REFRESH_S, self.refresh)

    def bounds(self) -> tuple[datetime, datetime]:
        """The chosen window, up to now."""
        return self.rt.oee.windows(self.rt.clock())[self.window.value]

    async def refresh(self) -> None:
        """Read states, OEE and stops for the window and redraw."""
        start, end = self.bounds()
        try:
            report = await self.rt.oee.report(self.line.name, start, end)
            rows: list[tuple[str, list[Any]]] = [(self.line.name, list(report.segments))]
            for machine in self.line.machines:
                if machine.state_tag:
                    rows.append(
                        (machine.name, await self.rt.oee.timeline(self.line.name, start, end, machine=machine.name))
                    )
        except DatabaseUnavailable as exc:
            self.status.set_text(_("History cannot be read: {exc}").format(exc=message(exc)))
            return
        except (ValueError, LookupError) as exc:
            self.status.set_text(_("No line history: {exc}").format(exc=message(exc)))
            return
        self.card.clear()
        with self.card:
            oee_card(report, "line-oee")
        self.timeline.clear()
        with self.timeline:
            testid(
                ui.plotly(timeline_figure(rows, start, min(end, self.rt.clock()), self.zone)).classes("w-full"),
                "line-timeline",
            )
        self.stops = sorted(report.stops, key=lambda s: s.start, reverse=True)[:MAX_STOPS_SHOWN]
        self.show_stops()

    def show_stops(self) -> None:
        """One row per stop with its reason, and an Assign button for those allowed to give reasons."""
        self.table.clear()
        may_assign = self.ctx.can(Permission.ASSIGN_DOWNTIME)
        with self.table:
            if not self.stops:
                ui.label(_("No stops in this window.")).classes("hmi-muted")
            for stop in self.stops:
                key = f"stop-{int(stop.start.timestamp())}"
                with testid(ui.row().classes("items-center gap-3 hmi-panel px-2 py-1"), key):
                    end = "ongoing" if stop.end is None else local_time(stop.end, self.zone)
                    ui.label(f"{local_time(stop.start, self.zone)} – {end}").classes("w-44")
                    ui.label(minutes(stop.duration_s)).classes("w-24")
                    # The worst the line got (same words as the overview), and the state it first left running for.
                    ui.label(f"{_(CATEGORY_WORD[stop.category])} ({stop.state})").classes("w-52")
                    reason = (
                        plant(stop.reason_text) + (_(" (planned)") if stop.planned else "")
                        if stop.reason
                        else _("Not assigned")
                    )
                    who = f" — {stop.assigned_by}" if stop.assigned_by else ""
                    # Comments come from people: a label shows them as text, never as markup.
                    ui.label(reason + who + (f": {stop.comment}" if stop.comment else "")).classes("grow hmi-wrap")
                    if may_assign:
                        testid(
                            ui.button(_("Reason"), on_click=lambda s=stop: self.ask_reason(s)).props("outline no-caps"),
                            f"assign-{key}",
                        )

    def ask_reason(self, stop: Stop) -> None:
        """The reason dialog for one stop."""
        plant = self.rt.plant
        options = {
            r.code: plant_text(plant.translations, r.text) + (_(" (planned)") if r.planned else "")
            for r in plant.downtime_reasons
        }
        self.dialog_host.clear()
        with self.dialog_host, ui.dialog() as dialog, ui.card().classes("min-w-[26rem]"):
            ui.label(
                _("Reason for the stop at {local_time}").format(local_time=local_time(stop.start, self.zone))
            ).classes("font-semibold")
            reason = testid(ui.select(options, value=stop.reason, label=_("Reason")).classes("w-full"), "reason-select")
            comment = testid(
                ui.input(_("Comment"), value=stop.comment)
                .classes("w-full")
                .props(f"maxlength={MAX_COMMENT_LENGTH} counter"),
                "reason-comment",
            )
            error = ui.label("").classes("font-semibold").props('role="alert"')

            async def assign(actor: ActionContext) -> None:
                try:
                    await self.rt.oee.assign_reason(
                        actor, self.line.name, stop.start, reason.value or "", comment.value or ""
                    )
                except (ValueError, LookupError, PermissionDenied, DatabaseUnavailable) as exc:
                    error.set_text(_("Not saved: {exc}").format(exc=message(exc)))
                    return
                dialog.close()
                self.status.set_text(_("Reason saved."))
                await self.refresh()

            with ui.row():
                testid(ui.button(_("Assign"), on_click=command(self.rt, assign)), "reason-assign")
                ui.button(_("Cancel"), on_click=dialog.close).props("outline")
        dialog.open()
