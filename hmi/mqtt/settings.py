"""The plant file's `mqtt:` section: which broker, how to reach it, and what the HMI publishes there.

Only pydantic and the secrets type: hmi/config.py imports this module, so it must not import the plant models.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hmi.secrets import Secret

# Sparkplug B §4.1.1: group, edge node and device ids are UTF-8 without the MQTT separators and wildcards.
_SPARKPLUG_ID = re.compile(r"[^/+#]+")
# MQTT 3.1.1 §4.7: `+` and `#` are wildcards (never in a topic published to); `$` topics belong to the broker.
_TOPIC_ROOT = re.compile(r"^[^/+#$\x00][^+#\x00]*$")
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttTls(_Model):
    """TLS towards the broker (mqtts://): the CA that signed the broker's certificate, and an optional client
    certificate for brokers that authenticate clients by certificate."""

    ca_file: Path | None = Field(None, description="PEM file of the CA(s) to trust; absent: the system's CAs")
    cert_file: Path | None = Field(None, description="client certificate (PEM), for brokers that require one")
    key_file: Path | None = Field(None, description="the client certificate's private key (PEM)")
    verify_hostname: bool = Field(True, description="check the broker's name against its certificate")

    @model_validator(mode="after")
    def _pair(self) -> MqttTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both (client certificate) or neither")
        return self


class MqttPublish(_Model):
    """What goes to the broker."""

    tags: bool = Field(True, description="every tag's value on change, with quality, source time and unit")
    alarms: bool = Field(True, description="every alarm transition (raised, acknowledged, cleared, shelved, ...)")
    lines: bool = Field(True, description="each line's state on change and its OEE for the current shift")
    oee_interval_s: float = Field(60.0, ge=5, le=3600, description="how often the shift's OEE is published")


class SparkplugSpec(_Model):
    """Sparkplug B identity of this HMI: it is one edge node; each machine (or line) is a device."""

    group_id: str = Field("factory-hmi", min_length=1, max_length=120)
    edge_node_id: str | None = Field(
        None, min_length=1, max_length=120, description="default: the site name with / + # made _"
    )

    @field_validator("group_id", "edge_node_id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and not _SPARKPLUG_ID.fullmatch(value):
            raise ValueError("a Sparkplug id must not contain /, + or # (Sparkplug B topic namespace)")
        return value


class MqttConfig(_Model):
    """Publishing the plant to an MQTT broker (docs/mqtt.md)."""

    url: str = Field(description="mqtt://host[:1883] or mqtts://host[:8883]")
    client_id: str | None = Field(None, max_length=120, description="default: factory-hmi-<site>")
    username: str | None = None
    password: Secret | None = Field(None, description="text, {env: VARIABLE} or {file: /path}; never logged")
    tls: MqttTls | None = Field(None, description="TLS options for mqtts:// (default: the system's CAs)")
    topic_root: str = Field("factory-hmi", max_length=200, description="first level of the unified namespace")
    format: Literal["uns", "sparkplug"] = Field("uns", description="uns: JSON per tag topic; sparkplug: Sparkplug B")
    publish: MqttPublish = MqttPublish()
    sparkplug: SparkplugSpec = SparkplugSpec()
    qos: Literal[0, 1, 2] = Field(1, description="QoS of uns messages (Sparkplug uses the QoS its specification sets)")
    keepalive_s: int = Field(30, ge=5, le=3600)
    reconnect_s: float = Field(5.0, gt=0, le=300, description="wait between attempts to reach the broker")
    queue_size: int = Field(10_000, ge=100, le=1_000_000, description="messages waiting in memory for the broker")
    buffer_max_messages: int = Field(
        100_000,
        ge=100,
        le=10_000_000,
        description="messages kept on local disk while the broker is away; the oldest go first when full",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_broker_url(value)

    @field_validator("topic_root")
    @classmethod
    def _root(cls, value: str) -> str:
        if not _TOPIC_ROOT.fullmatch(value) or value.endswith("/") or "//" in value:
            raise ValueError(
                "must be topic levels without + or # (MQTT wildcards), not starting with $ or /, not ending "
                "with /, e.g. acme/factory-hmi"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        if self.tls is not None and self.scheme != "mqtts":
            raise ValueError("tls options need an mqtts:// url; mqtt:// is plain TCP")
        return self

    def file_issues(self) -> list[tuple[tuple[str, ...], str]]:
        """The TLS files that cannot be read, each with its place in the section and the fix."""
        out: list[tuple[tuple[str, ...], str]] = []
        if self.tls is None:
            return out
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(self.tls, key)
            if path is not None and not path.is_file():
                out.append((("tls", key), f"file {path} does not exist or is not a file; correct the path"))
        return out

    @property
    def scheme(self) -> str:
        """'mqtt' or 'mqtts'."""
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        """The broker's host name or address."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The broker's port: as written, else 1883 (mqtt) or 8883 (mqtts)."""
        return urlsplit(self.url).port or DEFAULT_PORTS[self.scheme]


def sparkplug_id(text: str) -> str:
    """`text` made a valid Sparkplug id: the separators and wildcards become '_' (Sparkplug B §4.1.1)."""
    return re.sub(r"[/+#]", "_", text) or "_"


def check_broker_url(value: str) -> str:
    """`value` if it is a broker address mqtt://host[:port] or mqtts://...; ValueError with the fix otherwise."""
    parts = urlsplit(value)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("must start with mqtt:// or mqtts:// (TLS), e.g. mqtt://127.0.0.1:1883")
    if not parts.hostname:
        raise ValueError("names no broker host, e.g. mqtt://broker.plant.local:1883")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number or out of range
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if parts.username or parts.password:
        raise ValueError("must not hold credentials: give username and password (from env or a file) instead")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("is a broker address only: scheme, host and port, e.g. mqtts://broker:8883")
    return value
