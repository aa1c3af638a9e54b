"""The Notifications screen (NiceGUI User, real runtime on SQLite, a real OPC UA server and a real HTTP receiver):
a webhook that keeps failing ends as a dead letter engineers see and retry; other roles are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hmi.access.roles import Role
from hmi.config import PlantConfig, parse_config
from hmi.store.models import NotificationStatus
from tests.notify_receivers import HookReceiver
from tests.plant_fixture import INITIAL, PLANT_YAML
from tests.screens.conftest import USERS, Harness, harness_on, table_fit, table_rows

NOTIFICATIONS = """
notifications:
  webhooks:
    - {{name: mes, url: "{hook}/fail", secret: {{env: HMI_TEST_HOOK_KEY}}, timeout_s: 5}}
  rules:
    - {{name: temp-to-mes, match: {{tags: [L1.M1.Temp]}}, notify: [mes]}}
  retry: {{attempts: 2, first_delay_s: 0.2, max_delay_s: 0.2}}
"""


@pytest.fixture
async def hooks() -> AsyncIterator[HookReceiver]:
    receiver = HookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def hmi(tmp_path: Path, hooks: HookReceiver, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setenv("HMI_TEST_HOOK_KEY", "screen-hook-key")

    def plant(url: str) -> PlantConfig:
        text = PLANT_YAML.format(url=url) + NOTIFICATIONS.format(hook=hooks.url)
        return parse_config(text, "notify-plant.yaml")

    users = (*USERS, ("erik", Role.ENGINEER, "Erik Engineer"))
    async with harness_on(tmp_path, plant, INITIAL, ready=["L1.M1.Temp"], users=users) as harness:
        yield harness


async def dead_letter(hmi: Harness) -> str:
    async def dead() -> str | None:
        rows = await hmi.rt.notifier.journal.recent(10, status=NotificationStatus.DEAD)
        return rows[0].uid if rows else None

    return await hmi.until(dead, what="the failing webhook's notification to become a dead letter")


@pytest.mark.req("NTF-005", "NTF-004")
async def test_an_engineer_sees_the_dead_letter_and_retries_it(hmi: Harness, hooks: HookReceiver) -> None:
    await hmi.raise_temp_h()
    uid = await dead_letter(hmi)
    assert len(hooks.to("/fail")) == 2, "tried twice, as the plant file says"
    await hmi.login("erik")
    await hmi.user.open("/notifications")
    await hmi.user.should_see(marker=f"dead-{uid}", retries=50)
    await hmi.user.should_see("HTTP 500", retries=50)
    [row] = table_rows(hmi, "notifications-table")
    assert row["alarm"] == "P2 L1.M1.Temp.H"
    assert row["status"] == "dead"
    assert row["attempts"] == 2
    assert row["recipient"] == f"mes <{hooks.url}/fail>"
    hooks.healed = True
    hmi.user.find(marker=f"retry-{uid}").click()
    await hmi.user.should_see("Queued again", retries=50)

    async def sent() -> bool:
        row = await hmi.rt.notifier.journal.get(uid)
        return row is not None and row.status is NotificationStatus.SENT

    await hmi.until(sent, what="the retried notification to be delivered")
    hmi.user.find(marker="notifications-refresh").click()
    await hmi.user.should_see(marker="notifications-no-dead", retries=50)
    [entry] = await hmi.rt.audit.query(action="notification.retry")
    assert entry.username == "erik"
    assert entry.object_id == uid


@pytest.mark.req("NTF-005")
async def test_the_menu_offers_notifications_to_engineers_only(hmi: Harness) -> None:
    await hmi.login("erik")
    await hmi.user.should_see(marker="menu-notifications", retries=50)
    await hmi.logout()
    await hmi.login("lena")
    await hmi.user.should_not_see(marker="menu-notifications")


@pytest.mark.req("NTF-005")
async def test_a_lead_is_refused_on_the_server_and_the_refusal_is_audited(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/notifications")
    await hmi.user.should_see("Your role (lead) may not see alarm notifications", retries=50)
    await hmi.user.should_not_see(marker="notifications-table")
    [denied] = await hmi.rt.audit.query(username="lena", action="notification.view.denied")
    assert denied.reason == "role lead lacks manage_notifications"


@pytest.mark.req("UI-104")
async def test_the_notifications_table_keeps_time_alarm_and_result_and_puts_the_rest_in_the_details_row(
    hmi: Harness,
) -> None:
    await hmi.raise_temp_h()
    await dead_letter(hmi)
    await hmi.login("erik")
    await hmi.user.open("/notifications")
    await hmi.until(lambda: bool(table_rows(hmi, "notifications-table")), timeout=10)
    classes, details = table_fit(hmi, "notifications-table")
    assert not any("hmi-from" in classes[n] for n in ("at", "alarm", "status"))
    assert details == {"error": 600, "channel": 800, "attempts": 800, "rule": 1024, "recipient": 1280}
    assert all(f"hmi-from-{w}" in classes[n] for n, w in details.items())
    [row] = table_rows(hmi, "notifications-table")
    assert row["error"]
    assert row["channel"] == "webhook"
