"""The plant file's YAML is parsed once (hmi.config.compose_yaml) into the node tree that gives messages their line
numbers and the data the models validate; the data must be exactly what PyYAML's safe loader makes of the text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hmi.config import ConfigError, compose_yaml, parse_config

REPO = Path(__file__).resolve().parents[2]

ODD = """
defaults: &defaults {unit: '%', deadband: 1}
tag:
  <<: *defaults
  name: T1
numbers: [1, -2, 0x1F, 0o17, 1_000, 1.5, .inf, -.Inf, .nan, 6.02e23]
flags: [true, False, yes, no, on, off, ~, null, '']
text: [!!str 123, "quoted", 'single', plain text, '2026-12-04', 12:30]
when: 2026-12-04T06:00:00Z
nested: {a: [{b: {c: [1, [2, 3]]}}]}
"""


@pytest.mark.parametrize(
    "text",
    [
        ODD,
        (REPO / "assets" / "demo-plant.yaml").read_text(encoding="utf-8"),
        (REPO / "assets" / "demo-recipes.yaml").read_text(encoding="utf-8"),
    ],
    ids=["odd", "demo-plant", "demo-recipes"],
)
def test_the_data_is_what_the_safe_loader_makes(text: str) -> None:
    root, data = compose_yaml(text)
    expected = yaml.safe_load(text)
    assert root is not None
    # repr: NaN is never equal to itself, but is written the same.
    assert repr(data) == repr(expected)


def test_an_unhashable_key_is_a_yaml_error_with_its_line() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        compose_yaml("a: 1\n? [x, y]\n: 2\n")
    assert "unhashable" in str(caught.value)


def test_line_numbers_of_messages_count_from_the_file_s_first_line() -> None:
    text = (REPO / "assets" / "demo-plant.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "node_id:" in line)
    lines[at] = lines[at].split("node_id:")[0] + "node_idd: oops"
    with pytest.raises(ConfigError) as caught:
        parse_config("\n".join(lines), "demo-plant.yaml")
    assert any(issue.line == at + 1 for issue in caught.value.issues), caught.value.issues
