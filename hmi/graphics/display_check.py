"""What `hmi check` says about the plant file's displays: the drawing is there and usable, every binding names an
element of it and a tag of the plant, and fits both (a level needs a number and a rectangle, and so on).

Each message names the display, the binding's element id and what to do. A drawing is read and sanitised here, once
per load; the sanitised drawings are kept on the PlantConfig for the screens (hmi.config.PlantConfig.display_svg).
What the sanitiser took out is a warning, not an error: the drawing still shows, without it.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from hmi.graphics.display_config import (
    AnyBinding,
    Display,
    FillStateBinding,
    LevelBinding,
    RotateBinding,
    Scalar,
    TextBinding,
    VisibleBinding,
)
from hmi.graphics.display_render import number, pivot, span
from hmi.graphics.svg_safe import SafeSvg, UnsafeSvg, load

if TYPE_CHECKING:
    from hmi.config import PlantConfig, Tag

Loc = tuple[str | int, ...]
Issues = list[tuple[Loc, str]]


def check_displays(plant: PlantConfig, base_dir: Path | None) -> tuple[dict[str, SafeSvg], Issues, Issues]:
    """(sanitised drawing by display name, errors, warnings) for every display of `plant`."""
    drawings: dict[str, SafeSvg] = {}
    errors: Issues = []
    warnings: Issues = []
    names: set[str] = set()
    lines = {line.name for _, line in plant.lines()}
    for d, display in enumerate(plant.displays):
        dloc: Loc = ("displays", d)
        if display.name in names:
            errors.append(((*dloc, "name"), f"display name {display.name!r} is used twice; names must be unique"))
        names.add(display.name)
        if display.line is not None and display.line not in lines:
            errors.append(
                (
                    (*dloc, "line"),
                    f"display {display.name!r}: unknown line {display.line!r}; known: {', '.join(sorted(lines))}",
                )
            )
        path = display.svg  # already resolved against the plant file's folder (Display._from_plant_folder)
        try:
            svg = load(path)
        except FileNotFoundError:
            where = f" (a relative path is read from the plant file's folder {base_dir})" if base_dir else ""
            errors.append(((*dloc, "svg"), f"display {display.name!r}: drawing {str(path)!r} not found{where}"))
            svg = None
        except OSError as exc:
            errors.append(((*dloc, "svg"), f"display {display.name!r}: cannot read {str(path)!r} ({exc})"))
            svg = None
        except UnsafeSvg as exc:
            errors.append(((*dloc, "svg"), f"display {display.name!r}: drawing {str(path)!r} cannot be used: {exc}"))
            svg = None
        if svg is not None:
            drawings[display.name] = svg
            warnings += [
                ((*dloc, "svg"), f"display {display.name!r}: removed from the drawing {path.name}: {what}")
                for what in svg.removed
            ]
        errors += _binding_issues(plant, display, svg, dloc)
    return drawings, errors, warnings


def _binding_issues(plant: PlantConfig, display: Display, svg: SafeSvg | None, dloc: Loc) -> Issues:
    out: Issues = []
    seen: set[tuple[str, str]] = set()
    for k, binding in enumerate(display.bindings):
        bloc: Loc = (*dloc, "bindings", k)
        who = f"display {display.name!r}, binding of {binding.id!r}"
        kind = "fill" if binding.type in ("fill_state", "fill_quality") else binding.type
        if (binding.id, kind) in seen:
            out.append(((*bloc, "type"), f"{who}: the element already has a {kind} binding; keep one"))
        seen.add((binding.id, kind))
        ref = plant.tags.get(binding.tag)
        if ref is None:
            out.append(((*bloc, "tag"), f"{who}: unknown tag {binding.tag!r}; it must name a tag defined in this file"))
        el = None
        if svg is not None:
            el = svg.ids.get(binding.id)
            if el is None:
                near = difflib.get_close_matches(binding.id, list(svg.ids), n=3)
                hint = f" (did you mean {', '.join(repr(n) for n in near)}?)" if near else ""
                out.append(
                    (
                        (*bloc, "id"),
                        f"{who}: the drawing has no element with id {binding.id!r}{hint}; give the element this id "
                        "(Inkscape: Object Properties > ID, then Set; draw.io: Edit Data > ID) or correct it here",
                    )
                )
        if ref is not None:
            out += [((*bloc, key), f"{who}: {msg}") for key, msg in _fit(binding, ref.tag, el)]
    return out


def _fit(binding: AnyBinding, tag: Tag, el: Element | None) -> list[tuple[str, str]]:
    """(key, problem) where the binding does not fit its tag or element (`el` None: not known)."""
    out: list[tuple[str, str]] = []
    if isinstance(binding, TextBinding):
        if el is not None and el.tag not in ("text", "tspan"):
            out.append(("id", f"a text binding needs a <text> element; {binding.id!r} is a <{el.tag}>"))
        if binding.decimals is not None and not tag.numeric:
            out.append(("decimals", f"decimals applies to numbers; {tag.name!r} is {tag.data_type}"))
    elif isinstance(binding, FillStateBinding):
        for value in binding.states:
            if not _fits(value, tag):
                out.append(
                    ("states", f"state {value!r} can never equal a value of the {tag.data_type} tag {tag.name!r}")
                )
    elif isinstance(binding, VisibleBinding):
        test = binding.when.equals if binding.when.equals is not None else binding.when.not_equals
        if test is not None and not _fits(test, tag):
            out.append(("when", f"{test!r} can never equal a value of the {tag.data_type} tag {tag.name!r}"))
    elif isinstance(binding, LevelBinding | RotateBinding):
        if not tag.numeric:
            out.append(("type", f"a {binding.type} binding needs a numeric tag; {tag.name!r} is {tag.data_type}"))
        scaled = not (isinstance(binding, RotateBinding) and binding.degrees_per_unit is not None)
        limits = span(binding, tag)
        if scaled and limits is None:
            out.append(
                ("max", f"give min and max, or the tag {tag.name!r} an eng_range: the {binding.type} needs a scale")
            )
        elif scaled and limits is not None and limits[0] >= limits[1]:
            out.append(("min", f"min ({limits[0]:g}) must be below max ({limits[1]:g})"))
        if isinstance(binding, LevelBinding) and el is not None:
            plain = all(number(el.get(k, "0")) is not None for k in ("x", "y", "width", "height"))
            if el.tag != "rect" or not plain:
                out.append(
                    (
                        "id",
                        f"a level binding needs a <rect> with plain numbers for x, y, width and height; {binding.id!r} "
                        f"is a <{el.tag}>: draw the level's full extent as a rectangle",
                    )
                )
        if isinstance(binding, RotateBinding) and el is not None and pivot(binding, el) is None:
            out.append(
                ("center", f"give center: [x, y], the pivot of {binding.id!r} (a <{el.tag}>) in its coordinates")
            )
    return out


def _fits(value: Scalar, tag: Tag) -> bool:
    if tag.data_type == "bool":
        return isinstance(value, bool)
    if tag.numeric:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)
