"""The plant file's `access: {ldap: ...}` section: URL and TLS, user filter, group map, the service account's
password through the secrets mechanism, each mistake refused with its place and the fix (docs/directory.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.access.directory_settings import LdapConfig, normalise_dn
from hmi.access.roles import Role
from hmi.cli import main
from hmi.config import parse_config, redact_config_text
from tests.unit.test_config import GOOD, issue_of, line_no

PASSWORD = "svc-Secret-42"
GROUPS = (
    "    group_map:\n"
    "      'CN=HMI-Operators,OU=Groups,DC=plant,DC=example': operator\n"
    "      'CN=HMI-Leads,OU=Groups,DC=plant,DC=example': lead\n"
)


def with_ldap(section: str) -> str:
    """GOOD with an `access: {ldap: ...}` section (YAML text, indented by four)."""
    return GOOD + "access:\n  ldap:\n" + section


@pytest.mark.req("AUTH-101")
def test_a_full_section_loads_with_the_bind_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HMI_TEST_LDAP_PW", PASSWORD)
    ca = tmp_path / "plant-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    text = with_ldap(
        "    url: ldaps://dc1.plant.example\n"
        "    base_dn: DC=plant,DC=example\n"
        f"    ca_file: {ca}\n"
        "    bind_dn: CN=svc-hmi,OU=Service,DC=plant,DC=example\n"
        "    bind_password: {env: HMI_TEST_LDAP_PW}\n"
        "    id_attribute: objectGUID\n" + GROUPS
    )
    plant = parse_config(text, "plant.yaml")
    ldap = plant.access.ldap
    assert ldap is not None
    assert ldap.bind_password is not None
    assert ldap.bind_password.reveal() == PASSWORD
    assert "sAMAccountName={username}" in ldap.user_filter
    assert (ldap.start_tls, ldap.id_attribute, ldap.ca_file) == (False, "objectGUID", ca)
    assert plant.warnings == []
    assert PASSWORD not in repr(plant)
    # Highest role wins; DNs compare without regard to case and spaces.
    assert ldap.role_of(["cn=hmi-operators, ou=groups, dc=plant, dc=example"]) is Role.OPERATOR
    assert (
        ldap.role_of(["CN=HMI-Leads,OU=Groups,DC=plant,DC=example", "CN=HMI-Operators,OU=Groups,DC=plant,DC=example"])
        is Role.LEAD
    )
    assert ldap.role_of(["CN=Visitors,DC=plant,DC=example"]) is None


@pytest.mark.req("AUTH-101")
def test_an_inline_bind_password_is_warned_about_and_redacted() -> None:
    text = with_ldap(
        "    url: ldaps://dc1.plant.example\n"
        "    base_dn: DC=plant,DC=example\n"
        "    bind_dn: CN=svc-hmi,DC=plant,DC=example\n"
        f"    bind_password: '{PASSWORD}'\n" + GROUPS
    )
    plant = parse_config(text, "plant.yaml")
    [warning] = plant.warnings
    assert warning.path == "access.ldap.bind_password"
    assert PASSWORD not in redact_config_text(text)


BASE = "    base_dn: DC=plant,DC=example\n"


@pytest.mark.req("AUTH-101")
@pytest.mark.parametrize(
    ("section", "path", "says"),
    [
        ("    url: http://dc1\n" + BASE + GROUPS, "access.ldap.url", "must start with ldaps://"),
        ("    url: ldap://dc1.plant.example\n" + BASE + GROUPS, "access.ldap", "passwords in clear"),
        (
            "    url: ldaps://dc1.plant.example\n    start_tls: true\n" + BASE + GROUPS,
            "access.ldap",
            "remove start_tls",
        ),
        ("    url: ldaps://dc1.plant.example\n" + BASE, "access.ldap.group_map", "required key 'group_map'"),
        (
            "    url: ldaps://dc1.plant.example\n" + BASE + "    group_map: {}\n",
            "access.ldap.group_map",
            "map at least",
        ),
        (
            "    url: ldaps://dc1.plant.example\n" + BASE + "    group_map: {'CN=X,DC=plant': wizard}\n",
            "access.ldap.group_map.CN=X,DC=plant",
            "'operator'",
        ),
        (
            "    url: ldaps://dc1.plant.example\n" + BASE + "    user_filter: (uid=alice)\n" + GROUPS,
            "access.ldap.user_filter",
            "must contain {username}",
        ),
        (
            "    url: ldaps://dc1.plant.example\n" + BASE + "    user_filter: uid={username}\n" + GROUPS,
            "access.ldap.user_filter",
            "in parentheses",
        ),
        (
            "    url: ldaps://dc1.plant.example\n" + BASE + "    bind_dn: CN=svc,DC=plant\n" + GROUPS,
            "access.ldap",
            "go together",
        ),
        (
            "    url: ldaps://dc1.plant.example\n" + BASE + "    bind_dn: CN=svc,DC=plant\n"
            "    bind_password: {env: HMI_TEST_LDAP_UNSET}\n" + GROUPS,
            "access.ldap.bind_password",
            "environment variable HMI_TEST_LDAP_UNSET is not set",
        ),
        (
            "    url: ldaps://dc1.plant.example\n" + BASE + "    ca_file: /nonexistent/ca.pem\n" + GROUPS,
            "access.ldap",
            "ca_file /nonexistent/ca.pem does not exist",
        ),
        (
            "    url: ldaps://dc1.plant.example\n" + BASE + "    id_attribute: 'object GUID'\n" + GROUPS,
            "access.ldap.id_attribute",
            "attribute name",
        ),
    ],
)
def test_a_bad_section_is_refused_with_the_place_and_the_fix(section: str, path: str, says: str) -> None:
    text = with_ldap(section)
    where, line, message = issue_of(text)
    assert where == path
    assert says in message
    assert line is not None
    assert line >= line_no(text, "ldap:$")


@pytest.mark.req("AUTH-101", "OPS-001")
def test_hmi_check_reports_the_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(with_ldap("    url: ldap://dc1.plant.example\n" + BASE + GROUPS), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "access.ldap" in err
    assert "use ldaps://, or set start_tls: true" in err
    path.write_text(
        with_ldap("    url: ldap://dc1.plant.example\n    start_tls: true\n" + BASE + GROUPS), encoding="utf-8"
    )
    assert main(["check", str(path)]) == 0


@pytest.mark.req("AUTH-101")
def test_group_dns_compare_case_and_space_insensitively() -> None:
    assert normalise_dn("CN=HMI-Leads, OU=Groups,DC=x") == normalise_dn("cn = hmi-leads,ou=groups, dc=X")
    # An escaped comma stays inside its value.
    assert normalise_dn(r"CN=Smith\, John, OU=Groups") == r"cn=smith\, john,ou=groups"
    with pytest.raises(ValueError, match="same group"):
        LdapConfig.model_validate(
            {
                "url": "ldaps://dc1",
                "base_dn": "DC=x",
                "group_map": {"CN=A,DC=x": "operator", "cn=a, dc=x": "lead"},
            }
        )
