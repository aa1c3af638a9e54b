"""The alarm summary: the active list (filter, sort, page), acknowledge / shelve / reset / out of service, and the
lists of shelved, suppressed and out-of-service alarms with who, when and why.

Only the rows of the page on screen are sent to the browser, and only when they change, so the screen stays
smooth with thousands of active alarms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.access.roles import Permission
from hmi.alarms.engine import Alarm
from hmi.alarms.service import MAX_COMMENT, AckResult
from hmi.alarms.states import AlarmState
from hmi.records.signatures import SignatureRequest
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.filter_fold import FilterFold
from screens.fitted_table import fitted_table
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, message, options, plant
from screens.session import command
from screens.signature_dialog import SignatureFields
from screens.testid import testid
from screens.widgets import alarm_counts, column, indicator_classes

PAGE_SIZE = 50

COLUMNS = [
    column("priority", N_("Pri")),
    column("time", N_("Time")),
    column("area", N_("Area")),
    column("line", N_("Line")),
    column("tag", N_("Tag")),
    column("message", N_("Message")),
    column("value", N_("Value"), align="right"),
    column("state", N_("State"), field="state_label"),
    column("ack", N_("Acknowledged by")),
    column("open", "", field="id", align="right"),
]
HIDDEN_COLUMNS = [
    column("priority", N_("Pri")),
    column("line", N_("Line")),
    column("tag", N_("Tag")),
    column("message", N_("Message")),
    column("by", N_("By")),
    column("since", N_("Since")),
    column("why", N_("Why")),
    column("left", N_("Time left")),
    column("condition", N_("Process")),
    column("open", "", field="id", align="right"),
]

# Which columns a screen shows from which width (CSS px); the others are always shown (priority, message, state and
# the Details action), the hidden ones in the row's details (screens/fitted_table.py).
# On phones the state stands under the message (MESSAGE_AND_STATE) instead of in a column of its own.
SHOWN_FROM = {"state": 600, "line": 800, "time": 1024, "value": 1024, "tag": 1280, "ack": 1280, "area": 1600}
HIDDEN_SHOWN_FROM = {"left": 600, "line": 800, "by": 1024, "why": 1024, "tag": 1280, "since": 1280}
# Short words of the HMI's own that wrap at spaces only; plant and people's text breaks anywhere.
KEEP_WORDS = {"priority", "time", "state", "since", "left", "condition"}

# Cell templates. Vue escapes {{ }} interpolation, so alarm text from the plant is never interpreted as HTML.
CELLS = {
    "priority": (
        '<span :class="props.row.ind">{{ props.row.priority }}</span>'
        '<span v-if="props.row.first_out" class="q-badge uncertain q-ml-sm">FIRST-OUT</span>'
    ),
    "message": '<span class="hmi-wrap">{{ props.row.message }}</span>',
    "line": (
        '<q-btn flat no-caps :label="props.row.line" '
        "@click.stop=\"() => $parent.$emit('open_line', props.row.line)\" />"
    ),
    "open": (
        '<q-btn outline no-caps icon="open_in_new" label="Details" class="hmi-compact-btn" '
        ":aria-label=\"'Details of ' + props.row.tag\" "
        "@click.stop=\"() => $parent.$emit('open_alarm', props.row.id)\" />"
    ),
}
STATE_CELL = "<span :class=\"props.row.unack ? 'font-bold hmi-flash' : ''\">{{ props.row.state_label }}</span>"
MESSAGE_AND_STATE = CELLS["message"] + f'<div class="hmi-below-600 hmi-muted hmi-keep-words">{STATE_CELL}</div>'
SORTS = {
    "priority": N_("priority, newest first"),
    "newest": N_("newest first"),
    "oldest": N_("oldest first"),
    "line": N_("line, then priority"),
}
STATE_FILTERS = {
    "": N_("all states"),
    "unack": N_("unacknowledged"),
    "ack": N_("acknowledged"),
    "rtn": N_("returned, unack"),
    "latched": N_("latched"),
}
# The lists beside the active one: tab name, state, tab label.
HIDDEN_LISTS = (
    ("shelved", AlarmState.SHELVED, N_("Shelved")),
    ("suppressed", AlarmState.SUPPRESSED_BY_DESIGN, N_("Suppressed")),
    ("oos", AlarmState.OUT_OF_SERVICE, N_("Out of service")),
)
SHELVE_CHOICES = {
    "0.25": N_("15 minutes"),
    "0.5": N_("30 minutes"),
    "1": N_("1 hour"),
    "2": N_("2 hours"),
    "4": N_("4 hours"),
    "8": N_("8 hours"),
    "24": N_("24 hours"),
    "oneshot": N_("one-shot: until it clears"),
}


def _value(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else ("" if value is None else str(value))


def row_of(alarm: Alarm, zone: ZoneInfo) -> dict[str, Any]:
    """The table row of an active alarm."""
    ack = ""
    if alarm.acked_by:
        ack = f"{alarm.acked_by} {local_time(alarm.acked_at, zone)}" + (
            f" — {alarm.ack_comment}" if alarm.ack_comment else ""
        )
    return {
        "id": alarm.id,
        "priority": alarm.priority,
        "ind": indicator_classes(alarm.priority, alarm.state),
        "first_out": alarm.first_out,
        "time": local_time(alarm.activated_at, zone, date=True),
        "area": alarm.area,
        "line": alarm.line,
        "tag": alarm.name,
        "message": plant(alarm.message),
        "value": _value(alarm.value),
        "state": alarm.state.value,
        "state_label": message(alarm.state.label),
        "unack": alarm.state.unacknowledged,
        "ack": ack,
    }


def hidden_row_of(alarm: Alarm, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """The row of a shelved, suppressed or out-of-service alarm: who, when, why and (shelved) time left."""
    left = ""
    if alarm.state is AlarmState.SHELVED:
        until = alarm.shelved_until
        left = _("until it clears") if until is None else _duration(until - now)
    return {
        "id": alarm.id,
        "priority": alarm.priority,
        "ind": indicator_classes(alarm.priority),
        "first_out": False,
        "line": alarm.line,
        "tag": alarm.name,
        "message": plant(alarm.message),
        "by": alarm.mode_by or "",
        "since": local_time(alarm.mode_at, zone, date=True),
        "why": alarm.mode_reason or "",
        "left": left,
        "condition": _("in alarm") if alarm.status.condition else _("normal"),
    }


def _duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min" if seconds >= 3600 else f"{seconds // 60} min"


def sort_alarms(alarms: list[Alarm], how: str) -> list[Alarm]:
    """Order the list as chosen on the screen."""

    def at(a: Alarm) -> float:
        return (a.activated_at or a.changed_at).timestamp()

    if how == "newest":
        return sorted(alarms, key=lambda a: -at(a))
    if how == "oldest":
        return sorted(alarms, key=at)
    if how == "line":
        return sorted(alarms, key=lambda a: (a.line, a.priority, -at(a)))
    return sorted(alarms, key=lambda a: (a.priority, -at(a)))


def filter_alarms(
    alarms: list[Alarm], *, text: str = "", priority: int = 0, area: str = "", line: str = "", state: str = ""
) -> list[Alarm]:
    """Keep the alarms that match every filter given."""
    text = text.lower()
    out = []
    for a in alarms:
        if priority and a.priority != priority:
            continue
        if (area and a.area != area) or (line and a.line != line):
            continue
        s = a.state
        if state == "unack" and s is not AlarmState.ACTIVE_UNACK:
            continue
        if state == "ack" and s is not AlarmState.ACTIVE_ACK:
            continue
        if state == "rtn" and s is not AlarmState.RTN_UNACK:
            continue
        if state == "latched" and s not in (AlarmState.LATCHED_ACK, AlarmState.LATCHED_UNACK):
            continue
        if text and text not in f"{a.tag} {a.line} {a.area} {a.message} {s.label}".lower():
            continue
        out.append(a)
    return out


def _table(
    columns: list[dict[str, Any]], shown_from: dict[str, int], name: str, selectable: bool, cells: dict[str, str]
) -> ui.table:
    keep = [c["name"] for c in columns if c["name"] in KEEP_WORDS]
    table = testid(
        fitted_table(
            columns,
            shown_from,
            row_key="id",
            cells=cells,
            selectable=selectable,
            keep_words=keep,
            not_in_details=("state",),
            pagination=0,
        ).props("flat bordered hide-bottom"),
        name,
    )
    table.on("open_line", lambda e: ui.navigate.to(f"/line/{e.args}"))
    table.on("open_alarm", lambda e: ui.navigate.to(f"/alarm/{e.args}"))
    return table


class CommandRunner:
    """Runs a service command and tells the person what happened; nothing is reported done unless stored."""

    def __init__(self, status: ui.label) -> None:
        self.status = status

    async def __call__(self, what: str, command: Callable[[], Awaitable[AckResult]]) -> AckResult | None:
        """Run `command`; `what` (marked with N_ by the caller) names what it does to the alarms."""
        what = _(what)
        try:
            result = await command()
        except PermissionDenied as exc:
            self.status.set_text(_("Refused: {exc}.").format(exc=message(exc)))
            return None
        except (DatabaseUnavailable, ValueError) as exc:
            self.status.set_text(_("Not {what}: {exc}").format(what=what, exc=message(exc)))
            ui.notify(_("Not {what}: {exc}").format(what=what, exc=message(exc)), type="negative", multi_line=True)
            return None
        n = len(result.changes)
        if n:
            text = _("{n} alarm(s) {what} and stored.").format(n=n, what=what)
        else:
            text = "" if result.failed else _("Nothing needed to be {what}.").format(what=what)
        if result.failed:
            refused = "; ".join(f"{f.name}: {f.status}" + ("" if f.tried else _(" (not sent)")) for f in result.failed)
            text = (
                text + " " + _("Not {what} by the OPC UA server: {refused}.").format(what=what, refused=refused)
            ).strip()
            ui.notify(text, type="warning", multi_line=True)
        self.status.set_text(text)
        return result


class AlarmCommands:
    """The confirm dialogs of every alarm command; used by the summary and the detail screen."""

    def __init__(
        self, rt: Runtime, viewer: ActionContext, status: ui.label, after: Callable[[AckResult | None], Awaitable[None]]
    ) -> None:
        self.rt = rt
        # Whom the page was built for: it shapes the dialogs only; each confirm acts as the person resolved then.
        self.viewer = viewer
        self.status = status
        self.run = CommandRunner(status)
        self.after = after
        # The signature collected by the dialog being confirmed; handed to the service call it makes.
        self.signature: SignatureRequest | None = None
        # One confirm dialog at a time: a double-tapped command button must not stack a second one.
        self.open_dialog: ui.dialog | None = None

    async def _post_to_log(self, ctx: ActionContext, result: AckResult, comment: str) -> None:
        """One touch from an acknowledgement to the shift log: the comment becomes a note on each alarm's line."""
        slot = self.rt.shift()
        for change in result.changes:
            alarm = change.alarm
            ref = alarm.ref
            try:
                await self.rt.notes.add(
                    ctx.for_action(),
                    alarm.line,
                    f"{alarm.message}: {comment}",
                    slot.name,
                    slot.date,
                    machine=ref.machine.name if ref and ref.machine else "",
                    alarm_id=alarm.id,
                )
            except (PermissionDenied, ValueError, DatabaseUnavailable) as exc:
                ui.notify(
                    _("Acknowledged, but not posted to the shift log: {exc}").format(exc=message(exc)),
                    type="warning",
                )
                return
        ui.notify(_("Comment posted to the shift log."))

    def _dialog(
        self,
        title: str,
        ids: list[str],
        *,
        reason_label: str,
        reason_required: bool,
        choices: dict[str, str] | None,
        confirm_text: str,
        action: Callable[[ActionContext, list[str], str, str | None], Awaitable[AckResult | None]],
        sign: str | None = None,
        post_to_log: bool = False,
    ) -> None:
        if not ids:
            self.status.set_text(_("Select alarms first."))
            return
        if self.open_dialog is not None and self.open_dialog.value:
            return
        # The policy decides; the service refuses without a signature anyway (SignatureRequired).
        needs_signature = sign is not None and self.rt.alarm_service.needs_signature(sign, ids)
        # Two touches for anything that changes a record (ISA-101.01): select, then confirm.
        with ui.dialog() as dlg, ui.card().classes("w-[34rem]"):
            ui.label(_("{title} {len} alarm(s)?").format(title=_(title), len=len(ids))).classes("hmi-title")
            choice = None
            if choices:
                choice = testid(
                    ui.select(options(choices), value=next(iter(choices)), label=_("Duration")), "shelve-duration"
                ).classes("w-64")
            reason = testid(
                ui.textarea(_(reason_label)).props(f"maxlength={MAX_COMMENT} counter"), "ack-comment"
            ).classes("w-full")
            post = None
            if post_to_log and self.viewer.can(Permission.ADD_NOTE):
                post = testid(ui.checkbox(_("Also post the comment to the shift log")), "ack-post-note")
            fields = None
            if needs_signature:
                # Electronic signature (21 CFR 11.200(a)(1)): user id and password on the first signing of this
                # session, the password alone afterwards.
                ui.label(_("Electronic signature: re-enter your password to sign.")).classes("font-semibold")
                fields = SignatureFields(self.rt, self.viewer)
            problem = ui.label("").classes("font-semibold")
            done = [False]

            async def confirm(actor: ActionContext) -> None:
                if done[0]:
                    # A second confirm of the same dialog (a double tap) acts once only.
                    return
                if reason_required and not (reason.value or "").strip():
                    problem.set_text(_("A reason is required."))
                    return
                signature = None
                if fields is not None:
                    if (missing := fields.missing()) is not None:
                        problem.set_text(missing)
                        return
                    signature = fields.take()
                done[0] = True
                dlg.close()
                self.signature = signature
                result = await action(actor, ids, reason.value or "", choice.value if choice else None)
                if result is not None and fields is not None:
                    fields.signed()
                if result is not None and post is not None and post.value and (reason.value or "").strip():
                    await self._post_to_log(actor, result, reason.value or "")
                await self.after(result)

            with ui.row():
                testid(ui.button(_(confirm_text), on_click=command(self.rt, confirm)), "ack-confirm")
                ui.button(_("Cancel"), on_click=dlg.close).props("outline")
        self.open_dialog = dlg
        dlg.open()

    def acknowledge(self, ids: list[str]) -> None:
        """Ask for an optional comment, then acknowledge."""
        svc = self.rt.alarm_service
        self._dialog(
            N_("Acknowledge"),
            ids,
            reason_label=N_("Comment (optional)"),
            reason_required=False,
            choices=None,
            confirm_text=N_("Confirm acknowledge"),
            sign="acknowledge",
            post_to_log=True,
            action=lambda actor, i, text, _: self.run(
                N_("acknowledged"), lambda: svc.acknowledge(actor, i, text, signature=self.signature)
            ),
        )

    def shelve(self, ids: list[str]) -> None:
        """Ask for a reason and a duration (up to the plant's maximum, or one-shot), then shelve."""
        svc = self.rt.alarm_service
        limit_h = self.rt.plant.alarm_policy.max_shelve_h
        choices = {k: v for k, v in SHELVE_CHOICES.items() if k == "oneshot" or float(k) <= limit_h}

        def act(actor: ActionContext, i: list[str], text: str, choice: str | None) -> Awaitable[AckResult | None]:
            duration = None if choice == "oneshot" else timedelta(hours=float(choice or 1))
            return self.run(N_("shelved"), lambda: svc.shelve(actor, i, text, duration, signature=self.signature))

        self._dialog(
            N_("Shelve"),
            ids,
            reason_label=N_("Reason (required)"),
            reason_required=True,
            choices=choices,
            confirm_text=N_("Confirm shelve"),
            action=act,
            sign="shelve",
        )

    def unshelve(self, ids: list[str]) -> None:
        """End shelvings early."""
        svc = self.rt.alarm_service
        self._dialog(
            N_("Unshelve"),
            ids,
            reason_label=N_("Comment (optional)"),
            reason_required=False,
            choices=None,
            confirm_text=N_("Confirm unshelve"),
            action=lambda actor, i, text, _: self.run(N_("unshelved"), lambda: svc.unshelve(actor, i, text)),
        )

    def remove_from_service(self, ids: list[str]) -> None:
        """Ask for the reason (e.g. the work order), then take the alarms out of service."""
        svc = self.rt.alarm_service
        self._dialog(
            N_("Remove from service"),
            ids,
            reason_label=N_("Reason, e.g. the work order (required)"),
            reason_required=True,
            choices=None,
            confirm_text=N_("Confirm remove"),
            sign="remove_from_service",
            action=lambda actor, i, text, _: self.run(
                N_("removed from service"), lambda: svc.remove_from_service(actor, i, text, signature=self.signature)
            ),
        )

    def return_to_service(self, ids: list[str]) -> None:
        """Put alarms back in service."""
        svc = self.rt.alarm_service
        self._dialog(
            N_("Return to service"),
            ids,
            reason_label=N_("Comment (optional)"),
            reason_required=False,
            choices=None,
            confirm_text=N_("Confirm return"),
            action=lambda actor, i, text, _: self.run(
                N_("returned to service"), lambda: svc.return_to_service(actor, i, text)
            ),
        )

    def reset(self, ids: list[str]) -> None:
        """Reset latched alarms."""
        svc = self.rt.alarm_service
        self._dialog(
            N_("Reset"),
            ids,
            reason_label=N_("Comment (optional)"),
            reason_required=False,
            choices=None,
            confirm_text=N_("Confirm reset"),
            action=lambda actor, i, text, _: self.run(N_("reset"), lambda: svc.reset(actor, i, text)),
        )


