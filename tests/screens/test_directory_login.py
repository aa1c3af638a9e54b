"""The login page of a plant that signs people in against its directory (a real slapd, tests/ldap_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hmi.access.directory_settings import LdapConfig
from hmi.access.roles import Role
from hmi.config import AccessPolicy, PlantConfig
from tests.ldap_server import ENGINEERS, LEADS, OPERATORS, PERSONS, SUFFIX, USER_FILTER, LdapServer, running_ldap_server
from tests.plant_fixture import INITIAL, small_plant
from tests.screens.conftest import PASSWORD, Harness, harness_on

PASSWORDS = {p.uid: p.password for p in PERSONS}


@pytest.fixture
async def directory_hmi(tmp_path: Path) -> AsyncIterator[tuple[Harness, LdapServer]]:
    """The screen harness on a plant with `access.ldap` pointing at a real slapd."""
    with running_ldap_server(tmp_path / "slapd") as server:

        def plant(url: str) -> PlantConfig:
            base = small_plant(url)
            ldap = {
                "url": server.url,
                "base_dn": SUFFIX,
                "user_filter": USER_FILTER,
                "group_map": {OPERATORS: Role.OPERATOR, LEADS: Role.LEAD, ENGINEERS: Role.ENGINEER},
                "allow_plaintext": True,  # loopback test directory only
                "timeout_s": 2,
            }
            fields = {name: getattr(base, name) for name in PlantConfig.model_fields}
            return PlantConfig.model_validate({**fields, "access": AccessPolicy(ldap=LdapConfig.model_validate(ldap))})

        async with harness_on(tmp_path, plant, INITIAL, ready=["L1.M1.Temp"]) as harness:
            yield harness, server


@pytest.mark.req("AUTH-102", "AUTH-106")
async def test_a_directory_person_signs_in_and_the_directory_away_is_said_on_the_login_page(
    directory_hmi: tuple[Harness, LdapServer],
) -> None:
    hmi, server = directory_hmi
    await hmi.login("bob", PASSWORDS["bob"])
    await hmi.user.should_see("Bob Lead · lead")
    await hmi.logout()

    server.stop()
    hmi.user.find(marker="username").type("bob")
    hmi.user.find(marker="password").type(PASSWORDS["bob"])
    hmi.user.find(marker="sign-in").click()
    await hmi.user.should_see(f"the directory at {server.url} cannot be reached", retries=100)
    await hmi.user.should_see("local accounts still work")
    # The local (break-glass) administrator still signs in.
    await hmi.login("ada", PASSWORD)
    await hmi.user.should_see("Ada Admin · admin")
