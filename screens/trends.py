"""Trends: pick tags, watch them live (ring buffer of the last minutes) with their alarm limits."""

from __future__ import annotations

from nicegui import app, ui

from hmi.context import ActionContext
from hmi.runtime import Runtime
from screens.frame import frame
from screens.trend_chart import LiveTrend

MAX_PENS = 8


def trends_page(rt: Runtime, ctx: ActionContext, tags: str | None = None) -> None:
    """The trend screen; `tags` is a comma-separated preselection (links from other screens)."""
    options = sorted(rt.trends.names)
    preset = [t for t in (tags or "").split(",") if t in rt.trends.names]
    if not preset:
        preset = [t for t in app.storage.user.get("trend_pens", []) if t in rt.trends.names]
    if not preset:
        preset = [t for _, line in list(rt.plant.lines())[:1] for t in line.trend_tags]
    with frame(rt, ctx, "Trends"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Trends").classes("hmi-title")
            pens = (
                ui.select(
                    options, value=preset[:MAX_PENS], multiple=True, with_input=True, label=f"Tags (up to {MAX_PENS})"
                )
                .props('use-chips data-testid="trend-pens"')
                .mark("trend-pens")
                .classes("min-w-[32rem]")
            )
            ui.label(f"live, last {int(rt.trend_window.total_seconds() // 60)} minutes").classes("hmi-muted")
        holder = ui.column().classes("w-full hmi-panel p-2")

        def draw() -> None:
            chosen = list(pens.value or [])[:MAX_PENS]
            app.storage.user["trend_pens"] = chosen
            holder.clear()
            with holder:
                if not chosen:
                    ui.label("Choose one or more tags to trend.").classes("hmi-muted")
                    return
                LiveTrend(rt, chosen, height=480)

        pens.on_value_change(draw)
        draw()
