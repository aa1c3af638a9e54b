"""The plant file's `displays:` section: custom SVG drawings and the bindings of their elements to tags.

A binding names an element of the drawing by its id and a tag, and says how the value shows: as text, as a fill
from a fixed palette, as visibility, as a level or as a rotation. Fills come only from `PALETTE` (ISA-101 greys,
hatch patterns and the alarm colours), never from CSS written in the plant file, so a display keeps the plant's
colour rules and nothing of the file reaches a style unchecked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

# The same rule as hmi.config.NAME_PATTERN (a unit test holds them equal); repeated because hmi.config imports this.
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Name = Annotated[str, Field(pattern=_NAME_PATTERN, max_length=120)]
ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
"""The element ids a binding may name (what Inkscape and draw.io write; no spaces, quotes or '#')."""
ElementId = Annotated[str, Field(pattern=ID_PATTERN, max_length=120)]

PaletteName = Literal[
    "white",
    "light",
    "grey",
    "mid",
    "dark",
    "black",
    "none",
    "hatch",
    "hatch_dark",
    "cross",
    "dots",
    "alarm_p1",
    "alarm_p2",
    "alarm_p3",
    "alarm_p4",
]
"""The fills a binding may choose: greys for normal states, patterns to tell states apart by texture (readable in
greyscale), the four alarm priority colours of assets/hmi.css for abnormal states (ISA-101: colour only there)."""

Scalar = bool | int | float | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Binding(_Model):
    id: ElementId = Field(
        description="the element's id in the drawing (Inkscape: Object Properties; draw.io: Edit Data)"
    )
    tag: Name


class TextBinding(_Binding):
    """The element's text becomes the value with its unit."""

    type: Literal["text"]
    decimals: int | None = Field(None, ge=0, le=6, description="digits after the point; default 1 for float tags")
    unit: str | None = Field(None, max_length=20, description="shown after the value; default the tag's unit")


class FillStateBinding(_Binding):
    """The element's fill chosen by the tag's value from the palette (a state by pattern and grey, not by hue)."""

    type: Literal["fill_state"]
    states: dict[Scalar, PaletteName] = Field(min_length=1, description="value -> palette name")
    otherwise: PaletteName | None = Field(None, description="fill for any other value; default: the drawing's own")


class FillQualityBinding(_Binding):
    """The element keeps its fill while the tag is good, and shows a quality pattern when it is not."""

    type: Literal["fill_quality"]
    good: PaletteName | None = Field(None, description="fill while good; default: the drawing's own")


class When(_Model):
    """A test on the tag's value: equals or not_equals one value."""

    equals: Scalar | None = None
    not_equals: Scalar | None = None

    @model_validator(mode="after")
    def _one_test(self) -> When:
        if (self.equals is None) == (self.not_equals is None):
            raise ValueError("give exactly one of equals or not_equals, e.g. when: {equals: true}")
        return self

    def holds(self, value: object) -> bool:
        """True when `value` passes the test."""
        return value == self.equals if self.equals is not None else value != self.not_equals


class VisibleBinding(_Binding):
    """The element shows only while the tag's value passes `when`."""

    type: Literal["visible"]
    when: When


class LevelBinding(_Binding):
    """A rectangle filled to the value's share of min..max, growing in `direction` (a tank's level, a bar)."""

    type: Literal["level"]
    min: float | None = Field(None, description="empty at this value; default the low end of the tag's eng_range")
    max: float | None = Field(None, description="full at this value; default the high end of the tag's eng_range")
    direction: Literal["up", "down", "right", "left"] = "up"


class RotateBinding(_Binding):
    """The element turns about `center` by the value: min..max maps onto angles, or degrees per unit."""

    type: Literal["rotate"]
    min: float | None = Field(None, description="at `angles[0]`; default the low end of the tag's eng_range")
    max: float | None = Field(None, description="at `angles[1]`; default the high end of the tag's eng_range")
    angles: tuple[float, float] = Field((0.0, 270.0), description="degrees at min and at max")
    degrees_per_unit: float | None = Field(None, description="instead of min/max: the angle is value x this")
    center: tuple[float, float] | None = Field(
        None, description="the pivot in the element's own coordinates; default the centre of a rect, circle or ellipse"
    )

    @model_validator(mode="after")
    def _one_scale(self) -> RotateBinding:
        if self.degrees_per_unit is not None and (self.min is not None or self.max is not None):
            raise ValueError("give either degrees_per_unit or min/max, not both")
        return self


AnyBinding = TextBinding | FillStateBinding | FillQualityBinding | VisibleBinding | LevelBinding | RotateBinding
Binding = Annotated[AnyBinding, Field(discriminator="type")]
BINDING_TYPES = ("text", "fill_state", "fill_quality", "visible", "level", "rotate")


class Display(_Model):
    """A custom picture: an SVG file drawn in Inkscape or draw.io, and what its elements show."""

    name: Name = Field(description="the page is /display/<name>")
    title: str = Field(min_length=1, max_length=120)
    svg: Path = Field(description="the drawing; a relative path is relative to the plant file's folder")
    line: Name | None = Field(None, description="the line it belongs to: its page links there")
    bindings: tuple[Binding, ...] = ()

    @field_validator("svg")
    @classmethod
    def _from_plant_folder(cls, value: Path, info: ValidationInfo) -> Path:
        # hmi.config.parse_config passes the plant file's folder; the path is kept resolved, so a PlantConfig built
        # again from these models (e.g. the demo's, with another endpoint URL) still finds the drawing.
        base = (info.context or {}).get("base_dir")
        return value if value.is_absolute() or base is None else Path(base) / value

    def tags(self) -> list[str]:
        """The tags the display shows, once each, in binding order."""
        return list(dict.fromkeys(b.tag for b in self.bindings))
