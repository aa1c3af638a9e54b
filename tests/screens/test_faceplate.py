"""Faceplates and writes from them, with NiceGUI's simulated user on a real runtime, OPC UA server and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua import ua

from hmi.config import PlantConfig, parse_config
from hmi.runtime import Runtime
from hmi.simulator import ModelParams, PlantSimulator
from hmi.store.database import Database
from screens.cli import demo_plant
from tests.control_server import ControlServer
from tests.opcua_server import SmallServer, free_port
from tests.screens.conftest import PASSWORD, USERS, Harness, element, harness_on, simulated_user

PLANT = """
site: {{name: Faceplate Plant, timezone: Europe/Berlin}}
endpoints:
  - {{name: test, url: "{url}", publishing_interval_ms: 100}}
areas:
  - name: Packing
    lines:
      - name: L1
        state_tag: L1.State
        speed_tag: L1.Speed
        mode: {{tag: L1.Mode, labels: {{"1": Auto, "0": Manual}}}}
        commands:
          - name: Start
            write: {{tag: L1.Run, value: true}}
            modes: [1]
            roles: [operator, lead]
            affects: starts every machine of L1
          - name: Stop
            write: {{tag: L1.Run, value: false}}
            roles: [operator, lead]
            confirm: false
            reason: none
        tags:
          - {{name: L1.State, endpoint: test, node_id: "ns=2;s=L1.State", data_type: string}}
          - {{name: L1.Mode, endpoint: test, node_id: "ns=2;s=L1.Mode", data_type: int}}
          - {{name: L1.Run, endpoint: test, node_id: "ns=2;s=L1.Run", data_type: bool}}
          - {{name: L1.Speed, endpoint: test, node_id: "ns=2;s=L1.Speed", unit: bpm, eng_range: [0, 600]}}
          - name: L1.SpeedSP
            endpoint: test
            node_id: "ns=2;s=L1.SpeedSP"
            unit: bpm
            eng_range: [0, 600]
            normal_range: [200, 400]
            write: {{roles: [operator, lead], min: 100, max: 500, step: 5, affects: the speed of every machine,
                     readback_timeout_s: 3}}
        machines:
          - name: M1
            tags:
              - name: L1.M1.Temp
                endpoint: test
                node_id: "ns=2;s=L1.M1.Temp"
                unit: °C
                eng_range: [0, 120]
                normal_range: [60, 75]
                alarms:
                  - {{type: H, limit: 80, priority: 2, message: "<b>Temp</b> high"}}
                  - {{type: HH, limit: 95, priority: 1, message: Temp very high}}
              - name: L1.M1.TempSP
                endpoint: test
                node_id: "ns=2;s=L1.M1.TempSP"
                unit: °C
                eng_range: [0, 120]
                write:
                  roles: [lead]
                  reason: required
                  interlock: {{when: "L1.State != 'Execute'", message: stop the line first}}
              - name: L1.M1.DoseSP
                endpoint: test
                node_id: "ns=2;s=L1.M1.DoseSP"
                unit: ml
                eng_range: [0, 50]
                write: {{roles: [lead], signature: true, reason: none, step: 0.5}}
"""

INITIAL = {
    "L1.State": "Execute",
    "L1.Mode": ua.Variant(1, ua.VariantType.Int32),
    "L1.Run": True,
    "L1.Speed": 300.0,
    "L1.SpeedSP": 300.0,
    "L1.M1.Temp": 70.0,
    "L1.M1.TempSP": 70.0,
    "L1.M1.DoseSP": 10.0,
}


@pytest.fixture
async def hmi(tmp_path: Path) -> AsyncIterator[Harness]:
    def plant(url: str) -> PlantConfig:
        return parse_config(PLANT.format(url=url), "faceplate-plant.yaml")

    async with harness_on(tmp_path, plant, INITIAL) as harness:
        yield harness


async def read(hmi: Harness, name: str) -> object:
    """The value the OPC UA server holds now."""
    return await hmi.server.nodes[name].read_value()


def click(hmi: Harness, marker: str) -> None:
    hmi.user.find(marker=marker).click()


def keys(hmi: Harness, text: str) -> None:
    """Type `text` on the faceplate's keypad."""
    names = {".": "dot", "-": "minus"}
    for ch in text:
        click(hmi, f"key-{names.get(ch, ch)}")


