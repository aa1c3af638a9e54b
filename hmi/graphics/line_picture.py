"""The line picture (ISA-101 level 2): one line's machines in flow order with their state, key values, alarms and
the conveyors between them, as one SVG document built from the plant model and the current tag states.

ISA-101.01 rules kept here: grey equipment on a grey background; a state is told by the outline, the fill pattern
and a WORD, never by red/green, so the picture reads the same in greyscale; colour only for what is abnormal (a
value outside its normal range) and for alarms, whose markers carry colour, shape and priority number (p1 red
square, p2 orange triangle, p3 yellow diamond, p4 violet circle, as assets/hmi.css draws them elsewhere). A value
that is not good is never drawn as a plain number: BAD, STALE, UNCERTAIN or NO DATA stand beside it, the number
is greyed and struck, its pointer hollow.

The SVG uses a viewBox and no fixed size, so it is crisp at any size; many machines wrap into rows. Every machine
group carries `data-machine` (its name) and `data-machine-index` (its place in the flow), and `layout()` gives the
same boxes in viewBox units, so a screen can map a touch to a machine without reading anything back from the
browser.

Pure: no I/O, no clock. Every text and attribute value is escaped (xml.sax.saxutils.escape / quoteattr) because
it comes from the plant file (names, descriptions, units) or from the PLC (string values), and the screen puts
this SVG into the page as markup: unescaped, a description such as `<script>` would become part of the page.

Language and theme come in as plain data, so the core stays free of the screens' gettext and page state: a
`Wording` (the picture's words in the person's language, a number formatter for their locale, and the plant file's
translations of machine names and descriptions) and a `Palette` (the neutral greys of the day or the night theme of
assets/hmi.css). The defaults are English and the day palette.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from hmi.config import Conveyor, Line, Machine, Tag
from hmi.oee.states import StateCategory, canonical, category
from hmi.tags import Quality, TagState

if TYPE_CHECKING:
    from hmi.alarms.engine import Alarm

# ------------------------------------------------------------------------------------------------------ palette


@dataclass(frozen=True, slots=True)
class Palette:
    """The picture's neutral colours, taken from one theme of assets/hmi.css (ISA-101: grey equipment on grey, colour
    only for abnormal values and alarms). Every text colour keeps a contrast of at least 4.5:1 (WCAG 2.1 SC 1.4.3)
    on the surfaces it is drawn on: `text` and `muted` on `bg`, `panel` and `paper`, `abnormal` on `panel`."""

    name: str
    bg: str  # --hmi-bg
    panel: str  # --hmi-panel: a machine's box
    text: str  # --hmi-text / --hmi-ink: words, outlines, pointers
    muted: str  # --hmi-muted: greyed text
    line: str  # --hmi-line: thin outlines
    band: str  # --hmi-idle: idle fill, normal band
    paper: str  # --hmi-paper: scales, the plate under the state word, hollow marks
    raised: str  # --hmi-raised: the running band, a belt without a state
    abnormal: str  # a value outside its normal range: blue, kept apart from the four alarm colours


# The grey day theme (:root of assets/hmi.css).
DAY = Palette(
    name="day",
    bg="#d9d9d9",
    panel="#e8e8e8",
    text="#1a1a1a",
    muted="#4d4d4d",  # 7.1:1 on the panel: greyed text stays readable
    line="#9a9a9a",
    band="#bdbdbd",
    paper="#ffffff",
    raised="#f2f2f2",
    abnormal="#0b4f9c",
)
# The dark control-room theme (body.body--dark of assets/hmi.css): only the greys change, and the abnormal blue is
# lightened just enough to stay readable on the dark panel (the alarm colours stay the same by day and by night).
NIGHT = Palette(
    name="night",
    bg="#1e1e1e",
    panel="#2b2b2b",
    text="#e6e6e6",
    muted="#b3b3b3",
    line="#5e5e5e",
    band="#555555",
    paper="#121212",
    raised="#363636",
    abnormal="#7fb6ff",
)
PALETTES = {p.name: p for p in (DAY, NIGHT)}

# Kept for callers of the day colours by name.
BG, PANEL, TEXT, MUTED, LINE, BAND, ABNORMAL = DAY.bg, DAY.panel, DAY.text, DAY.muted, DAY.line, DAY.band, DAY.abnormal
# The priority number on its marker: the marker's colour is the same in both themes, so is the number's.
PRIORITY_NUMBER = {1: "#ffffff", 2: "#1a1a1a", 3: "#1a1a1a", 4: "#ffffff"}
PRIORITY_COLOUR = {1: "#d0021b", 2: "#f28c00", 3: "#f5d800", 4: "#8a5cd1"}
PRIORITY_SHAPE = {1: "square", 2: "triangle", 3: "diamond", 4: "circle"}
FONT = "Roboto, Helvetica, Arial, sans-serif"

# ------------------------------------------------------------------------------------------------------ wording
# Every word and sentence the picture draws, in English; a screen gives their translations in a Wording. Units,
# PackML state names and PLC strings are shown as they are.
WORDS = (
    "RUNNING",
    "STOPPED",
    "DOWN",
    "IDLE",
    "STARVED/BLOCKED",
    "CHANGING",
    "UNKNOWN",
    "NO STATE TAG",
    "BLOCKED",
    "STARVED",
    "NO DATA",
    "BAD",
    "STALE",
    "UNCERTAIN",
    "not a state name",
    "ON",
    "OFF",
    "HIGH",
    "LOW",
    "no alarms",
    "{count} alarm",
    "{count} alarms",
    "{text}, {unack} unack.",
    "Line {name}",
    "Line {name}: machines in flow order",
)


def english_number(value: float, decimals: int) -> str:
    """`value` with grouping and `decimals` places, the English way: 1,234.5."""
    return f"{value:,.{decimals}f}"


def as_written(text: str) -> str:
    """A plant text as the plant file writes it."""
    return text


@dataclass(frozen=True, slots=True)
class Wording:
    """The picture's words in one language: `words` maps each of WORDS to its translation (a word left out stays
    English), `number(value, decimals)` writes a number in the locale's way, and `plant` gives a plant text (a machine
    name or description) in the language, from the plant file's translations."""

    words: Mapping[str, str] = field(default_factory=dict)
    number: Callable[[float, int], str] = english_number
    plant: Callable[[str], str] = as_written

    def __call__(self, word: str, **fields: object) -> str:
        text = self.words.get(word, word)
        if not fields:
            return text
        try:
            return text.format(**fields)
        except (KeyError, IndexError, ValueError):
            # A translation that lost a field: the English is still right.
            return word.format(**fields)


