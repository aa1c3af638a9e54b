"""The permission table against a matrix written out by hand: a change to roles.py must change this file too."""

from __future__ import annotations

import pytest

from hmi.access.context import ActionContext
from hmi.access.roles import PERMISSIONS, Permission, Role, allowed

# Columns: operator, lead, engineer, manager, admin. "x" = allowed, "." = refused.
EXPECTED = """
view               x x x x x
acknowledge_alarm  x x x . .
shelve_alarm       . x x . .
reset_latched      . x x . .
remove_from_service . . x x x
view_kpi           . . x x x
add_note           x x x . .
amend_note         x x x . .
sign_handover      . x . . .
view_audit         . . x x x
export_audit       . . . x x
manage_users       . . . . x
manage_stations    . . . . x
assign_downtime    x x x . .
manage_recipes     . . x . .
approve_recipe     . . x x .
download_recipe    . x x . .
manage_notifications . . x . x
"""
ROLES = (Role.OPERATOR, Role.LEAD, Role.ENGINEER, Role.MANAGER, Role.ADMIN)


def expected_matrix() -> dict[tuple[Role, Permission], bool]:
    """The hand-written matrix above as {(role, permission): allowed}."""
    matrix: dict[tuple[Role, Permission], bool] = {}
    for line in EXPECTED.strip().splitlines():
        name, *marks = line.split()
        assert len(marks) == len(ROLES), line
        for role, mark in zip(ROLES, marks, strict=True):
            matrix[(role, Permission(name))] = mark == "x"
    return matrix


@pytest.mark.req("ACC-013")
def test_matrix_covers_every_role_and_permission() -> None:
    assert set(expected_matrix()) == {(r, p) for r in Role for p in Permission}


@pytest.mark.parametrize(("role", "permission"), [(r, p) for r in Role for p in Permission])
@pytest.mark.req("ACC-013")
def test_permission_table_matches_the_written_matrix(role: Role, permission: Permission) -> None:
    want = expected_matrix()[(role, permission)]
    assert allowed(role, permission) is want
    assert (permission in PERMISSIONS[role]) is want
    ctx = ActionContext(user_id=1, username="someone", full_name="", role=role)
    assert ctx.can(permission) is want


@pytest.mark.req("ACC-013")
def test_only_the_administrator_manages_people_and_panels() -> None:
    holders = {p: {r for r in Role if allowed(r, p)} for p in (Permission.MANAGE_USERS, Permission.MANAGE_STATIONS)}
    assert holders == {Permission.MANAGE_USERS: {Role.ADMIN}, Permission.MANAGE_STATIONS: {Role.ADMIN}}


@pytest.mark.req("ACC-013")
def test_every_role_may_view() -> None:
    assert all(allowed(r, Permission.VIEW) for r in Role)
