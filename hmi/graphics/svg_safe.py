"""Make a drawing from a plant engineer safe to put on a panel: an SVG file in, a tree that cannot run code out.

A drawing comes from outside (Inkscape, draw.io, a supplier), so it is treated like any text from outside. The
file is parsed with defusedxml (no entity expansion, no external entities: a "billion laughs" or a file-reading
entity is refused as a whole) and rebuilt from allowlists, never by deleting what is known to be bad:

- elements: shapes, text, groups, gradients, patterns, clip paths, masks, markers, titles. Anything else is
  dropped with its content (script, style, foreignObject, iframe, animate/set, filters), except a link <a>, whose
  content stays without the link. `use` is expanded here into a copy of what it references, so the page receives
  no `use` at all (its href could otherwise reach elements outside the drawing). Images stay only as embedded PNG,
  JPEG, GIF or WebP (data: URLs); an image from elsewhere would make every panel fetch it.
- attributes: geometry, presentation, id and transform. Every on* handler goes; href only as `#id` of an element
  of the same drawing; url() only as url(#id); inline styles keep a fixed set of properties with plain values
  (no url() to elsewhere, no expression(), no escapes, no comments). A <style> element goes; only its `.class`
  rules are copied into the elements of that class, through the same filter (Illustrator and Visio write them).
- editor data (sodipodi:, inkscape:, RDF metadata, draw.io's `content`) goes silently; draw.io's `data-cell-id`
  becomes the id when the element has none, so a draw.io cell's ID can be bound.

`removed` lists what was taken out that a person may miss (`hmi check` prints it as warnings). The result is an
ElementTree of SVG local names; hmi.graphics.display_render serialises it, escaping every text and attribute.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from hmi.texts import Text

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
MAX_BYTES = 2_000_000
"""Largest drawing accepted; an operator display is rarely above 200 kB."""
MAX_DEPTH = 100
"""Deepest nesting of elements; editors stay far below, and the checks walk the tree recursively."""
MAX_ELEMENTS = 20_000
"""Most elements after `use` expansion: a chain of uses that multiplies (a "use bomb") is refused, not drawn."""

# Namespaces editors write for themselves: dropped without a word.
EDITOR_NAMESPACES = frozenset(
    {
        "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd",
        "http://www.inkscape.org/namespaces/inkscape",
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "http://purl.org/dc/elements/1.1/",
        "http://creativecommons.org/ns#",
        "http://web.resource.org/cc/",
        "http://ns.adobe.com/AdobeIllustrator/10.0/",
        "http://ns.adobe.com/Extensibility/1.0/",
        "http://ns.adobe.com/SaveForWeb/1.0/",
    }
)
ELEMENTS = frozenset(
    {
        "g",
        "path",
        "rect",
        "circle",
        "ellipse",
        "line",
        "polyline",
        "polygon",
        "text",
        "tspan",
        "title",
        "desc",
        "defs",
        "linearGradient",
        "radialGradient",
        "stop",
        "pattern",
        "clipPath",
        "mask",
        "symbol",
        "marker",
        "switch",
        "use",
        "image",
    }
)
TEXT_ELEMENTS = frozenset({"text", "tspan", "title", "desc"})
SILENT_ELEMENTS = frozenset({"metadata"})
UNWRAP_ELEMENTS = frozenset({"a"})
HREF_ELEMENTS = frozenset({"use", "linearGradient", "radialGradient", "pattern"})
# Why the common removals matter, for the warning a person reads.
WHY = {
    "script": "scripts run code",
    "foreignObject": "it embeds HTML; draw.io: switch off 'Formatted Text' for labels, its plain-SVG text stays",
    "iframe": "it embeds another page",
    "animate": "animations can change links and values",
    "animateTransform": "animations can change links and values",
    "animateMotion": "animations can change links and values",
    "set": "it can change links and values",
    "filter": "filters can load from elsewhere and shadows are not ISA-101",
    "a": "links leave the HMI; the content was kept",
    "image": "only embedded PNG, JPEG, GIF or WebP images are kept",
    "svg": "a nested drawing; draw its content into the main one",
}

GEOMETRY = frozenset(
    {
        "x",
        "y",
        "x1",
        "y1",
        "x2",
        "y2",
        "cx",
        "cy",
        "r",
        "rx",
        "ry",
        "fx",
        "fy",
        "fr",
        "width",
        "height",
        "dx",
        "dy",
        "rotate",
        "textLength",
        "lengthAdjust",
        "pathLength",
        "offset",
        "refX",
        "refY",
        "markerWidth",
        "markerHeight",
        "markerUnits",
        "orient",
        "gradientUnits",
        "spreadMethod",
        "patternUnits",
        "patternContentUnits",
        "clipPathUnits",
        "maskUnits",
        "maskContentUnits",
        "preserveAspectRatio",
        "viewBox",
    }
)
TRANSFORMS = frozenset({"transform", "gradientTransform", "patternTransform"})
PRESENTATION = frozenset(
    {
        "fill",
        "fill-opacity",
        "fill-rule",
        "stroke",
        "stroke-width",
        "stroke-opacity",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "opacity",
        "visibility",
        "display",
        "color",
        "clip-path",
        "clip-rule",
        "mask",
        "marker-start",
        "marker-mid",
        "marker-end",
        "stop-color",
        "stop-opacity",
        "font-family",
        "font-size",
        "font-weight",
        "font-style",
        "font-variant",
        "font-stretch",
        "text-anchor",
        "dominant-baseline",
        "alignment-baseline",
        "baseline-shift",
        "letter-spacing",
        "word-spacing",
        "text-decoration",
        "writing-mode",
        "vector-effect",
        "shape-rendering",
        "text-rendering",
        "paint-order",
    }
)
STYLE_PROPERTIES = PRESENTATION | {"line-height", "white-space"}
_PLAIN = re.compile(r"^[A-Za-z0-9#%.,+\-\s_'\"()]*$")
_FUNCTION = re.compile(r"([A-Za-z\-]+)\s*\(")
_COLOR_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla"})
_URL_REF = re.compile(r"url\(\s*['\"]?#([A-Za-z_][A-Za-z0-9_.\-]*)['\"]?\s*\)")
_TRANSFORM = re.compile(r"^(\s*(matrix|translate|scale|rotate|skewX|skewY)\s*\([0-9eE.,+\-\s]*\)\s*,?)*\s*$")
_PATH = re.compile(r"^[0-9eE.,+\-\sMmZzLlHhVvCcSsQqTtAa]*$")
_NUMBERS = re.compile(r"^[0-9eE.,+\-\s]*$")
_GEOMETRY_VALUE = re.compile(r"^[A-Za-z0-9.,+\-\s%]*$")
ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CLASS_SELECTOR = re.compile(r"^\.[A-Za-z_][A-Za-z0-9_\-]*$")
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")


class UnsafeSvg(ValueError):
    """The file cannot be used as a display at all; the message says why and how to fix it."""


@dataclass
class SafeSvg:
    """A sanitised drawing: `root` holds only allowed elements and attributes (SVG local names, `href` plain)."""

    root: Element
    view_box: tuple[float, float, float, float]
    ids: dict[str, Element]
    """Every element with an id, by id (after `use` expansion: the originals only)."""
    removed: list[str] = field(default_factory=list)
    """What was taken out that a person may miss, one sentence each (`hmi check` warns with them)."""
    sha256: str = ""
    """The SHA-256 (hex) of the file's bytes as read: a reload's audited diff names a changed drawing by it."""


def load(path: Path) -> SafeSvg:
    """Read and sanitise the drawing at `path`; raises OSError when unreadable, UnsafeSvg when unusable."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise UnsafeSvg(_too_big(size))
    return sanitise(path.read_bytes())


