"""The structural diff of two plants that a reload applies and audits (hmi/plant_diff.py): pure."""

from __future__ import annotations

import hashlib
from pathlib import Path

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


DRAWING = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 50"><rect id="body" width="{w}" height="40"/></svg>'
DISPLAY = "displays:\n  - {name: L1-M1, title: Machine M1, svg: m1.svg, line: L1}\n"


@pytest.mark.req("RLD-011")
def test_a_changed_drawing_is_named_with_its_hashes_before_and_after(tmp_path: Path) -> None:
    drawing = tmp_path / "m1.svg"
    first = DRAWING.format(w=60)
    drawing.write_text(first, encoding="utf-8")
    old = parse_config(BASE + DISPLAY, "plant.yaml", base_dir=tmp_path)
    # The same plant file and path, another drawing: only its content says it changed.
    second = DRAWING.format(w=80)
    drawing.write_text(second, encoding="utf-8")
    new = parse_config(BASE + DISPLAY, "plant.yaml", base_dir=tmp_path)
    a, b = (hashlib.sha256(t.encode()).hexdigest() for t in (first, second))
    diff = diff_plants(old, new)
    assert diff.lines() == [f"drawing L1-M1 changed: m1.svg sha256 {a} -> {b}"]
    assert diff.restart_needed == ()
    # Unchanged drawing: no change; added and removed displays name their drawing's hash.
    assert diff_plants(new, parse_config(BASE + DISPLAY, "plant.yaml", base_dir=tmp_path)).empty
    without = parse_config(BASE, "plant.yaml", base_dir=tmp_path)
    assert f"drawing L1-M1 added: m1.svg sha256 {b}" in diff_plants(without, new).lines()
    assert f"drawing L1-M1 removed: m1.svg sha256 {b}" in diff_plants(new, without).lines()


@pytest.mark.req("RLD-011")
def test_a_plant_built_again_keeps_the_drawings_it_was_read_with(tmp_path: Path) -> None:
    drawing = tmp_path / "m1.svg"
    drawing.write_text(DRAWING.format(w=60), encoding="utf-8")
    read = parse_config(BASE + DISPLAY, "plant.yaml", base_dir=tmp_path)
    fields = {name: getattr(read, name) for name in PlantConfig.model_fields}
    rebuilt = PlantConfig.model_validate(fields)
    assert rebuilt.drawing_sha256("L1-M1") is None  # not read yet: the diff says so instead of reading the file now
    kept = PlantConfig.model_validate(fields).keep_drawings(read)
    assert kept.drawing_sha256("L1-M1") == read.drawing_sha256("L1-M1")
    drawing.write_text(DRAWING.format(w=80), encoding="utf-8")
    new = parse_config(BASE + DISPLAY, "plant.yaml", base_dir=tmp_path)
    assert [c.what for c in diff_plants(kept, new).changes] == ["drawing"]
    assert "(not read) -> " in diff_plants(rebuilt, new).lines()[0]
