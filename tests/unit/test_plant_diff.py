"""The structural diff of two plants that a reload applies and audits (hmi/plant_diff.py): pure."""

from __future__ import annotations

import pytest

from hmi.config import PlantConfig, parse_config
from hmi.plant_diff import diff_plants
from tests.plant_fixture import PLANT_YAML

URL = "opc.tcp://127.0.0.1:4840"
BASE = PLANT_YAML.format(url=URL)


def plant(text: str = BASE) -> PlantConfig:
    return parse_config(text, "plant.yaml")


def edited(old: str, new: str, text: str = BASE) -> PlantConfig:
    assert old in text, old
    return plant(text.replace(old, new, 1))


@pytest.mark.req("RLD-009")
def test_the_same_plant_has_no_changes() -> None:
    diff = diff_plants(plant(), plant(BASE + "# only a comment\n"))
    assert diff.empty
    assert diff.lines() == []
    assert diff.restart_needed == ()


@pytest.mark.req("RLD-009")
def test_tags_and_alarms_added_removed_and_changed_are_named() -> None:
    new = edited(
        '{type: H, limit: 80, deadband: 2, priority: 2, message: "<b>Temp</b> high"}',
        '{type: H, limit: 82, deadband: 2, priority: 1, message: "<b>Temp</b> high"}',
        BASE.replace('node_id: "ns=2;s=L1.M1.Level"', 'node_id: "ns=2;s=L1.M1.Level2"')
        + '              - {name: L1.M1.Flow, endpoint: test, node_id: "ns=2;s=L1.M1.Flow"}\n',
    )
    diff = diff_plants(plant(), new)
    assert diff.names("tag", "added") == {"L1.M1.Flow"}
    assert diff.names("tag", "changed") == {"L1.M1.Level"}
    assert diff.names("alarm", "changed") == {"L1.M1.Temp.H"}
    assert "tag L1.M1.Level changed: node_id 'ns=2;s=L1.M1.Level' -> 'ns=2;s=L1.M1.Level2'" in diff.lines()
    assert "alarm L1.M1.Temp.H changed: limit 80.0 -> 82.0; priority 2 -> 1" in diff.lines()
    removed = diff_plants(new, plant())
    assert removed.names("tag", "removed") == {"L1.M1.Flow"}


@pytest.mark.req("RLD-009")
def test_a_removed_alarm_and_a_moved_tag() -> None:
    no_jam_alarm = edited(
        "                alarms:\n                  - {type: discrete, value: true, priority: 1, message: Jam at M1}\n",
        "",
    )
    assert diff_plants(plant(), no_jam_alarm).lines() == ["alarm L1.M1.Jam.discrete removed"]


@pytest.mark.req("RLD-009")
def test_endpoint_changes_never_show_a_secret() -> None:
    with_password = edited(
        "    publishing_interval_ms: 100\n",
        "    publishing_interval_ms: 100\n    username: hmi\n    password: s3cret-one\n",
    )
    other = edited(
        "    publishing_interval_ms: 100\n",
        "    publishing_interval_ms: 200\n    username: hmi\n    password: s3cret-two\n",
    )
    diff = diff_plants(with_password, other)
    [line] = diff.lines()
    assert line.startswith("endpoint test changed: publishing_interval_ms 100 -> 200; password changed (secret)")
    assert "s3cret" not in line
    assert "scrypt" not in line


@pytest.mark.req("RLD-009")
def test_other_sections_are_compared_generically() -> None:
    new = plant(BASE + "limits: {page_rows: 50}\ndowntime_reasons:\n  - {code: jam, text: Jam}\n")
    lines = diff_plants(plant(), new).lines()
    assert "section downtime_reasons changed: downtime_reasons 8 item(s) -> 1 item(s)" in lines
    assert "section limits changed: limits.page_rows 200 -> 50" in lines


@pytest.mark.req("RLD-005", "RLD-009")
def test_sign_in_rules_and_server_alarm_priorities_need_a_restart() -> None:
    new = plant(
        BASE + "access: {idle_lock_min: 3, logoff_min: 10}\nalarm_policy: {severity_priorities: [900, 500, 200]}\n"
    )
    diff = diff_plants(plant(), new)
    assert [r.split(" changed")[0] for r in diff.restart_needed] == ["access", "alarm_policy.severity_priorities"]
    assert all("restart the HMI" in r for r in diff.restart_needed)
    # Other alarm policy settings apply at run time.
    assert diff_plants(plant(), plant(BASE + "alarm_policy: {max_shelve_h: 4}\n")).restart_needed == ()