def alarms_page(rt: Runtime, ctx: ActionContext, focus: str | None = None, tab: str | None = None) -> None:
    """The alarm summary screen."""
    AlarmSummary(rt, ctx, focus, tab)


class AlarmSummary:
    """The alarm summary page: the active list (filtered, sorted, paged) with its commands, and the lists of shelved,
    suppressed and out-of-service alarms. Rows are sent only when the page on screen changes."""

    def __init__(self, rt: Runtime, ctx: ActionContext, focus: str | None, tab: str | None) -> None:
        self.rt = rt
        self.ctx = ctx
        self.zone = rt.plant.site.zone
        self.may_ack = ctx.can(Permission.ACKNOWLEDGE_ALARM)
        self.may_shelve = ctx.can(Permission.SHELVE_ALARM)
        self.may_reset = ctx.can(Permission.RESET_LATCHED)
        self.may_oos = ctx.can(Permission.REMOVE_FROM_SERVICE)
        self.selectable = self.may_ack or self.may_shelve or self.may_oos or self.may_reset
        with frame(rt, ctx, "Alarms"):
            # The outcome of a command is said next to the buttons that gave it: the status line moves to the panel
            # whose command was touched (self._at).
            self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "ack-status")
            self.places: dict[str, ui.element] = {}
            with ui.tabs().props("align=left no-caps").classes("hmi-tabs-wrap") as tabs:
                self.tabs = {"active": testid(ui.tab("active", _("Active")), "tab-active")}
                for name, _skip, label in HIDDEN_LISTS:
                    self.tabs[name] = testid(ui.tab(name, _(label)), f"tab-{name}")
            tabs.set_value(tab or "active")
            with ui.tab_panels(tabs, value=tab or "active").classes("w-full bg-transparent"):
                with ui.tab_panel("active").classes("p-0 gap-2"):
                    self._active_panel()
                self.hidden_tables = {state: self._hidden_panel(name, state) for name, state, _skip in HIDDEN_LISTS}
        # What the tables show now: a table is sent again only when its rows changed.
        self.shown: list[tuple[Any, ...]] | None = None
        self.shown_ids: list[str] = []
        self.shown_hidden: dict[AlarmState, list[tuple[Any, ...]]] = {}
        for control in (self.search, self.prio, self.area, self.line, self.state, self.order, self.pager):
            control.on_value_change(lambda: self.refresh(True))
        self.commands = AlarmCommands(rt, ctx, self.status, self.after)
        self.status.move(self.places["active"])
        # A link from the banner or a line may arrive a moment before its alarm: keep looking until it is listed.
        self.focus = focus
        self.refresh(True)
        ui.timer(1.0, self.refresh)

    def _active_panel(self) -> None:
        with testid(ui.row().classes("w-full items-center gap-3"), "priority-counts"):
            self.counts: dict[int, ui.label] = {}
            for p in range(1, 5):
                ui.label(str(p)).classes(indicator_classes(p))
                self.counts[p] = testid(ui.label("0").classes("font-bold"), f"count-p{p}")
            self.totals = testid(ui.label(""), "alarm-totals")
        self.fold = FilterFold("alarm")
        with self.fold.row:
            self.search = testid(ui.input(_("Filter (text)")).props("clearable"), "alarm-filter").classes("w-56")
            self.prio = ui.select(
                {
                    0: _("all priorities"),
                    1: _("priority 1"),
                    2: _("priority 2"),
                    3: _("priority 3"),
                    4: _("priority 4"),
                },
                value=0,
                label=_("Priority"),
            ).classes("w-36")
            self.area = ui.select(
                {"": _("all areas"), **{a.name: a.name for a in self.rt.plant.areas}}, value="", label=_("Area")
            ).classes("w-36")
            self.line = ui.select(
                {"": _("all lines"), **{ln.name: ln.name for _skip, ln in self.rt.plant.lines()}},
                value="",
                label=_("Line"),
            ).classes("w-36")
            self.state = ui.select(options(STATE_FILTERS), value="", label=_("State")).classes("w-44")
            self.order = ui.select(options(SORTS), value="priority", label=_("Sort")).classes("w-48")
        with ui.row().classes("items-center gap-2"):
            self._commands()
        self.places["active"] = testid(ui.element("div").classes("w-full"), "say-active")
        self.table = _table(
            COLUMNS,
            SHOWN_FROM,
            "alarm-table",
            selectable=self.selectable,
            cells={**CELLS, "state": STATE_CELL, "message": MESSAGE_AND_STATE},
        )
        self.pager = testid(ui.pagination(1, 1, direction_links=True, value=1), "alarm-pages")

    def _commands(self) -> None:
        if self.may_ack:
            testid(
                ui.button(
                    _("Acknowledge selected"),
                    on_click=self._at("active", lambda: self.commands.acknowledge(self.selected())),
                ),
                "ack-selected",
            )
            testid(
                ui.button(
                    _("Acknowledge page"),
                    on_click=self._at("active", lambda: self.commands.acknowledge(self.page_unacked())),
                ).props("outline"),
                "ack-all",
            )
            # In a flood the whole filtered list can be acknowledged at once, still behind a confirm.
            testid(
                ui.button(
                    _("Acknowledge all listed"),
                    on_click=self._at("active", lambda: self.commands.acknowledge(self.all_unacked())),
                ).props("outline"),
                "ack-listed",
            )
        if self.may_shelve:
            testid(
                ui.button(
                    _("Shelve…"), on_click=self._at("active", lambda: self.commands.shelve(self.selected()))
                ).props("outline"),
                "shelve",
            )
        if self.may_reset:
            testid(
                ui.button(
                    _("Reset latched"), on_click=self._at("active", lambda: self.commands.reset(self.selected()))
                ).props("outline"),
                "reset",
            )
        if self.may_oos:
            testid(
                ui.button(
                    _("Remove from service…"),
                    on_click=self._at("active", lambda: self.commands.remove_from_service(self.selected())),
                ).props("outline"),
                "oos",
            )
        if not self.may_ack:
            ui.label(
                _("Your role ({value}) may view alarms but not acknowledge them.").format(value=self.ctx.role.value)
            ).classes("hmi-muted")

    def _hidden_panel(self, name: str, state: AlarmState) -> ui.table:
        with ui.tab_panel(name).classes("p-0 gap-2"):
            with ui.row().classes("items-center gap-2"):
                if state is AlarmState.SHELVED and self.may_shelve:
                    testid(
                        ui.button(
                            _("Unshelve selected"),
                            on_click=self._at(
                                name, lambda: self.commands.unshelve(self.selected_in(AlarmState.SHELVED))
                            ),
                        ),
                        "unshelve",
                    )
                if state is AlarmState.OUT_OF_SERVICE and self.may_oos:
                    testid(
                        ui.button(
                            _("Return to service"),
                            on_click=self._at(
                                name,
                                lambda: self.commands.return_to_service(self.selected_in(AlarmState.OUT_OF_SERVICE)),
                            ),
                        ),
                        "return-to-service",
                    )
                if state is AlarmState.SUPPRESSED_BY_DESIGN:
                    ui.label(
                        _("Suppressed by the plant state their definition names; they return by themselves.")
                    ).classes("hmi-muted")
            self.places[name] = testid(ui.element("div").classes("w-full"), f"say-{name}")
            pickable = (state is AlarmState.SHELVED and self.may_shelve) or (
                state is AlarmState.OUT_OF_SERVICE and self.may_oos
            )
            return _table(HIDDEN_COLUMNS, HIDDEN_SHOWN_FROM, f"{name}-table", selectable=pickable, cells=CELLS)

    def _at(self, place: str, act: Callable[[], None]) -> Callable[[], None]:
        """A button handler that first moves the status line under the buttons of `place` (a tab), then acts."""

        def handler() -> None:
            if self.status.parent_slot is not None and self.status.parent_slot.parent is not self.places[place]:
                self.status.set_text("")
                self.status.move(self.places[place])
            act()

        return handler

    def matching(self) -> list[Alarm]:
        """The active alarms the filters keep, in the chosen order."""
        found = filter_alarms(
            self.rt.alarms.active(),
            text=self.search.value or "",
            priority=int(self.prio.value or 0),
            area=self.area.value or "",
            line=self.line.value or "",
            state=self.state.value or "",
        )
        return sort_alarms(found, self.order.value or "priority")

    def selected(self) -> list[str]:
        """The ids ticked in the active list."""
        return [r["id"] for r in self.table.selected]

    def selected_in(self, state: AlarmState) -> list[str]:
        """The ids ticked in the list of alarms in `state`."""
        return [r["id"] for r in self.hidden_tables[state].selected]

    def all_unacked(self) -> list[str]:
        """Every unacknowledged alarm the filters keep (all pages)."""
        return [a.id for a in self.matching() if a.state.unacknowledged]

    def page_unacked(self) -> list[str]:
        """The unacknowledged alarms of the page on screen."""
        return [i for i in self.shown_ids if (a := self.rt.alarms.get(i)) is not None and a.state.unacknowledged]

    def refresh(self, force: bool = False) -> None:
        """Counts, the page of the active list, the hidden lists and the tab labels, sent only where changed."""
        alarms = self.matching()
        self._show_counts(alarms)
        self._show_page(alarms, force)
        self._show_hidden()
        labels = {"active": _("Active ({n})").format(n=len(alarms))}
        for name, state, label in HIDDEN_LISTS:
            labels[name] = f"{_(label)} ({len(self.hidden_tables[state].rows)})"
        for name, text in labels.items():
            if self.tabs[name].props.get("label") != text:
                self.tabs[name].props["label"] = text
        self.apply_focus()

    def _show_counts(self, alarms: list[Alarm]) -> None:
        per = alarm_counts(alarms)
        for p, label in self.counts.items():
            label.set_text(str(per[p]))
        unack = sum(1 for a in alarms if a.state.unacknowledged)
        self.totals.set_text(_("{len} listed, {unack} unacknowledged").format(len=len(alarms), unack=unack))

    def _show_page(self, alarms: list[Alarm], force: bool) -> None:
        pages = max(1, -(-len(alarms) // PAGE_SIZE))
        if self.pager.max != pages:
            self.pager.max = pages
        page = min(int(self.pager.value or 1), pages)
        visible = alarms[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        sig = [(a.id, a.state.value, a.activation, a.acked_by, a.first_out) for a in visible]
        if sig == self.shown and not force:
            return
        self.shown = sig
        self.shown_ids = [a.id for a in visible]
        self.table.rows = [row_of(a, self.zone) for a in visible]
        keep = set(self.shown_ids)
        self.table.selected = [r for r in self.table.selected if r["id"] in keep]
        self.table.update()

    def _show_hidden(self) -> None:
        now = self.rt.clock()
        for state, table in self.hidden_tables.items():
            hidden = self.rt.alarms.in_state(state)
            sig = [
                (
                    a.id,
                    a.mode_at,
                    a.status.condition,
                    a.shelved_until and int((a.shelved_until - now).total_seconds() // 60),
                )
                for a in hidden
            ]
            if sig != self.shown_hidden.get(state):
                self.shown_hidden[state] = sig
                table.rows = [hidden_row_of(a, self.zone, now) for a in hidden]
                table.update()

    async def after(self, result: AckResult | None) -> None:
        """After a command: clear the ticks and show the outcome at once."""
        if result is not None:
            self.table.selected = []
            for table in self.hidden_tables.values():
                table.selected = []
            self.refresh(True)

    def apply_focus(self) -> None:
        """Filter to (and tick) the alarm the page was opened for, once it is listed."""
        target = self.focus
        if not target or (alarm := self.rt.alarms.get(target)) is None or not alarm.state.listed:
            return
        self.focus = None
        self.search.set_value(alarm.tag)
        self.fold.open()
        if self.selectable:
            self.table.selected = [r for r in self.table.rows if r["id"] == target]
            self.table.update()
