"""Plant configuration: a good file loads with the right indexes; every kind of bad file gets a clear, located issue."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from hmi.cli import main
from hmi.config import ConfigError, ConfigIssue, PlantConfig, format_path, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "assets" / "demo-plant.yaml"

GOOD = """\
site:
  name: Test Plant
  timezone: Europe/Berlin
  shifts:
    - {name: Early, start: "06:00", end: "14:00"}
    - {name: Late, start: "14:00", end: "22:00"}
    - {name: Night, start: "22:00", end: "06:00"}
endpoints:
  - name: plc1
    url: opc.tcp://127.0.0.1:4840
  - name: plc2
    url: opc.tcp://10.0.0.2:4840
areas:
  - name: Packing
    lines:
      - name: L1
        state_tag: L1.State
        speed_tag: L1.Speed
        trend_tags: [L1.Speed, L1.M1.Temp]
        tags:
          - name: L1.State
            endpoint: plc1
            node_id: "ns=2;s=L1.State"
            data_type: string
          - name: L1.Speed
            endpoint: plc1
            node_id: "ns=2;s=L1.Speed"
            unit: bpm
        machines:
          - name: M1
            state_tag: L1.M1.State
            tags:
              - name: L1.M1.State
                endpoint: plc1
                node_id: "ns=2;s=L1.M1.State"
                data_type: string
              - name: L1.M1.Temp
                endpoint: plc1
                node_id: "ns=2;s=L1.M1.Temp"
                unit: °C
                alarms:
                  - type: H
                    limit: 80
                    deadband: 2
                    priority: 2
                    message: Temperature high
                  - type: HH
                    limit: 95
                    priority: 1
                    message: Temperature very high
              - name: L1.M1.Jam
                endpoint: plc1
                node_id: "ns=2;s=L1.M1.Jam"
                data_type: bool
                alarms:
                  - {type: discrete, value: true, priority: 1, message: Jam at M1}
      - name: L2
        tags:
          - {name: L2.Speed, endpoint: plc2, node_id: "ns=2;s=L2.Speed"}
"""

SUMMARY = "site 'Test Plant': 2 endpoint(s), 1 area(s), 2 line(s), 1 machine(s), 6 tag(s), 3 alarm(s), 3 shift(s)"

TEMP = "areas[0].lines[0].machines[0].tags[1]"  # L1.M1.Temp
JAM = "areas[0].lines[0].machines[0].tags[2]"  # L1.M1.Jam


def edit(old: str, new: str, text: str = GOOD) -> str:
    """`text` with the single occurrence of `old` replaced by `new`."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def issue_of(text: str) -> tuple[str, int | None, str]:
    """(path, line, message) of the one problem parse_config finds in `text`."""
    with pytest.raises(ConfigError) as info:
        parse_config(text, "plant.yaml")
    assert len(info.value.issues) == 1, [str(i) for i in info.value.issues]
    issue = info.value.issues[0]
    return issue.path, issue.line, issue.message


def line_no(text: str, needle: str) -> int:
    """The 1-based line of the single line of `text` that contains `needle` (or ends with it, for a `$` suffix)."""
    if needle.endswith("$"):
        hits = [i for i, line in enumerate(text.splitlines(), 1) if line.endswith(needle[:-1])]
    else:
        hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def issues_of(text: str, name: str = "plant.yaml") -> list[ConfigIssue]:
    """The issues parse_config raises for `text`."""
    with pytest.raises(ConfigError) as info:
        parse_config(text, name)
    assert info.value.issues, "a ConfigError must list at least one issue"
    return info.value.issues


def only_issue(text: str) -> ConfigIssue:
    """The one issue of `text`; fails when there are more (follow-on noise hides the real problem)."""
    issues = issues_of(text)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


# --------------------------------------------------------------------------------------------------- a good file


@pytest.fixture(scope="module")
def plant() -> PlantConfig:
    return parse_config(GOOD, "good.yaml")


