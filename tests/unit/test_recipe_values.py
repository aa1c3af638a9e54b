"""Recipe parameter values against a tag's write rule: limits, step grid (from min, else 0), types."""

from __future__ import annotations

import pytest

from hmi.config import parse_config
from hmi.control.recipe_report import DiffRow, DownloadPart, DownloadReport
from hmi.control.recipe_values import RecipeError, check_value, parse_recipes

PLANT = parse_config(
    """
site: {name: P}
endpoints: [{name: e, url: "opc.tcp://127.0.0.1:4840"}]
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {name: Sp, endpoint: e, node_id: "ns=2;s=Sp", eng_range: [0, 10], write: {step: 0.25}}
          - {name: Shifted, endpoint: e, node_id: "ns=2;s=S", eng_range: [-10, 10], write: {min: -7, max: 8, step: 3}}
          - {name: Count, endpoint: e, node_id: "ns=2;s=Count", data_type: int, eng_range: [0, 100], write: {}}
          - {name: B, endpoint: e, node_id: "ns=2;s=B", data_type: bool, write: {}}
""",
    "p.yaml",
)


@pytest.mark.parametrize(
    ("tag", "value", "stored"),
    [
        ("Sp", 2.5, 2.5),
        ("Sp", 0.1 + 0.15, 0.25),
        ("Sp", 10, 10.0),
        ("Shifted", -7, -7.0),
        ("Shifted", 5, 5.0),
        ("Count", 42, 42),
        ("Count", 42.0, 42),
        ("B", True, True),
    ],
)
@pytest.mark.req("CTL-030")
def test_values_inside_the_rule_are_kept_on_the_grid(tag: str, value: object, stored: object) -> None:
    result = check_value(PLANT, PLANT.tags[tag], value)
    assert result == stored
    assert type(result) is type(stored)


@pytest.mark.parametrize(
    ("tag", "value", "message"),
    [
        ("Sp", 10.25, "outside the write limits 0 to 10"),
        ("Sp", 2.3, "not on the step grid of 0.25 from 0; give 2.25 or 2.5"),
        ("Shifted", 0, "not on the step grid of 3 from -7; give -1 or 2"),
        ("Count", 4.5, "not a whole number"),
        ("Count", True, "not a number"),
        ("Sp", "5", "not a number"),
        ("Sp", float("nan"), "not a number"),
        ("B", 1, "not true or false"),
    ],
)
@pytest.mark.req("CTL-030")
def test_values_outside_the_rule_are_refused_with_the_fix(tag: str, value: object, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        check_value(PLANT, PLANT.tags[tag], value)


@pytest.mark.req("CTL-034")
def test_the_overall_result_is_never_success_unless_every_part_is_confirmed() -> None:
    from datetime import UTC, datetime

    def report(*results: str) -> DownloadReport:
        parts = tuple(DownloadPart(f"T{i}", 1, 0, r, r) for i, r in enumerate(results))
        return DownloadReport("R", 1, 1, datetime(2025, 1, 1, tzinfo=UTC), "u", "", parts)

    assert report("confirmed", "confirmed").result == "complete"
    assert report("confirmed", "not_confirmed").result == "partial"
    assert report("refused", "server_refused").result == "failed"
    assert report().result == "failed"
    assert not report("confirmed", "refused").success
    again = DownloadReport.from_dict(report("confirmed", "refused").as_dict())
    assert again.result == "partial"
    assert [p.result for p in again.parts] == ["confirmed", "refused"]
    assert DiffRow("T", 1.0, "good", 1, "", 0, 2, None).differs is False
    assert DiffRow("T", 1.0, "bad", 1, "", 0, 2, None).differs is True


@pytest.mark.req("CTL-036")
def test_a_recipe_file_is_checked_before_anything_is_stored() -> None:
    with pytest.raises(RecipeError, match="not valid YAML"):
        parse_recipes("recipes: [")
    with pytest.raises(RecipeError, match=r"recipes.0.name"):
        parse_recipes("recipes: [{name: 'bad name', line: L, parameters: {Sp: 1}}]")
    with pytest.raises(RecipeError, match=r"recipes.0.colour: Extra inputs"):
        parse_recipes("recipes: [{name: R, line: L, colour: red, parameters: {Sp: 1}}]")
