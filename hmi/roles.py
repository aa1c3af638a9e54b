"""Roles and the one permission table every service checks."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a signed-in person is allowed to do; ordered from least to most trusted."""

    OPERATOR = "operator"
    LEAD = "lead"
    MANAGER = "manager"
    ADMIN = "admin"


class Permission(StrEnum):
    """Actions a service checks before it changes anything."""

    VIEW = "view"
    ACKNOWLEDGE_ALARM = "acknowledge_alarm"
    ADD_NOTE = "add_note"
    VIEW_AUDIT = "view_audit"
    MANAGE_USERS = "manage_users"


# Managers watch and analyse; acknowledging is for the people at the line (the issue: "manager cannot").
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset({Permission.VIEW, Permission.ACKNOWLEDGE_ALARM, Permission.ADD_NOTE}),
    Role.LEAD: frozenset({Permission.VIEW, Permission.ACKNOWLEDGE_ALARM, Permission.ADD_NOTE}),
    Role.MANAGER: frozenset({Permission.VIEW, Permission.VIEW_AUDIT}),
    Role.ADMIN: frozenset({Permission.VIEW, Permission.VIEW_AUDIT, Permission.MANAGE_USERS}),
}


def allowed(role: Role, permission: Permission) -> bool:
    """True when `role` may perform `permission`."""
    return permission in PERMISSIONS[role]