ENGLISH = Wording()

# ------------------------------------------------------------------------------------------------------- layout
MARGIN = 16
MACHINE_W = 250
GAP = 110  # between two machines of a row: the conveyor (or flow arrow)
ROW_GAP = 96  # between rows: the conveyor from the end of one row to the start of the next
HEADER_H = 100  # name, description, state band
VALUE_H = 42
ALARM_H = 40
STRIP_H = 66  # one conveyor between machines that are not neighbours in the flow
MAX_VALUES = 5
PER_ROW = 4


@dataclass(frozen=True, slots=True)
class AlarmMark:
    """One active alarm on a machine as the picture draws it."""

    priority: int
    unacknowledged: bool = False


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in viewBox units."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything of a line's picture goes: the viewBox size, each machine's box in flow order, and which
    conveyors are drawn apart in the strip under the rows (ends that are not neighbours in the flow)."""

    width: float
    height: float
    machines: tuple[Machine, ...]
    boxes: tuple[Box, ...]
    per_row: int
    strip: tuple[Conveyor, ...]
    strip_y: float


@dataclass(frozen=True, slots=True)
class Look:
    """How a state is drawn: a css-like name, the word, the band's fill pattern and the outline."""

    name: str
    word: str
    pattern: str  # "solid" | "plain" | "hatch" | "crosshatch" | "dots" | "none"
    stroke_width: float
    dash: str = ""


# PackML state (ISA-TR88.00.02) -> look. Running: solid dark outline; stopped: hatched; held/aborted: crosshatch and
# a thicker border; idle: plain; starved/blocked: dotted; transitions: dashed; unknown: dashed grey on white.
RUNNING = Look("running", "RUNNING", "solid", 3.0)
STOPPED = Look("stopped", "STOPPED", "hatch", 2.0)
DOWN = Look("down", "DOWN", "crosshatch", 6.0)
IDLE = Look("idle", "IDLE", "plain", 1.5)
WAITING = Look("waiting", "STARVED/BLOCKED", "dots", 2.5, "2 4")
CHANGING = Look("changing", "CHANGING", "plain", 2.5, "9 5")
UNKNOWN = Look("unknown", "UNKNOWN", "none", 2.0, "4 4")
NO_STATE = Look("nostate", "NO STATE TAG", "none", 1.5)

_BY_CATEGORY = {
    StateCategory.RUNNING: RUNNING,
    StateCategory.STARVED_BLOCKED: WAITING,
    StateCategory.DOWN: DOWN,
    StateCategory.IDLE: IDLE,
    StateCategory.TRANSITION: CHANGING,
    StateCategory.UNKNOWN: UNKNOWN,
}


