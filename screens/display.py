"""Custom displays: the plant's own SVG drawings with live values (/display/<name>) and their list (/displays).

The SVG is finished on the server (hmi.graphics.display_render): sanitised when the plant file was loaded, values
applied and escaped there, so the page only swaps in new SVG text. NiceGUI's client-side sanitiser (DOMPurify) runs
on it as well, a second net. Touching a bound element opens its tag's faceplate: the browser only says which ids
were touched, the server looks the tag up in the plant file's bindings.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.graphics.display_config import Display
from hmi.graphics.display_render import ID_PREFIX, DisplayRenderer
from hmi.graphics.svg_safe import UnsafeSvg
from hmi.runtime import Runtime
from hmi.tags import TagState
from screens.faceplate import open_tag
from screens.frame import frame
from screens.i18n import _, message, plant
from screens.testid import testid
from screens.widgets import LiveFeed

# Sends the ids of the touched element and its ancestors (drawing ids only, at most 20); written here, not taken
# from the drawing.
_TOUCHED_IDS = (
    "(e) => { const ids = []; for (let n = e.target; n && ids.length < 20; n = n.parentElement) {"
    f' if (typeof n.id === "string" && n.id.startsWith("{ID_PREFIX}")) ids.push(n.id); }}'
    " if (ids.length) emit(ids); }"
)


def _find(rt: Runtime, name: str) -> Display | None:
    return next((d for d in rt.plant.displays if d.name == name), None)


def displays_page(rt: Runtime, ctx: ActionContext) -> None:
    """Every display of the plant, one touch to each."""
    with frame(rt, ctx, "Displays"):
        if not ctx.can(Permission.VIEW):
            ui.label(_("Your role may not view displays.")).props('role="alert"')
            return
        if not rt.plant.displays:
            ui.label(
                _(
                    "This plant has no custom displays. Engineers add them under displays: in the plant file "
                    "(see docs/displays.md)."
                )
            ).classes("hmi-muted")
            return
        with ui.column().classes("gap-2 w-full"):
            for display in rt.plant.displays:
                with (
                    testid(
                        ui.row().classes("hmi-panel hmi-card-link hmi-touch items-center gap-3 p-3 w-full"),
                        f"display-link-{display.name}",
                    )
                    .props('role="link"')
                    .on("click", lambda n=display.name: ui.navigate.to(f"/display/{n}"))
                ):
                    ui.label(display.title).classes("text-lg font-bold hmi-wrap")
                    if display.line:
                        ui.label(_("Line {line}").format(line=display.line)).classes("hmi-muted")


async def display_page(rt: Runtime, ctx: ActionContext, name: str) -> None:
    """One display, live."""
    display = _find(rt, name)
    svg, problem = None, ""
    if display is not None:
        try:
            # Read when the plant file was loaded; only a plant built again from its models reads it now (a file).
            svg = await asyncio.to_thread(rt.plant.display_svg, name)
        except (OSError, UnsafeSvg) as exc:
            problem = _("The drawing of display {name!r} cannot be shown ({exc}); engineers: run hmi check.").format(
                name=name, exc=message(exc)
            )
    with frame(rt, ctx, _("Display {name}").format(name=plant(display.title)) if display else _("Display")):
        if not ctx.can(Permission.VIEW):
            ui.label(_("Your role may not view displays.")).props('role="alert"')
            return
        if display is None or svg is None:
            ui.label(problem or _("There is no display called {name!r}.").format(name=name)).classes(
                "hmi-title hmi-wrap"
            )
            ui.button(_("All displays"), on_click=lambda: ui.navigate.to("/displays")).props("outline no-caps")
            return
        with ui.row().classes("items-center gap-3"):
            ui.button(_("All displays"), on_click=lambda: ui.navigate.to("/displays")).props("outline no-caps")
            if display.line:
                line = display.line
                testid(
                    ui.button(
                        _("Line {line}").format(line=line), on_click=lambda: ui.navigate.to(f"/line/{line}")
                    ).props("outline no-caps"),
                    "display-line",
                )
            testid(ui.label(display.title).classes("hmi-title hmi-wrap"), "display-title")
        tags = display.tags()
        renderer = DisplayRenderer(display, svg, {n: ref.tag for n, ref in rt.plant.tags.items()})
        shown = [renderer.render(rt.cache.snapshot(tags))]
        picture = testid(ui.html(shown[0], sanitize=True).classes("w-full hmi-panel p-2"), "display-svg")

        def render(_changed: dict[str, TagState | None]) -> None:
            # The whole picture again from the current states (the untouched parts come from the renderer's
            # cache); sent only when it differs from what the page shows.
            content = renderer.render({n: rt.cache.get(n) for n in tags})
            if content != shown[0]:
                shown[0] = content
                picture.set_content(content)

        LiveFeed(rt, tags, render, interval=1.0)

        def touched(event: Any) -> None:
            ids = event.args if isinstance(event.args, list) else []
            for element_id in ids[:20]:
                tag = renderer.tag_of(element_id) if isinstance(element_id, str) and len(element_id) < 200 else None
                if tag is not None:
                    open_tag(rt, ctx, tag)
                    return

        picture.on("click", touched, js_handler=_TOUCHED_IDS)
