"""Alarm notifications end to end: a real alarm engine and alarm service on a real database (SQLite file and the
local PostgreSQL), a real SMTP server (aiosmtpd) and a real HTTP receiver (aiohttp) on loopback, and a stepped
clock instead of waiting minutes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from hmi.access.auth import UserService
from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.alarms.service import AlarmService
from hmi.clock import ManualClock
from hmi.config import PlantConfig, parse_config
from hmi.notify.channels import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from hmi.notify.service import CARRY_S, Notifier, NotRetryable
from hmi.notify.settings import Smtp
from hmi.records.audit import AuditLog
from hmi.records.signatures import SignatureService
from hmi.store.database import Database
from hmi.store.models import NotificationDelivery, NotificationStatus
from tests.conftest import FedEngine, sign_in
from tests.notify_receivers import HookReceiver, SmtpSink, self_signed
from tests.plant_fixture import PLANT_YAML
from tests.waiting import until

HOOK_KEY = "hook-secret-for-tests"
SMTP_PASSWORD = "smtp-password-for-tests"
JAM = "L1.M1.Jam.discrete"  # priority 1
TEMP_H = "L1.M1.Temp.H"  # priority 2

NOTIFICATIONS = """
signatures: {{acknowledge_priority_1: false}}
notifications:
  smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none, from: hmi@plant.example, timeout_s: 5}}
  people:
    - {{name: lena, email: lena@plant.example, full_name: Lena Lead}}
    - {{name: otto, email: otto@plant.example}}
    - {{name: max, email: max@plant.example}}
  groups:
    - {{name: early-leads, members: [lena]}}
    - {{name: late-leads, members: [otto]}}
    - {{name: managers, members: [max]}}
  webhooks:
    - {{name: mes, url: "{hook}/ok", secret: {{env: HMI_TEST_HOOK_KEY}}}}
    - {{name: slow, url: "{hook}/slow", secret: {{env: HMI_TEST_HOOK_KEY}}, timeout_s: 60}}
    - {{name: broken, url: "{hook}/fail?token=abc", secret: {{env: HMI_TEST_HOOK_KEY}}, timeout_s: 5}}
  on_call:
    - {{shift: Early, group: early-leads}}
    - {{shift: Late, group: late-leads}}
    - {{shift: Night, group: late-leads}}
  rules:
    - name: p1-on-call
      match: {{priorities: [1], lines: [L1]}}
      after_min: 2
      notify: [on_call]
      escalate: [{{after_min: 10, notify: [managers]}}]
      quiet_min: 30
    - name: temp-to-mes
      match: {{tags: ["L1.M1.Temp"], priorities: [2]}}
      notify: [mes, broken]
      quiet_min: 0
    - name: level-to-slow
      match: {{tags: ["L1.M1.Level"]}}
      notify: [slow]
  retry: {{attempts: 3, first_delay_s: 10, max_delay_s: 15}}
