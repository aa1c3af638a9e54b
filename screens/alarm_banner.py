"""The alarm banner under the header: the single most important unacknowledged alarm in one row, the count of the
others, and a touch to list the next ones (ISA-101.01 alarm indication on every display; ISA-18.2 cl. 11)."""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from nicegui import ui

from hmi.alarms.engine import Alarm
from screens.fmt import local_time
from screens.i18n import _, plant
from screens.testid import testid
from screens.widgets import indicator_classes

# How many alarms after the first the expanded banner lists; the alarm summary has them all.
NEXT_ROWS = 4


def banner_order(active: Iterable[Alarm]) -> list[Alarm]:
    """The unacknowledged alarms, most important first: by priority, then the line's first-out alarm (it names the
    cause of a trip, ISA-18.2 first-out alarming), then the newest activation."""
    unack = [a for a in active if a.state.unacknowledged]
    return sorted(unack, key=lambda a: (a.priority, not a.first_out, -(a.activated_at or a.changed_at).timestamp()))


def banner_text(alarm: Alarm) -> str:
    """What the banner says about one alarm: first-out, priority, line and message."""
    first = "FIRST-OUT · " if alarm.first_out else ""
    return f"{first}P{alarm.priority} {alarm.line}: {plant(alarm.message)}"


class BannerRow:
    """One alarm in the banner; its touches act on the alarm it shows at the moment of the touch: the text opens the
    alarm, the line button its line."""

    def __init__(self, name: str) -> None:
        self.alarm_id = ""
        self.line = ""
        with testid(ui.row().classes("hmi-banner-alarm w-full items-center gap-2 no-wrap"), name) as self.row:
            self.ind = ui.label("").classes("alarm-ind p1")
            # The whole text is the touch target to the alarm (at least 48 px high, as wide as the row allows).
            with testid(
                ui.element("div").classes("hmi-banner-open").props('role="link" tabindex="0"'), f"{name}-open"
            ) as self.open:
                self.text = testid(ui.label("").classes("hmi-banner-text font-semibold"), f"{name}-text")
                self.time = ui.label("").classes("hmi-banner-time hmi-muted")
            self.open.on("click", lambda: ui.navigate.to(f"/alarm/{self.alarm_id}"))
            self.open.on("keydown.enter", lambda: ui.navigate.to(f"/alarm/{self.alarm_id}"))
            self.slot = ui.row().classes("items-center gap-1 no-wrap")
            self.open_line = testid(
                ui.button(_("Line"), on_click=lambda: ui.navigate.to(f"/line/{self.line}")).props("outline no-caps"),
                f"{name}-line",
            )
        self.row.set_visibility(False)

    def show(self, alarm: Alarm | None, zone: ZoneInfo) -> None:
        """Show `alarm`, or hide the row."""
        self.row.set_visibility(alarm is not None)
        if alarm is None:
            return
        self.alarm_id, self.line = alarm.id, alarm.line
        self.ind.set_text(str(alarm.priority))
        self.ind.classes(replace=indicator_classes(alarm.priority, alarm.state))
        text = banner_text(alarm)
        if self.text.text != text:
            self.text.set_text(text)
            # Set as a prop value (sent as data, never parsed as a prop string or HTML): plant text may hold quotes.
            self.open.props["aria-label"] = f"Open alarm: {text}"
        self.time.set_text(local_time(alarm.activated_at, zone))
        if self.open_line.text != alarm.line:
            self.open_line.set_text(alarm.line)
            self.open_line.props["aria-label"] = f"Open line {alarm.line}"


class AlarmBanner:
    """The most important unacknowledged alarm, "+N more" to list the next ones, hidden when nothing waits."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.expanded = False
        with ui.column().classes("hmi-alarm-banner w-full gap-0"):
            self.top = BannerRow("alarm-banner")
            with self.top.slot:
                self.more = testid(
                    ui.button("", on_click=self.toggle).props('outline no-caps aria-expanded="false"'),
                    "alarm-banner-more",
                )
            with testid(ui.column().classes("hmi-banner-list w-full gap-0"), "alarm-banner-list") as self.list:
                self.rows = [BannerRow("alarm-banner-row") for _skip in range(NEXT_ROWS)]
                self.rest = testid(
                    ui.button("", on_click=lambda: ui.navigate.to("/alarms")).props("flat no-caps"),
                    "alarm-banner-all",
                )
        self.count = 0
        self._fold()

    def toggle(self) -> None:
        """Touch on "+N more": list the next alarms, or fold them away again."""
        self.expanded = not self.expanded and self.count > 1
        self._fold()

    def _fold(self) -> None:
        self.list.set_visibility(self.expanded)
        self.more.props["aria-expanded"] = "true" if self.expanded else "false"
        self.more.props["icon-right"] = "expand_less" if self.expanded else "expand_more"

    def show(self, active: Iterable[Alarm]) -> None:
        """The banner for the listed alarms `active` now."""
        ordered = banner_order(active)
        self.count = len(ordered)
        self.top.show(ordered[0] if ordered else None, self.zone)
        others = len(ordered) - 1
        self.more.set_visibility(others > 0)
        more = _("+{others} more").format(others=others)
        if others > 0 and self.more.text != more:
            self.more.set_text(more)
            self.more.props["aria-label"] = f"{others} more unacknowledged alarm(s): list them"
        if others <= 0 and self.expanded:
            self.expanded = False
            self._fold()
        for i, row in enumerate(self.rows, start=1):
            row.show(ordered[i] if i < len(ordered) else None, self.zone)
        beyond = len(ordered) - 1 - NEXT_ROWS
        self.rest.set_visibility(beyond > 0)
        if beyond > 0:
            self.rest.set_text(_("{beyond} more in the alarm list").format(beyond=beyond))
