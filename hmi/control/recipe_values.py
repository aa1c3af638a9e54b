"""Recipe values: which tags a recipe may set, whether a value fits its write rule (limits, step grid, type), the
content a version's hash and signature cover, and the recipe file format (ISA-88 parameters)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hmi.config import PlantConfig, TagRef
from hmi.control.spec import NAME_PATTERN
from hmi.control.values import on_grid
from hmi.records.signatures import canonical_json
from hmi.store.models import Recipe, RecipeVersion
from hmi.texts import Text, joined

MAX_PARAMETERS = 200
MAX_TEXT = 2000
MAX_STRING_VALUE = 200

Scalar = bool | int | float | str


class RecipeError(ValueError):
    """The recipe service cannot do this; the message says why and what to do."""


class RecipeInvalid(RecipeError):
    """Parameters that are not writable tags of the target, or values outside their limits or step grid."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        # Each problem keeps its own sentence (a Text), so a screen translates every one of them.
        super().__init__(joined(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # Remade from its problems, not from its message (a process pool or test worker pickles it).
        return (type(self), (self.problems,))


def target_tags(plant: PlantConfig, line: str, machine: str = "") -> dict[str, TagRef]:
    """The writable tags of a line (with its machines') or of one machine of it, by name."""
    return {
        name: ref
        for name, ref in plant.tags.items()
        if ref.tag.write is not None
        and ref.line.name == line
        and (not machine or (ref.machine is not None and ref.machine.name == machine))
    }


def where(line: str, machine: str = "") -> Text:
    """'line L1' or 'line L1 machine Filler': what a recipe targets, in a sentence."""
    if machine:
        return Text("line {line} machine {machine}", line=line, machine=machine)
    return Text("line {line}", line=line)


def check_target(plant: PlantConfig, line: str, machine: str = "") -> None:
    """RecipeError unless `line` (and `machine` on it) exist in the plant."""
    found = plant.line(line)
    if found is None:
        names = ", ".join(ln.name for _, ln in plant.lines())
        raise RecipeError(
            Text("there is no line {line!r} in this plant; choose one of: {names}", line=line, names=names)
        )
    if machine and machine not in {m.name for m in found[1].machines}:
        names = ", ".join(m.name for m in found[1].machines) or Text("none")
        raise RecipeError(
            Text(
                "line {line} has no machine {machine!r}; its machines: {names}", line=line, machine=machine, names=names
            )
        )


def number_text(value: float) -> str:
    return f"{value:g}"


def check_value(plant: PlantConfig, ref: TagRef, value: object) -> Scalar:
    """The value as it will be written (snapped onto the step grid), or RecipeError naming the parameter and the fix."""
    tag = ref.tag
    name = tag.name
    if tag.data_type == "bool":
        if not isinstance(value, bool):
            raise RecipeError(Text("{tag}: {value!r} is not true or false; write true or false", tag=name, value=value))
        return value
    if tag.data_type == "string":
        if not isinstance(value, str) or len(value) > MAX_STRING_VALUE:
            raise RecipeError(Text("{tag}: give a text of at most {most} characters", tag=name, most=MAX_STRING_VALUE))
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RecipeError(Text("{tag}: {value!r} is not a number; give a number", tag=name, value=value))
    unit = f" {tag.unit}" if tag.unit else ""
    limits = plant.write_limits(name)
    if limits is not None:
        low, high = limits
        if not low <= value <= high:
            raise RecipeError(
                Text(
                    "{tag}: {value}{unit} is outside the write limits {low} to {high}{unit}; give a value within them",
                    tag=name,
                    value=number_text(value),
                    unit=unit,
                    low=number_text(low),
                    high=number_text(high),
                )
            )
    number: float = float(value)
    assert tag.write is not None
    if (near := on_grid(tag.write, number)) is not None:
        raise RecipeError(
            Text(
                "{tag}: {value}{unit} is not on the step grid of {step} from {base}; give {below} or {above}",
                tag=name,
                value=number_text(number),
                unit=unit,
                step=number_text(tag.write.step or 0),
                base=number_text(tag.write.min or 0.0),
                below=number_text(near[0]),
                above=number_text(near[1]),
            )
        )
    if tag.write.step is not None:
        # Snapped onto the grid, so 64.50000000001 from a spreadsheet is stored as 64.5.
        base = tag.write.min if tag.write.min is not None else 0.0
        number = round(base + round((number - base) / tag.write.step) * tag.write.step, 9)
    if tag.data_type == "int":
        if number != int(number):
            raise RecipeError(
                Text("{tag}: {value} is not a whole number; give a whole number", tag=name, value=number_text(number))
            )
        return int(number)
    return number


def validate_parameters(
    plant: PlantConfig, line: str, machine: str, parameters: Mapping[str, object]
) -> dict[str, Scalar]:
    """The parameters as they will be stored and written; RecipeInvalid listing every problem with its fix."""
    check_target(plant, line, machine)
    if not parameters:
        raise RecipeInvalid([Text("a recipe version needs at least one parameter ({example})", example="{tag: value}")])
    if len(parameters) > MAX_PARAMETERS:
        raise RecipeInvalid([Text("at most {most} parameters fit in one version", most=MAX_PARAMETERS)])
    writable = target_tags(plant, line, machine)
    target = where(line, machine)
    problems: list[str] = []
    cleaned: dict[str, Scalar] = {}
    for name, value in parameters.items():
        ref = writable.get(name)
        if ref is None:
            if name not in plant.tags:
                why = Text("is not a tag of this plant")
            elif plant.tags[name].tag.write is None:
                why = Text("is read only (it has no write rule in the plant file)")
            else:
                why = Text("is not a tag of {target}", target=target)
            choices = ", ".join(sorted(writable)) or Text("none")
            problems.append(
                Text(
                    "{tag}: {why}; the writable tags of {target} are: {choices}",
                    tag=name,
                    why=why,
                    target=target,
                    choices=choices,
                )
            )
            continue
        try:
            cleaned[name] = check_value(plant, ref, value)
        except RecipeError as exc:
            problems.append(exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc))
    if problems:
        raise RecipeInvalid(problems)
    return dict(sorted(cleaned.items()))


def recipe_content(recipe: Recipe, version: int, parameters: Mapping[str, object]) -> str:
    """The text a version's content hash covers: what it targets, its number and its parameters."""
    return canonical_json(
        {
            "recipe": recipe.name,
            "line": recipe.line,
            "machine": recipe.machine,
            "version": version,
            "parameters": dict(parameters),
        }
    )


def signed_content(recipe: Recipe, version: RecipeVersion) -> str:
    """The text an approval (or rejection) signature is bound to: the version's identity and its content hash."""
    return canonical_json(
        {
            "id": version.id,
            "recipe": recipe.name,
            "version": version.version,
            "content_hash": version.content_hash,
            "parameters": json.loads(version.parameters),
        }
    )


def parameters_of(version: RecipeVersion) -> dict[str, Scalar]:
    """A version's parameters."""
    data: dict[str, Scalar] = json.loads(version.parameters)
    return data


# ---------------------------------------------------------------------------------------------- reports
# ---------------------------------------------------------------------------------------------- the YAML file
class RecipeDef(BaseModel):
    """One recipe in a recipe file: where it goes and its parameter values (a new draft version on import)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, max_length=120)
    line: str = Field(min_length=1, max_length=120)
    machine: str = Field("", max_length=120)
    description: str = Field("", max_length=MAX_TEXT)
    note: str = Field("", max_length=MAX_TEXT)
    parameters: dict[str, Scalar] = Field(min_length=1)


class RecipeFile(BaseModel):
    """A recipe file: `recipes: [...]`."""

    model_config = ConfigDict(extra="forbid")

    recipes: list[RecipeDef] = Field(min_length=1)


def parse_recipes(text: str, name: str = "<recipes>") -> list[RecipeDef]:
    """The recipes of a YAML recipe file; RecipeError saying where the file is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(Text("{file} is not valid YAML: {why}", file=name, why=str(exc))) from None
    try:
        return RecipeFile.model_validate(data).recipes
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        # pydantic's own messages stay English: they quote the schema the file is written in.
        raise RecipeError(Text("{file}: {problems}", file=name, problems="; ".join(problems))) from None