@pytest.mark.req("OPS-002")
def test_good_file_loads_with_site_endpoints_and_shifts(plant: PlantConfig) -> None:
    assert plant.site.name == "Test Plant"
    assert plant.site.zone.key == "Europe/Berlin"
    assert [(s.name, s.start, s.end) for s in plant.site.shifts] == [
        ("Early", time(6), time(14)),
        ("Late", time(14), time(22)),
        ("Night", time(22), time(6)),
    ]
    assert [e.name for e in plant.endpoints] == ["plc1", "plc2"]
    assert plant.endpoint("plc2").url == "opc.tcp://10.0.0.2:4840"
    assert plant.endpoint("plc1").security.policy == "None"


@pytest.mark.req("OPS-002")
def test_tag_index_names_every_tag_with_its_place(plant: PlantConfig) -> None:
    assert list(plant.tags) == ["L1.State", "L1.Speed", "L1.M1.State", "L1.M1.Temp", "L1.M1.Jam", "L2.Speed"]
    speed = plant.tags["L1.Speed"]
    assert (speed.area.name, speed.line.name, speed.machine, speed.tag.unit) == ("Packing", "L1", None, "bpm")
    temp = plant.tags["L1.M1.Temp"]
    assert temp.machine is not None
    assert (temp.line.name, temp.machine.name, temp.tag.data_type, temp.tag.numeric) == ("L1", "M1", "float", True)
    assert plant.tags["L1.M1.Jam"].tag.data_type == "bool"
    assert not plant.tags["L1.State"].tag.numeric
    assert plant.tags["L2.Speed"].line.name == "L2"


@pytest.mark.req("OPS-002")
def test_alarm_index_uses_tag_name_and_alarm_type(plant: PlantConfig) -> None:
    assert list(plant.alarms) == ["L1.M1.Temp.H", "L1.M1.Temp.HH", "L1.M1.Jam.discrete"]
    high = plant.alarms["L1.M1.Temp.H"]
    assert high.id == "L1.M1.Temp.H"
    assert (high.alarm.limit, high.alarm.deadband, high.alarm.priority) == (80, 2, 2)
    assert high.tag.name == "L1.M1.Temp"
    assert high.machine is not None
    assert (high.area.name, high.line.name, high.machine.name) == ("Packing", "L1", "M1")
    jam = plant.alarms["L1.M1.Jam.discrete"].alarm
    assert (jam.type, jam.value, jam.limit, jam.priority) == ("discrete", True, None, 1)


@pytest.mark.req("OPS-002")
def test_lines_and_line_lookup(plant: PlantConfig) -> None:
    assert [(a.name, ln.name) for a, ln in plant.lines()] == [("Packing", "L1"), ("Packing", "L2")]
    found = plant.line("L2")
    assert found is not None
    area, line = found
    assert (area.name, line.name, [t.name for t in line.tags]) == ("Packing", "L2", ["L2.Speed"])
    assert plant.line("L9") is None
    l1 = plant.line("L1")
    assert l1 is not None
    assert (l1[1].state_tag, l1[1].speed_tag, l1[1].trend_tags) == ("L1.State", "L1.Speed", ("L1.Speed", "L1.M1.Temp"))


@pytest.mark.req("OPS-002")
def test_summary_counts(plant: PlantConfig) -> None:
    assert plant.summary() == SUMMARY


@pytest.mark.req("OPS-002")
def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_config(path).summary() == SUMMARY
    assert load_config(str(path)).summary() == SUMMARY


@pytest.mark.req("OPS-002")
def test_a_named_alarm_is_indexed_by_its_name() -> None:
    text = edit("                  - type: HH\n", "                  - type: HH\n                    name: Overheat\n")
    assert list(parse_config(text).alarms) == ["L1.M1.Temp.H", "L1.M1.Temp.Overheat", "L1.M1.Jam.discrete"]


@pytest.mark.req("OPS-002")
def test_format_path() -> None:
    assert format_path(()) == ""
    assert format_path(("site", "timezone")) == "site.timezone"
    assert format_path(("areas", 0, "lines", 1, "tags", 2, "unit")) == "areas[0].lines[1].tags[2].unit"


# ------------------------------------------------------------------------------------------ unreadable documents


@pytest.mark.req("OPS-002")
def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.path) == (str(path), None, "")
    assert "not found" in issue.message
    assert "check the path" in issue.message


