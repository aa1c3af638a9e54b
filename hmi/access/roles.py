"""Roles and the one permission table every service checks."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a signed-in person is allowed to do; ordered from least to most trusted."""

    OPERATOR = "operator"
    LEAD = "lead"
    ENGINEER = "engineer"
    MANAGER = "manager"
    ADMIN = "admin"


class Permission(StrEnum):
    """Actions a service checks before it changes anything."""

    VIEW = "view"
    ACKNOWLEDGE_ALARM = "acknowledge_alarm"
    SHELVE_ALARM = "shelve_alarm"
    RESET_LATCHED = "reset_latched"
    REMOVE_FROM_SERVICE = "remove_from_service"
    VIEW_KPI = "view_kpi"
    ADD_NOTE = "add_note"
    AMEND_NOTE = "amend_note"
    SIGN_HANDOVER = "sign_handover"
    VIEW_AUDIT = "view_audit"
    EXPORT_AUDIT = "export_audit"
    MANAGE_USERS = "manage_users"
    MANAGE_STATIONS = "manage_stations"
    ASSIGN_DOWNTIME = "assign_downtime"
    MANAGE_RECIPES = "manage_recipes"
    APPROVE_RECIPE = "approve_recipe"
    DOWNLOAD_RECIPE = "download_recipe"
    MANAGE_NOTIFICATIONS = "manage_notifications"


# Managers watch and analyse; acknowledging is for the people at the line. Shelving is a shift lead's call;
# taking an alarm out of service is a bigger decision (ISA-18.2 / IEC 62682) for engineers, managers and the
# administrator. Engineers (maintenance, process) may work on alarms and read the records but not run a shift.
# Downtime reasons are given by the people at the line (and the engineers who fixed the stop), not from the office.
# Recipes (ISA-88): engineers write them; an engineer or a manager other than the author approves them (four eyes);
# the shift lead or an engineer downloads an approved one to the line. The alarm notification journal and its dead
# letters are the engineers' (who keep the mail server and webhooks working) and the administrator's.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        {
            Permission.VIEW,
            Permission.ACKNOWLEDGE_ALARM,
            Permission.ADD_NOTE,
            Permission.AMEND_NOTE,
            Permission.ASSIGN_DOWNTIME,
        }
    ),
    Role.LEAD: frozenset(
        {
            Permission.VIEW,
            Permission.ACKNOWLEDGE_ALARM,
            Permission.ADD_NOTE,
            Permission.AMEND_NOTE,
            Permission.SHELVE_ALARM,
            Permission.RESET_LATCHED,
            Permission.SIGN_HANDOVER,
            Permission.ASSIGN_DOWNTIME,
            Permission.DOWNLOAD_RECIPE,
        }
    ),
    Role.ENGINEER: frozenset(
        {
            Permission.VIEW,
            Permission.ACKNOWLEDGE_ALARM,
            Permission.ADD_NOTE,
            Permission.AMEND_NOTE,
            Permission.SHELVE_ALARM,
            Permission.RESET_LATCHED,
            Permission.REMOVE_FROM_SERVICE,
            Permission.VIEW_AUDIT,
            Permission.VIEW_KPI,
            Permission.ASSIGN_DOWNTIME,
            Permission.MANAGE_RECIPES,
            Permission.APPROVE_RECIPE,
            Permission.DOWNLOAD_RECIPE,
            Permission.MANAGE_NOTIFICATIONS,
        }
    ),
    Role.MANAGER: frozenset(
        {
            Permission.VIEW,
            Permission.VIEW_AUDIT,
            Permission.EXPORT_AUDIT,
            Permission.VIEW_KPI,
            Permission.REMOVE_FROM_SERVICE,
            Permission.APPROVE_RECIPE,
        }
    ),
    Role.ADMIN: frozenset(
        {
            Permission.VIEW,
            Permission.VIEW_AUDIT,
            Permission.EXPORT_AUDIT,
            Permission.VIEW_KPI,
            Permission.MANAGE_USERS,
            Permission.MANAGE_STATIONS,
            Permission.REMOVE_FROM_SERVICE,
            Permission.MANAGE_NOTIFICATIONS,
        }
    ),
}


def allowed(role: Role, permission: Permission) -> bool:
    """True when `role` may perform `permission`."""
    return permission in PERMISSIONS[role]
