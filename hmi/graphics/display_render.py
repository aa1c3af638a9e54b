"""A custom display as SVG text: the sanitised drawing with its bindings applied to the tags' current states.

Everything is decided here, on the server: the page only receives finished SVG (no script reads values in the
browser). Text from the drawing, the plant file or the PLC is escaped on output (xml.sax.saxutils), element and
attribute names come from the sanitiser's allowlists, fills only from `PALETTE`. Ids are prefixed (`hmi-d-<id>`),
and every `#id` reference with them, so a drawing cannot clash with, or point at, anything else on the page.

A value that is not good and live never looks like one (ISA-101; docs/operators.md): text reads BAD, STALE or
NO DATA in a greyed italic style (UNCERTAIN keeps the value, marked "?"), and fills, levels, rotations and
visibility give way to a quality pattern over the whole element instead of showing the last value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from hmi.config import Tag
from hmi.graphics.display_config import (
    AnyBinding,
    Display,
    FillQualityBinding,
    FillStateBinding,
    LevelBinding,
    RotateBinding,
    TextBinding,
    VisibleBinding,
)
from hmi.graphics.svg_safe import _URL_REF, PRESENTATION, SVG_NS, SafeSvg
from hmi.tags import Quality, TagState

ID_PREFIX = "hmi-d-"
"""Every id of a drawing on the page starts with this (the palette's patterns with `hmi-p-`)."""
PALETTE_PREFIX = "hmi-p-"
SHAPES = frozenset({"path", "rect", "circle", "ellipse", "polygon", "polyline", "line"})

# The greys and alarm colours of assets/hmi.css; patterns are defined once per display in `_DEFS`.
PALETTE: dict[str, str] = {
    "white": "#ffffff",
    "light": "#e8e8e8",
    "grey": "#bdbdbd",
    "mid": "#8c8c8c",
    "dark": "#5c5c5c",
    "black": "#1a1a1a",
    "none": "none",
    "alarm_p1": "#d0021b",
    "alarm_p2": "#f28c00",
    "alarm_p3": "#f5d800",
    "alarm_p4": "#8a5cd1",
    **{name: f"url(#{PALETTE_PREFIX}{name})" for name in ("hatch", "hatch_dark", "cross", "dots")},
    **{f"q_{q}": f"url(#{PALETTE_PREFIX}q_{q})" for q in ("bad", "stale", "uncertain")},
}


def _hatch(name: str, ground: str, ink: str, path: str, size: int = 8, dash: str = "") -> str:
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<pattern id="{PALETTE_PREFIX}{name}" patternUnits="userSpaceOnUse" width="{size}" height="{size}">'
        f'<rect width="{size}" height="{size}" fill="{ground}"/>'
        f'<path d="{path}" stroke="{ink}" stroke-width="1.5" fill="none"{dashes}/></pattern>'
    )


_DIAGONAL = "M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4"
_DEFS = (
    "<defs>"
    + _hatch("hatch", "#f2f2f2", "#1a1a1a", _DIAGONAL)
    + _hatch("hatch_dark", "#8c8c8c", "#1a1a1a", _DIAGONAL)
    + _hatch("cross", "#e8e8e8", "#1a1a1a", _DIAGONAL + " M0,0 l8,8 M-2,6 l4,4 M6,-2 l4,4")
    + f'<pattern id="{PALETTE_PREFIX}dots" patternUnits="userSpaceOnUse" width="6" height="6">'
    '<rect width="6" height="6" fill="#e8e8e8"/><circle cx="3" cy="3" r="1.3" fill="#1a1a1a"/></pattern>'
    # Quality: BAD a dark cross-hatch, STALE a dashed hatch on white, UNCERTAIN a sparse hatch (hmi.css badges).
    + _hatch("q_bad", "#5c5c5c", "#ffffff", _DIAGONAL + " M0,0 l8,8 M-2,6 l4,4 M6,-2 l4,4")
    + _hatch("q_stale", "#ffffff", "#1a1a1a", _DIAGONAL, dash="2 2")
    + _hatch("q_uncertain", "#ffffff", "#5c5c5c", "M0,8 l8,-8", size=10)
    + "</defs>"
)
NOT_GOOD_WORDS = {Quality.BAD: "BAD", Quality.STALE: "STALE"}
_GREYED = "fill:#5c5c5c;font-style:italic"


