"""Shift handover: draft the report, add open items and sign as outgoing lead; review and sign as incoming lead;
download the PDF."""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from hmi.store.models import Handover, HandoverState
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _, message, plant
from screens.line_status import COUNTER_WORDS, count_text
from screens.outcome import attempt
from screens.session import command
from screens.signature_dialog import SignatureFields
from screens.testid import testid

SECTIONS = (
    (N_("Alarms standing"), "alarms_standing"),
    (N_("Shelved"), "alarms_shelved"),
    (N_("Out of service"), "alarms_out_of_service"),
)


def handover_page(rt: Runtime, ctx: ActionContext) -> None:
    """The handover screen."""
    HandoverScreen(rt, ctx)


def report_content(data: dict[str, Any]) -> None:
    """What the report says: alarms, notes and production of the shift, and what the last handover left open."""
    for title, key in SECTIONS:
        ui.label(f"{_(title)}: {len(data[key])}").classes("font-semibold")
        for a in data[key]:
            ui.label(f"P{a['priority']} {plant(a['line'])}: {plant(a['message'])} ({message(a['state'])})")
    ui.label(_("Alarms raised during the shift: {data}").format(data=data["alarms_raised"]["count"])).classes(
        "font-semibold"
    )
    ui.label(_("Shift notes: {len}").format(len=len(data["notes"]))).classes("font-semibold")
    for n in data["notes"]:
        ui.label(f"{n['line']} · {n['category']} · {n['author']}: {n['text']}").classes("whitespace-pre-wrap")
    ui.label(_("Production")).classes("font-semibold")
    for p in data["production"]:
        testid(
            ui.label(
                _(
                    "{p}: produced this shift: good {count_text}, rejects {count_text2} "
                    "({COUNTER_WORDS}s: good {count_text3}, rejects {count_text4})"
                ).format(
                    p=p["line"],
                    count_text=count_text(p.get("good_delta")),
                    count_text2=count_text(p.get("reject_delta")),
                    COUNTER_WORDS=_(COUNTER_WORDS),
                    count_text3=count_text(p.get("good")),
                    count_text4=count_text(p.get("reject")),
                )
            ),
            f"handover-production-{p['line']}",
        )
    ui.label(data["production_note"]).classes("hmi-muted text-sm")
    ui.label(_("Carried from the last handover: ") + ("; ".join(data["carried_open_items"]) or "none"))


