"""Setpoint entry on a tag's faceplate: a keypad usable with gloves, +/- step buttons, then the confirm dialog
(tag, old and new value, unit, limits, what it affects, the reason, the signature when configured), then the
write through the control service and its outcome beside the control.

The screen only hides what would be refused and says why a write is blocked before anything is typed; every
check that counts is the service's (hmi.control.writes), made for the person signed in at the touch.
The value shown when the entry started goes with the write as `expected` (compare-before-write): when someone
else changed it meanwhile, the service refuses and the dialog shows the new value and asks again.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.config import Tag
from hmi.control.outcome import Refusal, Result, WriteOutcome
from hmi.records.signatures import SignatureError
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.tags import TagState
from screens.fmt import format_value
from screens.i18n import N_, _, message, plant
from screens.session import command
from screens.signature_dialog import SignatureFields
from screens.testid import testid

MAX_DIGITS = 12
KEYS = ("7", "8", "9", "back", "4", "5", "6", "clear", "1", "2", "3", "minus", "0", "dot")
KEY_TEXT = {"back": "⌫", "clear": "C", "minus": "−", "dot": "."}


def shown(value: Any, unit: str = "") -> str:
    """A value for a person, with its unit."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        text = "ON" if value else "OFF"
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def outcome_text(outcome: WriteOutcome, zone: Any) -> str:
    """The outcome message of the service, as the person reads it beside the control."""
    return message(outcome.message(zone))


def mode_choices(rt: Runtime, tag: str) -> dict[str, str]:
    """When `tag` is a line's or machine's mode tag: its values and their words, from the mode's labels."""
    for _area, line in rt.plant.lines():
        for spec in (line.mode, *(m.mode for m in line.machines)):
            if spec is not None and spec.tag == tag:
                return dict(spec.labels)
    return {}


def default_step(tag: Tag, limits: tuple[float, float] | None) -> float:
    """The +/- step: the write rule's, else 1 for whole numbers, else about a hundredth of the range."""
    if tag.write is not None and tag.write.step is not None:
        return tag.write.step
    if tag.data_type == "int" or limits is None:
        return 1.0
    span = limits[1] - limits[0]
    return float(10 ** math.floor(math.log10(span / 100))) if span > 0 else 1.0


