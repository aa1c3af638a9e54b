"""Alarm notifications for engineers: the recent notifications with their delivery results, and the dead letters
with a retry (audited). The permission is checked, and a refusal audited, on the server before anything shows."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.runtime import Runtime
from hmi.store.models import NotificationDelivery
from screens.fitted_table import fitted_table
from screens.fmt import local_time
from screens.frame import frame
from screens.i18n import N_, _
from screens.outcome import attempt
from screens.restricted import Restriction, permitted
from screens.testid import testid
from screens.widgets import column

COLUMNS: list[dict[str, Any]] = [
    column("at", N_("Time")),
    column("alarm", N_("Alarm")),
    column("rule", N_("Rule")),
    column("channel", N_("Channel")),
    column("recipient", N_("Recipient")),
    column("status", N_("Result")),
    column("attempts", N_("Attempts"), align="right"),
    column("error", N_("Last error")),
]
# Time, alarm and result are always shown; the rest from the width named, below it in the row's details
# (screens/fitted_table.py).
SHOWN_FROM = {"error": 600, "channel": 800, "attempts": 800, "rule": 1024, "recipient": 1280}
KEEP_WORDS = ("at", "status", "channel", "attempts")

ENGINEERS = Restriction(
    check=lambda rt, ctx: rt.notifier.require_view(ctx),
    refused=lambda ctx, exc: _(
        "Your role ({value}) may not see alarm notifications; an engineer or an administrator can."
    ).format(value=ctx.role.value),
    unavailable=N_("Notifications cannot be shown"),
    testid="notifications-denied",
)


def _row(rt: Runtime, d: NotificationDelivery) -> dict[str, Any]:
    recipient = f"{d.recipient} ({d.via})" if d.via else d.recipient
    return {
        "uid": d.uid,
        "at": local_time(d.created_at, rt.plant.site.zone, date=True),
        "alarm": f"P{d.priority} {d.alarm_id}",
        "rule": d.rule if d.step == 0 else f"{d.rule} · {_('escalation')} {d.step}",
        "channel": d.channel,
        "recipient": f"{recipient} <{d.address}>" if d.address else recipient,
        "status": d.status.value,
        "attempts": d.attempts,
        "error": d.last_error or "",
    }


async def notifications_page(rt: Runtime, ctx: ActionContext) -> None:
    """The Notifications screen."""
    with frame(rt, ctx, "Notifications"):
        ui.label(_("Alarm notifications")).classes("hmi-title")
        if await permitted(rt, ctx, ENGINEERS):
            screen = NotificationsScreen(rt, ctx)
            await screen.load()


class NotificationsScreen:
    """The dead letters (each with a retry) above the journal of recent notifications."""

    def __init__(self, rt: Runtime, ctx: ActionContext) -> None:
        self.rt = rt
        self.ctx = ctx
        with ui.row().classes("items-center gap-3"):
            testid(ui.button(_("Refresh"), icon="refresh", on_click=self.load), "notifications-refresh")
            self.status = testid(ui.label("").classes("font-semibold").props('role="status"'), "notifications-status")
        ui.label(_("Dead letters")).classes("font-bold")
        ui.label(_("Every attempt to deliver these failed; retry once the receiver works again.")).classes(
            "hmi-muted text-sm"
        )
        self.dead = testid(ui.column().classes("w-full gap-1"), "notifications-dead")
        ui.label(_("Recent notifications")).classes("font-bold")
        self.table = testid(
            fitted_table(COLUMNS, SHOWN_FROM, row_key="uid", keep_words=KEEP_WORDS, pagination=50).props(
                "flat bordered"
            ),
            "notifications-table",
        )

    async def load(self) -> None:
        """Read the journal again (permission checked by the service each time)."""
        recent = await attempt(self.status, _("shown"), self.rt.notifier.recent(self.ctx.for_action()))
        dead = await attempt(self.status, _("shown"), self.rt.notifier.dead_letters(self.ctx.for_action()))
        if recent is None or dead is None:
            return
        self.table.rows = [_row(self.rt, d) for d in recent]
        self.table.update()
        self.dead.clear()
        with self.dead:
            if not dead:
                testid(ui.label(_("No dead letters.")), "notifications-no-dead")
            for d in dead:
                row = _row(self.rt, d)
                with testid(ui.row().classes("items-center gap-3 w-full"), f"dead-{d.uid}"):
                    ui.label(f"{row['at']} · {row['alarm']} · {row['channel']} → {row['recipient']}")
                    ui.label(row["error"]).classes("hmi-muted text-sm")
                    testid(
                        ui.button(_("Retry"), on_click=lambda _e, uid=d.uid: self.retry(uid)),
                        f"retry-{d.uid}",
                    )

    async def retry(self, uid: str) -> None:
        """Send a dead letter again with a fresh set of attempts (audited by the service)."""
        if await attempt(self.status, _("retried"), self.rt.notifier.retry(self.ctx.for_action(), uid)) is None:
            return
        self.status.set_text(_("Queued again; the result shows here when it is known."))
        await self.load()
