"""Values as people enter and read them: text or numbers turned into a tag's data type with a message that says
what is wrong, a value as an operator reads it, and the step grid of a write rule."""

from __future__ import annotations

import math
from typing import Any

from hmi.control.spec import WriteSpec
from hmi.texts import Text

MAX_TEXT_VALUE = 1000
_BOOL_WORDS = {"true": True, "1": True, "on": True, "yes": True, "false": False, "0": False, "off": False, "no": False}


def shown(value: Any) -> str:
    """A value as an operator reads it: numbers without noise, booleans as true/false, nothing as 'unknown'."""
    # The words are Text: quoted in a refusal, they are read in the screen's language.
    if value is None:
        return Text("unknown")
    if isinstance(value, bool):
        return Text("true") if value else Text("false")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_value(data_type: str, value: Any) -> Any:
    """`value` (typed, or text as entered) as the tag's data type; ValueError saying what is wrong."""
    if data_type == "float":
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise ValueError(Text("{value!r} is not a number", value=value.strip()[:40])) from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            raise ValueError(Text("{value} is not a number", value=shown(value)))
        if not math.isfinite(number):
            raise ValueError(Text("{value} is not a finite number", value=shown(number)))
        return number
    if data_type == "int":
        if isinstance(value, bool):
            raise ValueError(Text("{value} is not a whole number", value=shown(value)))
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    number = math.nan
                if not (math.isfinite(number) and number.is_integer()):
                    raise ValueError(Text("{value!r} is not a whole number", value=text[:40])) from None
                return int(number)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValueError(Text("{value} is not a whole number", value=shown(value)))
    if data_type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.strip().lower()]
        raise ValueError(Text("{value!r} is not true or false", value=str(shown(value))))
    text = value if isinstance(value, str) else shown(value)
    if len(text) > MAX_TEXT_VALUE:
        raise ValueError(
            Text(
                "the text is {length} characters long; at most {most} can be written",
                length=len(text),
                most=MAX_TEXT_VALUE,
            )
        )
    return text


def on_grid(spec: WriteSpec, value: float) -> tuple[float, float] | None:
    """None when `value` lies on the rule's step grid (counted from min, else 0); else the grid points below and
    above it. Decimal steps such as 0.1 are not exact in binary floating point: a relative tolerance decides."""
    if spec.step is None:
        return None
    base = spec.min if spec.min is not None else 0.0
    steps = (value - base) / spec.step
    if abs(steps - round(steps)) <= 1e-6 * max(1.0, abs(steps)):
        return None
    below = base + math.floor(steps) * spec.step
    return round(below, 9), round(below + spec.step, 9)