@pytest.mark.req("OPS-002")
def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("site:\n  name: Caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.file == str(path)
    assert "must be UTF-8" in issue.message


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing but a comment\n"])
@pytest.mark.req("OPS-002")
def test_empty_file(text: str) -> None:
    issue = only_issue(text)
    assert (issue.file, issue.line, issue.path) == ("plant.yaml", None, "")
    assert "empty" in issue.message
    assert "needs at least site, endpoints and areas" in issue.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("site:\n  name: x\n  shifts: [1, 2\nendpoints: []\n", 4),
        ("site:\n  name: x\n endpoints: []\n", 3),
        ("site:\n\tname: x\n", 2),
        (edit("    url: opc.tcp://10.0.0.2:4840", "   url: opc.tcp://10.0.0.2:4840"), 12),
    ],
)
@pytest.mark.req("OPS-002")
def test_invalid_yaml_names_the_line(text: str, line: int) -> None:
    issue = only_issue(text)
    assert (issue.line, issue.path) == (line, "")
    assert issue.message.startswith("invalid YAML: ")
    assert "check indentation and quoting" in issue.message


@pytest.mark.parametrize("text", ["- site\n- endpoints\n", "just words\n", "42\n"])
@pytest.mark.req("OPS-002")
def test_document_that_is_not_a_mapping(text: str) -> None:
    issue = only_issue(text)
    assert (issue.line, issue.path) == (1, "")
    assert "must be a mapping with keys site, endpoints and areas" in issue.message


@pytest.mark.req("OPS-002")
def test_issue_text_is_file_line_path_message() -> None:
    issue = ConfigIssue("p.yaml", 7, "site.timezone", "fix it")
    assert str(issue) == "p.yaml:7: site.timezone: fix it"
    assert str(ConfigIssue("p.yaml", None, "", "empty")) == "p.yaml: (document): empty"
    assert str(ConfigError([issue, issue])) == "p.yaml:7: site.timezone: fix it\np.yaml:7: site.timezone: fix it"


# ------------------------------------------------------------------------------------------------- schema errors


@pytest.mark.req("OPS-002")
def test_unknown_key_is_located_and_says_remove() -> None:
    text = edit("unit: bpm", "unti: bpm")
    issue = only_issue(text)
    assert issue.path == "areas[0].lines[0].tags[1].unti"
    assert issue.line == line_no(text, "unti: bpm")
    assert "unknown key 'unti'" in issue.message
    assert "remove it or check its spelling" in issue.message


@pytest.mark.parametrize("text", ["", edit("unit: bpm", "unti: bpm")], ids=["empty-file", "unknown-key"])
@pytest.mark.req("OPS-002")
def test_hints_name_the_demo_plant_file_that_ships_with_the_package(text: str) -> None:
    # An installed package has no assets/ folder next to the working directory: the hint must name a real file.
    named = Path(only_issue(text).message.rsplit(" ", 1)[1].rstrip(")"))
    assert named.is_absolute()
    assert named.read_text(encoding="utf-8") == DEMO.read_text(encoding="utf-8")


@pytest.mark.req("OPS-002")
def test_unknown_key_in_a_flow_mapping() -> None:
    text = edit(
        '{name: L2.Speed, endpoint: plc2, node_id: "ns=2;s=L2.Speed"}',
        '{name: L2.Speed, endpoint: plc2, node_id: "ns=2;s=L2.Speed", unti: bar}',
    )
    issue = only_issue(text)
    assert issue.path == "areas[0].lines[1].tags[0].unti"
    assert issue.line == line_no(text, "unti: bar")


@pytest.mark.req("OPS-002")
def test_missing_required_key_points_at_its_parent_and_says_add() -> None:
    text = edit('            node_id: "ns=2;s=L1.Speed"\n', "")
    issue = only_issue(text)
    assert issue.path == "areas[0].lines[0].tags[1].node_id"
    assert issue.line == line_no(text, "- name: L1.Speed")
    assert issue.message == "required key 'node_id' is missing; add it"


@pytest.mark.req("OPS-002")
def test_missing_top_level_section() -> None:
    text = GOOD[: GOOD.index("areas:")]
    issue = only_issue(text)
    assert (issue.path, issue.line) == ("areas", 1)
    assert "required key 'areas' is missing; add it" in issue.message


