"""Endpoint passwords: inline (warned), from the environment or a file (resolved at load, clear errors), and never
written out: repr, model dumps and the redacted plant text show a fingerprint instead (issue 8, section 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hmi.cli import main
from hmi.config import ConfigError, parse_config, redact_config_text
from hmi.secrets import fingerprint
from tests.unit.test_config import GOOD, edit, line_no

PLC2 = "    url: opc.tcp://10.0.0.2:4840\n"
PASSWORD = "Tr0ub4dor&3-plc"


def with_password(value: str) -> str:
    """GOOD with plc2 authenticating as `op` with the password given as `value` (YAML text)."""
    return edit(PLC2, f"{PLC2}    username: op\n    password: {value}\n")


def only_issue(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "plant.yaml")
    assert len(info.value.issues) == 1, [str(i) for i in info.value.issues]
    issue = info.value.issues[0]
    assert issue.path == "endpoints[1].password"
    assert issue.line == line_no(text, "password:")
    return issue.message


@pytest.mark.req("SEC-008")
def test_an_inline_password_loads_and_is_warned_about() -> None:
    text = with_password(f"'{PASSWORD}'")
    plant = parse_config(text, "plant.yaml")
    password = plant.endpoints[1].password
    assert password is not None
    assert password.reveal() == PASSWORD
    [warning] = plant.warnings
    assert (warning.path, warning.line) == ("endpoints[1].password", line_no(text, "password:"))
    assert "{env: VARIABLE}" in warning.message


@pytest.mark.req("SEC-008")
def test_no_password_no_warning() -> None:
    assert parse_config(GOOD).warnings == []


@pytest.mark.req("SEC-008")
def test_the_password_never_shows_in_repr_or_dumps() -> None:
    plant = parse_config(with_password(f"'{PASSWORD}'"))
    endpoint = plant.endpoints[1]
    for text in (
        repr(endpoint),
        str(endpoint),
        repr(plant),
        str(endpoint.password),
        endpoint.model_dump_json(),
        str(endpoint.model_dump()),
        plant.model_dump_json(),
    ):
        assert PASSWORD not in text
    assert endpoint.model_dump()["password"] == f"<redacted {fingerprint(PASSWORD)}>"


@pytest.mark.req("SEC-008")
def test_a_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLC2_PASSWORD", PASSWORD)
    plant = parse_config(with_password("{env: PLC2_PASSWORD}"))
    password = plant.endpoints[1].password
    assert password is not None
    assert password.reveal() == PASSWORD
    assert password.describe() == "environment variable PLC2_PASSWORD"
    assert plant.warnings == []


@pytest.mark.req("SEC-008")
def test_an_unset_variable_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLC2_PASSWORD", raising=False)
    message = only_issue(with_password("{env: PLC2_PASSWORD}"))
    assert "environment variable PLC2_PASSWORD is not set" in message
    assert "Environment=PLC2_PASSWORD=" in message


@pytest.mark.req("SEC-008")
def test_a_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "plc2"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    plant = parse_config(with_password(f"{{file: {secret}}}"))
    password = plant.endpoints[1].password
    assert password is not None
    assert password.reveal() == PASSWORD  # the editor's final line break is not part of it
    assert plant.warnings == []


@pytest.mark.req("SEC-008")
def test_a_file_others_can_read_is_warned_about(tmp_path: Path) -> None:
    secret = tmp_path / "plc2"
    secret.write_text(PASSWORD)
    secret.chmod(0o644)
    [warning] = parse_config(with_password(f"{{file: {secret}}}")).warnings
    assert f"chmod 600 {secret}" in warning.message


@pytest.mark.req("SEC-008")
def test_a_missing_file_is_named_with_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    message = only_issue(with_password(f"{{file: {missing}}}"))
    assert f"cannot read secret file {missing}" in message
    assert "chmod 600" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{file: secrets/plc2}", "is not an absolute path"),
        ("{vault: plc2}", "{env: VARIABLE} or {file: /absolute/path}"),
        ("1234", 'write it in quotes, e.g. "1234"'),
        ("''", "the secret is empty"),
    ],
)
@pytest.mark.req("SEC-008")
def test_bad_secret_forms_say_how_to_write_them(value: str, expected: str) -> None:
    assert expected in only_issue(with_password(value))


@pytest.mark.req("SEC-008")
def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "plc2"
    secret.write_text("\n")
    assert f"secret file {secret} is empty" in only_issue(with_password(f"{{file: {secret}}}"))


@pytest.mark.req("SEC-008")
def test_hmi_check_warns_about_an_inline_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(with_password(f"'{PASSWORD}'"))
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("OK")
    assert "warning:" in err
    assert "endpoints[1].password" in err
    assert PASSWORD not in out + err


@pytest.mark.req("SEC-008")
def test_hmi_check_names_an_unset_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLC2_PASSWORD", raising=False)
    path = tmp_path / "plant.yaml"
    path.write_text(with_password("{env: PLC2_PASSWORD}"))
    assert main(["check", str(path)]) == 2
    assert "environment variable PLC2_PASSWORD is not set" in capsys.readouterr().err


@pytest.mark.req("SEC-008")
def test_redaction_hides_inline_secrets_and_keeps_the_rest() -> None:
    text = with_password(f'"{PASSWORD}"  # the PLC account')
    out = redact_config_text(text)
    assert PASSWORD not in out
    assert f'password: "<redacted {fingerprint(PASSWORD)}>"  # the PLC account\n' in out
    assert out.replace(f'"<redacted {fingerprint(PASSWORD)}>"', f'"{PASSWORD}"') == text
    assert yaml.safe_load(out)["endpoints"][1]["username"] == "op"  # still YAML of the same shape


@pytest.mark.req("SEC-008")
def test_a_changed_password_changes_the_fingerprint() -> None:
    one = redact_config_text(with_password("first-password"))
    two = redact_config_text(with_password("second-password"))
    assert one != two
    assert redact_config_text(with_password("first-password")) == one


@pytest.mark.req("SEC-008")
def test_references_stay_as_written() -> None:
    text = with_password("{env: PLC2_PASSWORD}")
    assert redact_config_text(text) == text


@pytest.mark.req("SEC-008")
def test_text_that_is_not_yaml_still_loses_its_password() -> None:
    text = f"endpoints:\n  - password: {PASSWORD}\n  bad: [\n"
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    out = redact_config_text(text)
    assert PASSWORD not in out
    assert fingerprint(PASSWORD) in out


@pytest.mark.req("SEC-008")
def test_redaction_is_idempotent_and_a_redacted_copy_does_not_load() -> None:
    once = redact_config_text(with_password(f"'{PASSWORD}'"))
    assert redact_config_text(once) == once
    with pytest.raises(ConfigError) as info:
        parse_config(once)
    assert "redacted copy" in str(info.value)
