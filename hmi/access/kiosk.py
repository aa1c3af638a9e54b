"""Kiosk stations: view-only wall screens that show the overview without anyone signed in.

Nobody acts at a kiosk, so nothing is recorded in anyone's name there. What is recorded is each refusal: a page
other than /kiosk, a sign-in or a command attempted at the kiosk, as `kiosk.refused` under the user name `kiosk`
with the station's name (21 CFR 11.10(d) limits access; 11.10(e) the trail names where it was attempted).
"""

from __future__ import annotations

from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.records.audit import SYSTEM_USER_ID, AuditLog

KIOSK_USER = "kiosk"
REFUSED = "kiosk.refused"
_MAX_OBJECT = 200


def kiosk_context(station: str) -> ActionContext:
    """Who a kiosk's records name: nobody (user `kiosk`, no user row, the least role) at `station`."""
    return ActionContext(
        user_id=SYSTEM_USER_ID,
        username=KIOSK_USER,
        full_name="view-only wall screen",
        role=Role.OPERATOR,
        station=station,
    )


async def record_refusal(
    audit: AuditLog, station: str, what: str, object_type: str = "page", ctx: ActionContext | None = None
) -> None:
    """Audit that `what` (a page's address, `sign-in`, a command) was refused at kiosk `station`; in the name of
    `ctx` when a person's session from before the station became a kiosk tried it, else of nobody (`kiosk`)."""
    await audit.record(
        ctx or kiosk_context(station),
        REFUSED,
        object_type,
        what[:_MAX_OBJECT],
        detail=f"refused: station {station} is a view-only kiosk",
    )
