"""The plant file's `mqtt:` section: broker URL, TLS, credentials through the secrets mechanism, topic root and
format, each refused with the place and the fix (docs/mqtt.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.cli import main
from hmi.config import ConfigError, parse_config, redact_config_text
from hmi.plant_diff import diff_plants
from tests.unit.test_config import GOOD, issue_of, line_no

PASSWORD = "broker-Secret-9"


def with_mqtt(section: str) -> str:
    """GOOD with an `mqtt:` section (YAML text, indented by two)."""
    return GOOD + "mqtt:\n" + section


@pytest.mark.req("MQT-001")
def test_a_full_section_loads_with_the_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMI_TEST_MQTT_PW", PASSWORD)
    plant = parse_config(
        with_mqtt(
            "  url: mqtts://broker.plant.local\n"
            "  username: hmi\n"
            "  password: {env: HMI_TEST_MQTT_PW}\n"
            "  topic_root: acme/hmi\n"
            "  format: sparkplug\n"
            "  publish: {tags: true, alarms: false, lines: true, oee_interval_s: 30}\n"
            "  sparkplug: {group_id: Bottling, edge_node_id: hmi-1}\n"
        )
    )
    mqtt = plant.mqtt
    assert mqtt is not None
    assert (mqtt.scheme, mqtt.host, mqtt.port) == ("mqtts", "broker.plant.local", 8883)
    assert mqtt.password is not None
    assert mqtt.password.reveal() == PASSWORD
    assert (mqtt.format, mqtt.topic_root, mqtt.publish.alarms) == ("sparkplug", "acme/hmi", False)
    assert plant.warnings == []
    assert PASSWORD not in repr(plant)


def test_no_section_publishes_nothing() -> None:
    assert parse_config(GOOD).mqtt is None


@pytest.mark.req("MQT-001")
@pytest.mark.parametrize(
    ("section", "path", "needle", "expected"),
    [
        ("  url: http://broker:1883\n", "mqtt.url", "http://broker", "mqtt:// or mqtts://"),
        ("  url: mqtt://:1883\n", "mqtt.url", "mqtt://:1883", "names no broker host"),
        ("  url: mqtt://broker:99999\n", "mqtt.url", "broker:99999", "port"),
        ("  url: mqtt://user:pw@broker\n", "mqtt.url", "user:pw@", "must not hold credentials"),
        ("  url: mqtt://broker\n  topic_root: plant/#\n", "mqtt.topic_root", "topic_root:", "wildcards"),
        ("  url: mqtt://broker\n  topic_root: /plant\n", "mqtt.topic_root", "topic_root:", "not starting with $"),
        ("  url: mqtt://broker\n  format: opcua\n", "mqtt.format", "format:", "'uns' or 'sparkplug'"),
        ("  url: mqtt://broker\n  username: hmi\n", "mqtt", "mqtt:$", "username and password go together"),
        ("  url: mqtt://broker\n  tls: {}\n", "mqtt", "mqtt:$", "need an mqtts:// url"),
        ("  url: mqtt://b\n  sparkplug: {group_id: a/b}\n", "mqtt.sparkplug.group_id", "sparkplug:", "not contain /"),
        ("  url: mqtt://broker\n  qos: 3\n", "mqtt.qos", "qos:", ""),
    ],
)
def test_bad_settings_are_named_with_the_fix(section: str, path: str, needle: str, expected: str) -> None:
    text = with_mqtt(section)
    where, line, message = issue_of(text)
    assert where == path
    assert line == line_no(text, needle)
    assert expected in message


@pytest.mark.req("MQT-001")
def test_a_missing_tls_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    text = with_mqtt(f"  url: mqtts://broker\n  tls:\n    ca_file: {missing}\n")
    where, line, message = issue_of(text)
    assert (where, line) == ("mqtt.tls.ca_file", line_no(text, "ca_file:"))
    assert str(missing) in message


@pytest.mark.req("MQT-001")
def test_an_inline_password_is_warned_about_and_redacted() -> None:
    text = with_mqtt(f"  url: mqtt://broker\n  username: hmi\n  password: '{PASSWORD}'\n")
    plant = parse_config(text, "plant.yaml")
    [warning] = plant.warnings
    assert warning.path == "mqtt.password"
    assert PASSWORD not in redact_config_text(text)


@pytest.mark.req("MQT-001", "OPS-001")
def test_hmi_check_reports_the_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(with_mqtt("  url: mqtt://broker\n  format: json\n"), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "mqtt.format" in err
    assert "'uns' or 'sparkplug'" in err
    path.write_text(with_mqtt("  url: mqtt://127.0.0.1:1883\n"), encoding="utf-8")
    assert main(["check", str(path)]) == 0


MQTT_ENDPOINTS = (
    "  - {name: broker, url: mqtt://127.0.0.1:1883}\n  - {name: edge, url: mqtts://broker.plant, payload: sparkplug}\n"
)


def with_mqtt_tag(tag: str) -> str:
    """GOOD with two MQTT endpoints and `tag` (a flow mapping) added to the first line's tags."""
    text = GOOD.replace("endpoints:\n", "endpoints:\n" + MQTT_ENDPOINTS, 1)
    anchor = "        tags:\n"
    assert anchor in text
    return text.replace(anchor, anchor + f"          - {tag}\n", 1)


