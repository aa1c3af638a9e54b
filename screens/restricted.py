"""Screens only some roles may see (user administration, audit trail, KPIs): the permission is checked, and a
refusal audited by the service, before anything of the screen is built; the person is told why instead."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nicegui import ui

from hmi.access.context import ActionContext, PermissionDenied
from hmi.runtime import Runtime
from hmi.store.database import DatabaseUnavailable
from screens.i18n import _, message
from screens.testid import testid


@dataclass(frozen=True, slots=True)
class Restriction:
    """Who may see a screen, and what the others are told."""

    check: Callable[[Runtime, ActionContext], Awaitable[None]]
    """Returns when the person may see it; otherwise audits the refusal and raises PermissionDenied."""
    refused: Callable[[ActionContext, PermissionDenied], str]
    unavailable: str
    """What cannot be shown while the database (where refusals are audited) is unreachable."""
    testid: str


async def permitted(rt: Runtime, ctx: ActionContext, restriction: Restriction) -> bool:
    """Check `restriction` for the page's person; False after showing the refusal (or the database's absence)."""
    try:
        await restriction.check(rt, ctx.for_action())
    except PermissionDenied as exc:
        testid(
            ui.label(restriction.refused(ctx, exc)).classes("font-semibold").props('role="alert"'), restriction.testid
        )
        return False
    except DatabaseUnavailable as exc:
        ui.label(_("{what}: {exc}").format(what=_(restriction.unavailable), exc=message(exc))).classes(
            "font-semibold"
        ).props('role="alert"')
        return False
    return True
