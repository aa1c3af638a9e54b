"""The page's theme (day / night) and language, and the preferences page where people and stations choose them."""

from __future__ import annotations

from nicegui import app, ui

from hmi.access.appearance import INHERIT, Appearance
from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.runtime import Runtime
from screens import session
from screens.frame import frame
from screens.i18n import N_, _, options
from screens.outcome import attempt
from screens.testid import testid

THEME_CHOICES = {
    INHERIT: N_("Station's or plant's choice"),
    "day": N_("Day (grey)"),
    "night": N_("Night (dark control room)"),
}
LANGUAGE_CHOICES = {INHERIT: N_("Station's or plant's choice"), "en": N_("English"), "de": N_("Deutsch")}


async def apply(rt: Runtime, ctx: ActionContext | None) -> Appearance:
    """Put this page in the theme of the person at this station (or the station's, before anyone signs in)."""
    appearance = await rt.appearance.for_page(ctx.user_id if ctx is not None else None, await session.station_for(rt))
    # Quasar's dark mode marks the body with body--dark; assets/hmi.css switches the neutral greys on it.
    ui.dark_mode(appearance.theme == "night")
    # Read by the page's formatting of dates and numbers; the client storage lives as long as this page.
    app.storage.client["language"] = appearance.language
    # Read by what draws its own colours (the line picture's SVG) rather than taking them from assets/hmi.css.
    app.storage.client["theme"] = appearance.theme
    # The page's language for screen readers and hyphenation (WCAG 2.1 SC 3.1.1); one of LANGUAGES, never free text.
    ui.add_head_html(f'<script>document.documentElement.lang = "{appearance.language}";</script>')
    return appearance


async def preferences_page(rt: Runtime, ctx: ActionContext) -> None:
    """A person's own theme and language; for administrators of stations, this station's too."""
    station = await session.station_for(rt)
    mine, theirs = await rt.appearance.choices(ctx.user_id, station)
    with frame(rt, ctx, "Preferences"):
        with testid(ui.column().classes("hmi-panel p-3 gap-2 w-full max-w-2xl"), "my-appearance"):
            ui.label(_("Your screens")).classes("hmi-title")
            ui.label(
                _("Used on every panel you sign in at; the colours of alarms are the same in both themes.")
            ).classes("hmi-muted hmi-wrap")
            my_theme = testid(ui.radio(options(THEME_CHOICES), value=mine[0]).props("size=lg"), "my-theme")
            my_language = testid(ui.radio(options(LANGUAGE_CHOICES), value=mine[1]).props("size=lg"), "my-language")
            mine_outcome = testid(ui.label("").classes("hmi-outcome hmi-wrap").props('role="status"'), "my-outcome")
            mine_outcome.set_visibility(False)

            async def save_mine(actor: ActionContext) -> None:
                work = rt.appearance.set_person(
                    actor, theme=str(my_theme.value or ""), language=str(my_language.value or "")
                )
                if await attempt(mine_outcome, N_("saved"), work) is None:
                    mine_outcome.set_visibility(True)
                    return
                ui.navigate.reload()

            testid(ui.button(_("Save"), on_click=session.command(rt, save_mine)), "save-my-appearance")

        if theirs is None or not ctx.can(Permission.MANAGE_STATIONS):
            ui.label(
                _("This panel is {station}.").format(station=station)
                + (
                    ""
                    if theirs is not None
                    else _(" Enrol it as a station (Users page) to give it a theme of its own.")
                )
            ).classes("hmi-muted hmi-wrap")
            return
        with testid(ui.column().classes("hmi-panel p-3 gap-2 w-full max-w-2xl"), "station-appearance"):
            ui.label(_("This station: {station}").format(station=station)).classes("hmi-title")
            ui.label(
                _("What this panel shows for people who have not chosen (e.g. night for a control room).")
            ).classes("hmi-muted hmi-wrap")
            station_theme = testid(ui.radio(options(THEME_CHOICES), value=theirs[0]).props("size=lg"), "station-theme")
            station_language = testid(
                ui.radio(options(LANGUAGE_CHOICES), value=theirs[1]).props("size=lg"), "station-language"
            )
            station_outcome = testid(
                ui.label("").classes("hmi-outcome hmi-wrap").props('role="status"'), "station-outcome"
            )
            station_outcome.set_visibility(False)

            async def save_station(actor: ActionContext) -> None:
                work = rt.appearance.set_station(
                    actor, station, theme=str(station_theme.value or ""), language=str(station_language.value or "")
                )
                if await attempt(station_outcome, N_("saved"), work) is None:
                    station_outcome.set_visibility(True)
                    return
                ui.navigate.reload()

            testid(ui.button(_("Save for this station"), on_click=session.command(rt, save_station)), "save-station")
