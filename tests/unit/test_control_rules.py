"""Write rules, commands and interlocks in the plant file: parsed safely, checked by `hmi check` with located
messages, and evaluated against tag quality."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from hmi.config import ConfigError, parse_config
from hmi.control.interlock import Interlock, InterlockSyntaxError
from tests.unit.test_config import GOOD


@dataclass
class Reading:
    value: Any
    good: bool = True
    quality: str = "good"


VALUES = {
    "L1.State": Reading("Execute"),
    "L1.Guard": Reading(True),
    "L1.Temp": Reading(72.5),
    "L1.Old": Reading(1.0, good=False, quality="stale"),
}


@pytest.mark.req("CTL-001")
@pytest.mark.parametrize(
    ("text", "met", "why"),
    [
        ("L1.Guard", True, ""),
        ("L1.Guard and L1.Temp < 80", True, ""),
        ("L1.State != 'Execute'", False, "needs L1.State != 'Execute' (L1.State is Execute)"),
        ('L1.State == "Execute" and not L1.Guard', False, "needs not (L1.Guard == true)"),
        ("(L1.Temp > 80 or L1.Temp < 10) and L1.Guard", False, "needs L1.Temp > 80 (L1.Temp is 72.5) or "),
        ("L1.Old >= 0", False, "L1.Old is STALE: its value cannot be trusted"),
        ("L1.Missing", False, "L1.Missing has no value yet"),
        ("L1.State > 3", False, "needs L1.State > 3"),
    ],
)
def test_an_interlock_says_why_it_is_not_met(text: str, met: bool, why: str) -> None:
    verdict = Interlock.parse(text).evaluate(VALUES.get)
    assert verdict.met is met
    assert verdict.why.startswith(why)


@pytest.mark.req("CTL-001")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("L1.Temp >", "ends too early"),
        ("5", "alone is not a condition"),
        ("L1.Guard L1.Temp", "join conditions with 'and' or 'or'"),
        ("(L1.Guard", "not closed"),
        ("__import__('os').system('x')", "unexpected '('"),
        ("L1.Guard; drop table", "cannot read"),
        ("x" * 501, "longer than 500"),
    ],
)
def test_an_interlock_that_cannot_be_read_is_refused_with_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InterlockSyntaxError, match=message.replace("(", r"\(")):
        Interlock.parse(text)


def test_an_interlock_names_the_tags_it_reads() -> None:
    assert Interlock.parse("L1.Guard and (L1.Temp < 5 or L1.Guard) and L1.State == 'Idle'").tags() == [
        "L1.Guard",
        "L1.Temp",
        "L1.State",
    ]


WRITABLE = GOOD.replace(
    """            node_id: "ns=2;s=L1.Speed"
            unit: bpm
""",
    """            node_id: "ns=2;s=L1.Speed"
            unit: bpm
          - name: L1.SpeedSP
            endpoint: plc1
            node_id: "ns=2;s=L1.SpeedSP"
            eng_range: [0, 400]
            write: {roles: [operator, lead], max: 350, step: 5, interlock: "L1.State != 'Held'", reason: required}
""",
).replace(
    "        trend_tags:",
    """        mode: {tag: L1.State, labels: {Idle: Ready}}
        commands:
          - name: Start
            call: {endpoint: plc1, object_id: "ns=2;s=L1", method_id: "ns=2;s=L1.Start"}
            modes: [Idle]
            interlock: {when: "L1.State == 'Idle'", message: Reset the line first}
        trend_tags:""",
)


@pytest.mark.req("CTL-002")
def test_write_rules_and_commands_load_with_safe_defaults() -> None:
    plant = parse_config(WRITABLE)
    rule = plant.tags["L1.SpeedSP"].tag.write
    assert rule is not None
    assert (rule.confirm, rule.signature, rule.reason, rule.readback_timeout_s) == (True, False, "required", 5.0)
    assert plant.write_limits("L1.SpeedSP") == (0.0, 350.0)
    assert plant.write_limits("L1.Speed") is None
    start = plant.commands["L1.Start"]
    assert start.command.title == "Start"
    assert start.command.roles == ("lead", "engineer")
    assert start.mode is not None
    assert start.mode.tag == "L1.State"
    assert start.command.interlock is not None
    assert start.command.interlock.message == "Reset the line first"


@pytest.mark.req("CTL-002")
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("max: 350,", "max: 450,", "write max 450 lies outside the tag's eng_range [0, 400]"),
        ("            eng_range: [0, 400]\n", "", "needs limits: give write min and max, or the tag's eng_range"),
        ("L1.State != 'Held'", "L1.Nope", "write.interlock.when: unknown tag 'L1.Nope'"),
        ("L1.State != 'Held'", "L1.State !=", "write.interlock.when: the expression ends too early"),
        ("roles: [operator, lead]", "roles: [boss]", "write.roles[0]: Input should be"),
        ("endpoint: plc1, object_id", "endpoint: plc9, object_id", "call.endpoint: unknown endpoint 'plc9'"),
        ("        mode: {tag: L1.State, labels: {Idle: Ready}}\n", "", "modes needs a mode tag"),
        ("mode: {tag: L1.State,", "mode: {tag: L1.Mode,", "mode.tag: unknown tag 'L1.Mode'"),
        ("            modes: [Idle]\n", "            write: {tag: L1.Speed, value: 1}\n", "exactly one of call"),
    ],
)
def test_bad_control_rules_are_refused_where_they_are(old: str, new: str, message: str) -> None:
    assert old in WRITABLE
    with pytest.raises(ConfigError) as caught:
        parse_config(WRITABLE.replace(old, new))
    assert message in str(caught.value)
