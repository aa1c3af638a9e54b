"""How a screen tells the outcome of a service call it made for a person: the service's refusal or failure is said
in the screen's status line, never swallowed, and nothing is reported done unless it was stored."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from nicegui import ui

from hmi.access.context import PermissionDenied
from hmi.store.database import DatabaseUnavailable
from screens.i18n import _, message

T = TypeVar("T")


async def attempt(status: ui.label, what: str, work: Awaitable[T]) -> T | None:
    """The result of `work`, or None after saying why not in `status`: "Refused: …." for a missing permission,
    "Not <what>: …" for what the service rejected, could not find or could not store (`what` marked with N_)."""
    try:
        return await work
    except PermissionDenied as exc:
        status.set_text(_("Refused: {exc}.").format(exc=message(exc)))
    except (ValueError, LookupError, DatabaseUnavailable) as exc:
        status.set_text(_("Not {what}: {exc}").format(what=_(what), exc=message(exc)))
    return None
