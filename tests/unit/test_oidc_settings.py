"""The plant file's access.oidc section: loaded with its client secret from the environment or a file like every
other secret, refused with the place and the fix when wrong, and the role claim mapped to the highest role."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.access.oidc import OidcClient, OidcUnavailable, highest_role
from hmi.access.roles import Role
from hmi.config import ConfigError, parse_config
from tests.unit.test_config import GOOD, line_no

SECRET = "0idc-client-s3cret"


def with_oidc(*lines: str) -> str:
    """GOOD with an access.oidc section of a confidential client, each of `lines` replacing the key it starts
    with (or added)."""
    fields = {
        "issuer": "https://login.example.com/realms/plant",
        "client_id": "factory-hmi",
        "client_secret": "{env: HMI_OIDC_SECRET}",
        "redirect_uri": "https://hmi.example.com/auth/oidc/callback",
        "role_claim": "groups",
        "role_map": "{HMI-Operators: operator, HMI-Leads: lead}",
    }
    for line in lines:
        key, _, value = line.partition(": ")
        fields[key] = value
    body = "".join(f"    {key}: {value}\n" for key, value in fields.items() if value)
    return GOOD + "access:\n  oidc:\n" + body


@pytest.fixture(autouse=True)
def _secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMI_OIDC_SECRET", SECRET)


@pytest.mark.req("AUTH-201")
def test_the_section_loads_with_the_secret_from_the_environment() -> None:
    plant = parse_config(with_oidc())
    oidc = plant.access.oidc
    assert oidc is not None
    assert oidc.client_secret is not None
    assert oidc.client_secret.reveal() == SECRET
    assert oidc.scopes == ("openid", "profile")
    assert oidc.role_map == {"HMI-Operators": Role.OPERATOR, "HMI-Leads": Role.LEAD}
    assert plant.warnings == []
    for text in (repr(plant), str(oidc), plant.model_dump_json()):
        assert SECRET not in text


@pytest.mark.req("AUTH-201")
def test_a_public_client_needs_no_secret_and_an_inline_one_is_warned_about() -> None:
    assert parse_config(with_oidc("client_secret: ")).access.oidc is not None
    text = with_oidc(f"client_secret: '{SECRET}'")
    [warning] = parse_config(text).warnings
    assert (warning.path, warning.line) == ("access.oidc.client_secret", line_no(text, "client_secret:"))
    assert "{env: VARIABLE}" in warning.message


@pytest.mark.req("AUTH-201")
@pytest.mark.parametrize(
    ("line", "path", "message"),
    [
        ("issuer: http://login.example.com", "access.oidc.issuer", "must use https://"),
        ("issuer: login.example.com", "access.oidc.issuer", "absolute https:// URL"),
        ("redirect_uri: http://hmi.example.com/cb", "access.oidc.redirect_uri", "must use https://"),
        ("redirect_uri: https://hmi.example.com/cb", "access.oidc.redirect_uri", "/auth/oidc/callback"),
        ("scopes: [profile]", "access.oidc.scopes", "must include openid"),
        ("role_map: {HMI-Leads: boss}", "access.oidc.role_map.HMI-Leads", "'operator', 'lead'"),
        ("role_map: {}", "access.oidc.role_map", "at least one entry"),
        ("client_secret: {env: HMI_OIDC_MISSING}", "access.oidc.client_secret", "HMI_OIDC_MISSING is not set"),
        ("ca_file: /nonexistent/idp-ca.pem", "access.oidc.ca_file", "cannot read /nonexistent/idp-ca.pem"),
        ("client_id: ", "access.oidc.client_id", "required key 'client_id' is missing"),
        ("tenant: plant", "access.oidc.tenant", "unknown key 'tenant'"),
    ],
)
def test_mistakes_are_named_with_their_place_and_fix(line: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_oidc(line))
    issues = [(i.path, i.message) for i in info.value.issues]
    assert any(p == path and message in m for p, m in issues), issues


@pytest.mark.req("AUTH-201")
def test_http_is_accepted_only_on_this_machine() -> None:
    plant = parse_config(
        with_oidc("issuer: http://127.0.0.1:8443", "redirect_uri: http://localhost:8080/auth/oidc/callback")
    )
    assert plant.access.oidc is not None


@pytest.mark.req("AUTH-205")
def test_the_highest_mapped_role_wins() -> None:
    role_map = {"HMI-Operators": Role.OPERATOR, "HMI-Leads": Role.LEAD, "HMI-Engineers": Role.ENGINEER}
    assert highest_role(["HMI-Leads", "Finance", "HMI-Operators"], role_map) is Role.LEAD
    assert highest_role(["HMI-Operators", "HMI-Engineers"], role_map) is Role.ENGINEER
    assert highest_role("HMI-Operators", role_map) is Role.OPERATOR
    assert highest_role(["Finance"], role_map) is None
    assert highest_role(None, role_map) is None
    assert highest_role([42, {"HMI-Leads": 1}], role_map) is None


@pytest.mark.req("AUTH-201")
async def test_a_ca_file_that_is_not_a_certificate_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "idp-ca.pem"
    bad.write_text("not a certificate\n")
    plant = parse_config(with_oidc(f"ca_file: {bad}"))
    assert plant.access.oidc is not None
    client = OidcClient(plant.access.oidc)
    with pytest.raises(OidcUnavailable, match=f"The CA file {bad} for the identity provider cannot be used"):
        await client.begin("/")
    await client.aclose()