class HandoverScreen:
    """The handover page: scope and draft, the report on show with its signatures, and the recent handovers."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.ctx = ctx
        self.zone = rt.plant.site.zone
        self.may_sign = ctx.can(Permission.SIGN_HANDOVER)
        scopes = {
            "": _("whole site"),
            **{a.name: _("area {name}").format(name=plant(a.name)) for a in rt.plant.areas},
            **{ln.name: _("line {name}").format(name=plant(ln.name)) for _skip, ln in rt.plant.lines()},
        }
        with frame(rt, ctx, "Handover"):
            slot = rt.shift()
            ui.label(
                _("Shift handover — {name} shift of {isoformat} ({local_time}–{local_time2})").format(
                    name=slot.name,
                    isoformat=slot.date.isoformat(),
                    local_time=local_time(slot.start, self.zone),
                    local_time2=local_time(slot.end, self.zone),
                )
            ).classes("hmi-title")
            self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "handover-status")
            with ui.row().classes("items-end gap-3"):
                self.scope = testid(ui.select(scopes, value="", label=_("Scope")).classes("w-48"), "handover-scope")
                if self.may_sign:
                    testid(ui.button(_("Draft report"), on_click=command(rt, self.draft)), "handover-draft")
                else:
                    ui.label(
                        _("Your role ({value}) may read handovers but not sign them.").format(value=ctx.role.value)
                    ).classes("hmi-muted")
            self.report = testid(ui.column().classes("w-full max-w-4xl gap-2"), "handover-report")
            self.listing = ui.column().classes("w-full max-w-4xl gap-1")
        ui.timer(0.0, self.recent, once=True)

    async def draft(self, actor: ActionContext) -> None:
        """Draft (or redraft) the report of the running shift for the chosen scope."""
        handover = await attempt(self.status, N_("drafted"), self.rt.handover.draft(actor, self.scope.value or ""))
        if handover is not None:
            self.status.set_text(_("Report drafted."))
            await self.show(handover)

    async def show(self, handover: Handover) -> None:
        """The report, its signatures, the open items and what this person may sign of it."""
        data = json.loads(handover.content)
        items: list[str] = json.loads(handover.open_items)
        signatures = await self.rt.handover.signatures_of(handover)
        valid = await self.rt.handover.verify(handover)
        self.report.clear()
        with self.report, ui.column().classes("hmi-panel p-3 w-full gap-1"):
            ui.label(
                _("Handover {id} · {data} · {shift_name} {isoformat} · {replace}").format(
                    id=handover.id,
                    data=data["scope"],
                    shift_name=handover.shift_name,
                    isoformat=handover.shift_date.isoformat(),
                    replace=handover.state.value.replace("_", " "),
                )
            ).classes("font-bold")
            report_content(data)
            for s in signatures:
                testid(ui.label(self.rt.signatures.manifestation(s, self.zone)), "signature")
            if signatures:
                ui.label(
                    _("Signatures match the content.")
                    if valid
                    else _("WARNING: the content no longer matches its signatures.")
                ).classes("font-semibold")
            editable = handover.state is HandoverState.DRAFT and self.may_sign
            open_items = testid(
                ui.textarea(_("Open items for the next shift (one a line)"), value="\n".join(items)).props(
                    "" if editable else "readonly"
                ),
                "handover-items",
            ).classes("w-full")
            fields = await self._signature_fields(handover)

            async def sign(actor: ActionContext) -> None:
                if fields is not None:
                    await self.sign(actor, handover, fields, items, open_items.value or "")

            async def download() -> None:
                pdf = await self.rt.handover.pdf(handover, self.zone)
                ui.download(pdf, f"handover-{handover.id}.pdf", "application/pdf")

            with ui.row().classes("gap-2"):
                if fields is not None:
                    label = (
                        _("Sign: handed over")
                        if handover.state is HandoverState.DRAFT
                        else _("Sign: reviewed / accepted")
                    )
                    testid(ui.button(label, on_click=command(self.rt, sign)), "handover-sign")
                testid(ui.button(_("PDF"), on_click=download).props("outline"), "handover-pdf")

    async def _signature_fields(self, handover: Handover) -> SignatureFields | None:
        """The signature this person may give the report now, or None (with the reason when it is their own)."""
        # The service refuses the outgoing lead as the incoming one: the screen does not offer it either.
        # Asked of the service: with signatures off there is no signature, but the hand-over is recorded.
        handed_over_by_me = (
            handover.state is HandoverState.HANDED_OVER
            and await self.rt.handover.handed_over_by(handover) == self.ctx.user_id
        )
        if handed_over_by_me:
            testid(
                ui.label(
                    _("You handed this report over; the incoming lead (another person) reviews and signs it here.")
                ).classes("font-semibold"),
                "handover-own",
            )
        elif self.may_sign and handover.state is not HandoverState.ACCEPTED:
            return SignatureFields(self.rt, self.ctx)
        return None

    async def sign(
        self, actor: ActionContext, handover: Handover, fields: SignatureFields, items: list[str], open_items: str
    ) -> None:
        """Sign as outgoing lead (the open items saved first) or as incoming lead."""
        request = fields.take()
        hid = handover.id or 0
        if handover.state is HandoverState.DRAFT:
            wanted = [i for i in open_items.splitlines() if i.strip()]
            if (
                wanted != items
                and await attempt(self.status, N_("saved"), self.rt.handover.set_open_items(actor, hid, wanted)) is None
            ):
                return
            done = await attempt(self.status, N_("handed over"), self.rt.handover.hand_over(actor, hid, request))
            said = _("Handed over and signed.")
        else:
            done = await attempt(self.status, N_("accepted"), self.rt.handover.accept(actor, hid, request))
            said = _("Reviewed, accepted and signed.")
        if done is not None:
            fields.signed()
            self.status.set_text(said)
            await self.show(done)
            await self.recent()

    async def recent(self) -> None:
        """The last handovers, one touch to show each."""
        try:
            rows = await self.rt.handover.recent(limit=20)
        except DatabaseUnavailable as exc:
            self.status.set_text(_("Handovers cannot be read: {exc}").format(exc=message(exc)))
            return
        self.listing.clear()
        with self.listing:
            ui.label(_("Recent handovers")).classes("font-bold")
            for h in rows:
                ui.button(
                    f"{h.shift_date.isoformat()} {h.shift_name} · {h.scope or 'site'} · "
                    f"{h.state.value.replace('_', ' ')}",
                    on_click=lambda h=h: self.show(h),
                ).props("flat no-caps align=left")
