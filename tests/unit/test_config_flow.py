"""A line's `flow` and `conveyors` (the line picture): a good file loads, and every mistake is located and says
which line it is on and what to change."""

from __future__ import annotations

import pytest

from hmi.config import ConfigError, ConfigIssue, parse_config

GOOD = """\
site: {name: Flow Plant}
endpoints: [{name: plc, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: Hall
    lines:
      - name: L1
        flow: [B, A, C]
        conveyors:
          - {from: B, to: A, accumulation_tag: L1.Buf, state_tag: L1.Run}
          - {from: A, to: C}
        tags:
          - {name: L1.Buf, endpoint: plc, node_id: "ns=2;s=Buf", unit: "%", eng_range: [0, 100]}
          - {name: L1.Run, endpoint: plc, node_id: "ns=2;s=Run", data_type: bool}
          - {name: L1.Word, endpoint: plc, node_id: "ns=2;s=Word", data_type: string}
          - {name: L1.Count, endpoint: plc, node_id: "ns=2;s=Count", data_type: int}
        machines:
          - {name: A}
          - {name: B}
          - {name: C}
"""


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def issues_of(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "plant.yaml")
    return info.value.issues


def only_issue(text: str) -> ConfigIssue:
    issues = issues_of(text)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


@pytest.mark.req("LGX-001")
def test_flow_and_conveyors_load() -> None:
    plant = parse_config(GOOD, "plant.yaml")
    line = plant.line("L1")[1]  # type: ignore[index]
    assert line.flow == ("B", "A", "C")
    assert [m.name for m in line.machines_in_flow()] == ["B", "A", "C"]
    first = line.conveyors[0]
    assert (first.from_machine, first.to_machine, first.accumulation_tag, first.state_tag) == (
        "B",
        "A",
        "L1.Buf",
        "L1.Run",
    )
    assert line.conveyors[1].accumulation_tag is None


@pytest.mark.req("LGX-001")
def test_without_flow_the_machines_are_in_their_order() -> None:
    plant = parse_config(edit("        flow: [B, A, C]\n", ""), "plant.yaml")
    assert [m.name for m in plant.line("L1")[1].machines_in_flow()] == ["A", "B", "C"]  # type: ignore[index]


@pytest.mark.req("LGX-001")
def test_flow_naming_something_that_is_not_a_machine_of_the_line() -> None:
    issue = only_issue(edit("flow: [B, A, C]", "flow: [B, A, X, C]"))
    assert issue.path == "areas[0].lines[0].flow[2]"
    assert issue.line == 7
    assert issue.message == "line 'L1': flow names 'X', which is not a machine of this line; use one of A, B, C"


@pytest.mark.req("LGX-001")
def test_flow_naming_a_machine_twice_or_leaving_one_out() -> None:
    twice = only_issue(edit("flow: [B, A, C]", "flow: [B, A, C, A]"))
    assert twice.path == "areas[0].lines[0].flow[3]"
    assert twice.message == "line 'L1': flow lists 'A' twice; name each machine once"
    missing = only_issue(edit("flow: [B, A, C]", "flow: [B, C]"))
    assert missing.path == "areas[0].lines[0].flow"
    assert "line 'L1': flow leaves out A; list every machine of the line once" in missing.message


@pytest.mark.req("LGX-001")
def test_conveyor_ends_must_be_two_different_machines_of_the_line() -> None:
    issue = only_issue(edit("{from: A, to: C}", "{from: A, to: Z}"))
    assert issue.path == "areas[0].lines[0].conveyors[1].to"
    assert issue.line == 10
    assert issue.message == "line 'L1': conveyor A -> Z: to 'Z' is not a machine of this line; use one of A, B, C"
    same = only_issue(edit("{from: A, to: C}", "{from: A, to: A}"))
    assert same.message == "line 'L1': conveyor A -> A: a conveyor joins two different machines; correct from or to"
    twice = only_issue(edit("{from: A, to: C}", "{from: B, to: A}"))
    assert twice.path == "areas[0].lines[0].conveyors[1].to"
    assert "is already listed as conveyors[0]; keep one" in twice.message


@pytest.mark.req("LGX-001")
def test_conveyor_tags_must_exist_and_fit() -> None:
    unknown = only_issue(edit("accumulation_tag: L1.Buf,", "accumulation_tag: L1.Bfu,"))
    assert unknown.path == "areas[0].lines[0].conveyors[0].accumulation_tag"
    assert unknown.message.startswith(
        "line 'L1': conveyor B -> A: accumulation_tag 'L1.Bfu' is not a tag of this file;"
    )
    not_a_level = only_issue(edit("accumulation_tag: L1.Buf,", "accumulation_tag: L1.Count,"))
    assert "must be a float or int tag with an eng_range (e.g. eng_range: [0, 100])" in not_a_level.message
    not_a_state = only_issue(edit("state_tag: L1.Run}", "state_tag: L1.Count}"))
    assert not_a_state.path == "areas[0].lines[0].conveyors[0].state_tag"
    assert "state_tag 'L1.Count' is int; use a string tag" in not_a_state.message
    parse_config(edit("state_tag: L1.Run}", "state_tag: L1.Word}"), "plant.yaml")  # a string state is fine


@pytest.mark.req("LGX-001")
def test_unknown_and_missing_conveyor_keys_are_located() -> None:
    unknown = only_issue(edit("{from: A, to: C}", "{from: A, to: C, speed_tag: L1.Buf}"))
    assert unknown.path == "areas[0].lines[0].conveyors[1].speed_tag"
    assert "unknown key 'speed_tag'" in unknown.message
    missing = only_issue(edit("{from: A, to: C}", "{from: A}"))
    assert missing.path == "areas[0].lines[0].conveyors[1].to"
    assert missing.message == "required key 'to' is missing; add it"


@pytest.mark.req("LGX-001")
def test_hmi_check_reports_every_picture_mistake_at_once() -> None:
    text = edit("flow: [B, A, C]", "flow: [B, Q]")
    text = edit("{from: A, to: C}", "{from: A, to: C, state_tag: L1.Nope}", text)
    paths = [i.path for i in issues_of(text)]
    assert paths == [
        "areas[0].lines[0].flow[1]",
        "areas[0].lines[0].flow",
        "areas[0].lines[0].conveyors[1].state_tag",
    ]
