"""The frame at every panel size, as far as the server decides it: the menu with the navigation, the alarm banner
(one row, the count of the others, expandable), tables whose columns appear by width, and messages said next to
their controls. The widths themselves are the browser's: tests/browser/test_viewports.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from nicegui import ui

from hmi.alarms.engine import Alarm
from hmi.alarms.states import AlarmState, AlarmStatus
from screens.alarm_banner import banner_order
from screens.fitted_table import MORE, body_template, fit_columns
from screens.widgets import column
from tests.screens.conftest import PASSWORD, Harness, element

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def an_alarm(name: str, priority: int, minute: int, *, first_out: bool = False, state: AlarmState) -> Alarm:
    at = T0 + timedelta(minutes=minute)
    return Alarm(
        id=name,
        priority=priority,
        message=name,
        tag=name,
        line="L1",
        area="A",
        status=AlarmStatus(lifecycle=state, condition=True),
        changed_at=at,
        activated_at=at,
        first_out=first_out,
    )


def texts(hmi: Harness, marker: str) -> list[str]:
    """The texts of the visible elements marked `marker`, top to bottom."""
    try:
        found = hmi.user.find(marker=marker).elements
    except AssertionError:  # none visible
        return []
    return [e.text for e in sorted(found, key=lambda e: e.id) if isinstance(e, ui.label)]


@pytest.mark.req("UI-102")
def test_banner_order_is_priority_then_first_out_then_newest() -> None:
    unack = AlarmState.ACTIVE_UNACK
    alarms = [
        an_alarm("p2-new", 2, 9, state=unack),
        an_alarm("p1-old", 1, 1, state=unack),
        an_alarm("p1-new", 1, 5, state=unack),
        an_alarm("p1-first-out", 1, 0, first_out=True, state=unack),
        an_alarm("p1-acked", 1, 8, state=AlarmState.ACTIVE_ACK),
        an_alarm("p3-returned", 3, 2, state=AlarmState.RTN_UNACK),
    ]
    assert [a.id for a in banner_order(alarms)] == ["p1-first-out", "p1-new", "p1-old", "p2-new", "p3-returned"]
    # A server alarm without an activation time sorts by its last change.
    undated = replace(an_alarm("p2-undated", 2, 20, state=unack), activated_at=None)
    assert [a.id for a in banner_order([alarms[0], undated])] == ["p2-undated", "p2-new"]


@pytest.mark.req("UI-102", "SCR-003")
async def test_banner_is_one_row_with_the_count_and_expands_to_the_next(hmi: Harness) -> None:
    # Priorities 2, 2 and 3: acknowledged without a signature (the plant's policy signs priority 1 only).
    await hmi.server.write("L1.M1.Temp", 85.0)
    await hmi.server.write("L1.M1.Pressure", 7.0)
    await hmi.server.write("L1.M1.Level", 5.0)
    await hmi.until(lambda: len(banner_order(hmi.rt.alarms.active())) == 3, what="three unacknowledged alarms")
    top, *others = banner_order(hmi.rt.alarms.active())
    assert [top.priority, *(a.priority for a in others)] == [2, 2, 3]
    await hmi.login("olga")
    await hmi.user.should_see(marker="alarm-banner", retries=50)
    await hmi.user.should_see(marker="alarm-banner-more", retries=50)
    assert len(texts(hmi, "alarm-banner-text")) == 1  # one row only while folded
    assert texts(hmi, "alarm-banner-text")[0].endswith(f"P2 L1: {top.message}")
    assert element(hmi, "alarm-banner-more").text == "+2 more"
    await hmi.user.should_not_see(marker="alarm-banner-list")

    # One touch lists the next alarms, in banner order; another folds them away.
    hmi.user.find(marker="alarm-banner-more").click()
    await hmi.user.should_see(marker="alarm-banner-list")
    with hmi.user.scope(marker="alarm-banner-list"):
        await hmi.user.should_see(marker="alarm-banner-row", retries=20)
        assert [t.split(": ", 1)[1] for t in texts(hmi, "alarm-banner-row-text")] == [a.message for a in others]
    assert element(hmi, "alarm-banner-more").props["aria-expanded"] == "true"
    hmi.user.find(marker="alarm-banner-more").click()
    await hmi.user.should_not_see(marker="alarm-banner-list")

    # Acknowledged, the top alarm gives way to the next; the count follows.
    actor = (await hmi.rt.users.sign_in("olga", PASSWORD)).ctx
    assert actor is not None
    await hmi.rt.alarm_service.acknowledge(actor, [top.id], "seen")
    await hmi.user.should_see("+1 more", retries=50)
    assert texts(hmi, "alarm-banner-text")[0].endswith(others[0].message)
    await hmi.rt.alarm_service.acknowledge(actor, [a.id for a in others], "seen")
    await hmi.user.should_not_see(marker="alarm-banner", retries=50)


@pytest.mark.req("UI-102")
async def test_banner_touches_open_the_alarm_and_its_line(hmi: Harness) -> None:
    await hmi.server.write("L1.M1.Jam", True)
    await hmi.until(lambda: hmi.rt.alarms.get("L1.M1.Jam.discrete") is not None)
    await hmi.login("olga")
    # 20 s for each step, like the other screen builds on a loaded machine (it failed twice at 5 s beside browser runs).
    await hmi.user.should_see(marker="alarm-banner-open", retries=200)
    hmi.user.find(marker="alarm-banner-open").trigger("click")
    # Wait for the alarm's own page: "Jam at M1" is also the banner's text, and a touch on the old page's banner
    # races the alarm page's build (whichever page finishes last is shown).
    await hmi.user.should_see(marker="alarm-history", retries=200)
    await hmi.user.should_see("Jam at M1")
    await hmi.user.should_see(marker="alarm-banner-line", retries=200)
    assert element(hmi, "alarm-banner-line").text == "L1"
    hmi.user.find(marker="alarm-banner-line").click()
    await hmi.user.should_see(marker="machine-M1", retries=900)  # the line page builds slowly on a loaded machine


@pytest.mark.parametrize(("username", "sees_users"), [("olga", False), ("ada", True)])
@pytest.mark.req("UI-101", "SCR-006")
async def test_menu_holds_the_screens_of_the_role_switch_user_and_log_out(
    hmi: Harness, username: str, sees_users: bool
) -> None:
    await hmi.login(username)
    drawer = element(hmi, "menu-drawer")
    assert isinstance(drawer, ui.left_drawer)
    assert drawer.value is False  # closed until the menu button is touched, on every width
    hmi.user.find(marker="menu").click()
    assert drawer.value is True
    for entry in ("menu-overview", "menu-alarms", "menu-trends", "menu-journal", "switch-user", "log-out"):
        await hmi.user.should_see(marker=entry)
    if sees_users:
        await hmi.user.should_see(marker="menu-users")
    else:
        await hmi.user.should_not_see(marker="menu-users")
    assert element(hmi, "menu-overview").props.get("aria-current") == "page"
    hmi.user.find(marker="menu-alarms").click()
    await hmi.user.should_see(marker="alarm-table", retries=50)


@pytest.mark.req("UI-101")
async def test_header_says_the_connection_state_in_short(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.should_see(marker="conn-state", retries=50)
    assert element(hmi, "conn-state").text == "OPC UA OK"
    await hmi.server.stop()
    await hmi.user.should_see("OPC UA: 1 down", retries=100)
    await hmi.user.should_see(marker="conn-banner", retries=50)


@pytest.mark.req("UI-104")
def test_columns_appear_by_width_and_the_rest_go_to_the_details_row() -> None:
    columns = [column("state", "State"), column("message", "Message"), column("tag", "Tag"), column("open", "")]
    fitted = fit_columns(columns, {"tag": 1024}, keep_words=("state",))
    by_name = {c["name"]: c for c in fitted}
    assert by_name["tag"]["classes"] == by_name["tag"]["headerClasses"] == "hmi-from-1024"
    assert "classes" not in by_name["message"]
    assert "classes" not in by_name["open"]
    assert by_name["state"]["classes"] == "hmi-keep-words"
    # The toggle comes last and only below the widest width named.
    assert fitted[-1]["name"] == MORE
    assert fitted[-1]["classes"] == "hmi-below-1024"
    body = body_template(fitted, {"tag": 1024}, {"open": "<q-btn label='Details' />"}, selectable=True)
    assert body.count("<q-tr") == 2
    assert '<div class="hmi-detail hmi-below-1024"><span class="hmi-detail-label">Tag</span>' in body
    assert "{{ props.row.message }}" in body
    assert "<q-btn label='Details' />" in body
    assert 'v-model="props.selected"' in body
    assert 'colspan="6"' in body
    # Nothing hidden: no toggle, no details row.
    assert [c["name"] for c in fit_columns(columns, {})] == ["state", "message", "tag", "open"]
    with pytest.raises(ValueError, match="one of"):
        fit_columns(columns, {"tag": 1000})
    with pytest.raises(ValueError, match="does not have"):
        fit_columns(columns, {"nope": 1024})


@pytest.mark.req("UI-106")
async def test_outcomes_are_said_next_to_the_controls_that_gave_them(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/alarms")
    await hmi.user.should_see(marker="alarm-table", retries=50)
    status = element(hmi, "ack-status")
    assert "say-active" in status.parent_slot.parent._markers
    hmi.user.find(marker="tab-shelved").click()
    hmi.user.find(marker="unshelve").click()
    await hmi.user.should_see("Select alarms first.", retries=20)
    assert "say-shelved" in status.parent_slot.parent._markers

    await hmi.logout()
    await hmi.login("ada")
    await hmi.user.open("/users")
    await hmi.user.should_see(marker="add-user", retries=50)
    hmi.user.find(marker="new-username").type("newbie")
    hmi.user.find(marker="new-password").type("one-long-password")
    hmi.user.find(marker="new-password2").type("another-long-password")
    hmi.user.find(marker="add-user").click()
    await hmi.user.should_see("The two passwords differ; nothing was changed.", retries=50)
    message = element(hmi, "users-message")
    assert "say-add" in message.parent_slot.parent._markers