def condition(state: TagState | None) -> str:
    """good, uncertain, bad, stale, or none (no value yet)."""
    if state is None or (state.value is None and state.quality is Quality.GOOD):
        return "none"
    return state.quality.value


def value_text(value: object, tag: Tag, binding: TextBinding) -> str:
    """The value as the text binding shows it, with the unit."""
    if isinstance(value, bool):
        text = "ON" if value else "OFF"
    elif isinstance(value, int | float) and tag.numeric:
        decimals = binding.decimals if binding.decimals is not None else (1 if tag.data_type == "float" else 0)
        text = f"{value:,.{decimals}f}" if math.isfinite(value) else str(value)
    else:
        text = str(value)[:60]
    unit = binding.unit if binding.unit is not None else tag.unit
    return f"{text} {unit}" if unit and not isinstance(value, bool) else text


def span(binding: LevelBinding | RotateBinding, tag: Tag) -> tuple[float, float] | None:
    """The binding's min and max, each defaulting to the tag's eng_range; None when neither gives them."""
    low = binding.min if binding.min is not None else (tag.eng_range[0] if tag.eng_range else None)
    high = binding.max if binding.max is not None else (tag.eng_range[1] if tag.eng_range else None)
    return None if low is None or high is None else (low, high)


def number(value: str | None) -> float | None:
    """A plain user-unit number ('12', '12.5px'); None for percentages, other units or nothing."""
    if value is None:
        return None
    try:
        return float(value.strip().removesuffix("px"))
    except ValueError:
        return None


def pivot(binding: RotateBinding, el: Element) -> tuple[float, float] | None:
    """Where the element turns: the binding's centre, else the middle of a rect, circle or ellipse."""
    if binding.center is not None:
        return binding.center
    if el.tag == "rect":
        x, y, w, h = (number(el.get(k, "0")) for k in ("x", "y", "width", "height"))
        if None not in (x, y, w, h):
            return x + w / 2, y + h / 2  # type: ignore[operator]
    if el.tag in ("circle", "ellipse"):
        cx, cy = number(el.get("cx", "0")), number(el.get("cy", "0"))
        if cx is not None and cy is not None:
            return cx, cy
    return None


class _Effect:
    """What the bindings of one element change in this render."""

    __slots__ = ("attrs", "fill", "quality", "style", "text")

    def __init__(self) -> None:
        self.attrs: dict[str, str] = {}
        self.style = ""
        self.text: str | None = None
        self.fill: str | None = None
        self.quality: str | None = None


