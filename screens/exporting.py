"""What the export buttons share: read the rows, and say in the status line why nothing was exported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from nicegui import ui

from hmi.access.context import PermissionDenied
from hmi.store.database import DatabaseUnavailable
from screens.i18n import _, message

W = TypeVar("W")
R = TypeVar("R")


async def read_for_export(
    status: ui.label, read: Callable[[], Awaitable[tuple[W, Sequence[R]]]], limit: int
) -> tuple[W, Sequence[R]] | None:
    """`read()` (the window and its rows, limit + 1 at most), or None after telling the person why not."""
    try:
        window, rows = await read()
    except (PermissionDenied, ValueError) as exc:
        status.set_text(_("Not exported: {exc}.").format(exc=message(exc)))
        return None
    except DatabaseUnavailable as exc:
        status.set_text(_("Not exported: {exc}").format(exc=message(exc)))
        return None
    if len(rows) > limit:
        status.set_text(_("Not exported: more than {limit} entries; choose a shorter time range.").format(limit=limit))
        return None
    return window, rows
