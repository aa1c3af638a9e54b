"""Commands on a machine's or line's faceplate: one big button per command, disabled with the reason while it is
not offered (role, mode, interlock, quality), each confirmed, reasoned and signed as the plant file says, and its
outcome beside the button. The control service decides; the screen only says in advance what it would refuse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.config import CommandRef
from hmi.control.outcome import Result, WriteOutcome
from hmi.control.spec import MethodArg
from hmi.records.signatures import SignatureError
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.i18n import _, message
from screens.session import command
from screens.signature_dialog import SignatureFields
from screens.testid import testid


def free_args(ref: CommandRef) -> list[MethodArg]:
    """The method arguments the person types (those without a fixed value)."""
    return [a for a in ref.command.call.args if a.value is None] if ref.command.call is not None else []


def why_blocked(rt: Runtime, ctx: ActionContext, ref: CommandRef) -> list[str]:
    """Why the service would refuse `ref` now, in words (role, mode, interlock)."""
    return [message(why) for _skip, why in rt.control.command_blocked(ctx, ref.id)]


class CommandPanel:
    """The commands of one line or machine."""

    def __init__(self, rt: Runtime, ctx: ActionContext, refs: Sequence[CommandRef]) -> None:
        self.rt = rt
        self.ctx = ctx
        self.refs = list(refs)
        self.after_send: Callable[[], Awaitable[None]] | None = None
        self.buttons: dict[str, ui.button] = {}
        self.reasons: dict[str, ui.label] = {}
        self.outcomes: dict[str, ui.label] = {}
        self.open: set[str] = set()
        with testid(ui.column().classes("hmi-panel p-3 gap-2 w-full"), "commands"):
            ui.label(_("Commands")).classes("font-semibold")
            for ref in self.refs:
                name = ref.command.name
                with ui.row().classes("items-center gap-3 w-full no-wrap"):
                    self.buttons[ref.id] = testid(
                        ui.button(ref.command.title, on_click=command(rt, lambda a, r=ref: self.review(a, r))).classes(
                            "hmi-command"
                        ),
                        f"command-{name}",
                    )
                    with ui.column().classes("gap-0 hmi-wrap"):
                        self.reasons[ref.id] = testid(ui.label("").classes("hmi-muted hmi-wrap"), f"command-why-{name}")
                        self.outcomes[ref.id] = testid(
                            ui.label("").classes("hmi-outcome hmi-wrap"), f"command-outcome-{name}"
                        )
                        self.outcomes[ref.id].set_visibility(False)
        self.refresh()

    def refresh(self) -> None:
        """Enable what is offered now; say why the rest is not."""
        for ref in self.refs:
            why = why_blocked(self.rt, self.ctx, ref)
            self.reasons[ref.id].set_text("; ".join(why))
            button = self.buttons[ref.id]
            if why:
                button.disable()
            elif ref.id not in self.open:
                button.enable()

    async def review(self, actor: ActionContext, ref: CommandRef) -> None:
        """Confirm when configured (or when arguments are to be typed), else send straight away."""
        rule = ref.command
        if rule.confirm or rule.signature or rule.reason == "required" or free_args(ref):
            ConfirmCommand(self, actor, ref)
        else:
            try:
                await self.send(actor, ref, {}, "", None)
            except (SignatureError, PermissionDenied, DatabaseUnavailable, ValueError) as exc:
                label = self.outcomes[ref.id]
                label.set_text(_("Not sent: {exc}").format(exc=message(exc)))
                label.set_visibility(True)

    async def send(
        self, actor: ActionContext, ref: CommandRef, args: dict[str, Any], reason: str, fields: SignatureFields | None
    ) -> WriteOutcome:
        """Send `ref`; its outcome goes beside its button. Refusals the dialog can fix go to the caller."""
        signature = fields.take() if fields is not None else None
        outcome = await self.rt.control.command(actor, ref.id, args=args, reason=reason, signature=signature)
        if fields is not None and outcome.signature_id is not None:
            fields.signed()
        label = self.outcomes[ref.id]
        label.set_text(message(outcome.message(self.rt.plant.site.zone)))
        label.classes(remove="failed")
        if outcome.result is not Result.CONFIRMED:
            label.classes(add="failed")
        label.set_visibility(True)
        if self.after_send is not None:
            await self.after_send()
        return outcome


class ConfirmCommand:
    """Confirm one command: what it does and affects, its arguments, the reason, the signature."""

    def __init__(self, panel: CommandPanel, actor: ActionContext, ref: CommandRef) -> None:
        self.panel = panel
        self.ref = ref
        rule = ref.command
        panel.open.add(ref.id)
        with ui.dialog().props("persistent") as self.dialog, ui.card().classes("w-[34rem] gap-2"):
            testid(ui.label(f"{rule.title}: {ref.owner}?").classes("hmi-title hmi-wrap"), "command-confirm-title")
            if rule.affects:
                ui.label(_("Affects: {affects}").format(affects=rule.affects)).classes("hmi-wrap")
            self.args: dict[str, tuple[MethodArg, Any]] = {}
            for arg in free_args(ref):
                if arg.data_type == "bool":
                    field: Any = ui.checkbox(arg.name)
                elif arg.data_type == "string":
                    field = ui.input(arg.name).props("maxlength=200")
                else:
                    field = ui.number(arg.name)
                self.args[arg.name] = (arg, testid(field, f"command-arg-{arg.name}"))
            self.reason: ui.input | None = None
            if rule.reason != "none":
                word = "required" if rule.reason == "required" else "optional"
                self.reason = testid(
                    ui.input(_("Reason ({word})").format(word=word))
                    .props("autocomplete=off maxlength=500")
                    .classes("w-full"),
                    "command-reason",
                )
            self.fields = SignatureFields(panel.rt, actor) if rule.signature else None
            self.problem = testid(ui.label("").classes("font-semibold hmi-wrap"), "command-problem")
            with ui.row().classes("gap-2"):
                testid(
                    ui.button(rule.title, on_click=command(panel.rt, self.send)).classes("hmi-command"), "command-send"
                )
                testid(
                    ui.button(_("Cancel"), on_click=self.close).classes("hmi-command").props("outline"),
                    "command-cancel",
                )
        self.dialog.open()

    def close(self) -> None:
        self.panel.open.discard(self.ref.id)
        self.dialog.close()
        self.dialog.delete()

    async def send(self, actor: ActionContext) -> None:
        """Send for the person signed in at the touch; the dialog stays open on a refusal it can fix."""
        reason = (self.reason.value or "").strip() if self.reason is not None else ""
        if self.ref.command.reason == "required" and not reason:
            self.problem.set_text(_("Give a reason: this command needs one."))
            return
        args: dict[str, Any] = {}
        for name, (arg, field) in self.args.items():
            if field.value is None or field.value == "":
                self.problem.set_text(_("Enter {name}.").format(name=name))
                return
            args[name] = int(field.value) if arg.data_type == "int" else field.value
        if self.fields is not None and (missing := self.fields.missing()):
            self.problem.set_text(missing)
            return
        try:
            await self.panel.send(actor, self.ref, args, reason, self.fields)
        except (SignatureError, PermissionDenied, DatabaseUnavailable, ValueError) as exc:
            self.problem.set_text(_("Not sent: {exc}").format(exc=message(exc)))
            return
        self.close()
