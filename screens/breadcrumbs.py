"""Breadcrumbs: where a screen sits in the plant, Plant > Area > Line > Machine (> Tag), each part a link
(ISA-101 display navigation: the way up the display hierarchy is always one touch)."""

from __future__ import annotations

from urllib.parse import quote

from nicegui import ui

from hmi.runtime import Runtime
from screens.i18n import _
from screens.testid import testid

# A link is a touch target like a button (ISA-101, docs/operators.md): at least 48 px high.
# Dark and underlined rather than blue: ISA-101 keeps colour for what is abnormal.
_CRUMB_STYLE = (
    "display:inline-flex;align-items:center;min-height:48px;min-width:48px;padding:0 6px;color:var(--hmi-ink);"
    "text-decoration:underline"
)


def line_link(line: str) -> str:
    """The line screen of `line`."""
    return f"/line/{quote(line, safe='')}"


def area_link(area: str) -> str:
    """Where an area leads: the overview, which shows every area's lines (there is no screen per area yet)."""
    return "/"


def trail(
    rt: Runtime, line: str | None = None, machine: str | None = None, tag: str | None = None
) -> list[tuple[str, str, str]]:
    """(kind, text, address) of each crumb from the plant down to what is given."""
    out = [("plant", rt.plant.site.name, "/")]
    found = rt.plant.line(line) if line is not None else None
    if found is None:
        return out
    area, ln = found
    out += [("area", area.name, area_link(area.name)), ("line", ln.name, line_link(ln.name))]
    if machine is not None:
        out.append(("machine", machine, f"/faceplate/machine/{quote(ln.name, safe='')}/{quote(machine, safe='')}"))
    if tag is not None:
        out.append(("tag", tag, f"/faceplate/tag/{quote(tag, safe='')}"))
    return out


def breadcrumbs(rt: Runtime, line: str | None = None, machine: str | None = None, tag: str | None = None) -> None:
    """Show the trail to a line, machine or tag; the last crumb is the page itself (aria-current)."""
    crumbs = trail(rt, line, machine, tag)
    with testid(ui.element("nav"), "breadcrumbs").classes("flex flex-wrap items-center gap-0 hmi-muted") as nav:
        nav.props["aria-label"] = _("Breadcrumb")
        for k, (kind, text, href) in enumerate(crumbs):
            if k:
                ui.label("›").classes("px-1").props('aria-hidden="true"')
            # Plant, area and machine names are shown as text (never as markup); the address is built from names
            # the plant file restricts to letters, digits, '.', '_' and '-', quoted all the same.
            link = testid(ui.link(text, href).style(_CRUMB_STYLE), f"crumb-{kind}")
            link.classes("font-semibold" if k == len(crumbs) - 1 else "")
            if k == len(crumbs) - 1:
                link.props["aria-current"] = "page"