@pytest.mark.req("OPS-002")
def test_empty_list_of_lines_is_reported() -> None:
    text = "site: {name: P}\nendpoints:\n  - {name: e, url: 'opc.tcp://h:4840'}\nareas:\n  - name: A\n    lines: []\n"
    issue = only_issue(text)
    assert (issue.path, issue.line) == ("areas[0].lines", 6)
    assert "at least 1 item" in issue.message


@pytest.mark.req("OPS-002")
def test_duplicate_yaml_key_is_reported_at_the_second_one() -> None:
    text = edit("            unit: bpm\n", "            unit: bpm\n            unit: rpm\n")
    issue = only_issue(text)
    assert issue.path == "areas[0].lines[0].tags[1].unit"
    assert issue.line == line_no(text, "unit: rpm")
    assert issue.message == "key 'unit' appears twice here; keep one"


@pytest.mark.req("ALM-013")
def test_priority_out_of_range() -> None:
    text = edit("                    priority: 1\n", "                    priority: 5\n")
    issue = only_issue(text)
    assert issue.path == f"{TEMP}.alarms[1].priority"
    assert issue.line == line_no(text, "priority: 5")
    assert "less than or equal to 4" in issue.message
    assert "got 5" in issue.message


@pytest.mark.req("OPS-002")
def test_bad_time_zone() -> None:
    text = edit("timezone: Europe/Berlin", "timezone: Europe/Berlinn")
    issue = only_issue(text)
    assert (issue.path, issue.line) == ("site.timezone", 3)
    assert "unknown time zone 'Europe/Berlinn'" in issue.message
    assert "use an IANA name" in issue.message


@pytest.mark.req("OPC-006")
def test_url_must_be_opc_tcp() -> None:
    text = edit("url: opc.tcp://10.0.0.2:4840", "url: http://10.0.0.2:4840")
    issue = only_issue(text)
    assert issue.path == "endpoints[1].url"
    assert issue.line == line_no(text, "http://")
    assert "must start with opc.tcp://" in issue.message


@pytest.mark.req("OPC-006")
def test_signing_policy_needs_certificates() -> None:
    text = edit(
        "    url: opc.tcp://127.0.0.1:4840\n",
        "    url: opc.tcp://127.0.0.1:4840\n    security: {policy: Basic256Sha256, mode: SignAndEncrypt}\n",
    )
    issue = only_issue(text)
    assert issue.path == "endpoints[0].security"
    assert issue.line == line_no(text, "security:")
    assert "policy Basic256Sha256 needs certificate, private_key, server_certificate" in issue.message


@pytest.mark.req("OPC-006")
def test_signing_policy_needs_a_signing_mode() -> None:
    text = edit(
        "    url: opc.tcp://127.0.0.1:4840\n",
        "    url: opc.tcp://127.0.0.1:4840\n    security:\n      policy: Basic256Sha256\n"
        "      certificate: c.der\n      private_key: k.pem\n      server_certificate: s.der\n",
    )
    issue = only_issue(text)
    assert issue.path == "endpoints[0].security"
    assert "needs mode Sign or SignAndEncrypt" in issue.message


@pytest.mark.req("OPC-006")
def test_signing_policy_with_everything_loads() -> None:
    text = edit(
        "    url: opc.tcp://127.0.0.1:4840\n",
        "    url: opc.tcp://127.0.0.1:4840\n    security:\n      policy: Basic256Sha256\n      mode: Sign\n"
        "      certificate: c.der\n      private_key: k.pem\n      server_certificate: s.der\n",
    )
    security = parse_config(text).endpoint("plc1").security
    assert (security.policy, security.mode, security.certificate) == ("Basic256Sha256", "Sign", Path("c.der"))


@pytest.mark.req("OPC-006")
def test_username_without_password() -> None:
    text = edit("    url: opc.tcp://10.0.0.2:4840\n", "    url: opc.tcp://10.0.0.2:4840\n    username: op\n")
    issue = only_issue(text)
    assert issue.path == "endpoints[1]"
    assert "give both or neither" in issue.message


@pytest.mark.req("OPS-002")
def test_discrete_alarm_without_value() -> None:
    text = edit("{type: discrete, value: true, priority: 1", "{type: discrete, priority: 1")
    issue = only_issue(text)
    assert issue.path == f"{JAM}.alarms[0]"
    assert issue.line == line_no(text, "type: discrete")
    assert "a discrete alarm needs value" in issue.message