@pytest.mark.req("MQT-009")
def test_mqtt_endpoint_tags_load() -> None:
    plant = parse_config(
        with_mqtt_tag('{name: L1.Json, endpoint: broker, node_id: "plant/l1/speed", json_path: data.speed}').replace(
            "        tags:\n",
            "        tags:\n          - {name: L1.Spb, endpoint: edge, node_id: G/plc/Dev, metric: Tank/Level}\n",
            1,
        )
    )
    assert plant.endpoint("broker").kind == "mqtt"
    assert plant.endpoint("plc1").kind == "opcua"
    assert plant.tags["L1.Json"].tag.json_path == "data.speed"
    assert plant.tags["L1.Spb"].tag.metric == "Tank/Level"


@pytest.mark.req("MQT-009")
@pytest.mark.parametrize(
    ("tag", "field", "expected"),
    [
        ('{name: X1, endpoint: broker, node_id: "plant/+/speed"}', "node_id", "without + or #"),
        ("{name: X1, endpoint: edge, node_id: G/plc/Dev}", "metric", "needs metric"),
        ("{name: X1, endpoint: edge, node_id: G, metric: M}", "node_id", "<group>/<edge node>"),
        ("{name: X1, endpoint: broker, node_id: t, metric: M}", "metric", "for Sparkplug endpoints"),
        ("{name: X1, endpoint: plc1, node_id: ns=2;s=X, json_path: a.b}", "json_path", "for tags of MQTT endpoints"),
        ("{name: X1, endpoint: broker, node_id: t, write: {}}", "write", "read only"),
    ],
)
def test_mqtt_tag_addressing_is_checked(tag: str, field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_mqtt_tag(tag), "plant.yaml")
    issues = [i for i in info.value.issues if i.path.endswith(field)]
    assert issues, [str(i) for i in info.value.issues]
    assert expected in issues[0].message


@pytest.mark.req("MQT-009")
def test_an_opcua_only_setting_on_a_broker_is_refused() -> None:
    text = GOOD.replace(
        "endpoints:\n",
        "endpoints:\n  - {name: broker, url: mqtt://b, security: {policy: Basic256Sha256, mode: Sign, "
        "certificate: /c.pem, private_key: /k.pem, server_certificate: /s.pem}}\n",
        1,
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "plant.yaml")
    assert any("security is for OPC UA endpoints" in i.message for i in info.value.issues)


@pytest.mark.req("RLD-005")
def test_a_reload_that_changes_mqtt_takes_a_restart() -> None:
    base = with_mqtt_tag("{name: L1.Json, endpoint: broker, node_id: plant/l1/speed}")
    old = parse_config(base)
    assert diff_plants(old, parse_config(base)).restart_needed == ()
    moved = parse_config(base.replace("plant/l1/speed", "plant/l1/rate"))
    assert any("MQTT endpoints or their tags changed" in why for why in diff_plants(old, moved).restart_needed)
    published = parse_config(base + "mqtt: {url: mqtt://127.0.0.1:1883}\n")
    assert any(why.startswith("mqtt changed") for why in diff_plants(old, published).restart_needed)