def _too_big(size: int) -> Text:
    return Text(
        "the file has {size:,} bytes, more than the {most:,} a display may have; "
        "save it as plain SVG and remove embedded bitmaps",
        size=size,
        most=MAX_BYTES,
    )


def sanitise(data: bytes) -> SafeSvg:
    """Parse the SVG `data` and rebuild it from the allowlists; raises UnsafeSvg for a file that cannot be used."""
    if len(data) > MAX_BYTES:
        raise UnsafeSvg(_too_big(len(data)))
    try:
        # forbid_dtd stays off: draw.io writes the SVG 1.1 DOCTYPE. Entities and external references stay forbidden.
        source = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise UnsafeSvg(
            Text(
                "the file declares XML entities or external references ({kind}), which can expand to "
                "gigabytes or read files: the HMI refuses such files; export the drawing again as plain SVG",
                kind=type(exc).__name__,
            )
        ) from None
    except ParseError as exc:
        raise UnsafeSvg(
            Text("not well-formed XML ({exc}); open it in Inkscape and save it again as SVG", exc=str(exc))
        ) from None
    if source.tag != f"{{{SVG_NS}}}svg":
        raise UnsafeSvg(
            Text(
                "the root element is {root!r} without the SVG namespace; a drawing must start with "
                '<svg xmlns="{namespace}"> (Inkscape and draw.io write it)',
                root=_local(source.tag),
                namespace=SVG_NS,
            )
        )
    cleaner = _Cleaner()
    root = Element("svg")
    for key in ("viewBox", "preserveAspectRatio"):
        value = source.get(key)
        if value is not None and _GEOMETRY_VALUE.match(value):
            root.set(key, value)
    view_box = _view_box(source)
    for key in source.attrib:
        if _local(key).lower().startswith("on"):
            cleaner.drop(f"event handler {_local(key)} removed: handlers run code")
    cleaner.collect_classes(source)
    for child in source:
        cleaner.element(child, root)
    cleaner.resolve(root)
    root = cleaner.expand(root)
    ids = {el.get("id", ""): el for el in root.iter() if el.get("id")}
    return SafeSvg(root, view_box, ids, cleaner.report(), hashlib.sha256(data).hexdigest())


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _view_box(source: Element) -> tuple[float, float, float, float]:
    box = source.get("viewBox")
    if box is not None:
        parts = box.replace(",", " ").split()
        try:
            x, y, w, h = (float(p) for p in parts)
        except ValueError:
            raise UnsafeSvg(Text("viewBox {box!r} must be four numbers: x y width height", box=box)) from None
        if w > 0 and h > 0:
            return x, y, w, h
        raise UnsafeSvg(Text("viewBox {box!r} needs a width and height above 0", box=box))
    try:
        w, h = (float(str(source.get(k, "")).removesuffix("px")) for k in ("width", "height"))
    except ValueError:
        raise UnsafeSvg(
            Text(
                "the drawing has no viewBox and no width and height in px; Inkscape: Document Properties, "
                "set the viewBox (scale 1)"
            )
        ) from None
    if w > 0 and h > 0:
        return 0.0, 0.0, w, h
    raise UnsafeSvg(Text("the drawing's width and height must be above 0"))