def machine_look(machine: Machine, state: TagState | None) -> tuple[Look, str]:
    """(look, detail) of a machine: the detail is the PackML state name, or why the state is not known."""
    if machine.state_tag is None:
        return NO_STATE, ""
    if state is None:
        return UNKNOWN, "NO DATA"
    if not state.good:
        return UNKNOWN, state.quality.value.upper()
    if not isinstance(state.value, str):
        return UNKNOWN, "not a state name"
    name = canonical(state.value)
    if name == "Stopped":
        return STOPPED, name
    return _BY_CATEGORY[category(name)], name


def conveyor_look(state: TagState | None) -> Look | None:
    """The look of a conveyor from its state tag (string or bool); None without a usable state."""
    if state is None or not state.good:
        return None
    value = state.value
    if isinstance(value, bool):
        return RUNNING if value else STOPPED
    if not isinstance(value, str):
        return None
    key = value.strip().lower()
    if key in ("running", "run", "on", "execute"):
        return RUNNING
    if key in ("stopped", "stop", "off", "idle"):
        return STOPPED
    if key in ("blocked", "full"):
        return Look("waiting", "BLOCKED", "dots", 2.5, "2 4")
    if key in ("starved", "empty"):
        return Look("waiting", "STARVED", "dots", 2.5, "2 4")
    if key in ("held", "aborted", "fault", "faulted"):
        return DOWN
    return Look("other", _clip(value.strip().upper(), 14), "plain", 2.0)


def key_values(machine: Machine) -> list[Tag]:
    """The values drawn in a machine's box: its numeric tags with an eng_range (the scale of the indicator)."""
    return [t for t in machine.tags if t.numeric and t.eng_range is not None and t.name != machine.state_tag]


def layout(line: Line, per_row: int = PER_ROW) -> Layout:
    """Place the machines of `line` in flow order, `per_row` to a row."""
    machines = line.machines_in_flow()
    per_row = max(1, min(per_row, len(machines) or 1))
    rows = math.ceil(len(machines) / per_row) if machines else 0
    shown = max((min(len(key_values(m)), MAX_VALUES) for m in machines), default=0)
    box_h = HEADER_H + shown * VALUE_H + ALARM_H
    boxes = tuple(
        Box(
            MARGIN + (i % per_row) * (MACHINE_W + GAP),
            MARGIN + (i // per_row) * (box_h + ROW_GAP),
            MACHINE_W,
            box_h,
        )
        for i in range(len(machines))
    )
    index = {m.name: i for i, m in enumerate(machines)}
    strip = tuple(c for c in line.conveyors if index.get(c.to_machine, -1) - index.get(c.from_machine, -9) != 1)
    width = 2 * MARGIN + per_row * MACHINE_W + (per_row - 1) * GAP
    strip_y = MARGIN + rows * box_h + max(rows - 1, 0) * ROW_GAP + (12 if strip else 0)
    height = strip_y + len(strip) * STRIP_H + MARGIN
    return Layout(width, max(height, 2 * MARGIN + 40), machines, boxes, per_row, strip, strip_y)


def alarms_by_machine(line: Line, alarms: Iterable[Alarm]) -> dict[str, list[AlarmMark]]:
    """The listed alarms of `line`'s machine tags, grouped by machine name (alarms on line tags are left out)."""
    owner = {t.name: m.name for m in line.machines for t in m.tags}
    out: dict[str, list[AlarmMark]] = {}
    for alarm in alarms:
        machine = owner.get(alarm.tag)
        if machine is not None and alarm.state.listed:
            out.setdefault(machine, []).append(AlarmMark(alarm.priority, alarm.state.unacknowledged))
    return out


def picture_tags(line: Line) -> list[str]:
    """Every tag the picture of `line` shows, so a screen knows when to draw it again."""
    names: list[str] = []
    for machine in line.machines:
        if machine.state_tag:
            names.append(machine.state_tag)
        names += [t.name for t in key_values(machine)[:MAX_VALUES]]
    for conveyor in line.conveyors:
        names += [n for n in (conveyor.accumulation_tag, conveyor.state_tag) if n]
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------------------------------ drawing


@dataclass(frozen=True, slots=True)
class _Draw:
    """What every drawing step needs: the words, the colours and the prefix of the picture's element ids."""

    w: Wording
    p: Palette
    pid: str


def line_picture(
    line: Line,
    states: Mapping[str, TagState | None],
    alarms: Mapping[str, Sequence[AlarmMark]] | None = None,
    *,
    tags: Mapping[str, Tag] | None = None,
    per_row: int = PER_ROW,
    wording: Wording = ENGLISH,
    palette: Palette = DAY,
) -> str:
    """The SVG document of `line` with the current `states` (by tag name) and active `alarms` (by machine name),
    in the language of `wording` and the colours of `palette`.

    `tags` resolves conveyor tags defined outside the line (by default only the line's own tags are known)."""
    lay = layout(line, per_row)
    known = dict(tags or {})
    for tag in (*line.tags, *(t for m in line.machines for t in m.tags)):
        known.setdefault(tag.name, tag)
    d = _Draw(wording, palette, _id_prefix(line.name))
    shown_name = wording.plant(line.name)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {lay.width:g} {lay.height:g}" '
        # display:block: no baseline gap under the picture, so its height is exactly what the viewBox gives and
        # anything a screen lays over a machine (in percent of the picture) sits where the machine is drawn.
        f'width="100%" style="display:block" preserveAspectRatio="xMidYMin meet" role="img" '
        f"aria-label={quoteattr(wording('Line {name}: machines in flow order', name=shown_name))} "
        f'font-family="{FONT}" data-line={quoteattr(line.name)} data-palette="{palette.name}">',
        f"<title>{escape(wording('Line {name}', name=shown_name))}</title>",
        _defs(d),
        f'<rect x="0" y="0" width="{lay.width:g}" height="{lay.height:g}" fill="{palette.bg}"/>',
    ]
    index = {m.name: i for i, m in enumerate(lay.machines)}
    conveyors = {(c.from_machine, c.to_machine): c for c in line.conveyors}
    for i in range(len(lay.machines) - 1):
        a, b = lay.machines[i], lay.machines[i + 1]
        out.append(_link(lay, i, conveyors.get((a.name, b.name)), states, known, d))
    for i, machine in enumerate(lay.machines):
        out.append(_machine(machine, i, lay.boxes[i], states, (alarms or {}).get(machine.name, ()), d))
    for k, conveyor in enumerate(lay.strip):
        y = lay.strip_y + k * STRIP_H
        out.append(_strip_conveyor(conveyor, y, lay.width, states, known, d, index))
    out.append("</svg>")
    return "".join(out)


