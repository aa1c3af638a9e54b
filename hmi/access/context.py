"""ActionContext: who does something, from which station, and why; carried by every user action."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from hmi.access.roles import Permission, Role, allowed
from hmi.texts import Text

# What each permission lets a person do, as a refusal says it ("may not acknowledge alarm"): the English is the
# permission's name in words, each a Text of its own so a screen can show the refusal in the reader's language.
ACTIONS: dict[Permission, Text] = {
    Permission.VIEW: Text("view"),
    Permission.ACKNOWLEDGE_ALARM: Text("acknowledge alarm"),
    Permission.SHELVE_ALARM: Text("shelve alarm"),
    Permission.RESET_LATCHED: Text("reset latched"),
    Permission.REMOVE_FROM_SERVICE: Text("remove from service"),
    Permission.VIEW_KPI: Text("view kpi"),
    Permission.ADD_NOTE: Text("add note"),
    Permission.AMEND_NOTE: Text("amend note"),
    Permission.SIGN_HANDOVER: Text("sign handover"),
    Permission.VIEW_AUDIT: Text("view audit"),
    Permission.EXPORT_AUDIT: Text("export audit"),
    Permission.MANAGE_USERS: Text("manage users"),
    Permission.MANAGE_STATIONS: Text("manage stations"),
    Permission.ASSIGN_DOWNTIME: Text("assign downtime"),
    Permission.MANAGE_RECIPES: Text("manage recipes"),
    Permission.APPROVE_RECIPE: Text("approve recipe"),
    Permission.DOWNLOAD_RECIPE: Text("download recipe"),
    Permission.MANAGE_NOTIFICATIONS: Text("manage notifications"),
}


class PermissionDenied(Exception):
    """The signed-in person's role does not allow the action; the refusal is audited by the service."""

    def __init__(self, ctx: ActionContext, permission: Permission) -> None:
        self.ctx = ctx
        self.permission = permission
        super().__init__(
            Text(
                "{username} ({role}) may not {action}",
                username=ctx.username,
                role=ctx.role.value,
                action=ACTIONS[permission],
            )
        )


@dataclass(frozen=True, slots=True)
class ActionContext:
    """The person behind an action. The record it changes and its audit entry share `id`."""

    user_id: int
    username: str
    full_name: str
    role: Role
    station: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Where the person's password is checked (User.source: local, ldap, oidc): a screen asks an identity provider
    # account for a fresh sign-in at the provider where it would ask others for their password.
    source: str = "local"
    # The stored key of the browser session the action was given in (hmi.access.sessions), when there is one: the
    # active instance of a pair runs a command forwarded from a standby only while that session is still live.
    session_key: str | None = field(default=None, compare=False, repr=False)

    def for_action(self) -> ActionContext:
        """The same person with a fresh id: each action's record and audit entry share an id of their own."""
        return replace(self, id=uuid.uuid4().hex)

    def can(self, permission: Permission) -> bool:
        """True when this person's role allows `permission`."""
        return allowed(self.role, permission)