class DisplayRenderer:
    """Renders one display again and again; the parts of the drawing no binding touches are serialised once."""

    def __init__(self, display: Display, svg: SafeSvg, tags: Mapping[str, Tag]) -> None:
        self.display = display
        self.svg = svg
        self.tags = tags
        self.bound: dict[int, list[AnyBinding]] = {}
        self.elements: dict[int, Element] = {}
        for binding in display.bindings:
            el = svg.ids.get(binding.id)
            if el is not None and binding.tag in tags:
                self.bound.setdefault(id(el), []).append(binding)
                self.elements[id(el)] = el
        parents = {id(child): parent for parent in svg.root.iter() for child in parent}
        self.hot: set[int] = set()
        for el in self.elements.values():
            node: Element | None = el
            while node is not None and id(node) not in self.hot:
                self.hot.add(id(node))
                node = parents.get(id(node))
        self._cold: dict[int, str] = {}
        x, y, w, h = svg.view_box
        # The title is plant text: escaped like everything else.
        self._head = (
            f'<svg xmlns="{SVG_NS}" viewBox="{x:g} {y:g} {w:g} {h:g}" role="img" aria-label={quoteattr(display.title)}'
            + (f" preserveAspectRatio={quoteattr(p)}" if (p := svg.root.get("preserveAspectRatio")) else "")
            + ' style="width:100%;height:auto;max-height:calc(100vh - 190px);display:block;overflow:hidden">'
            + _DEFS
        )

    def tag_of(self, element_id: str) -> str | None:
        """The tag bound to the element `element_id` as the page names it (with the prefix), or None."""
        el = self.svg.ids.get(element_id.removeprefix(ID_PREFIX)) if element_id.startswith(ID_PREFIX) else None
        bindings = self.bound.get(id(el), []) if el is not None else []
        return bindings[0].tag if bindings else None

    def render(self, states: Mapping[str, TagState | None]) -> str:
        """The whole SVG for these tag states."""
        effects = {key: self._effect(self.elements[key], bindings, states) for key, bindings in self.bound.items()}
        out = [self._head]
        for child in self.svg.root:
            self._emit(child, out, effects, None)
        out.append("</svg>")
        return "".join(out)

    # ------------------------------------------------------------------------------------------- bindings
    def _effect(self, el: Element, bindings: list[AnyBinding], states: Mapping[str, TagState | None]) -> _Effect:
        fx = _Effect()
        for binding in bindings:
            tag = self.tags[binding.tag]
            state = states.get(tag.name)
            q = condition(state)
            value = state.value if state is not None else None
            if q != "good":
                fx.quality = q
            if isinstance(binding, TextBinding):
                if q in ("good", "uncertain"):
                    fx.text = value_text(value, tag, binding) + (" ?" if q == "uncertain" else "")
                else:
                    fx.text = "NO DATA" if q == "none" else q.upper()
                if q != "good":
                    fx.style += _GREYED
                continue
            if q != "good":
                # Whatever the binding would show, the whole element shows it does not know.
                fx.fill = PALETTE["q_uncertain" if q == "uncertain" else "q_bad" if q == "bad" else "q_stale"]
                continue
            if isinstance(binding, FillStateBinding):
                chosen = binding.states.get(value, binding.otherwise)  # type: ignore[arg-type]
                if chosen is not None:
                    fx.fill = PALETTE[chosen]
            elif isinstance(binding, FillQualityBinding):
                if binding.good is not None:
                    fx.fill = PALETTE[binding.good]
            elif isinstance(binding, VisibleBinding):
                if not binding.when.holds(value):
                    fx.attrs["display"] = "none"
            elif isinstance(binding, LevelBinding):
                self._level(el, binding, tag, value, fx)
            elif isinstance(binding, RotateBinding):
                self._rotate(el, binding, tag, value, fx)
        return fx

    @staticmethod
    def _level(el: Element, binding: LevelBinding, tag: Tag, value: object, fx: _Effect) -> None:
        limits = span(binding, tag)
        x, y, w, h = (number(el.get(k, "0")) for k in ("x", "y", "width", "height"))
        if limits is None or None in (x, y, w, h) or not isinstance(value, int | float):
            return
        assert x is not None
        assert y is not None
        assert w is not None
        assert h is not None
        share = min(max((float(value) - limits[0]) / (limits[1] - limits[0]), 0.0), 1.0)
        if binding.direction in ("up", "down"):
            fx.attrs["height"] = f"{h * share:.3f}"
            if binding.direction == "up":
                fx.attrs["y"] = f"{y + h * (1 - share):.3f}"
        else:
            fx.attrs["width"] = f"{w * share:.3f}"
            if binding.direction == "left":
                fx.attrs["x"] = f"{x + w * (1 - share):.3f}"

    @staticmethod
    def _rotate(el: Element, binding: RotateBinding, tag: Tag, value: object, fx: _Effect) -> None:
        centre = pivot(binding, el)
        if centre is None or not isinstance(value, int | float) or isinstance(value, bool):
            return
        if binding.degrees_per_unit is not None:
            angle = (float(value) * binding.degrees_per_unit) % 360
        else:
            limits = span(binding, tag)
            if limits is None:
                return
            share = min(max((float(value) - limits[0]) / (limits[1] - limits[0]), 0.0), 1.0)
            angle = binding.angles[0] + share * (binding.angles[1] - binding.angles[0])
        own = el.get("transform", "")
        fx.attrs["transform"] = f"{own} rotate({angle:.2f} {centre[0]:g} {centre[1]:g})".strip()

    # ------------------------------------------------------------------------------------------- output
    def _emit(self, el: Element, out: list[str], effects: dict[int, _Effect], fill: str | None) -> None:
        key = id(el)
        if fill is None and key not in self.hot:
            cached = self._cold.get(key)
            if cached is None:
                part: list[str] = []
                self._write(el, part, effects, None, None)
                cached = self._cold[key] = "".join(part)
            out.append(cached)
            return
        self._write(el, out, effects, effects.get(key), fill)

    def _write(
        self, el: Element, out: list[str], effects: dict[int, _Effect], fx: _Effect | None, fill: str | None
    ) -> None:
        attrs = {k: _prefixed(k, v) for k, v in el.attrib.items()}
        if fx is not None:
            attrs.update(fx.attrs)
            fill = fx.fill or fill
            if fx.quality is not None:
                attrs["data-quality"] = fx.quality
        # A group's shapes take the fill, its labels keep theirs (a label in the fill's colour would vanish); a text
        # bound itself takes it.
        own = fx is not None and fx.fill is not None
        if fill is not None and (el.tag in SHAPES or (own and el.tag in ("text", "tspan"))):
            attrs["fill"] = fill
            attrs["fill-opacity"] = "1"
            attrs["style"] = _without(attrs.get("style", ""), ("fill", "fill-opacity"))
        if fx is not None and "display" in fx.attrs:
            attrs["style"] = _without(attrs.get("style", ""), ("display",))
        if fx is not None and fx.style:
            attrs["style"] = ";".join(s for s in (attrs.get("style", ""), fx.style) if s)
        head = "<" + el.tag + "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items() if v != "" or k == "d")
        text = el.text
        children = list(el)
        if fx is not None and fx.text is not None:
            first = next((c for c in children if c.tag == "tspan"), None)
            if first is not None and el.tag == "text":
                out.append(head + ">")
                inner = {k: _prefixed(k, v) for k, v in first.attrib.items()}
                out.append("<tspan" + "".join(f" {k}={quoteattr(v)}" for k, v in inner.items()) + ">")
                out.append(escape(fx.text) + "</tspan></text>")
                return
            text, children = fx.text, []
        if not text and not children:
            out.append(head + "/>")
        else:
            out.append(head + ">" + (escape(text) if text else ""))
            for child in children:
                self._emit(child, out, effects, fill)
                if child.tail and el.tag in ("text", "tspan"):
                    out.append(escape(child.tail))
            out.append(f"</{el.tag}>")
        return


def _prefixed(key: str, value: str) -> str:
    """Ids and references to them with the page prefix."""
    if key == "id":
        return ID_PREFIX + value
    if key == "href" and value.startswith("#"):
        return "#" + ID_PREFIX + value[1:]
    if (key in PRESENTATION or key == "style") and "url(" in value:
        return _URL_REF.sub(lambda m: f"url(#{ID_PREFIX}{m.group(1)})", value)
    return value


def _without(style: str, props: tuple[str, ...]) -> str:
    return ";".join(d for d in style.split(";") if d and d.split(":", 1)[0].strip() not in props)