def _id_prefix(name: str) -> str:
    # Element ids only from safe characters, so url(#...) references need no escaping of their own.
    return "lp-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _defs(d: _Draw) -> str:
    pid, p = d.pid, d.p
    return (
        "<defs>"
        f'<pattern id="{pid}-hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="8" height="8" fill="{p.panel}"/>'
        f'<line x1="0" y1="0" x2="0" y2="8" stroke="{p.text}" stroke-width="2.5"/></pattern>'
        f'<pattern id="{pid}-crosshatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="8" height="8" fill="{p.band}"/>'
        f'<line x1="0" y1="0" x2="0" y2="8" stroke="{p.text}" stroke-width="2.5"/>'
        f'<line x1="0" y1="0" x2="8" y2="0" stroke="{p.text}" stroke-width="2.5"/></pattern>'
        f'<pattern id="{pid}-dots" width="8" height="8" patternUnits="userSpaceOnUse">'
        f'<rect width="8" height="8" fill="{p.panel}"/><circle cx="4" cy="4" r="1.6" fill="{p.text}"/></pattern>'
        f'<marker id="{pid}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{p.text}"/></marker>'
        "</defs>"
    )


def _fill(look: Look, d: _Draw) -> str:
    return {
        "solid": d.p.raised,
        "plain": d.p.band,
        "hatch": f"url(#{d.pid}-hatch)",
        "crosshatch": f"url(#{d.pid}-crosshatch)",
        "dots": f"url(#{d.pid}-dots)",
        "none": d.p.paper,
    }[look.pattern]


def _clip(text: str, n: int) -> str:
    # Cut before escaping, so an entity is never cut in half.
    return text if len(text) <= n else text[: n - 1] + "…"


def _text(
    x: float,
    y: float,
    text: str,
    *,
    fill: str,
    size: float = 14,
    weight: str = "normal",
    anchor: str = "start",
    extra: str = "",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" font-weight="{weight}" fill="{fill}" '
        f'text-anchor="{anchor}"{extra}>{escape(text)}</text>'
    )