class _Cleaner:
    """One pass over the source tree that copies what is allowed and counts what is not."""

    def __init__(self) -> None:
        self.removed: Counter[str] = Counter()
        self.ids: dict[str, Element] = {}
        self.count = 0
        self.classes: dict[str, str] = {}

    def drop(self, what: str) -> None:
        self.removed[what] += 1

    def report(self) -> list[str]:
        return [f"{what} (x{n})" if n > 1 else what for what, n in self.removed.items()]

    # ------------------------------------------------------------------------------------------- style sheets
    def collect_classes(self, source: Element) -> None:
        """Rules `.name { declarations }` of the drawing's <style> elements (Illustrator and Visio write them), to be
        inlined into the elements of that class through the same filter as inline styles; nothing else of a style
        sheet is used (no @import, no other selectors), and what is left out is reported."""
        for sheet in source.iter(f"{{{SVG_NS}}}style"):
            rules, at_rules = _css_rules(_CSS_COMMENT.sub(" ", "".join(sheet.itertext())))
            if at_rules:
                self.drop("@-rules in <style> ignored: @import and its kind load from elsewhere")
            for selectors, declarations in rules:
                for selector in (s.strip() for s in selectors.split(",")):
                    if _CLASS_SELECTOR.match(selector):
                        name = selector[1:]
                        self.classes[name] = ";".join(p for p in (self.classes.get(name), declarations) if p)
                    elif selector:
                        self.drop(f"style rule {_short(selector)!r} not applied: only .class rules are inlined")

    # ------------------------------------------------------------------------------------------- elements
    def element(self, src: Element, parent: Element, depth: int = 1) -> None:
        if not isinstance(src.tag, str):
            return  # comments and processing instructions
        if depth > MAX_DEPTH:
            raise UnsafeSvg(Text("elements are nested more than {most} deep; ungroup the drawing", most=MAX_DEPTH))
        ns, name = _namespace(src.tag), _local(src.tag)
        if ns in EDITOR_NAMESPACES:
            return
        if ns != SVG_NS:
            self.drop(f"element <{name}> of namespace {ns or '(none)'} removed: not SVG")
            return
        if name in SILENT_ELEMENTS or name == "style":
            return  # a <style>'s class rules are inlined (collect_classes), the element itself goes
        if name in UNWRAP_ELEMENTS:
            self.drop(f"link <{name}> removed: {WHY[name]}")
            for child in src:
                self.element(child, parent, depth + 1)
            return
        if name not in ELEMENTS:
            self.drop(f"<{name}> removed: {WHY.get(name, 'not an element displays use')}")
            return
        if name == "image" and not _DATA_IMAGE.match(_href(src) or ""):
            self.drop(f"<image> removed: {WHY['image']}")
            return
        out = Element(name)
        self.attributes(src, out, name)
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise UnsafeSvg(Text("the drawing has more than {most:,} elements; simplify it", most=MAX_ELEMENTS))
        if name in TEXT_ELEMENTS and src.text:
            out.text = src.text
        for child in src:
            self.element(child, out, depth + 1)
            if name in ("text", "tspan") and child.tail:
                # Text between tspans belongs to the text: it follows the last kept child, or starts the element.
                if len(out):
                    out[-1].tail = (out[-1].tail or "") + child.tail
                else:
                    out.text = (out.text or "") + child.tail
        parent.append(out)

    # ------------------------------------------------------------------------------------------- attributes
    def attributes(self, src: Element, out: Element, name: str) -> None:
        for key, value in src.attrib.items():
            ns, attr = _namespace(key), _local(key)
            if attr.lower().startswith("on"):
                self.drop(f"event handler {attr} removed: handlers run code")
                continue
            if ns in EDITOR_NAMESPACES or (ns == XML_NS):
                continue
            if ns == XLINK_NS or (ns == "" and attr == "href"):
                continue  # handled below, for the elements that may have one
            if ns != "":
                self.drop(f"attribute {attr} of namespace {ns} removed")
                continue
            if attr == "style":
                continue  # below, after the element's class rules
            self.attribute(attr, value, out, name)
        # A class rule comes before the inline style, which wins where both set a property (as in CSS).
        ruled = [self.classes[c] for c in src.get("class", "").split() if c in self.classes]
        combined = ";".join([*ruled, src.get("style", "")])
        if combined.strip(";"):
            self.attribute("style", combined, out, name)
        href = _href(src)
        if href is not None:
            if name == "image":
                out.set("href", href.strip())
            elif name in HREF_ELEMENTS and href.startswith("#") and ID.match(href[1:]):
                out.set("href", href)
            else:
                self.drop(f"link {_short(href)!r} on <{name}> removed: only #id links inside the drawing are kept")
        if out.get("id") is None and (cell := src.get("data-cell-id")) is not None and ID.match(cell):
            self.claim(cell, out)

    def attribute(self, attr: str, value: str, out: Element, name: str) -> None:
        if attr == "id":
            if ID.match(value):
                self.claim(value, out)
            else:
                self.drop(
                    f"id {_short(value)!r} removed: ids hold letters, digits, '_', '.', '-' and start with a letter"
                )
        elif attr == "style":
            style = self.style(value)
            if style:
                out.set("style", style)
        elif attr in TRANSFORMS:
            if _TRANSFORM.match(value):
                out.set(attr, value)
            else:
                self.drop(f"{attr} {_short(value)!r} removed: not a plain transform list")
        elif attr == "d":
            if _PATH.match(value):
                out.set(attr, value)
            else:
                self.drop(f"path data {_short(value)!r} removed: not plain path data")
        elif attr == "points":
            if _NUMBERS.match(value):
                out.set(attr, value)
        elif attr in GEOMETRY:
            if _GEOMETRY_VALUE.match(value):
                out.set(attr, value)
        elif attr in PRESENTATION:
            clean = self.value(attr, value)
            if clean is not None:
                out.set(attr, clean)
        # Anything else (class, data-*, draw.io's content, pointer-events, requiredFeatures ...) goes silently:
        # it has no meaning on the panel, or only the meaning of the page's own style sheet.

    def claim(self, ident: str, out: Element) -> None:
        if ident in self.ids:
            self.drop(f"duplicate id {ident!r} removed from a later element: ids must be unique")
            return
        self.ids[ident] = out
        out.set("id", ident)

    def style(self, text: str) -> str:
        kept: dict[str, str] = {}
        for declaration in text.split(";"):
            if ":" not in declaration:
                continue
            prop, value = (s.strip() for s in declaration.split(":", 1))
            prop = prop.lower()
            if prop not in STYLE_PROPERTIES:
                if _dangerous(value) or prop in ("behavior", "-moz-binding"):
                    self.drop(f"style {prop}: {_short(value)!r} removed: it could load or run something")
                continue
            clean = self.value(prop, value)
            if clean is not None:
                kept.pop(prop, None)  # the last declaration of a property wins, as in CSS
                kept[prop] = clean
        return ";".join(f"{prop}:{value}" for prop, value in kept.items())

    def value(self, prop: str, value: str) -> str | None:
        """`value` when it is plain (numbers, words, colours, rgb(), url(#id)); else None, reported if risky."""
        value = _light(value.strip())
        ok = bool(_PLAIN.match(value)) and len(value) <= 500
        if ok:
            for fn in _FUNCTION.findall(value):
                if fn.lower() not in _COLOR_FUNCTIONS and fn.lower() != "url":
                    ok = False
            if "url(" in value.lower() and not _URL_REF.fullmatch(value):
                ok = False
        if not ok:
            self.drop(f"{prop} {_short(value)!r} removed: only plain values and url(#id) inside the drawing are kept")
            return None
        return value

    # ------------------------------------------------------------------------------------------- references
    def resolve(self, root: Element) -> None:
        """Drop references to ids the drawing does not have, so nothing can point at the page around it."""
        for el in root.iter():
            href = el.get("href")
            if href is not None and href.startswith("#") and href[1:] not in self.ids:
                del el.attrib["href"]
                self.drop(f"link {href!r} removed: no element of the drawing has that id")
            for key in [k for k in el.attrib if k in PRESENTATION]:
                ref = _URL_REF.fullmatch(el.get(key, ""))
                if ref and ref.group(1) not in self.ids:
                    del el.attrib[key]
            style = el.get("style")
            if style and "url(" in style:
                parts = [p for p in style.split(";") if not _dangling(p, self.ids)]
                el.set("style", ";".join(parts))

    def expand(self, root: Element) -> Element:
        """Replace every <use> with a copy of what it references (ids dropped from the copy), within MAX_ELEMENTS."""
        total = sum(1 for _ in root.iter())

        def walk(parent: Element, stack: tuple[str, ...]) -> None:
            nonlocal total
            for i, child in enumerate(list(parent)):
                if child.tag != "use":
                    # Ids of the ancestors count as visited: a use inside what it references would never end.
                    walk(child, (*stack, child.get("id", "")))
                    continue
                target = (child.get("href") or "#")[1:]
                ref = self.ids.get(target)
                group = Element("g")
                for key, value in child.attrib.items():
                    if key in PRESENTATION or key in ("style", "id"):
                        group.set(key, value)
                moves = [child.get("transform", "")]
                x, y = child.get("x", "0"), child.get("y", "0")
                if _NUMBERS.match(x + y) and (x, y) != ("0", "0"):
                    moves.append(f"translate({x},{y})")
                if " ".join(moves).strip():
                    group.set("transform", " ".join(m for m in moves if m))
                parent[i] = group
                if ref is None or target in stack:
                    if target in stack:
                        self.drop(f"<use> of {target!r} removed: it refers to itself")
                    continue
                clone = copy.deepcopy(ref)
                clone.attrib.pop("id", None)
                for inner in clone.iter():
                    inner.attrib.pop("id", None)
                if clone.tag == "symbol":
                    clone.tag = "g"
                    for key in ("viewBox", "preserveAspectRatio", "x", "y", "width", "height", "refX", "refY"):
                        clone.attrib.pop(key, None)
                total += sum(1 for _ in clone.iter())
                if total > MAX_ELEMENTS:
                    raise UnsafeSvg(
                        Text(
                            "its <use> references expand to more than {most:,} elements; "
                            "unlink clones (Inkscape: Edit > Clone > Unlink Clone) or simplify the drawing",
                            most=MAX_ELEMENTS,
                        )
                    )
                group.append(clone)
                walk(group, (*stack, target))

        walk(root, ())
        return root