class SetpointEntry:
    """Keypad, step buttons, what blocks a write now, and the last outcome."""

    def __init__(self, rt: Runtime, ctx: ActionContext, tag: Tag, limits: tuple[float, float] | None) -> None:
        assert tag.write is not None
        self.rt = rt
        self.ctx = ctx
        self.tag = tag
        self.rule = tag.write
        self.limits = limits
        self.step = default_step(tag, limits)
        self.current: TagState | None = None
        self.text = ""
        self.expected: Any = None
        self.started = False
        self.after_send: Callable[[], Awaitable[None]] | None = None
        self.allowed = ctx.role in self.rule.roles
        with testid(ui.column().classes("hmi-panel p-3 gap-2 w-full"), "setpoint"):
            ui.label(_("Change the value")).classes("font-semibold")
            if not self.allowed:
                roles = ", ".join(r.value for r in self.rule.roles)
                testid(
                    ui.label(
                        _("Your role ({value}) may not change this value; {roles} may.").format(
                            value=ctx.role.value, roles=roles
                        )
                    ).classes("hmi-muted"),
                    "write-no-role",
                )
                return
            self.blocked = testid(ui.label("").classes("hmi-blocked hmi-wrap"), "write-blocked")
            self.blocked.set_visibility(False)
            facts = [_("step {step:g}").format(step=self.step)] if tag.numeric else []
            if limits is not None:
                facts.insert(
                    0, _("limits {low:g}–{high:g} {unit}").format(low=limits[0], high=limits[1], unit=tag.unit).strip()
                )
            self.now = testid(ui.label(_("now —")).classes("hmi-muted"), "write-now")
            if facts:
                testid(ui.label(" · ".join(facts)).classes("hmi-range"), "write-limits")
            choices = mode_choices(rt, tag.name)
            if tag.data_type == "bool":
                with ui.row().classes("gap-2"):
                    for word, value in (("ON", True), ("OFF", False)):
                        testid(
                            ui.button(word, on_click=lambda v=value: self.choose(v)).classes("hmi-key"),
                            f"key-{word.lower()}",
                        )
                self.entry = testid(ui.label("").classes("hmi-entry"), "entry")
            elif tag.data_type == "string" and choices:
                # A mode tag: one button per value its labels name.
                with ui.row().classes("gap-2"):
                    for value, word in choices.items():
                        testid(
                            ui.button(word, on_click=lambda v=value: self.choose_text(v)).classes("hmi-command"),
                            f"choice-{value}",
                        )
                self.entry = testid(ui.label("").classes("hmi-entry"), "entry")
            elif tag.data_type == "string":
                self.entry = testid(
                    ui.input(_("New value"), on_change=lambda e: self.choose_text(e.value or "", show=False))
                    .props("autocomplete=off maxlength=200")
                    .classes("w-full"),
                    "entry",
                )
            else:
                with ui.row().classes("items-center gap-2 no-wrap"):
                    testid(
                        ui.button(f"− {self.step:g}", on_click=lambda: self.nudge(-1)).classes("hmi-key"), "step-down"
                    )
                    self.entry = testid(ui.label("").classes("hmi-entry"), "entry")
                    testid(ui.button(f"+ {self.step:g}", on_click=lambda: self.nudge(1)).classes("hmi-key"), "step-up")
                with ui.element("div").classes("hmi-keypad"):
                    for key in KEYS:
                        testid(
                            ui.button(KEY_TEXT.get(key, key), on_click=lambda k=key: self.press(k))
                            .classes("hmi-key")
                            .props("outline" if key in KEY_TEXT else ""),
                            f"key-{key}",
                        )
            with ui.row().classes("items-center gap-2"):
                self.next = testid(
                    ui.button(_("Change…"), on_click=command(rt, self.review)).classes("hmi-command"), "write-next"
                )
            self.problem = testid(ui.label("").classes("font-semibold hmi-wrap"), "entry-problem")
            self.outcome = testid(ui.label("").classes("hmi-outcome hmi-wrap"), "write-outcome")
            self.outcome.set_visibility(False)
        self.refresh_blocked()

    # ------------------------------------------------------------------------------------------------- entry

    def show_current(self, state: TagState | None) -> None:
        """The tag's value now, beside the entry."""
        self.current = state
        if self.allowed:
            self.now.set_text(f"now {format_value(state, self.tag.data_type)} {self.tag.unit}".strip())

    def _start(self) -> None:
        # The value the person saw when they began: sent as `expected` (compare-before-write).
        if not self.started:
            self.started = True
            state = self.rt.cache.get(self.tag.name)
            self.expected = state.value if state is not None else None
        self.problem.set_text("")

    def _show_entry(self) -> None:
        if isinstance(self.entry, ui.input):
            self.entry.set_value(self.text)
        else:
            self.entry.set_text(self.text)

    def press(self, key: str) -> None:
        """One key of the keypad."""
        self._start()
        if key == "back":
            self.text = self.text[:-1]
        elif key == "clear":
            self.text = ""
            self.started = False
            self.expected = None
        elif key == "minus":
            self.text = self.text[1:] if self.text.startswith("-") else "-" + self.text
        elif key == "dot":
            if "." not in self.text and self.tag.data_type != "int":
                self.text = (self.text if self.text.strip("-") else self.text + "0") + "."
        elif len(self.text.lstrip("-")) < MAX_DIGITS:
            self.text += key
        self._show_entry()

    def nudge(self, direction: int) -> None:
        """Step the entry (or, when empty, the current value) up or down by one step."""
        self._start()
        base = self.parsed()
        if base is None:
            base = self.current.value if self.current is not None and _is_number(self.current.value) else None
        if base is None:
            self.problem.set_text(_("There is no value to step from; type one."))
            return
        value = round(float(base) + direction * self.step, 9)
        if self.limits is not None:
            value = min(max(value, self.limits[0]), self.limits[1])
        self.text = str(int(value)) if self.tag.data_type == "int" or value.is_integer() else f"{value:.9g}"
        self._show_entry()

    def choose_text(self, value: str, *, show: bool = True) -> None:
        """A text tag: the value chosen or typed."""
        self._start()
        self.text = value
        if show:
            self._show_entry()

    def choose(self, value: bool) -> None:
        """A bool tag: the value chosen."""
        self._start()
        self.text = "ON" if value else "OFF"
        self._show_entry()

    def parsed(self) -> Any:
        """The entered value as the tag's type, or None when nothing (or nothing readable) is entered."""
        text = self.text.strip()
        if self.tag.data_type == "string":
            return text or None
        if self.tag.data_type == "bool":
            return {"ON": True, "OFF": False}.get(text)
        try:
            value = float(text)
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        if self.tag.data_type == "int":
            return int(value) if value.is_integer() else value
        return value

    # -------------------------------------------------------------------------------------------- blocked

    def refresh_blocked(self) -> None:
        """Say why a write would be refused now (interlock, quality, endpoint down, a write pending), before the
        person types; the entry stays, so they can prepare the value."""
        if not self.allowed:
            return
        reasons = self.rt.control.blocked(self.ctx, self.tag.name)
        text = "; ".join(message(why) for _skip, why in reasons)
        self.blocked.set_text(_("Blocked now: {text}").format(text=text) if text else "")
        self.blocked.set_visibility(bool(text))
        if text:
            self.next.disable()
        elif not self.next.enabled and not self.busy:
            self.next.enable()

    @property
    def busy(self) -> bool:
        return bool(getattr(self, "_dialog_open", False))

    # ------------------------------------------------------------------------------------------------ write

    async def review(self, actor: ActionContext) -> None:
        """Check the entered value with the service; when it could be written, confirm (or send straight away
        when the plant file asks for no confirmation, signature or reason)."""
        value = self.parsed()
        if value is None:
            self.problem.set_text(_("Enter a value first."))
            return
        reasons = self.rt.control.blocked(actor, self.tag.name, value)
        if reasons:
            self.problem.set_text(_("Refused: ") + "; ".join(message(why) for _skip, why in reasons))
            return
        self.problem.set_text("")
        if not self.started:
            self._start()
        if self.rule.confirm or self.rule.signature or self.rule.reason == "required":
            ConfirmWrite(self, actor, value)
        else:
            try:
                outcome = await self.send(actor, value, "", None)
            except (SignatureError, PermissionDenied, DatabaseUnavailable, ValueError) as exc:
                self.problem.set_text(_("Not sent: {exc}").format(exc=message(exc)))
                return
            if outcome.refusal is Refusal.CHANGED:
                self.expected = outcome.current
                self.problem.set_text(
                    _(
                        "The value changed to {shown} since you began; nothing was sent. Touch "
                        "Change again to send {shown2}."
                    ).format(shown=shown(outcome.current, self.tag.unit), shown2=shown(value, self.tag.unit))
                )

    async def send(self, actor: ActionContext, value: Any, reason: str, fields: SignatureFields | None) -> WriteOutcome:
        """Write `value`; shows the outcome beside the control. SignatureError, PermissionDenied and
        DatabaseUnavailable go to the caller (the confirm dialog says them)."""
        signature = fields.take() if fields is not None else None
        outcome = await self.rt.control.write(
            actor, self.tag.name, value, expected=self.expected, reason=reason, signature=signature
        )
        if fields is not None and outcome.signature_id is not None:
            fields.signed()
        if outcome.refusal is not Refusal.CHANGED:
            self.show_outcome(outcome)
        if self.after_send is not None:
            await self.after_send()
        return outcome

    def show_outcome(self, outcome: WriteOutcome) -> None:
        """The service's words for what happened, beside the control; the entry starts afresh."""
        self.outcome.set_text(outcome_text(outcome, self.rt.plant.site.zone))
        self.outcome.classes(remove="failed")
        if outcome.result is not Result.CONFIRMED:
            self.outcome.classes(add="failed")
        self.outcome.set_visibility(True)
        if outcome.result is Result.CONFIRMED:
            self.text = ""
            self._show_entry()
        self.started = False
        self.expected = None


