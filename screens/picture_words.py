"""The line picture's words, numbers and colours for the page being built: hmi.graphics.line_picture draws in the
`Wording` and `Palette` given here, so the core never reads the page's language or theme itself."""

from __future__ import annotations

from nicegui import app

from hmi.graphics.line_picture import DAY, PALETTES, Palette, Wording
from screens.i18n import N_, _, number, plant

# Every word of hmi.graphics.line_picture.WORDS, marked for the catalogue (a unit test keeps the two lists equal).
PICTURE_WORDS = (
    N_("RUNNING"),
    N_("STOPPED"),
    N_("DOWN"),
    N_("IDLE"),
    N_("STARVED/BLOCKED"),
    N_("CHANGING"),
    N_("UNKNOWN"),
    N_("NO STATE TAG"),
    N_("BLOCKED"),
    N_("STARVED"),
    N_("NO DATA"),
    N_("BAD"),
    N_("STALE"),
    N_("UNCERTAIN"),
    N_("not a state name"),
    N_("ON"),
    N_("OFF"),
    N_("HIGH"),
    N_("LOW"),
    N_("no alarms"),
    N_("{count} alarm"),
    N_("{count} alarms"),
    N_("{text}, {unack} unack."),
    N_("Line {name}"),
    N_("Line {name}: machines in flow order"),
)


def picture_wording() -> Wording:
    """The picture's words in the page's language, numbers in its locale, plant texts from the plant's translations."""
    return Wording(
        words={word: _(word) for word in PICTURE_WORDS},
        number=lambda value, decimals: number(value, decimals),
        plant=plant,
    )


def picture_palette() -> Palette:
    """The picture's colours for the page's theme (set by screens.appearance.apply; day outside a page)."""
    try:
        theme = str(app.storage.client.get("theme", DAY.name))
    except RuntimeError:
        return DAY
    return PALETTES.get(theme, DAY)