def _machine(
    machine: Machine, i: int, box: Box, states: Mapping[str, TagState | None], marks: Sequence[AlarmMark], d: _Draw
) -> str:
    w_, p = d.w, d.p
    state = states.get(machine.state_tag) if machine.state_tag else None
    look, detail = machine_look(machine, state)
    word, detail = w_(look.word), w_(detail) if detail else ""
    name = w_.plant(machine.name)
    description = w_.plant(machine.description) if machine.description else ""
    label = f"{name}: {word}" + (f" ({detail})" if detail else "")
    title = label + (f" — {description}" if description else "")
    x, y, w = box.x, box.y, box.w
    dash = f' stroke-dasharray="{look.dash}"' if look.dash else ""
    parts = [
        f'<g id="{d.pid}-m{i}" class={quoteattr(f"lp-machine lp-{look.name}")} '
        f"data-machine={quoteattr(machine.name)} "
        f'data-machine-index="{i}" data-state={quoteattr(look.name)} role="button" aria-label={quoteattr(label)}>',
        f"<title>{escape(title)}</title>",
        f'<rect class="lp-box" x="{x:g}" y="{y:g}" width="{w:g}" height="{box.h:g}" rx="4" fill="{p.panel}" '
        f'stroke="{p.text if look.stroke_width >= 2.5 else p.line}" stroke-width="{look.stroke_width:g}"{dash}/>',
        _text(x + 12, y + 26, _clip(name, 22), size=20, weight="bold", fill=p.text),
    ]
    if description:
        parts.append(_text(x + 12, y + 44, _clip(description, 36), size=12, fill=p.muted))
    # The state band: the pattern across it, the word on a plain label so it stays readable over any pattern.
    parts.append(
        f'<rect class="lp-state-band" x="{x + 8:g}" y="{y + 52:g}" width="{w - 16:g}" height="38" '
        f'fill="{_fill(look, d)}" stroke="{p.text}" stroke-width="{1.5 if look.stroke_width < 5 else 3}"{dash}/>'
    )
    # The word in bold, the PackML state name after it; smaller when both would not fit on the plate.
    detail = _clip(detail, 16)
    big, small = (15.0, 12.0) if len(word) * 9.2 + len(detail) * 7 + 30 <= w - 36 else (13.0, 11.0)
    plate_w = min(w - 24, 16 + len(word) * big * 0.62 + (len(detail) + 3) * small * 0.56)
    parts.append(
        f'<rect x="{x + w / 2 - plate_w / 2:.1f}" y="{y + 59:g}" width="{plate_w:.1f}" height="24" rx="3" '
        f'fill="{p.paper}" stroke="{p.text}" stroke-width="1"/>'
    )
    parts.append(
        f'<text x="{x + w / 2:.1f}" y="{y + 76:g}" text-anchor="middle" fill="{p.text}" class="lp-state-word">'
        f'<tspan font-size="{big:g}" font-weight="bold">{escape(word)}</tspan>'
        + (f'<tspan font-size="{small:g}"> · {escape(detail)}</tspan>' if detail else "")
        + "</text>"
    )
    for k, tag in enumerate(key_values(machine)[:MAX_VALUES]):
        parts.append(_value_row(tag, states.get(tag.name), x + 10, y + HEADER_H + k * VALUE_H, w - 20, d))
    parts.append(_alarm_row(marks, x + 12, y + box.h - ALARM_H + 8, d))
    parts.append("</g>")
    return "".join(parts)


def _quality_word(state: TagState | None) -> str:
    """The English word (a key of WORDS) for a value that is not good; '' for a good one."""
    if state is None or state.value is None:
        return "NO DATA"
    if state.quality is Quality.GOOD:
        return ""
    return state.quality.value.upper()


def _number(value: object, w: Wording) -> str:
    # The screens' format_value (screens/fmt.py) lives above the core; the same rules for the numbers drawn here.
    if isinstance(value, bool):
        return w("ON") if value else w("OFF")
    if isinstance(value, float):
        return w.number(value, 1) if abs(value) < 1e6 else f"{value:.3g}"
    if isinstance(value, int):
        return w.number(value, 0)
    return _clip(str(value), 12)


def _where(tag: Tag, value: float) -> str:
    """'HIGH' or 'LOW' against the normal range, else ''."""
    if tag.normal_range is None:
        return ""
    if value > tag.normal_range[1]:
        return "HIGH"
    if value < tag.normal_range[0]:
        return "LOW"
    return ""