def _css_rules(text: str) -> tuple[list[tuple[str, str]], int]:
    """The top-level rules (selectors, declarations) of a style sheet, and how many @-rules were skipped (with
    whatever they nest)."""
    rules: list[tuple[str, str]] = []
    at_rules, depth, prelude, body = 0, 0, "", ""
    for ch in text:
        if ch == "{":
            depth += 1
            if depth > 1:
                body += ch
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth > 0:
                body += ch
                continue
            if prelude.strip().startswith("@") or "{" in body:
                at_rules += 1
            else:
                rules.append((prelude, body))
            prelude, body = "", ""
        elif depth > 0:
            body += ch
        elif ch == ";" and prelude.strip().startswith("@"):
            at_rules += 1
            prelude = ""
        else:
            prelude += ch
    return rules, at_rules


def _light(value: str) -> str:
    """draw.io writes colours as light-dark(<light>, <dark>); the panel's theme is light, so the first one."""
    if not value.lower().startswith("light-dark(") or not value.endswith(")"):
        return value
    inner, depth = value[len("light-dark(") : -1], 0
    for i, ch in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            return inner[:i].strip()
    return value


def _href(src: Element) -> str | None:
    return src.get("href", src.get(f"{{{XLINK_NS}}}href"))


def _dangerous(value: str) -> bool:
    low = value.lower().replace(" ", "")
    return any(s in low for s in ("url(", "expression(", "javascript:", "@import", "\\"))


def _dangling(declaration: str, ids: dict[str, Element]) -> bool:
    ref = _URL_REF.search(declaration)
    return ref is not None and ref.group(1) not in ids


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