async def open_speed_setpoint(hmi: Harness, username: str = "olga") -> None:
    await hmi.login(username)
    await hmi.user.open("/line/L1")
    click(hmi, "tile-L1.SpeedSP")
    await hmi.user.should_see(marker="faceplate-tag-L1.SpeedSP", retries=50)


@pytest.mark.req("CTL-040")
async def test_touching_a_value_opens_its_faceplate(hmi: Harness) -> None:
    await hmi.server.write("L1.M1.Temp", 85.0)
    await hmi.until(lambda: hmi.rt.alarms.get("L1.M1.Temp.H") is not None, what="the H alarm")
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    click(hmi, "tile-L1.M1.Temp")
    await hmi.user.should_see(marker="faceplate-tag-L1.M1.Temp", retries=50)
    await hmi.user.should_see(marker="analog")
    await hmi.user.should_see("range 0–120 °C · normal 60–75 · alarm limits H 80, HH 95")
    await hmi.user.should_see("85.0", retries=50)
    await hmi.user.should_see(marker="fp-source-time")
    # The alarm message comes from the plant file: shown literally, never as markup.
    await hmi.user.should_see("<b>Temp</b> high", retries=50)
    await hmi.user.should_see(marker="fp-trend")
    await hmi.user.should_see("No changes recorded.", retries=50)
    # Read only: no entry.
    await hmi.user.should_not_see(marker="setpoint")
    # The same faceplate as a page of its own (a deep link).
    await hmi.user.open("/faceplate/tag/L1.M1.Temp")
    await hmi.user.should_see(marker="faceplate-tag-L1.M1.Temp", retries=50)
    await hmi.user.should_see("<b>Temp</b> high", retries=50)


@pytest.mark.req("CTL-041")
async def test_keypad_entry_confirmed_and_recorded(hmi: Harness) -> None:
    await open_speed_setpoint(hmi)
    await hmi.user.should_see("limits 100–500 bpm · step 5")
    keys(hmi, "3")
    click(hmi, "key-back")
    keys(hmi, "355")
    click(hmi, "step-up")
    assert element(hmi, "entry").text == "360"
    click(hmi, "write-next")
    await hmi.user.should_see(marker="write-send", retries=50)
    assert element(hmi, "confirm-old").text == "300 bpm"
    assert element(hmi, "confirm-new").text == "360 bpm"
    assert element(hmi, "confirm-affects").text == "the speed of every machine"
    hmi.user.find(marker="write-reason").type("<i>rate trial</i>")
    click(hmi, "write-send")
    await hmi.user.should_see("confirmed at", retries=100)
    assert await read(hmi, "L1.SpeedSP") == 360.0
    rows = await hmi.rt.audit.query(object_type="tag", object_id="L1.SpeedSP")
    assert rows
    assert rows[0].username == "olga"
    assert rows[0].reason == "<i>rate trial</i>"
    # The faceplate's last changes show the attempt, its reason literally.
    await hmi.user.should_see(marker="fp-change", retries=50)
    change = next(iter(hmi.user.find(marker="fp-change").elements)).text
    assert "olga" in change
    assert "300 → 360" in change
    assert "confirmed at" in change
    assert "reason: <i>rate trial</i>" in change


@pytest.mark.req("CTL-042")
async def test_out_of_range_value_is_refused_with_the_reason(hmi: Harness) -> None:
    await open_speed_setpoint(hmi)
    keys(hmi, "900")
    click(hmi, "write-next")
    problem = await hmi.until(lambda: element(hmi, "entry-problem").text, what="the refusal")
    assert problem.startswith("Refused: ")
    assert "500" in problem
    await hmi.user.should_not_see(marker="write-send")
    assert await read(hmi, "L1.SpeedSP") == 300.0
    # Off the step grid is refused as well.
    click(hmi, "key-clear")
    keys(hmi, "302")
    click(hmi, "write-next")
    await hmi.user.should_see("Refused: ", retries=20)
    await hmi.user.should_not_see(marker="write-send")