@pytest.mark.req("OPS-002")
def test_limit_alarm_without_limit() -> None:
    text = edit("                    limit: 95\n", "")
    issue = only_issue(text)
    assert issue.path == f"{TEMP}.alarms[1]"
    assert issue.line == line_no(text, "- type: HH")
    assert "a HH alarm needs limit" in issue.message


@pytest.mark.req("OPS-002")
def test_bad_name_says_which_characters_are_allowed() -> None:
    text = edit("- name: L2\n", "- name: Line 2\n")
    issue = only_issue(text)
    assert issue.path == "areas[0].lines[1].name"
    assert "must start with a letter or digit" in issue.message


@pytest.mark.req("OPS-002")
def test_unquoted_shift_time_is_refused_not_misread() -> None:
    # YAML 1.1 reads an unquoted 14:00 as the sexagesimal number 840; that must not become 00:14.
    text = edit('{name: Late, start: "14:00", end: "22:00"}', "{name: Late, start: 14:00, end: 22:00}")
    issues = issues_of(text)
    assert [(i.path, i.line) for i in issues] == [("site.shifts[1].start", 6), ("site.shifts[1].end", 6)]
    for issue in issues:
        assert 'write the time in quotes, e.g. "06:00"' in issue.message


# ----------------------------------------------------------------------------------------- cross-document checks


@pytest.mark.req("OPS-002")
def test_duplicate_tag_name_across_lines_and_machines() -> None:
    text = edit(
        '{name: L2.Speed, endpoint: plc2, node_id: "ns=2;s=L2.Speed"}',
        '{name: L1.M1.Temp, endpoint: plc2, node_id: "ns=2;s=L2.Speed"}',
    )
    issue = only_issue(text)
    assert issue.path == "areas[0].lines[1].tags[0].name"
    assert issue.line == line_no(text, "{name: L1.M1.Temp")
    assert f"tag name 'L1.M1.Temp' is already used at {TEMP}" in issue.message
    assert "must be unique" in issue.message


@pytest.mark.req("OPS-002")
def test_duplicate_tag_name_between_line_and_machine() -> None:
    text = edit("              - name: L1.M1.State\n", "              - name: L1.State\n")
    issues = issues_of(text)
    # The machine's state_tag now names no tag either; both are reported.
    assert [i.path for i in issues] == [
        "areas[0].lines[0].machines[0].tags[0].name",
        "areas[0].lines[0].machines[0].state_tag",
    ]
    assert "already used at areas[0].lines[0].tags[0]" in issues[0].message


@pytest.mark.req("OPS-002")
def test_duplicate_line_name() -> None:
    issue = only_issue(edit("- name: L2\n", "- name: L1\n"))
    assert issue.path == "areas[0].lines[1].name"
    assert "line names must be unique" in issue.message


@pytest.mark.req("OPS-002")
def test_duplicate_endpoint_name() -> None:
    text = edit("  - name: plc2\n", "  - name: plc1\n")
    issues = issues_of(text)
    assert issues[0].path == "endpoints[1].name"
    assert issues[0].line == 11
    assert "names must be unique" in issues[0].message
    # L2.Speed still refers to plc2, which is now gone.
    assert [i.path for i in issues[1:]] == ["areas[0].lines[1].tags[0].endpoint"]


@pytest.mark.req("OPS-002")
def test_unknown_endpoint_reference() -> None:
    text = edit("endpoint: plc2,", "endpoint: plc3,")
    issue = only_issue(text)
    assert issue.path == "areas[0].lines[1].tags[0].endpoint"
    assert issue.line == line_no(text, "plc3")
    assert "unknown endpoint 'plc3'" in issue.message
    assert "define it under endpoints (known: plc1, plc2)" in issue.message


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("state_tag: L1.State", "state_tag: L1.Stat", "areas[0].lines[0].state_tag"),
        ("speed_tag: L1.Speed", "speed_tag: L1.Sped", "areas[0].lines[0].speed_tag"),
        ("trend_tags: [L1.Speed, L1.M1.Temp]", "trend_tags: [L1.Speed, L1.M1.Tmp]", "areas[0].lines[0].trend_tags[1]"),
        ("state_tag: L1.M1.State", "state_tag: L1.M2.State", "areas[0].lines[0].machines[0].state_tag"),
    ],
)
@pytest.mark.req("OPS-002")
def test_unknown_tag_reference(old: str, new: str, path: str) -> None:
    text = edit(old, new)
    issue = only_issue(text)
    assert issue.path == path
    assert issue.line == line_no(text, new)
    assert f"unknown tag {new.split()[-1].strip('[]')!r}" in issue.message
    assert "must name a tag defined in this file" in issue.message


