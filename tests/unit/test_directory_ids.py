"""The directory's immutable id as the records keep it: entryUUID as text, AD's objectGUID (16 little-endian bytes)
in the form AD's own tools show, and back into a search filter with every byte escaped (RFC 4515)."""

from __future__ import annotations

import uuid

import pytest

from hmi.access.directory import Directory, Verdict
from hmi.access.directory_settings import LdapConfig
from hmi.access.roles import Role


def directory(id_attribute: str) -> Directory:
    return Directory(
        LdapConfig(
            url="ldaps://dc1.plant.example",
            base_dn="DC=plant,DC=example",
            group_map={"CN=HMI-Operators,DC=plant,DC=example": Role.OPERATOR},
            id_attribute=id_attribute,
        )
    )


@pytest.mark.req("AUTH-103")
def test_object_guid_is_kept_as_ad_shows_it_and_searched_byte_by_byte() -> None:
    guid = uuid.UUID("6f1c2a9e-1b2c-4d3e-8f40-5a6b7c8d9e0f")
    ad = directory("objectGUID")
    assert ad._id_text(guid.bytes_le) == str(guid)
    escaped = ad._id_filter_value(str(guid))
    assert escaped == "".join(f"\\{b:02x}" for b in guid.bytes_le)
    assert len(escaped) == 16 * 3


@pytest.mark.req("AUTH-103")
def test_entry_uuid_is_text_and_escaped_in_a_filter() -> None:
    ldap = directory("entryUUID")
    assert ldap._id_text(b"d1b4c216-844e-1041-986e-5526a37c4ec2") == "d1b4c216-844e-1041-986e-5526a37c4ec2"
    assert ldap._id_filter_value("a*b)(c") == "a\\2ab\\29\\28c"


@pytest.mark.req("AUTH-102")
async def test_an_empty_password_is_refused_before_the_directory_is_asked() -> None:
    # The URL reaches nothing: a bind attempt would fail as "unreachable", not as a wrong password.
    check = await directory("entryUUID").authenticate("alice", "")
    assert check.verdict is Verdict.WRONG_PASSWORD