class ConfirmWrite:
    """The confirm dialog: what is about to be written, the reason, the signature; Send or Cancel."""

    def __init__(self, entry: SetpointEntry, actor: ActionContext, value: Any) -> None:
        self.entry = entry
        self.value = value
        rt, tag, rule = entry.rt, entry.tag, entry.rule
        entry._dialog_open = True
        with ui.dialog().props("persistent") as self.dialog, ui.card().classes("w-[34rem] gap-2"):
            ui.label(_("Change this value?")).classes("hmi-title")
            with ui.grid(columns=2).classes("gap-x-4 gap-y-1 items-baseline"):
                for label, text, marker in (
                    (N_("Tag"), tag.name, "confirm-tag"),
                    (N_("Old value"), shown(entry.expected, tag.unit), "confirm-old"),
                    (N_("New value"), shown(value, tag.unit), "confirm-new"),
                    (
                        N_("Limits"),
                        f"{entry.limits[0]:g}–{entry.limits[1]:g} {tag.unit}".strip() if entry.limits else "—",
                        "confirm-limits",
                    ),
                    (N_("Affects"), plant(rule.affects or "—"), "confirm-affects"),
                ):
                    ui.label(_(label)).classes("hmi-muted")
                    lab = testid(ui.label(text).classes("hmi-wrap"), marker)
                    if marker == "confirm-old":
                        self.old = lab
                    if marker == "confirm-new":
                        lab.classes("hmi-value-sm")
            self.reason: ui.input | None = None
            if rule.reason != "none":
                word = "required" if rule.reason == "required" else "optional"
                self.reason = testid(
                    ui.input(_("Reason ({word})").format(word=word))
                    .props("autocomplete=off maxlength=500")
                    .classes("w-full"),
                    "write-reason",
                )
            self.fields = SignatureFields(rt, actor) if rule.signature else None
            self.problem = testid(ui.label("").classes("font-semibold hmi-wrap"), "confirm-problem")
            with ui.row().classes("gap-2"):
                self.send_button = testid(
                    ui.button(_("Send"), on_click=command(rt, self.send)).classes("hmi-command"), "write-send"
                )
                testid(
                    ui.button(_("Cancel"), on_click=self.cancel).classes("hmi-command").props("outline"), "write-cancel"
                )
        self.dialog.open()

    def cancel(self) -> None:
        """Nothing is sent."""
        self.close()

    def close(self) -> None:
        self.entry._dialog_open = False
        self.dialog.close()
        self.dialog.delete()

    async def send(self, actor: ActionContext) -> None:
        """Send for the person signed in at the touch; the dialog stays open on a refusal it can fix."""
        reason = (self.reason.value or "").strip() if self.reason is not None else ""
        if self.entry.rule.reason == "required" and not reason:
            self.problem.set_text(_("Give a reason: this change needs one."))
            return
        if self.fields is not None and (missing := self.fields.missing()):
            self.problem.set_text(missing)
            return
        try:
            outcome = await self.entry.send(actor, self.value, reason, self.fields)
        except (SignatureError, PermissionDenied, DatabaseUnavailable, ValueError) as exc:
            self.problem.set_text(_("Not sent: {exc}").format(exc=message(exc)))
            return
        if outcome.refusal is Refusal.CHANGED:
            # Someone else changed it since the entry started: show the value now and ask again.
            self.entry.expected = outcome.current
            self.old.set_text(shown(outcome.current, self.entry.tag.unit))
            self.problem.set_text(
                _("The value changed to {shown} since you began; nothing was sent. Send {shown2} now?").format(
                    shown=shown(outcome.current, self.entry.tag.unit), shown2=shown(self.value, self.entry.tag.unit)
                )
            )
            return
        self.close()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