@pytest.mark.req("ALM-016")
def test_limits_out_of_order() -> None:
    text = edit("                    limit: 80\n", "                    limit: 99\n")
    issue = only_issue(text)
    assert issue.path == f"{TEMP}.alarms[1].limit"
    assert issue.line == line_no(text, "limit: 95")
    assert "limits out of order: HH (95.0) must be above H (99.0)" in issue.message
    assert "LL < L < H < HH" in issue.message


@pytest.mark.req("ALM-016")
def test_equal_limits_are_out_of_order() -> None:
    issue = only_issue(edit("                    limit: 80\n", "                    limit: 95\n"))
    assert issue.path == f"{TEMP}.alarms[1].limit"


@pytest.mark.req("ALM-016")
def test_low_limits_out_of_order() -> None:
    text = edit(
        "                alarms:\n                  - type: H\n",
        "                alarms:\n                  - {type: LL, limit: 30, message: very low}\n"
        "                  - {type: L, limit: 20, message: low}\n                  - type: H\n",
    )
    issue = only_issue(text)
    assert issue.path == f"{TEMP}.alarms[1].limit"
    assert issue.line == line_no(text, "type: L,")
    assert "L (20.0) must be above LL (30.0)" in issue.message


@pytest.mark.req("ALM-016")
def test_deadband_not_smaller_than_the_gap() -> None:
    text = edit("                    limit: 95\n", "                    limit: 95\n                    deadband: 15\n")
    issue = only_issue(text)
    assert issue.path == f"{TEMP}.alarms[1].deadband"
    assert issue.line == line_no(text, "deadband: 15")
    assert "deadband 15 of HH is not smaller than the gap 15 to H; reduce it" in issue.message


@pytest.mark.req("ALM-016")
def test_deadband_of_a_low_alarm_against_the_high_one() -> None:
    text = edit(
        "                alarms:\n                  - type: H\n",
        "                alarms:\n                  - {type: L, limit: 70, deadband: 12, message: low}\n"
        "                  - type: H\n",
    )
    issue = only_issue(text)
    assert issue.path == f"{TEMP}.alarms[0].deadband"
    assert "deadband 12 of L is not smaller than the gap 10 to H; reduce it" in issue.message


@pytest.mark.req("ALM-016")
def test_deadband_smaller_than_the_gap_is_fine() -> None:
    text = edit("limit: 95\n", "limit: 95\n                    deadband: 14.9\n")
    assert parse_config(text).alarms["L1.M1.Temp.HH"].alarm.deadband == 14.9


@pytest.mark.req("OPS-002")
def test_limit_alarm_on_a_string_tag() -> None:
    text = edit("                unit: °C\n", "                data_type: string\n")
    issues = issues_of(text)
    assert [(i.path, i.line) for i in issues] == [
        (f"{TEMP}.alarms[0].type", line_no(text, "- type: H$")),
        (f"{TEMP}.alarms[1].type", line_no(text, "- type: HH")),
    ]
    assert "a H limit alarm needs a numeric tag; 'L1.M1.Temp' is string; use type: discrete" in issues[0].message


@pytest.mark.req("OPS-002")
def test_two_alarms_of_the_same_type_on_one_tag() -> None:
    text = edit("                  - type: HH\n", "                  - type: H\n")
    issues = issues_of(text)
    assert [i.path for i in issues] == [f"{TEMP}.alarms[1].name", f"{TEMP}.alarms[1].type"]
    assert "give each a distinct name" in issues[0].message
    assert "one per type" in issues[1].message


# ----------------------------------------------------------------------------------------- many problems at once


