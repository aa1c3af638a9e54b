"""ActionContext: who does something, from which station, and why; carried by every user action."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from hmi.access.roles import Permission, Role, allowed


class PermissionDenied(Exception):
    """The signed-in person's role does not allow the action; the refusal is audited by the service."""

    def __init__(self, ctx: ActionContext, permission: Permission) -> None:
        self.ctx = ctx
        self.permission = permission
        super().__init__(f"{ctx.username} ({ctx.role}) may not {permission.value.replace('_', ' ')}")


@dataclass(frozen=True, slots=True)
class ActionContext:
    """The person behind an action. The record it changes and its audit entry share `id`."""

    user_id: int
    username: str
    full_name: str
    role: Role
    station: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def for_action(self) -> ActionContext:
        """The same person with a fresh id: each action's record and audit entry share an id of their own."""
        return replace(self, id=uuid.uuid4().hex)

    def can(self, permission: Permission) -> bool:
        """True when this person's role allows `permission`."""
        return allowed(self.role, permission)