@pytest.mark.req("CTL-043")
async def test_interlock_shows_why_before_typing(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/faceplate/tag/L1.M1.TempSP")
    await hmi.user.should_see(marker="write-blocked", retries=50)
    assert "stop the line first" in element(hmi, "write-blocked").text
    assert not element(hmi, "write-next").enabled
    # The condition clears: the block goes.
    await hmi.server.write("L1.State", "Stopped")
    await hmi.user.should_not_see(marker="write-blocked", retries=50)
    assert element(hmi, "write-next").enabled


@pytest.mark.req("CTL-044")
async def test_operator_without_the_role_sees_no_entry(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/faceplate/tag/L1.M1.TempSP")
    await hmi.user.should_see(marker="write-no-role", retries=50)
    assert "lead may" in element(hmi, "write-no-role").text
    await hmi.user.should_not_see(marker="key-5")
    await hmi.user.should_not_see(marker="write-next")


@pytest.mark.req("CTL-045")
async def test_value_changed_meanwhile_shows_the_new_value_and_asks_again(hmi: Harness) -> None:
    await open_speed_setpoint(hmi)
    keys(hmi, "400")
    click(hmi, "write-next")
    await hmi.user.should_see(marker="write-send", retries=50)
    # Another panel (or the PLC) changes it while the dialog is open.
    await hmi.server.write("L1.SpeedSP", 250.0)
    await hmi.until(lambda: hmi.rt.cache.get("L1.SpeedSP").value == 250.0, what="the new value")  # type: ignore[union-attr]
    click(hmi, "write-send")
    await hmi.user.should_see("changed to 250 bpm", retries=50)
    assert element(hmi, "confirm-old").text == "250 bpm"
    assert await read(hmi, "L1.SpeedSP") == 250.0
    # Asked again, with the value now shown: this time it goes.
    click(hmi, "write-send")
    await hmi.user.should_see("confirmed at", retries=100)
    assert await read(hmi, "L1.SpeedSP") == 400.0


@pytest.mark.req("CTL-046")
async def test_line_faceplate_commands_by_mode_with_outcome(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    click(hmi, "line-title")
    await hmi.user.should_see(marker="faceplate-line-L1", retries=50)
    await hmi.user.should_see("Auto", retries=50)
    # Stop: no confirmation configured, sent at the touch; the outcome beside the button.
    click(hmi, "command-Stop")
    await hmi.user.should_see(marker="command-outcome-Stop", content="confirmed at", retries=100)
    assert await read(hmi, "L1.Run") is False
    # Start: confirmed first.
    click(hmi, "command-Start")
    await hmi.user.should_see(marker="command-send", retries=50)
    await hmi.user.should_see("Affects: starts every machine of L1")
    click(hmi, "command-send")
    await hmi.user.should_see(marker="command-outcome-Start", content="confirmed at", retries=100)
    assert await read(hmi, "L1.Run") is True
    rows = await hmi.rt.audit.query(object_type="command", object_id="L1.Start")
    assert rows
    assert rows[0].username == "olga"
    # In Manual, Start is not offered: disabled, with the reason.
    await hmi.server.write("L1.Mode", ua.Variant(0, ua.VariantType.Int32))
    await hmi.user.should_see("Manual", retries=50)
    await hmi.until(lambda: not element(hmi, "command-Start").enabled, what="Start disabled")
    assert element(hmi, "command-why-Start").text
    assert element(hmi, "command-Stop").enabled


@pytest.mark.req("CTL-047")
async def test_machine_faceplate_from_the_panel_title(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    click(hmi, "machine-title-M1")
    await hmi.user.should_see(marker="faceplate-machine-L1-M1", retries=50)
    await hmi.user.should_see(marker="tile-L1.M1.TempSP")
    # A deep link opens the line screen with the faceplate over it.
    await hmi.user.open("/line/L1?faceplate=L1.M1.Temp")
    await hmi.user.should_see(marker="faceplate-tag-L1.M1.Temp", retries=50)
    await hmi.user.should_see(marker="machine-M1")
    await hmi.user.open("/line/L1?faceplate=M1")
    await hmi.user.should_see(marker="faceplate-machine-L1-M1", retries=50)
    await hmi.user.should_see("No active alarms.", retries=50)
    # Closing a faceplate ends its subscription to the values.
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="machine-M1", retries=50)
    page_only = hmi.rt.cache.listener_count
    click(hmi, "tile-L1.SpeedSP")
    await hmi.user.should_see(marker="faceplate-tag-L1.SpeedSP", retries=50)
    assert hmi.rt.cache.listener_count == page_only + 1
    click(hmi, "fp-close")
    await hmi.user.should_not_see(marker="faceplate-tag-L1.SpeedSP", retries=50)
    assert hmi.rt.cache.listener_count == page_only
    # From the machine (here its page), one touch on a value opens that tag's faceplate.
    await hmi.user.open("/faceplate/machine/L1/M1")
    await hmi.user.should_see(marker="faceplate-machine-L1-M1", retries=50)
    click(hmi, "tile-L1.M1.Temp")
    await hmi.user.should_see(marker="faceplate-tag-L1.M1.Temp", retries=50)


@pytest.mark.req("CTL-041")
async def test_signed_setpoint_asks_for_the_signature_before_sending(hmi: Harness) -> None:
    await hmi.login("lena")
    await hmi.user.open("/faceplate/tag/L1.M1.DoseSP")
    await hmi.user.should_see(marker="setpoint", retries=50)
    keys(hmi, "12.5")
    click(hmi, "write-next")
    await hmi.user.should_see(marker="sign-password", retries=50)
    await hmi.user.should_not_see(marker="write-reason")
    click(hmi, "write-send")
    await hmi.user.should_see(marker="confirm-problem", content="to sign", retries=50)
    assert await read(hmi, "L1.M1.DoseSP") == 10.0
    hmi.sign("lena")
    click(hmi, "write-send")
    await hmi.user.should_see(marker="write-outcome", content="confirmed at", retries=100)
    assert await read(hmi, "L1.M1.DoseSP") == 12.5
    rows = await hmi.rt.audit.query(object_type="tag", object_id="L1.M1.DoseSP")
    assert rows
    assert rows[0].username == "lena"


SERVER_PLANT = """
site: {{name: Control Plant, timezone: Europe/Berlin}}
endpoints:
  - {{name: ctl, url: "{url}", publishing_interval_ms: 100}}
areas:
  - name: Packing
    lines:
      - name: L1
        commands:
          - {{name: Start, roles: [operator], confirm: false, reason: none,
              call: {{endpoint: ctl, object_id: "ns=2;s=L1", method_id: "ns=2;s=L1.Start",
                      args: [{{name: Speed, data_type: float, value: 120}}]}}}}
          - {{name: Reset, roles: [operator], confirm: false, reason: none,
              call: {{endpoint: ctl, object_id: "ns=2;s=L1", method_id: "ns=2;s=L1.Reset"}}}}
        tags:
          - {{name: Denied, endpoint: ctl, node_id: "ns=2;s=Sp.Denied", eng_range: [0, 10],
              write: {{roles: [operator], confirm: false, reason: none}}}}
          - {{name: Held, endpoint: ctl, node_id: "ns=2;s=Sp.Held", eng_range: [0, 10],
              write: {{roles: [operator], confirm: false, reason: none, readback_timeout_s: 1}}}}
"""


@pytest.fixture
async def control(tmp_path: Path) -> AsyncIterator[tuple[Harness, ControlServer]]:
    """The screens on a server that refuses some writes, holds others and answers method calls."""
    server = ControlServer()
    await server.start()
    plant = parse_config(SERVER_PLANT.format(url=server.url), "control-plant.yaml")
    rt = Runtime(plant, Database(f"sqlite:///{tmp_path / 'hmi.db'}"))
    try:
        async with simulated_user(rt) as user:
            assert await rt.wait_ready(), rt.start_error
            for name, role, full in USERS:
                await rt.users.create_user(name, PASSWORD, role, full_name=full)
            harness = Harness(rt, user, SmallServer(0, {}))
            await harness.until(lambda: all(rt.cache.get(n) is not None for n in ("Denied", "Held")))
            yield harness, server
    finally:
        await server.stop()


@pytest.mark.req("CTL-041", "CTL-046")
async def test_server_refusal_timeout_and_method_calls_are_said_as_they_are(
    control: tuple[Harness, ControlServer],
) -> None:
    hmi, server = control
    await hmi.login("olga")
    await hmi.user.open("/faceplate/tag/Denied")
    keys(hmi, "4")
    click(hmi, "write-next")
    await hmi.user.should_see(marker="write-outcome", content="the server refused: BadUserAccessDenied", retries=100)
    await hmi.user.open("/faceplate/tag/Held")
    keys(hmi, "6")
    click(hmi, "write-next")
    await hmi.user.should_see(
        marker="write-outcome", content="not confirmed within 1 s: the value is now 5", retries=100
    )
    await hmi.user.open("/faceplate/line/L1")
    click(hmi, "command-Start")
    await hmi.user.should_see(marker="command-outcome-Start", content="confirmed at", retries=100)
    assert server.calls == [("Start", [120.0])]
    click(hmi, "command-Reset")
    await hmi.user.should_see(
        marker="command-outcome-Reset", content="the server refused: BadInvalidState", retries=100
    )


QUIET = ModelParams(
    fault_mtbf_s=0, stop_mtbf_s=0, excursion_mtbf_s=0, sensor_failure_mtbf_s=0, start_share_executing=1.0
)


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Harness]:
    """The demo plant on its simulator (as `hmi demo` runs it), with the screens under the simulated user."""
    port = free_port()
    plant = demo_plant(port)
    async with PlantSimulator(plant, port=port, seed=3, tick_s=0.2, params=QUIET):
        rt = Runtime(plant, Database(f"sqlite:///{tmp_path / 'hmi.db'}"))
        async with simulated_user(rt) as user:
            assert await rt.wait_ready(), rt.start_error
            for name, role, full in USERS:
                await rt.users.create_user(name, PASSWORD, role, full_name=full)
            harness = Harness(rt, user, SmallServer(0, {}))
            await harness.until(lambda: rt.cache.get("Line1.SpeedSP") is not None, what="the speed setpoint")
            yield harness


@pytest.mark.req("CTL-041", "CTL-046", "CTL-048")
async def test_operator_changes_the_demo_speed_and_stops_and_starts_the_line(demo: Harness) -> None:
    hmi = demo
    await hmi.login("olga")
    await hmi.user.open("/line/Line1")
    click(hmi, "tile-Line1.SpeedSP")
    await hmi.user.should_see(marker="faceplate-tag-Line1.SpeedSP", retries=50)
    now = hmi.rt.cache.get("Line1.SpeedSP")
    assert now is not None
    target = "305" if now.value != 305 else "310"
    keys(hmi, target)
    click(hmi, "write-next")
    await hmi.user.should_see(marker="write-send", retries=50)
    hmi.user.find(marker="write-reason").type("speed trial")
    click(hmi, "write-send")
    await hmi.user.should_see(marker="write-outcome", content="confirmed at", retries=100)
    # The line's faceplate: stop the line, then start it again once the interlock allows.
    await hmi.user.open("/line/Line1?faceplate=line")
    await hmi.user.should_see(marker="faceplate-line-Line1", retries=50)
    await hmi.user.should_see("Automatic", retries=50)
    click(hmi, "command-Stop")
    await hmi.user.should_see(marker="command-send", retries=50)
    click(hmi, "command-send")
    await hmi.user.should_see(marker="command-outcome-Stop", content="confirmed at", retries=100)
    await hmi.until(lambda: element(hmi, "command-Start").enabled, timeout=20, what="Start to be offered")
    click(hmi, "command-Start")
    await hmi.user.should_see(marker="command-send", retries=50)
    click(hmi, "command-send")
    await hmi.user.should_see(marker="command-outcome-Start", content="confirmed at", retries=100)
    rows = await hmi.rt.audit.query(object_type="command", object_id="Line1.Start")
    assert rows
    assert rows[0].username == "olga"


@pytest.mark.req("CTL-046")
async def test_lead_switches_the_demo_line_to_manual_and_start_is_no_longer_offered(demo: Harness) -> None:
    hmi = demo
    await hmi.login("lena")
    await hmi.user.open("/line/Line1?faceplate=Line1.Mode")
    await hmi.user.should_see(marker="faceplate-tag-Line1.Mode", retries=50)
    await hmi.user.should_not_see(marker="key-5")
    click(hmi, "choice-Manual")
    assert element(hmi, "entry").text == "Manual"
    click(hmi, "write-next")
    await hmi.user.should_see(marker="write-send", retries=50)
    # This write needs a reason: without one nothing is sent.
    click(hmi, "write-send")
    await hmi.user.should_see(marker="confirm-problem", content="reason", retries=50)
    hmi.user.find(marker="write-reason").type("changeover")
    click(hmi, "write-send")
    await hmi.user.should_see(marker="write-outcome", content="confirmed at", retries=100)
    await hmi.user.open("/faceplate/line/Line1")
    await hmi.user.should_see(marker="fp-mode", content="Manual", retries=50)
    await hmi.until(lambda: "Manual" in element(hmi, "command-why-Start").text, what="Start withdrawn for Manual")
    assert not element(hmi, "command-Start").enabled
