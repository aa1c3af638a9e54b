"""The notifier: watches the alarms waiting for an acknowledgement and tells people and systems about them.

Owned by the runtime (started and stopped with it) and driven by the injected clock. The alarm engine's listener
only wakes the notifier's loop, so the alarm path never waits for a mail server or a webhook (ISA-18.2 §11: the
operator's annunciation comes first; remote notification is an addition to it, never in its way). Deliveries run
as tasks of their own, at most `concurrency` at a time, each journaled before its first attempt.

Which alarms are notified (ISA-18.2 §5 states): those that still wait for an operator's response, ACTIVE_UNACK and
LATCHED_UNACK. Acknowledging stops the rule's escalation; so does a return to normal (RTN_UNACK: the process no
longer needs anyone called) and shelving, suppression or removal from service (the alarm is deliberately out of
the operator's list, ISA-18.2 §§14-15). A re-activation is a new episode, subject to the rule's quiet time.

A restart keeps both: escalations under way are stored (notification_escalations) and the quiet times are read back
from the journal, so an alarm still waiting after a restart continues at its next step, counted from when it began
waiting, instead of telling the first group again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.alarms.engine import Alarm, AlarmEngine
from hmi.alarms.states import AlarmState
from hmi.clock import Clock, utc_now
from hmi.config import PlantConfig
from hmi.notify.channels import DeliveryError, post_webhook, send_email, shown_url
from hmi.notify.journal import Escalations, NotificationJournal
from hmi.notify.settings import ON_CALL, Notifications, Rule
from hmi.records.audit import AuditLog
from hmi.shifts import current_shift
from hmi.store.database import Database, DatabaseUnavailable
from hmi.store.models import NotificationDelivery, NotificationStatus
from hmi.supervise import Supervised, stop_tasks

log = logging.getLogger(__name__)

NOTIFIED_STATES = frozenset({AlarmState.ACTIVE_UNACK, AlarmState.LATCHED_UNACK})
"""States in which an alarm is notified and escalated; leaving them stops the escalation."""
EMAIL = "email"
WEBHOOK = "webhook"
VIEW_ACTION = "notification.view"
RETRY_ACTION = "notification.retry"
CARRY_S = 300.0
"""How long after a start an escalation stored by the previous run waits for its alarm to be raised again (the
endpoints reconnect and deliver their values first); after that, or once the alarm is seen not waiting, it ends."""


class NotRetryable(ValueError):
    """The notification cannot be retried (unknown, or not a dead letter); the message says why."""


@dataclass
class _Job:
    """A delivery still to be tried."""

    uid: str
    channel: str
    recipient: str
    address: str
    subject: str
    body: str
    attempts: int
    due: datetime


class Notifier:
    """Turns unacknowledged alarms into journaled e-mails and webhook calls per the plant's notification rules."""

    def __init__(
        self,
        alarms: AlarmEngine,
        db: Database,
        audit: AuditLog,
        plant: Callable[[], PlantConfig],
        clock: Clock = utc_now,
        *,
        interval_s: float = 0.5,
        concurrency: int = 4,
    ) -> None:
        self._alarms = alarms
        self._audit = audit
        self._plant = plant
        self._clock = clock
        self._interval = interval_s
        self.journal = NotificationJournal(db)
        # (alarm id, activation, rule) -> the next step of that rule for that episode of the alarm, and when the
        # episode began waiting (its steps count from there; for an escalation carried over a restart, the first run's).
        self._progress: dict[tuple[str, int, str], int] = {}
        self._since: dict[tuple[str, int, str], datetime] = {}
        # (alarm id, rule) -> (since, next step): escalations the previous run left under way, until taken up.
        self._carried: dict[tuple[str, str], tuple[datetime, int]] = {}
        self._started = clock()
        # What the last passes changed in the escalations under way, until stored.
        self._unsaved: Escalations = {}
        # (rule, alarm id, step) -> when that step last went out: the rule's quiet repeats.
        self._last_sent: dict[tuple[str, str, int], datetime] = {}
        self._jobs: dict[str, _Job] = {}
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        # One pass at a time: a pass journals what it planned before the next one looks.
        self._pass = asyncio.Lock()
        self._loop = Supervised("notifier", self._run)
        self._unsubscribe: Callable[[], None] | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def settings(self) -> Notifications:
        """The plant's notification section as it is now (a reload may change it)."""
        return self._plant().notifications

    # ------------------------------------------------------------------------------------------------ life
    async def start(self) -> None:
        """Take up the deliveries a previous run left pending, then follow the alarms."""
        # No redirects: a signed body must reach the configured URL or fail, not wander to another host.
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._started = now = self._clock()
        try:
            for row in await self.journal.pending():
                self._queue(row)
            self._carried = await self.journal.escalations()
            longest = max((r.quiet_min for r in self.settings.rules), default=0.0)
            self._last_sent = await self.journal.last_sent(now - timedelta(minutes=longest))
        except DatabaseUnavailable as exc:
            log.warning("pending notifications and escalations not loaded (each alarm starts afresh): %s", exc)
        self._unsubscribe = self._alarms.subscribe(lambda _changes: self._wake.set())
        self._loop.start()

    async def stop(self) -> None:
        """Stop following alarms and end every delivery in flight (it stays pending for the next start)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._loop.stop()
        tasks, self._tasks = set(self._tasks), set()
        await stop_tasks(*tasks)
        self._busy.clear()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def wake(self) -> None:
        """Look at the alarms and the due deliveries now rather than at the next interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that arrives as the
            # event is set, and stop() would then wait for the next interval.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.run_once()

    async def run_once(self) -> None:
        """One pass: journal the notifications that are due, then start the deliveries that are due."""
        async with self._pass:
            await self._run_pass()

    async def _run_pass(self) -> None:
        now = self._clock()
        rows = self._plan(now)
        if rows:
            try:
                await self.journal.add(rows)
            except DatabaseUnavailable as exc:
                # Sent anyway: telling people matters more than the journal row, which the log stands in for.
                log.error("notifications not journaled (%s); sending them anyway", exc)
            for row in rows:
                if row.status is NotificationStatus.PENDING:
                    self._queue(row)
        if self._unsaved:
            try:
                await self.journal.save_escalations(self._unsaved, now)
                self._unsaved = {}
            except DatabaseUnavailable as exc:
                # Kept for the next pass; meanwhile only a restart would lose them (the alarm then starts afresh).
                log.warning("escalation progress not stored yet: %s", exc)
        for job in list(self._jobs.values()):
            if job.uid not in self._busy and job.due <= now:
                self._busy.add(job.uid)
                task = asyncio.create_task(self._attempt(job), name=f"notify-{job.uid}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    # --------------------------------------------------------------------------------------------- rules
    def _plan(self, now: datetime) -> list[NotificationDelivery]:
        """The notifications due at `now`; escalations of alarms no longer waiting are forgotten."""
        settings = self.settings
        rows: list[NotificationDelivery] = []
        live: set[tuple[str, int, str]] = set()
        for alarm in self._alarms.active():
            if alarm.state not in NOTIFIED_STATES:
                continue
            since = alarm.activated_at or alarm.changed_at
            for rule in settings.rules:
                if not rule.matches(alarm.priority, alarm.area, alarm.line, alarm.tag):
                    continue
                key = (alarm.id, alarm.activation, rule.name)
                live.add(key)
                if key not in self._progress:
                    # A new episode, or one the previous run left under way (the restart raised it afresh).
                    self._since[key], self._progress[key] = self._carried.pop((alarm.id, rule.name), (since, 0))
                    self._unsaved[(alarm.id, rule.name)] = (self._since[key], self._progress[key])
                began, before = self._since[key], self._progress[key]
                step = before
                offsets = rule.step_offsets_s()
                while step < len(offsets) and now >= began + timedelta(seconds=offsets[step]):
                    quiet_key = (rule.name, alarm.id, step)
                    last = self._last_sent.get(quiet_key)
                    if last is None or now - last >= timedelta(minutes=rule.quiet_min):
                        rows += self._deliveries(alarm, rule, step, began, now, settings)
                        self._last_sent[quiet_key] = now
                    else:
                        log.info("%s step %d for %s within the quiet time; not repeated", rule.name, step, alarm.id)
                    step += 1
                if step != before:
                    self._progress[key] = step
                    self._unsaved[(alarm.id, rule.name)] = (began, step)
        still = {(alarm_id, rule_name) for alarm_id, _activation, rule_name in live}
        for key in set(self._progress) - live:
            del self._progress[key]
            del self._since[key]
            alarm_id, _activation, rule_name = key
            if (alarm_id, rule_name) not in still:  # not the same alarm's next episode under this rule
                self._unsaved[(alarm_id, rule_name)] = None
        for carried in list(self._carried):
            seen = self._alarms.get(carried[0])
            seen_not_waiting = seen is not None and seen.state not in NOTIFIED_STATES
            if seen_not_waiting or now - self._started >= timedelta(seconds=CARRY_S):
                del self._carried[carried]
                self._unsaved[carried] = None
        longest = max((r.quiet_min for r in settings.rules), default=0.0)
        for quiet_key, at in list(self._last_sent.items()):
            if now - at > timedelta(minutes=longest):
                del self._last_sent[quiet_key]
        return rows

    def _deliveries(
        self, alarm: Alarm, rule: Rule, step: int, since: datetime, now: datetime, settings: Notifications
    ) -> list[NotificationDelivery]:
        """One journal row per person (e-mail) and per webhook that step `step` of `rule` tells about `alarm`,
        waiting since `since`."""
        plant = self._plant()
        subject, text, payload = _content(alarm, rule, step, since, now, plant)
        rows: list[NotificationDelivery] = []
        people: dict[str, str] = {}  # person -> the group they are told as ("" when named directly)
        hooks: list[str] = []

        def row(**fields: Any) -> NotificationDelivery:
            return NotificationDelivery(
                created_at=now,
                updated_at=now,
                alarm_id=alarm.id,
                activation=alarm.activation,
                priority=alarm.priority,
                rule=rule.name,
                step=step,
                subject=subject,
                **fields,
            )

        for name in rule.recipients(step):
            group_name = name
            if name == ON_CALL:
                shift = current_shift(plant.site, now).name
                on_call = settings.on_call_group(shift)
                if on_call is None:
                    error = f"no on-call group for shift {shift}; add one under notifications.on_call"
                    rows.append(
                        row(
                            channel=EMAIL,
                            recipient=ON_CALL,
                            address="",
                            body=text,
                            status=NotificationStatus.UNDELIVERABLE,
                            last_error=error,
                        )
                    )
                    continue
                group_name = on_call
            if (group := settings.group(group_name)) is not None:
                via = f"{ON_CALL} {group.name}" if name == ON_CALL else group.name
                for member in group.members:
                    people.setdefault(member, via)
            elif settings.person(name) is not None:
                people[name] = ""
            elif settings.webhook(name) is not None and name not in hooks:
                hooks.append(name)
        for name, via in people.items():
            person = settings.person(name)
            if person is not None:
                rows.append(
                    row(
                        channel=EMAIL,
                        recipient=name,
                        via=via,
                        address=person.email,
                        body=text,
                        status=NotificationStatus.PENDING,
                        next_attempt_at=now,
                    )
                )
        for name in hooks:
            hook = settings.webhook(name)
            if hook is not None:
                body = json.dumps({**payload, "recipient": name}, sort_keys=True, separators=(",", ":"))
                rows.append(
                    row(
                        channel=WEBHOOK,
                        recipient=name,
                        address=shown_url(hook.url),
                        body=body,
                        status=NotificationStatus.PENDING,
                        next_attempt_at=now,
                    )
                )
        return rows

    # ------------------------------------------------------------------------------------------ delivery
    def _queue(self, row: NotificationDelivery) -> None:
        self._jobs[row.uid] = _Job(
            row.uid,
            row.channel,
            row.recipient,
            row.address,
            row.subject,
            row.body,
            row.attempts,
            row.next_attempt_at or row.created_at,
        )

    async def _attempt(self, job: _Job) -> None:
        try:
            async with self._semaphore:
                error = await self._deliver(job)
            now = self._clock()
            attempt = job.attempts + 1
            retry = self.settings.retry
            next_at: datetime | None = None
            if error is None:
                status = NotificationStatus.SENT
            elif attempt >= retry.attempts:
                status = NotificationStatus.DEAD
                log.warning("notification %s is a dead letter after %d attempts: %s", job.uid, attempt, error)
            else:
                status = NotificationStatus.PENDING
                next_at = now + timedelta(seconds=retry.delay_s(attempt))
            job.attempts = attempt
            if next_at is None:
                self._jobs.pop(job.uid, None)
            else:
                job.due = next_at
            try:
                await self.journal.attempted(job.uid, attempt, now, error, status, next_at)
            except DatabaseUnavailable as exc:
                log.error("notification %s: result %s not journaled: %s", job.uid, status.value, exc)
        finally:
            self._busy.discard(job.uid)

    async def _deliver(self, job: _Job) -> str | None:
        """Try once; None when delivered, else why not."""
        settings = self.settings
        try:
            if job.channel == EMAIL:
                if settings.smtp is None:
                    raise DeliveryError("no smtp server in the plant file; add notifications.smtp")
                await send_email(settings.smtp, job.address, job.subject, job.body)
            else:
                hook = settings.webhook(job.recipient)
                if hook is None:
                    raise DeliveryError(f"webhook {job.recipient} is no longer in the plant file")
                if self._client is None:
                    raise DeliveryError("the notifier is stopped")
                await post_webhook(self._client, hook, job.body.encode("utf-8"), job.uid)
        except DeliveryError as exc:
            return str(exc)
        except Exception as exc:  # one broken delivery must not end the others; the journal keeps the reason
            log.exception("notification %s failed unexpectedly", job.uid)
            return f"{type(exc).__name__}: {exc}"
        return None

    # -------------------------------------------------------------------------------------- for engineers
    async def require_view(self, ctx: ActionContext) -> None:
        """Return when `ctx` may see the notification journal; otherwise audit the refusal and raise."""
        await self._audit.require(
            ctx, Permission.MANAGE_NOTIFICATIONS, action=VIEW_ACTION, object_type="notification", object_id="journal"
        )

    async def recent(self, ctx: ActionContext, limit: int = 200) -> list[NotificationDelivery]:
        """The newest notifications, for a person allowed to see them."""
        await self.require_view(ctx)
        return await self.journal.recent(limit)

    async def dead_letters(self, ctx: ActionContext, limit: int = 200) -> list[NotificationDelivery]:
        """The notifications every attempt failed for, newest first, for a person allowed to see them."""
        await self.require_view(ctx)
        return await self.journal.recent(limit, status=NotificationStatus.DEAD)

    async def retry(self, ctx: ActionContext, uid: str) -> str:
        """Try a dead letter again with a fresh set of attempts; audited as `notification.retry`. Returns `uid`."""
        await self._audit.require(
            ctx, Permission.MANAGE_NOTIFICATIONS, action=RETRY_ACTION, object_type="notification", object_id=uid
        )
        now = self._clock()
        async with self._audit.transaction() as session:
            query = sa.select(NotificationDelivery).where(col(NotificationDelivery.uid) == uid)
            row = (await session.execute(query)).scalar_one_or_none()
            if row is None:
                raise NotRetryable(f"notification {uid} does not exist")
            if row.status is not NotificationStatus.DEAD:
                raise NotRetryable(
                    f"notification {uid} is {row.status.value}, not a dead letter; only those are retried"
                )
            await session.execute(
                sa.update(NotificationDelivery)
                .where(col(NotificationDelivery.uid) == uid)
                .values(status=NotificationStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
            )
            await self._audit.record(
                ctx,
                RETRY_ACTION,
                "notification",
                uid,
                old_value=NotificationStatus.DEAD.value,
                new_value=NotificationStatus.PENDING.value,
                detail=f"{row.channel} to {row.recipient} about alarm {row.alarm_id} "
                f"(rule {row.rule}, step {row.step})",
                session=session,
            )
        row.status = NotificationStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        self._queue(row)
        self.wake()
        return uid


def _content(
    alarm: Alarm, rule: Rule, step: int, since: datetime, now: datetime, plant: PlantConfig
) -> tuple[str, str, dict[str, Any]]:
    """The e-mail subject and text and the webhook payload of one notification about `alarm`, waiting since `since`."""
    waiting_min = max(0, int((now - since).total_seconds() // 60))
    local = since.astimezone(plant.site.zone)
    stage = "first notification" if step == 0 else f"escalation {step}"
    subject = f"[P{alarm.priority}] {alarm.name}: {alarm.message} — unacknowledged {waiting_min} min ({stage})"
    value = (
        alarm.value if isinstance(alarm.value, bool | int | float | str) or alarm.value is None else str(alarm.value)
    )
    text = "\n".join(
        [
            f"Alarm {alarm.id} at {plant.site.name} is waiting for an acknowledgement.",
            "",
            f"Message:   {alarm.message}",
            f"Priority:  {alarm.priority}",
            f"Where:     area {alarm.area}, line {alarm.line}, tag {alarm.name}",
            f"State:     {alarm.state.label}",
            f"Value:     {value}",
            f"Since:     {local:%Y-%m-%d %H:%M:%S %Z} ({since.isoformat()})",
            f"Waiting:   {waiting_min} min",
            f"Rule:      {rule.name}, {stage}",
            "",
            "Acknowledge it at an HMI panel to stop the escalation.",
        ]
    )
    payload: dict[str, Any] = {
        "event": "alarm.unacknowledged",
        "site": plant.site.name,
        "rule": rule.name,
        "step": step,
        "sent_at": now.isoformat(),
        "alarm": {
            "id": alarm.id,
            "activation": alarm.activation,
            "priority": alarm.priority,
            "message": alarm.message,
            "tag": alarm.name,
            "area": alarm.area,
            "line": alarm.line,
            "state": alarm.state.value,
            "value": value,
            "activated_at": since.isoformat(),
        },
    }
    return subject, text, payload