"""


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def tls_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SmtpSink, Path]]:
    """A mail server that requires STARTTLS, then AUTH as hmi / SMTP_PASSWORD; with its CA certificate."""
    cert, key = self_signed(tmp_path_factory.mktemp("smtp-tls"))
    sink = SmtpSink(tls=(cert, key), login=("hmi", SMTP_PASSWORD))
    sink.start()
    yield sink, cert
    sink.stop()


@pytest.fixture
async def hooks() -> AsyncIterator[HookReceiver]:
    receiver = HookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@dataclass
class Setup:
    plant: PlantConfig
    fed: FedEngine
    alarms: AlarmService
    notifier: Notifier
    clock: ManualClock
    lead: ActionContext
    audit: AuditLog
    current: list[PlantConfig]
    db: Database
    users: UserService

    async def raise_jam(self) -> None:
        self.fed.put("L1.M1.Jam", True)
        assert (alarm := self.fed.engine.get(JAM)) is not None
        assert alarm.state.unacknowledged

    async def step(self, seconds: float) -> list[NotificationDelivery]:
        """Move the clock, run one notifier pass; the notifications journaled at the new time (by this pass, or by
        the notifier's own loop woken by an alarm change)."""
        now = self.clock.advance(seconds)
        await self.notifier.run_once()
        return [r for r in await self.notifier.journal.recent(1000) if r.created_at == now]

    async def settled(self, uid: str, status: NotificationStatus) -> NotificationDelivery:
        async def check() -> NotificationDelivery | None:
            row = await self.notifier.journal.get(uid)
            return row if row is not None and row.status is status else None

        return await until(check, what=f"notification {uid} to be {status.value}")


def alarm_service(
    fed: FedEngine, plant: PlantConfig, db: Database, audit: AuditLog, users: UserService
) -> AlarmService:
    return AlarmService(
        fed.engine,
        db,
        audit,
        fed.clock,
        max_shelve=timedelta(hours=8),
        signature_policy=plant.signatures,
        signatures=SignatureService(db, audit, users, fed.clock),
    )


@pytest.fixture
async def setup(
    db: Database,
    clock: ManualClock,
    audit: AuditLog,
    users: UserService,
    smtp: SmtpSink,
    hooks: HookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Setup]:
    monkeypatch.setenv("HMI_TEST_HOOK_KEY", HOOK_KEY)
    smtp.clear()
    text = PLANT_YAML.format(url="opc.tcp://127.0.0.1:4840") + NOTIFICATIONS.format(smtp_port=smtp.port, hook=hooks.url)
    plant = parse_config(text, "notify-plant.yaml")
    fed = FedEngine(plant, clock)
    fed.put("L1.M1.Jam", False)
    fed.put("L1.M1.Temp", 70.0)
    fed.put("L1.M1.Level", 50.0)
    service = alarm_service(fed, plant, db, audit, users)
    # A long interval: the test's own passes (run_once) decide when the rules are looked at.
    current = [plant]  # what a plant reload replaces
    notifier = Notifier(fed.engine, db, audit, lambda: current[-1], clock, interval_s=3600)
    lead = await sign_in(users, "lena", Role.LEAD, full_name="Lena Lead")
    await notifier.start()
    try:
        yield Setup(plant, fed, service, notifier, clock, lead, audit, current, db, users)
    finally:
        await notifier.stop()
        fed.engine.stop()


@pytest.mark.req("NTF-002")
async def test_a_p1_alarm_left_unacknowledged_reaches_the_on_call_lead_and_escalates(
    setup: Setup, smtp: SmtpSink
) -> None:
    await setup.raise_jam()
    assert await setup.step(119) == [], "nothing before the rule's two minutes"
    first = await setup.step(1)
    assert [(r.recipient, r.via, r.address, r.step) for r in first] == [
        ("lena", "on_call early-leads", "lena@plant.example", 0)
    ]
    await setup.settled(first[0].uid, NotificationStatus.SENT)
    mail = await until(lambda: smtp.to("lena@plant.example"), what="the e-mail to lena")
    assert mail[0]["Subject"].startswith("[P1] L1.M1.Jam: Jam at M1")
    assert "first notification" in mail[0]["Subject"]
    assert JAM in mail[0].get_payload()
    assert await setup.step(599) == [], "the escalation waits its ten minutes"
    escalated = await setup.step(1)
    assert [(r.recipient, r.via, r.step) for r in escalated] == [("max", "managers", 1)]
    await setup.settled(escalated[0].uid, NotificationStatus.SENT)
    mail = await until(lambda: smtp.to("max@plant.example"), what="the escalation e-mail to max")
    assert "escalation 1" in mail[0]["Subject"]
    attempts = await setup.notifier.journal.attempts(escalated[0].uid)
    assert [(a.attempt, a.ok, a.error) for a in attempts] == [(1, True, None)]
    assert await setup.step(3600) == [], "the rule has no further step"


@pytest.mark.req("NTF-002")
async def test_the_on_call_group_follows_the_shift(setup: Setup, smtp: SmtpSink) -> None:
    setup.clock.advance(7 * 3600)  # 14:00 Berlin: the late shift
    await setup.raise_jam()
    rows = await setup.step(120)
    assert [(r.recipient, r.via) for r in rows] == [("otto", "on_call late-leads")]
    await until(lambda: smtp.to("otto@plant.example"), what="the e-mail to the late shift's lead")


@pytest.mark.req("NTF-003")
async def test_acknowledging_stops_the_escalation(setup: Setup, smtp: SmtpSink) -> None:
    await setup.raise_jam()
    assert [r.recipient for r in await setup.step(120)] == ["lena"]
    result = await setup.alarms.acknowledge(setup.lead, [JAM], "on my way")
    assert [c.alarm.id for c in result.changes] == [JAM]
    assert await setup.step(600) == []
    assert await setup.step(3600) == []
    assert smtp.to("max@plant.example") == []


@pytest.mark.req("NTF-003")
async def test_a_return_to_normal_stops_the_escalation(setup: Setup) -> None:
    await setup.raise_jam()
    assert [r.recipient for r in await setup.step(120)] == ["lena"]
    setup.fed.put("L1.M1.Jam", False)
    assert await setup.step(600) == []


@pytest.mark.req("NTF-003")
async def test_repeats_within_the_quiet_time_are_not_notified(setup: Setup) -> None:
    await setup.raise_jam()
    assert [r.recipient for r in await setup.step(120)] == ["lena"]
    await setup.alarms.acknowledge(setup.lead, [JAM])
    setup.fed.put("L1.M1.Jam", False)
    setup.clock.advance(60)
    setup.fed.put("L1.M1.Jam", True)  # the same alarm again, 3 minutes after its notification
    assert await setup.step(120) == [], "within the rule's 30 quiet minutes"
    await setup.alarms.acknowledge(setup.lead, [JAM])
    setup.fed.put("L1.M1.Jam", False)
    setup.clock.advance(30 * 60)
    setup.fed.put("L1.M1.Jam", True)
    assert [r.recipient for r in await setup.step(120)] == ["lena"], "after the quiet time it is notified again"


@pytest.mark.req("NTF-004")
async def test_the_webhook_body_is_signed_and_verifies(setup: Setup, hooks: HookReceiver) -> None:
    setup.fed.put("L1.M1.Temp", 85.0)
    rows = await setup.step(0)
    mes = next(r for r in rows if r.recipient == "mes")
    assert mes.address == f"{hooks.url}/ok"
    await setup.settled(mes.uid, NotificationStatus.SENT)
    (got,) = hooks.to("/ok")
    assert verify(HOOK_KEY, got.body, got.headers[SIGNATURE_HEADER])
    assert not verify("another key", got.body, got.headers[SIGNATURE_HEADER])
    assert not verify(HOOK_KEY, got.body + b" ", got.headers[SIGNATURE_HEADER])
    assert got.headers[DELIVERY_HEADER] == mes.uid
    payload = json.loads(got.body)
    assert payload["alarm"]["id"] == TEMP_H
    assert payload["alarm"]["priority"] == 2
    assert payload["alarm"]["value"] == 85.0
    assert payload["recipient"] == "mes"
    assert payload["rule"] == "temp-to-mes"


@pytest.mark.req("NTF-004", "NTF-005")
async def test_a_failing_webhook_is_retried_with_back_off_then_dead_and_retried_by_an_engineer(
    setup: Setup, hooks: HookReceiver, users: UserService
) -> None:
    setup.fed.put("L1.M1.Temp", 85.0)
    rows = await setup.step(0)
    broken = next(r for r in rows if r.recipient == "broken")
    assert broken.address == f"{hooks.url}/fail", "the query (a token) is not journaled"

    async def attempts(n: int) -> bool:
        row = await setup.notifier.journal.get(broken.uid)
        return row is not None and row.attempts == n

    await until(lambda: attempts(1), what="the first attempt")
    assert await setup.step(9) == []
    assert len(hooks.to("/fail")) == 1, "no retry before the first delay (10 s)"
    await setup.step(1)
    await until(lambda: attempts(2), what="the second attempt")
    await setup.step(14)
    assert len(hooks.to("/fail")) == 2, "the second delay is twice the first, capped at 15 s"
    await setup.step(1)
    dead = await setup.settled(broken.uid, NotificationStatus.DEAD)
    assert dead.attempts == 3
    assert dead.last_error is not None
    assert "HTTP 500" in dead.last_error
    assert len(hooks.to("/fail")) == 3
    tries = await setup.notifier.journal.attempts(broken.uid)
    assert [(a.attempt, a.ok) for a in tries] == [(1, False), (2, False), (3, False)]
    assert [a.at - tries[0].at for a in tries] == [timedelta(0), timedelta(seconds=10), timedelta(seconds=25)]
    await setup.step(3600)
    assert len(hooks.to("/fail")) == 3, "a dead letter is not tried again by itself"

    with pytest.raises(Exception, match="manage notifications"):
        await setup.notifier.retry(setup.lead, broken.uid)
    engineer = await sign_in(users, "erik", Role.ENGINEER)
    hooks.healed = True
    await setup.notifier.retry(engineer, broken.uid)
    await setup.settled(broken.uid, NotificationStatus.SENT)
    assert len(hooks.to("/fail")) == 4
    with pytest.raises(NotRetryable, match="not a dead letter"):
        await setup.notifier.retry(engineer, broken.uid)
    (entry,) = await setup.audit.query(action="notification.retry")
    assert entry.username == "erik"
    assert entry.object_id == broken.uid
    assert entry.old_value == "dead"
    assert entry.new_value == "pending"
    assert await setup.audit.query(action="notification.retry.denied")


@pytest.mark.req("NTF-004")
async def test_an_unreachable_mail_server_is_retried_and_journaled(setup: Setup) -> None:
    bad = setup.plant.notifications.model_copy(
        update={"smtp": setup.plant.notifications.smtp.model_copy(update={"port": 1})}  # type: ignore[union-attr]
    )
    plant = setup.plant.model_copy(update={"notifications": bad})
    setup.current.append(plant)  # as a plant reload would leave it
    await setup.raise_jam()
    (row,) = await setup.step(120)
    await until(lambda: _attempted(setup, row.uid), what="the first attempt's result")
    failed = await setup.notifier.journal.get(row.uid)
    assert failed is not None
    assert failed.status is NotificationStatus.PENDING
    assert failed.last_error is not None
    assert "cannot be reached" in failed.last_error


async def _attempted(setup: Setup, uid: str) -> bool:
    row = await setup.notifier.journal.get(uid)
    return row is not None and row.attempts >= 1


@pytest.mark.req("NTF-002")
async def test_stopping_ends_a_delivery_in_flight_and_keeps_it_pending(setup: Setup, hooks: HookReceiver) -> None:
    setup.fed.put("L1.M1.Level", 5.0)  # its L alarm: the webhook that answers only when released
    (row,) = await setup.step(0)
    await until(lambda: hooks.to("/slow"), what="the delivery to reach the slow receiver")
    assert setup.fed.engine.get(JAM) is None, "the alarm path goes on while a delivery waits"
    setup.fed.put("L1.M1.Jam", True)
    assert setup.fed.engine.get(JAM) is not None
    await setup.notifier.stop()  # returns although the receiver never answered (pytest-timeout would catch a hang)
    stopped = await setup.notifier.journal.get(row.uid)
    assert stopped is not None
    assert stopped.status is NotificationStatus.PENDING
    assert stopped.attempts == 0
    await setup.notifier.start()  # the next start takes it up again
    hooks.release.set()
    await setup.settled(row.uid, NotificationStatus.SENT)


@pytest.mark.req("NTF-002")
@pytest.mark.parametrize(("password", "sent"), [(SMTP_PASSWORD, True), ("a wrong password", False)])
async def test_e_mail_goes_over_starttls_with_the_credentials(
    setup: Setup, tls_smtp: tuple[SmtpSink, Path], monkeypatch: pytest.MonkeyPatch, password: str, sent: bool
) -> None:
    sink, ca = tls_smtp
    sink.clear()
    monkeypatch.setenv("HMI_TEST_SMTP_PASSWORD", password)
    smtp = Smtp.model_validate(
        {
            "host": "127.0.0.1",
            "port": sink.port,
            "security": "starttls",
            "username": "hmi",
            "password": {"env": "HMI_TEST_SMTP_PASSWORD"},
            "ca_file": str(ca),
            "from": "hmi@plant.example",
            "timeout_s": 5,
        }
    )
    notifications = setup.plant.notifications.model_copy(update={"smtp": smtp})
    setup.current.append(setup.plant.model_copy(update={"notifications": notifications}))
    await setup.raise_jam()
    (row,) = await setup.step(120)
    await until(lambda: _attempted(setup, row.uid), what="the first attempt's result")
    done = await setup.notifier.journal.get(row.uid)
    assert done is not None
    if sent:
        assert done.status is NotificationStatus.SENT
        mail = sink.to("lena@plant.example")
        assert len(mail) == 1
        assert sink.logins[-1] == "hmi"
    else:
        assert done.status is NotificationStatus.PENDING
        assert done.last_error is not None
        assert "refused" in done.last_error
        assert password not in done.last_error


async def restarted(setup: Setup, down_s: float) -> Notifier:
    """Stop the notifier and the alarm engine as a shutdown does; `down_s` later start new ones on the same database,
    and the jam is still there (the new engine raises it afresh, as a new activation)."""
    await setup.notifier.stop()
    setup.fed.engine.stop()
    setup.clock.advance(down_s)
    setup.fed = FedEngine(setup.plant, setup.clock)
    setup.fed.put("L1.M1.Jam", False)
    setup.alarms = alarm_service(setup.fed, setup.plant, setup.db, setup.audit, setup.users)
    setup.notifier = Notifier(
        setup.fed.engine, setup.db, setup.audit, lambda: setup.current[-1], setup.clock, interval_s=3600
    )
    await setup.notifier.start()
    return setup.notifier


@pytest.mark.req("NTF-002", "NTF-003")
async def test_a_restart_continues_the_escalation_where_it_was(setup: Setup, smtp: SmtpSink) -> None:
    await setup.raise_jam()
    assert [r.recipient for r in await setup.step(120)] == ["lena"]
    await restarted(setup, down_s=300)
    await setup.raise_jam()
    assert await setup.step(0) == [], "the on-call lead was told before the restart; not again"
    assert await setup.step(299) == [], "the escalation still counts from when the jam began waiting"
    escalated = await setup.step(1)
    assert [(r.recipient, r.step) for r in escalated] == [("max", 1)]
    assert "unacknowledged 12 min" in escalated[0].subject
    await setup.alarms.acknowledge(setup.lead, [JAM])
    await setup.step(0)
    assert await setup.notifier.journal.escalations() == {}, "an acknowledged alarm has nothing under way"


@pytest.mark.req("NTF-003")
async def test_the_quiet_time_and_an_acknowledgement_hold_over_a_restart(setup: Setup) -> None:
    await setup.raise_jam()
    assert [r.recipient for r in await setup.step(120)] == ["lena"]
    await setup.alarms.acknowledge(setup.lead, [JAM])
    await setup.step(0)
    await restarted(setup, down_s=60)
    await setup.raise_jam()
    assert await setup.step(120) == [], "within the rule's 30 quiet minutes, though the notifier is new"


@pytest.mark.req("NTF-003")
async def test_an_escalation_whose_alarm_does_not_come_back_after_a_restart_ends(setup: Setup) -> None:
    await setup.raise_jam()
    assert [r.recipient for r in await setup.step(120)] == ["lena"]
    assert list(await setup.notifier.journal.escalations()) == [(JAM, "p1-on-call")]
    await restarted(setup, down_s=60)
    await setup.step(CARRY_S - 1)
    assert list(await setup.notifier.journal.escalations()) == [(JAM, "p1-on-call")], "its values may still come"
    assert await setup.step(1) == []
    assert await setup.notifier.journal.escalations() == {}, "the jam did not come back: its escalation ended"
    await setup.raise_jam()
    assert await setup.step(600) == [], "a later jam is a new episode: its first step waits out the quiet time"