@pytest.mark.req("OPS-002")
def test_every_schema_problem_is_reported_not_only_the_first() -> None:
    text = GOOD
    text = edit("timezone: Europe/Berlin", "timezone: Mars/Olympus", text)
    text = edit("url: opc.tcp://10.0.0.2:4840", "url: tcp://10.0.0.2:4840", text)
    text = edit("                    priority: 1\n", "                    priority: 5\n", text)
    text = edit("unit: bpm\n", "unti: bpm\n            description: a\n            description: b\n", text)
    issues = issues_of(text)
    assert sorted((i.path, i.line) for i in issues) == sorted(
        [
            ("site.timezone", 3),
            ("endpoints[1].url", line_no(text, "tcp://10.0.0.2")),
            ("areas[0].lines[0].tags[1].unti", line_no(text, "unti: bpm")),
            (f"{TEMP}.alarms[1].priority", line_no(text, "priority: 5")),
            ("areas[0].lines[0].tags[1].description", line_no(text, "description: b")),
        ]
    )


@pytest.mark.req("OPS-002")
def test_every_cross_reference_problem_is_reported() -> None:
    text = GOOD
    text = edit("endpoint: plc2,", "endpoint: plc9,", text)
    text = edit("speed_tag: L1.Speed", "speed_tag: L1.Sped", text)
    text = edit("                    limit: 80\n", "                    limit: 99\n", text)
    text = edit("name: L2.Speed,", "name: L1.Speed,", text)
    issues = issues_of(text)
    assert sorted(i.path for i in issues) == sorted(
        [
            "areas[0].lines[1].tags[0].endpoint",
            "areas[0].lines[1].tags[0].name",
            "areas[0].lines[0].speed_tag",
            f"{TEMP}.alarms[1].limit",
        ]
    )
    assert all(i.file == "plant.yaml" and i.line for i in issues)


@pytest.mark.req("OPS-002")
def test_every_message_says_what_to_do() -> None:
    bad = [
        edit("unit: bpm", "unti: bpm"),
        edit('            node_id: "ns=2;s=L1.Speed"\n', ""),
        edit("            unit: bpm\n", "            unit: bpm\n            unit: rpm\n"),
        edit("endpoint: plc2,", "endpoint: plc3,"),
        edit("state_tag: L1.State", "state_tag: L1.Stat"),
        edit("                    limit: 80\n", "                    limit: 99\n"),
        edit("                    limit: 95\n", "                    limit: 95\n                    deadband: 15\n"),
        edit("                unit: °C\n", "                data_type: string\n"),
        edit("{type: discrete, value: true, priority: 1", "{type: discrete, priority: 1"),
        edit("timezone: Europe/Berlin", "timezone: Europe/Berlinn"),
        edit("url: opc.tcp://10.0.0.2:4840", "url: http://10.0.0.2:4840"),
        "",
        "- a\n",
    ]
    verbs = ("remove", "add", "must", "keep", "use", "reduce", "define", "needs")
    for text in bad:
        for issue in issues_of(text):
            assert any(v in issue.message for v in verbs), str(issue)


# ----------------------------------------------------------------------------------------------------- hmi check


@pytest.mark.req("OPS-001")
def test_check_demo_plant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DEMO)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "OK"
    assert lines[1] == load_config(DEMO).summary()
    assert "Traceback" not in err


@pytest.mark.req("OPS-001")
def test_check_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["OK", SUMMARY]
    assert "problem" not in err


@pytest.mark.req("OPS-001")
def test_check_bad_file_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = edit("endpoint: plc2,", "endpoint: plc9,", edit("speed_tag: L1.Speed", "speed_tag: L1.Sped"))
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "OK" not in out
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0] == f"{path}: 2 problem(s)"
    assert lines[1:] == [
        f"  {path}:{line_no(text, 'plc9')}: areas[0].lines[1].tags[0].endpoint: unknown endpoint 'plc9'; define it "
        "under endpoints (known: plc1, plc2)",
        f"  {path}:{line_no(text, 'L1.Sped')}: areas[0].lines[0].speed_tag: unknown tag 'L1.Sped'; it must name a tag "
        "defined in this file",
    ]


@pytest.mark.parametrize("content", [None, "", "site: [oops\n", "- a\n", "site: {name: P}\n"])
@pytest.mark.req("OPS-001")
def test_check_never_shows_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None) -> None:
    path = tmp_path / "plant.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith(f"{path}: ")
    assert len(lines) >= 2
    assert all(line.startswith(f"  {path}") for line in lines[1:])
