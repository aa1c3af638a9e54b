"""The plant file's `notifications:` section: what loads, and every reference problem named with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.cli import main
from hmi.config import ConfigError, parse_config, redact_config_text
from hmi.notify.settings import Retry
from tests.plant_fixture import PLANT_YAML

SECTION = """
notifications:
  smtp: {{host: 127.0.0.1, port: 2525, security: none, from: hmi@plant.example}}
  people:
    - {{name: lena, email: lena@plant.example}}
    - {{name: max, email: max@plant.example}}
  groups:
    - {{name: leads, members: [lena]}}
    - {{name: managers, members: [max]}}
  webhooks:
    - {{name: mes, url: "http://127.0.0.1:9/hook?token=abc", secret: {{env: HMI_TEST_HOOK_KEY}}}}
  on_call:
    - {{shift: Early, group: leads}}
    - {{shift: Late, group: leads}}
    - {{shift: Night, group: leads}}
  rules:
    - name: p1
      match: {{priorities: [1], areas: [Packing], lines: [L1], tags: ["L1.*"]}}
      after_min: 2
      notify: [on_call, mes]
      escalate: [{{after_min: 10, notify: [managers]}}]
      quiet_min: 30
"""


def plant_text(section: str = SECTION) -> str:
    return PLANT_YAML.format(url="opc.tcp://127.0.0.1:4840") + section.format()


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "plant.yaml")
    return [f"{i.path}: {i.message}" for i in info.value.issues]


@pytest.fixture(autouse=True)
def hook_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMI_TEST_HOOK_KEY", "hook-secret")


@pytest.mark.req("NTF-001")
def test_a_full_section_loads() -> None:
    n = parse_config(plant_text()).notifications
    assert n.smtp is not None
    assert n.smtp.sender == "hmi@plant.example"
    assert n.smtp.security == "none"
    rule = n.rules[0]
    assert rule.matches(1, "Packing", "L1", "L1.M1.Jam")
    assert not rule.matches(2, "Packing", "L1", "L1.M1.Jam")
    assert not rule.matches(1, "Packing", "L1", "L2.Temp")
    assert rule.step_offsets_s() == [120, 720]
    assert n.on_call_group("Late") == "leads"
    assert n.webhook("mes") is not None
    assert n.webhook("mes").secret.reveal() == "hook-secret"


@pytest.mark.req("NTF-001")
def test_without_a_section_nothing_is_notified() -> None:
    assert parse_config(plant_text("")).notifications.rules == ()


@pytest.mark.req("NTF-001")
def test_references_are_checked_with_the_fix() -> None:
    bad = (
        SECTION.replace("members: [lena]", "members: [lena, nobody]")
        .replace("{{shift: Night, group: leads}}", "{{shift: Weekend, group: ghosts}}")
        .replace("notify: [managers]", "notify: [managerz]")
        .replace("areas: [Packing]", "areas: [Paking]")
    )
    found = problems(plant_text(bad))
    assert any("groups[1].members[1]" in p or "groups[0].members[1]" in p for p in found), found
    assert any("unknown person 'nobody'" in p for p in found), found
    assert any("unknown shift 'Weekend'" in p and "Early" in p for p in found), found
    assert any("unknown group 'ghosts'" in p for p in found), found
    assert any("unknown recipient 'managerz'" in p for p in found), found
    assert any("unknown area 'Paking'" in p for p in found), found
    assert any("Night have no on-call group" in p for p in found), found


@pytest.mark.req("NTF-001")
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("lena@plant.example", "lena-at-plant"), "is not an e-mail address"),
        (('"http://127.0.0.1:9/hook?token=abc"', "ftp://x/y"), "http:// or https://"),
        (('"http://127.0.0.1:9/hook?token=abc"', '"https://u:p@x/y"'), "no credentials in the URL"),
        (("priorities: [1]", "priorities: [7]"), "priorities are 1 (highest) to 4"),
        (("name: mes,", "name: leads,"), "already used under groups"),
        (("security: none,", "security: none, username: hmi,"), "username and password go together"),
        (("{{env: HMI_TEST_HOOK_KEY}}", "{{env: HMI_TEST_UNSET_KEY}}"), "HMI_TEST_UNSET_KEY is not set"),
    ],
)
def test_bad_values_are_refused_with_a_reason(change: tuple[str, str], expected: str) -> None:
    found = problems(plant_text(SECTION.replace(*change)))
    assert any(expected in p for p in found), found


@pytest.mark.req("NTF-001")
def test_people_by_e_mail_need_an_smtp_server() -> None:
    text = SECTION.replace("  smtp: {{host: 127.0.0.1, port: 2525, security: none, from: hmi@plant.example}}\n", "")
    assert any("no smtp server" in p for p in problems(plant_text(text)))


@pytest.mark.req("NTF-001")
def test_an_inline_webhook_secret_is_warned_about_and_redacted() -> None:
    text = plant_text(SECTION.replace("{{env: HMI_TEST_HOOK_KEY}}", "inline-hook-secret"))
    plant = parse_config(text, "plant.yaml")
    assert any("notifications.webhooks[0].secret" in str(w) for w in plant.warnings)
    assert "inline-hook-secret" not in redact_config_text(text)
    assert "inline-hook-secret" not in repr(plant.notifications)


@pytest.mark.req("NTF-001")
def test_hmi_check_reports_a_notification_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(plant_text(SECTION.replace("notify: [managers]", "notify: [managerz]")), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr()
    assert "notifications.rules[0].escalate[0].notify[0]" in out.out + out.err
    assert "unknown recipient 'managerz'" in out.out + out.err


@pytest.mark.req("NTF-004")
def test_retry_delays_double_up_to_the_cap() -> None:
    retry = Retry(attempts=6, first_delay_s=10, max_delay_s=50)
    assert [retry.delay_s(n) for n in range(1, 6)] == [10, 20, 40, 50, 50]


@pytest.mark.req("NTF-001")
def test_a_reload_that_changes_the_section_is_described_without_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from hmi.plant_diff import diff_plants

    old = parse_config(plant_text())
    monkeypatch.setenv("HMI_TEST_HOOK_KEY", "another-hook-secret")
    new = parse_config(plant_text(SECTION.replace("after_min: 2", "after_min: 5")))
    text = "\n".join(diff_plants(old, new).lines())
    assert "notifications" in text
    assert "2.0 -> 5.0" in text or "2 -> 5" in text, text
    assert "hook-secret" not in text
    assert "another-hook-secret" not in text