def _value_row(tag: Tag, state: TagState | None, x: float, y: float, w: float, d: _Draw) -> str:
    """Label and quality or abnormal word on the first line; value with unit and the analog indicator below."""
    assert tag.eng_range is not None
    p = d.p
    low, high = tag.eng_range
    value = state.value if state is not None else None
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    qword = _quality_word(state)
    where = _where(tag, float(number)) if number is not None and not qword else ""
    colour = p.abnormal if where else p.text
    leaf = tag.name.rsplit(".", 1)[-1]
    description = d.w.plant(tag.description) if tag.description else ""
    parts = [
        f"<g class={quoteattr('lp-value' + (' lp-abnormal' if where else '') + (' lp-notgood' if qword else ''))} "
        f"data-tag={quoteattr(tag.name)}>",
        f"<title>{escape(tag.name + (' — ' + description if description else ''))}</title>",
        _text(x, y + 13, _clip(leaf, 18), size=12.5, fill=p.muted),
    ]
    if qword:
        parts.append(
            _text(
                x + w,
                y + 13,
                d.w(qword),
                size=12.5,
                weight="bold",
                anchor="end",
                extra=' class="lp-quality"',
                fill=p.text,
            )
        )
    elif where:
        arrow = "▲" if where == "HIGH" else "▼"
        parts.append(
            _text(
                x + w,
                y + 13,
                f"{arrow} {d.w(where)}",
                size=12.5,
                weight="bold",
                fill=p.abnormal,
                anchor="end",
                extra=' class="lp-abnormal-word"',
            )
        )
    shown = "—" if value is None else _number(value, d.w)
    struck = bool(qword) and value is not None
    deco = ' text-decoration="line-through"' if struck else ""
    vfill = p.muted if qword else colour
    style = ' font-style="italic"' if qword else ""
    parts.append(
        f'<text x="{x:.1f}" y="{y + 33:.1f}" fill="{vfill}"{style} class="lp-number">'
        f'<tspan font-size="16" font-weight="bold"{deco}>{escape(shown)}</tspan>'
        f'<tspan font-size="11" dx="4">{escape(_clip(tag.unit, 14))}</tspan></text>'
    )
    if struck:
        # The strike drawn as a line too: text-decoration on SVG text is not drawn by every renderer.
        parts.append(
            f'<line x1="{x:.1f}" y1="{y + 28:.1f}" x2="{x + 8 + len(shown) * 9:.1f}" y2="{y + 28:.1f}" '
            f'stroke="{p.muted}" stroke-width="1.5"/>'
        )
    bx, bw, by = x + w - 100, 100.0, y + 22
    parts.append(_bar(tag, number, low, high, bx, by, bw, 11, good=not qword, colour=colour, level=False, p=p))
    parts.append("</g>")
    return "".join(parts)


def _bar(
    tag: Tag,
    number: float | None,
    low: float,
    high: float,
    x: float,
    y: float,
    w: float,
    h: float,
    *,
    good: bool,
    colour: str,
    level: bool,
    p: Palette,
) -> str:
    """A small moving analog indicator: the scale, the normal band, and a pointer (or a level fill) at the value;
    beyond the scale the pointer stops at the end with an arrow."""

    def at(v: float) -> float:
        return x + max(0.0, min(1.0, (v - low) / (high - low))) * w

    parts = [
        f'<g class="lp-bar"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:g}" fill="{p.paper}" '
        f'stroke="{p.text}" stroke-width="1.5"/>'
    ]
    if tag.normal_range is not None:
        a, b = at(tag.normal_range[0]), at(tag.normal_range[1])
        parts.append(
            f'<rect class="lp-normal" x="{a:.1f}" y="{y + 1:.1f}" width="{max(b - a, 1.0):.1f}" height="{h - 2:g}" '
            f'fill="{p.band}"/>'
        )
    if number is not None:
        at_value = at(float(number))
        if level:
            fill = (p.muted if good else p.paper) if colour == p.text else colour
            parts.append(
                f'<rect class="lp-level" x="{x:.1f}" y="{y + 2:.1f}" width="{max(at_value - x, 0.0):.1f}" '
                f'height="{h - 4:g}" fill="{fill}" fill-opacity="0.85"'
                + ("" if good else f' stroke="{p.muted}" stroke-dasharray="3 2"')
                + "/>"
            )
        else:
            body = colour if good else p.paper
            parts.append(
                f'<rect class="lp-pointer" x="{at_value - 2:.1f}" y="{y - 3:.1f}" width="4" height="{h + 6:g}" '
                f'fill="{body}" stroke="{colour if good else p.muted}" stroke-width="1"'
                + ("" if good else ' stroke-dasharray="2 1.5"')
                + "/>"
            )
        if float(number) > high:
            parts.append(_text(x + w + 3, y + h - 1, "▶", size=10, fill=colour))
        elif float(number) < low:
            parts.append(_text(x - 11, y + h - 1, "◀", size=10, fill=colour))
    parts.append("</g>")
    return "".join(parts)


def _marker(priority: int, cx: float, cy: float, size: float = 22) -> str:
    """Colour + shape + priority number (ISA-18.2 cl. 11: never colour alone); the same in both palettes."""
    colour = PRIORITY_COLOUR.get(priority, PRIORITY_COLOUR[4])
    r = size / 2
    shape = PRIORITY_SHAPE.get(priority, "circle")
    if shape == "square":
        body = f'<rect x="{cx - r:.1f}" y="{cy - r:.1f}" width="{size:g}" height="{size:g}" fill="{colour}"/>'
    elif shape == "triangle":
        body = (
            f'<polygon points="{cx:.1f},{cy - r - 2:.1f} {cx + r + 2:.1f},{cy + r:.1f} {cx - r - 2:.1f},{cy + r:.1f}" '
            f'fill="{colour}"/>'
        )
    elif shape == "diamond":
        body = (
            f'<polygon points="{cx:.1f},{cy - r - 2:.1f} {cx + r + 2:.1f},{cy:.1f} {cx:.1f},{cy + r + 2:.1f} '
            f'{cx - r - 2:.1f},{cy:.1f}" fill="{colour}"/>'
        )
    else:
        body = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:g}" fill="{colour}"/>'
    number_fill = PRIORITY_NUMBER.get(priority, PRIORITY_NUMBER[4])
    dy = 4 if shape == "triangle" else 0
    return (
        f'<g class="lp-alarm lp-p{priority}" data-priority="{priority}" data-shape="{shape}">{body}'
        f"{_text(cx, cy + 5 + dy, str(priority), size=13, weight='bold', fill=number_fill, anchor='middle')}</g>"
    )


def _alarm_row(marks: Sequence[AlarmMark], x: float, y: float, d: _Draw) -> str:
    """One marker per priority present (highest first) and the count of the machine's active alarms."""
    if not marks:
        return (
            f'<g class="lp-alarms" data-count="0">{_text(x, y + 17, d.w("no alarms"), size=12.5, fill=d.p.muted)}</g>'
        )
    priorities = sorted({m.priority for m in marks})
    unack = sum(1 for m in marks if m.unacknowledged)
    parts = [f'<g class="lp-alarms" data-count="{len(marks)}">']
    for k, priority in enumerate(priorities):
        parts.append(_marker(priority, x + 12 + k * 30, y + 12))
    count = d.w("{count} alarm" if len(marks) == 1 else "{count} alarms", count=len(marks))
    if unack:
        count = d.w("{text}, {unack} unack.", text=count, unack=unack)
    parts.append(
        _text(
            x + 8 + len(priorities) * 30,
            y + 17,
            count,
            size=13,
            weight="bold",
            extra=' class="lp-alarm-count"',
            fill=d.p.text,
        )
    )
    parts.append("</g>")
    return "".join(parts)


def _conveyor_bits(
    conveyor: Conveyor | None,
    states: Mapping[str, TagState | None],
    known: Mapping[str, Tag],
    x: float,
    y: float,
    w: float,
    d: _Draw,
) -> tuple[str, Look | None]:
    """The state word above (y - 8) and the accumulation bar with its value below (y + 14) a conveyor at y."""
    if conveyor is None:
        return "", None
    p = d.p
    parts: list[str] = []
    look = None
    if conveyor.state_tag is not None:
        state = states.get(conveyor.state_tag)
        look = conveyor_look(state)
        word = d.w(look.word if look is not None else (_quality_word(state) or "UNKNOWN"))
        parts.append(
            _text(
                x + w / 2,
                y - 9,
                word,
                size=12.5,
                weight="bold",
                anchor="middle",
                extra=' class="lp-conveyor-state"',
                fill=p.text,
            )
        )
    tag = known.get(conveyor.accumulation_tag) if conveyor.accumulation_tag else None
    if tag is not None and tag.eng_range is not None:
        state = states.get(tag.name)
        value = state.value if state is not None else None
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        qword = _quality_word(state)
        where = _where(tag, float(number)) if number is not None and not qword else ""
        colour = p.abnormal if where else p.text
        description = d.w.plant(tag.description) if tag.description else ""
        parts.append(f'<g class="lp-accumulation" data-tag={quoteattr(tag.name)}>')
        parts.append(f"<title>{escape(tag.name + (' — ' + description if description else ''))}</title>")
        parts.append(
            _bar(tag, number, *tag.eng_range, x, y + 14, w, 12, good=not qword, colour=colour, level=True, p=p)
        )
        text = "—" if value is None else f"{_number(value, d.w)} {tag.unit}".strip()
        if qword:
            text = f"{d.w(qword)} {text}"
        elif where:
            text = f"{'▲' if where == 'HIGH' else '▼'} {d.w(where)} {text}"
        parts.append(
            _text(
                x + w / 2,
                y + 42,
                _clip(text, 20),
                size=12.5,
                weight="bold" if where or qword else "normal",
                fill=p.muted if qword else colour,
                anchor="middle",
            )
        )
        parts.append("</g>")
    return "".join(parts), look


def _belt(x1: float, x2: float, y: float, look: Look | None, d: _Draw) -> str:
    """A conveyor belt with rollers, patterned like a machine's state band, and the direction of flow."""
    fill = _fill(look, d) if look is not None else d.p.raised
    dash = f' stroke-dasharray="{look.dash}"' if look is not None and look.dash else ""
    sw = look.stroke_width if look is not None else 1.5
    ink = d.p.text
    return (
        f'<rect x="{x1:.1f}" y="{y - 7:.1f}" width="{x2 - x1:.1f}" height="14" rx="7" fill="{fill}" '
        f'stroke="{ink}" stroke-width="{min(sw, 3):g}"{dash}/>'
        f'<circle cx="{x1 + 7:.1f}" cy="{y:.1f}" r="3" fill="{ink}"/>'
        f'<circle cx="{x2 - 7:.1f}" cy="{y:.1f}" r="3" fill="{ink}"/>'
    )


def _link(
    lay: Layout,
    i: int,
    conveyor: Conveyor | None,
    states: Mapping[str, TagState | None],
    known: Mapping[str, Tag],
    d: _Draw,
) -> str:
    """What joins machine i to machine i + 1 in the flow: the conveyor when one is configured, else an arrow."""
    a, b = lay.boxes[i], lay.boxes[i + 1]
    ink = d.p.text
    attrs = ""
    if conveyor is not None:
        attrs = f" data-from={quoteattr(conveyor.from_machine)} data-to={quoteattr(conveyor.to_machine)}"
    parts = [f'<g class="{"lp-conveyor" if conveyor is not None else "lp-flow"}"{attrs}>']
    if a.y == b.y:
        # Neighbours in a row: the conveyor spans the gap at the height of the state band.
        y = a.y + 71
        x1, x2 = a.x + a.w + 6, b.x - 6
        bits, look = _conveyor_bits(conveyor, states, known, x1 + 4, y, x2 - x1 - 8, d)
        if conveyor is not None:
            parts.append(_belt(x1, x2 - 8, y, look, d))
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="{ink}" stroke-width="2" '
            f'marker-end="url(#{d.pid}-arrow)"/>'
        )
        parts.append(bits)
    else:
        # The end of a row to the start of the next: down, back left, down.
        mid = a.y + a.h + ROW_GAP / 2 - 14
        ax, bx = a.x + a.w / 2, b.x + b.w / 2
        parts.append(
            f'<path d="M{ax:.1f},{a.y + a.h:.1f} V{mid:.1f} H{bx:.1f} V{b.y - 2:.1f}" fill="none" stroke="{ink}" '
            f'stroke-width="2" marker-end="url(#{d.pid}-arrow)"/>'
        )
        seg = min(200.0, max(ax - bx - 40, 60.0))
        sx = (ax + bx) / 2 - seg / 2
        bits, look = _conveyor_bits(conveyor, states, known, sx, mid, seg, d)
        if conveyor is not None:
            parts.append(_belt(sx, sx + seg, mid, look, d))
        parts.append(bits)
    parts.append("</g>")
    return "".join(parts)


def _strip_conveyor(
    conveyor: Conveyor,
    y: float,
    width: float,
    states: Mapping[str, TagState | None],
    known: Mapping[str, Tag],
    d: _Draw,
    index: Mapping[str, int],
) -> str:
    """A conveyor whose ends are not neighbours in the flow, drawn in a row of its own under the machines."""
    label = f"{d.w.plant(conveyor.from_machine)} → {d.w.plant(conveyor.to_machine)}"
    x = MARGIN
    belt_x = x + 220
    belt_w = min(220.0, width - belt_x - MARGIN)
    parts = [
        f'<g class="lp-conveyor lp-strip" data-from={quoteattr(conveyor.from_machine)} '
        f"data-to={quoteattr(conveyor.to_machine)}>",
        _text(x, y + 24, _clip(label, 28), size=14, weight="bold", fill=d.p.text),
    ]
    bits, look = _conveyor_bits(conveyor, states, known, belt_x + belt_w + 30, y + 18, 160, d)
    parts.append(_belt(belt_x, belt_x + belt_w, y + 20, look, d))
    parts.append(
        f'<line x1="{belt_x:.1f}" y1="{y + 20:.1f}" x2="{belt_x + belt_w + 10:.1f}" y2="{y + 20:.1f}" '
        f'stroke="{d.p.text}" stroke-width="2" marker-end="url(#{d.pid}-arrow)"/>'
    )
    parts.append(bits)
    parts.append("</g>")
    return "".join(parts)
