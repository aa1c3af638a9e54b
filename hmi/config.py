"""Plant configuration: site > areas > lines > machines > tags, endpoints, alarms and shifts, loaded from YAML."""

from __future__ import annotations

import functools
import itertools
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

# hmi.assets is the top-level assets/ folder, mapped onto the package by pyproject.toml's package-dir; mypy reads
# the source tree and cannot follow that mapping.
from hmi import assets  # type: ignore[attr-defined]
from hmi.access.directory_settings import LdapConfig
from hmi.access.login_guard import parse_limit
from hmi.access.oidc_settings import OidcSettings
from hmi.control.spec import Command, ModeSpec, WriteSpec
from hmi.graphics.display_config import Display
from hmi.graphics.svg_safe import SafeSvg
from hmi.graphics.svg_safe import load as load_svg
from hmi.mqtt.settings import MqttConfig, check_broker_url
from hmi.notify.settings import Notifications, notification_issues
from hmi.secrets import Secret, redacted

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=120)]
LIMIT_TYPES = ("LL", "L", "H", "HH")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Security(_Model):
    """How the HMI secures its OPC UA channel to one endpoint."""

    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Security:
        if self.policy == "None" and self.mode != "None":
            raise ValueError("mode must be None when policy is None; set policy: Basic256Sha256 to sign or encrypt")
        if self.policy != "None":
            if self.mode == "None":
                raise ValueError("policy Basic256Sha256 needs mode Sign or SignAndEncrypt")
            missing = [k for k in ("certificate", "private_key", "server_certificate") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"policy {self.policy} needs {', '.join(missing)}: the client certificate and key, and the "
                    "server certificate the HMI trusts"
                )
        return self


class Endpoint(_Model):
    """One OPC UA server the HMI subscribes to, or an MQTT broker whose topics feed tags (docs/mqtt.md)."""

    name: Name
    url: str = Field(description="opc.tcp://host:port, or mqtt:// / mqtts:// for a broker")
    payload: Literal["json", "sparkplug"] = Field(
        "json", description="MQTT endpoints: JSON per topic (json_path per tag) or Sparkplug B metrics"
    )
    publishing_interval_ms: int = Field(500, ge=50, le=60_000)
    stale_after_s: float = Field(3.0, gt=0, le=60, description="connection loss marks values STALE within this")
    clock_skew_tolerance_s: float = Field(
        5.0, gt=0, le=86_400, description="a source time further ahead of the HMI's clock than this is marked skewed"
    )
    username: str | None = None
    password: Secret | None = Field(None, description="text, {env: VARIABLE} or {file: /path}; never logged")
    security: Security = Security()

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("opc.tcp://", "mqtt://", "mqtts://")):
            raise ValueError(
                "must start with opc.tcp:// (OPC UA, e.g. opc.tcp://127.0.0.1:4840) or mqtt:// / mqtts:// (a broker)"
            )
        if value.startswith("mqtt"):
            check_broker_url(value)
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Endpoint:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        if self.kind == "mqtt" and self.security != Security():
            raise ValueError("security is for OPC UA endpoints; an MQTT endpoint uses mqtts:// for TLS")
        if self.kind == "opcua" and "payload" in self.model_fields_set:
            raise ValueError("payload is for MQTT endpoints (mqtt:// or mqtts://)")
        return self

    @property
    def kind(self) -> Literal["opcua", "mqtt"]:
        """'mqtt' for a broker (mqtt://, mqtts://), else 'opcua'."""
        return "mqtt" if self.url.startswith("mqtt") else "opcua"


class SuppressWhen(_Model):
    """Suppression by design: the alarm is suppressed while another tag equals (or differs from) a value."""

    tag: Name
    equals: bool | int | float | str | None = None
    not_equals: bool | int | float | str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> SuppressWhen:
        if (self.equals is None) == (self.not_equals is None):
            raise ValueError("give exactly one of equals or not_equals, e.g. {tag: Line1.State, not_equals: Execute}")
        return self

    def holds(self, value: object) -> bool:
        """True when `value` of the condition tag means the alarm is suppressed."""
        return value == self.equals if self.equals is not None else value != self.not_equals


AlarmType = Literal["HH", "H", "L", "LL", "discrete", "deviation", "rate", "bad_quality"]


class AlarmDef(_Model):
    """One alarm on a tag: limit (HH/H/L/LL), discrete, deviation from a setpoint tag, rate of change, or bad
    quality of the input; its fields are the alarm attributes rationalisation records (ISA-18.2 / IEC 62682)."""

    type: AlarmType
    name: Name | None = None
    limit: float | None = Field(
        None, description="limit value; for deviation the allowed |PV - SP|; for rate the allowed change per second"
    )
    value: bool | int | float | str | None = None
    setpoint_tag: Name | None = None
    priority: int = Field(3, ge=1, le=4, description="1 is the highest")
    deadband: float = Field(0.0, ge=0)
    on_delay_s: float = Field(0.0, ge=0, le=3600)
    off_delay_s: float = Field(0.0, ge=0, le=3600)
    latching: bool = False
    message: str = Field(min_length=1, max_length=200)
    consequence: str = ""
    action: str = ""
    suppress_when: SuppressWhen | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> AlarmDef:
        if self.type == "discrete":
            if self.value is None:
                raise ValueError("a discrete alarm needs value: the tag value that raises it")
            if self.limit is not None:
                raise ValueError("a discrete alarm has no limit; use value")
        elif self.type == "bad_quality":
            if self.limit is not None or self.value is not None:
                raise ValueError("a bad_quality alarm has neither limit nor value: it is raised by BAD input")
        else:
            if self.limit is None:
                raise ValueError(f"a {self.type} alarm needs limit: the value at which it activates")
            if self.value is not None:
                raise ValueError(f"a {self.type} alarm has no value; use limit")
            if self.type in ("deviation", "rate") and self.limit <= 0:
                raise ValueError(f"a {self.type} alarm's limit is a magnitude and must be above 0")
        if (self.type == "deviation") != (self.setpoint_tag is not None):
            raise ValueError("a deviation alarm needs setpoint_tag (and only a deviation alarm has one)")
        return self

    def key(self) -> str:
        """The alarm's name on its tag: its own name or its type."""
        return self.name or self.type


def _quoted_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 14:00 as the number 840, which pydantic would take as 00:14.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('write the time in quotes, e.g. "06:00"; unquoted, YAML reads HH:MM as a number')
    return value


class HistoryPolicy(_Model):
    """How the historian records a tag: on change beyond a deadband, and at least every `max_interval_s`."""

    enabled: bool = True
    deadband: float = Field(0.0, ge=0, description="absolute: record when |value - last recorded| exceeds this")
    deadband_pct: float = Field(
        0.0,
        ge=0,
        le=100,
        description="percent of the eng_range span (of |last recorded| when the tag has no eng_range)",
    )
    max_interval_s: float = Field(600.0, ge=1, le=86_400, description="record at least this often without change")
    retention_days: float = Field(400.0, gt=0, le=36_500, description="samples older than this are pruned")


class Tag(_Model):
    """One process value read from an OPC UA node."""

    name: Name
    endpoint: Name
    node_id: str
    data_type: Literal["float", "int", "bool", "string"] = "float"
    unit: str = ""
    description: str = ""
    eng_range: tuple[float, float] | None = None
    normal_range: tuple[float, float] | None = None
    alarms: tuple[AlarmDef, ...] = ()
    history: HistoryPolicy | None = Field(None, description="overrides of the plant's historian defaults")
    write: WriteSpec | None = Field(None, description="the HMI may write this tag (a setpoint); absent: read only")
    json_path: str | None = Field(
        None,
        max_length=200,
        description="MQTT json endpoints: dotted path to the value in the topic's JSON (default: its `value` key, "
        "else the whole payload)",
    )
    metric: str | None = Field(
        None, min_length=1, max_length=200, description="MQTT sparkplug endpoints: the metric's name"
    )

    @field_validator("eng_range", "normal_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] >= value[1]:
            raise ValueError(f"low must be below high, got [{value[0]}, {value[1]}]")
        return value

    @property
    def numeric(self) -> bool:
        """True for tags whose values are numbers that limits apply to."""
        return self.data_type in ("float", "int")


class Machine(_Model):
    """A machine on a line, with its tags."""

    name: Name
    description: str = ""
    state_tag: Name | None = None
    tags: tuple[Tag, ...] = ()
    mode: ModeSpec | None = Field(None, description="the auto/manual (local/remote) tag that gates commands")
    commands: tuple[Command, ...] = ()


class _LocalSpan(_Model):
    """A named daily span in plant local time; an end before the start crosses midnight."""

    name: str = Field(min_length=1, max_length=60)
    start: time
    end: time

    _quoted = field_validator("start", "end", mode="before")(_quoted_time)


class PlannedStop(_LocalSpan):
    """Planned downtime inside the schedule (breaks, cleaning) in plant local time; excluded from busy time."""


class LineOee(_Model):
    """What OEE needs to know about a line: its ideal rate and when it is planned to produce (ISO 22400)."""

    ideal_rate_per_min: float = Field(gt=0, description="items per minute at the line's design speed")
    planned_rate_per_min: float | None = Field(
        None, gt=0, description="the production plan's rate; default the ideal rate"
    )
    shifts: tuple[str, ...] = Field(
        (),
        description="shift names the line is scheduled in; empty: every shift (every hour when the site has no shifts)",
    )
    planned_stops: tuple[PlannedStop, ...] = ()


class Conveyor(_Model):
    """A conveyor (or accumulation table) carrying product from one machine of a line to another, drawn between
    them on the line picture (ISA-101 level 2)."""

    # `from`/`to` in the plant file: `from` is a Python keyword, so the fields carry a suffix and the file the alias.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)

    from_machine: Name = Field(alias="from", description="the machine the conveyor takes product from")
    to_machine: Name = Field(alias="to", description="the machine it carries product to")
    accumulation_tag: Name | None = Field(
        None, description="a numeric tag with eng_range holding how full the conveyor is, drawn as a level bar"
    )
    state_tag: Name | None = Field(
        None, description="a string (running / stopped / blocked / starved) or bool (true: running) tag"
    )


class Line(_Model):
    """A production line: its key tags, line-level tags and machines."""

    name: Name
    description: str = ""
    state_tag: Name | None = Field(None, description="tag holding the line's PackML state name")
    speed_tag: Name | None = None
    good_count_tag: Name | None = None
    reject_count_tag: Name | None = None
    trend_tags: tuple[Name, ...] = Field((), description="key values shown in the line's embedded trend")
    tags: tuple[Tag, ...] = ()
    machines: tuple[Machine, ...] = ()
    flow: tuple[Name, ...] = Field(
        (), description="machine names in material-flow order, each once; default: the order of machines"
    )
    conveyors: tuple[Conveyor, ...] = Field((), description="conveyors between machines, drawn on the line picture")
    mode: ModeSpec | None = Field(None, description="the auto/manual (local/remote) tag that gates line commands")
    commands: tuple[Command, ...] = Field((), description="e.g. Start, Stop, Reset of the whole line")
    oee: LineOee | None = Field(None, description="schedule and ideal rate; without it the line has no OEE")

    def machines_in_flow(self) -> tuple[Machine, ...]:
        """The machines in material-flow order: `flow` when given (checked at load to name each machine once),
        else the order they are listed in; a machine the flow leaves out follows at the end."""
        if not self.flow:
            return self.machines
        by_name = {m.name: m for m in self.machines}
        ordered = [by_name[n] for n in dict.fromkeys(self.flow) if n in by_name]
        return (*ordered, *(m for m in self.machines if m.name not in self.flow))


class Area(_Model):
    """A plant area (one operator position) holding lines."""

    name: Name
    lines: tuple[Line, ...] = Field(min_length=1)


class Shift(_LocalSpan):
    """A shift in plant local time; end before start means it crosses midnight."""

    name: str = Field(min_length=1, max_length=40)


class Site(_Model):
    """The plant site: name, time zone and shifts."""

    name: str = Field(min_length=1, max_length=120)
    timezone: str = "UTC"
    shifts: tuple[Shift, ...] = ()
    theme: Literal["day", "night"] = Field(
        "day", description="screen theme where neither the person nor the station chose one (ISA-101 both)"
    )
    language: Literal["en", "de"] = Field("en", description="screen language where neither person nor station chose")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin or UTC") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The plant's local time zone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class TagRef:
    """Where a tag sits in the plant."""

    tag: Tag
    area: Area
    line: Line
    machine: Machine | None


@dataclass(frozen=True, slots=True)
class CommandRef:
    """A command with the line (and machine) it belongs to; `id` is `<line>.<command>` or
    `<line>.<machine>.<command>`."""

    id: str
    command: Command
    area: Area
    line: Line
    machine: Machine | None

    @property
    def mode(self) -> ModeSpec | None:
        """The mode tag that gates this command: its machine's, else its line's."""
        own = self.machine.mode if self.machine is not None else None
        return own or self.line.mode

    @property
    def owner(self) -> str:
        """The line or machine the command acts on, as shown to a person."""
        return f"{self.line.name} {self.machine.name}" if self.machine is not None else self.line.name


@dataclass(frozen=True, slots=True)
class AlarmRef:
    """An alarm definition with the tag and place it belongs to."""

    id: str
    alarm: AlarmDef
    tag: Tag
    area: Area
    line: Line
    machine: Machine | None


SoundPolicy = Literal["until_ack", "once", "none"]


def _default_sound() -> dict[int, SoundPolicy]:
    return {1: "until_ack", 2: "until_ack", 3: "once", 4: "none"}


class AlarmPolicy(_Model):
    """The plant's alarm philosophy settings."""

    max_shelve_h: float = Field(8.0, gt=0, le=168, description="longest shelving a person may choose")
    first_out_window_s: float = Field(
        10.0, ge=0, le=3600, description="an alarm is first-out when no other alarm of its line came within this window"
    )
    sound: dict[int, SoundPolicy] = Field(default_factory=_default_sound)
    severity_priorities: tuple[int, int, int] = Field(
        (801, 501, 201), description="lowest OPC UA severity of priority 1, 2 and 3; below is priority 4"
    )
    journal_max_pending: int = Field(
        50_000,
        ge=100,
        le=10_000_000,
        description="journal rows kept in memory while the database cannot take them; "
        "beyond, the oldest spill to files in the data directory",
    )
    journal_behind_at: int = Field(
        1_000, ge=0, le=10_000_000, description="a 'journal behind' banner shows while more rows than this wait"
    )

    @field_validator("sound")
    @classmethod
    def _priorities(cls, value: dict[int, SoundPolicy]) -> dict[int, SoundPolicy]:
        if set(value) - {1, 2, 3, 4}:
            raise ValueError("sound is keyed by priority 1-4")
        return {p: value.get(p, "none") for p in (1, 2, 3, 4)}

    @field_validator("severity_priorities")
    @classmethod
    def _descending(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if not (1000 >= value[0] > value[1] > value[2] >= 1):
            raise ValueError("give three severities from high to low within 1..1000, e.g. [801, 501, 201]")
        return value


class AccessPolicy(_Model):
    """Sign-in rules (21 CFR 11.10(d), 11.300(d); EU GMP Annex 11 §12)."""

    lockout_attempts: int = Field(5, ge=1, le=20, description="failed logins in a row before the account locks")
    idle_lock_min: float = Field(5, gt=0, le=240, description="idle minutes before the screen locks")
    logoff_min: float = Field(15, gt=0, le=720, description="idle minutes before automatic logoff")
    password_min_length: int = Field(8, ge=6, le=128)
    session_hours: float = Field(12, gt=0, le=72, description="a sign-in lasts at most this long (one shift + margin)")
    secure_cookies: bool = Field(False, description="mark the session cookie Secure: set when served behind TLS")
    # Above the lockout, so for known accounts the lockout stays the rule; the limit stops floods of unknown names,
    # locked accounts and many names from one address. Counted per HMI process (in memory).
    login_limit_per_account: str = Field("20 per 10 minutes", description="sign-in attempts per user name")
    login_limit_per_address: str = Field("60 per 10 minutes", description="sign-in attempts per client address")
    api_limit_per_token: str = Field("120 per minute", description="REST API requests per token (docs/api.md)")
    kiosk_cycle_s: float = Field(
        20, ge=5, le=3600, description="seconds each view stays on a kiosk (wall screen) before the next one"
    )
    ldap: LdapConfig | None = Field(
        None, description="sign-in against Active Directory / LDAP; local accounts keep working (docs/directory.md)"
    )
    oidc: OidcSettings | None = Field(
        None, description="sign-in through an OpenID Connect provider for desktop and phone browsers (docs/oidc.md)"
    )

    @field_validator("login_limit_per_account", "login_limit_per_address", "api_limit_per_token")
    @classmethod
    def _limit(cls, value: str) -> str:
        parse_limit(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> AccessPolicy:
        if self.logoff_min <= self.idle_lock_min:
            raise ValueError("logoff_min must be longer than idle_lock_min: the screen locks first, then logs off")
        return self


class SignaturePolicy(_Model):
    """Which actions need an electronic signature (21 CFR 11.200(a)(1)): the person re-enters the password."""

    acknowledge_priority_1: bool = True
    shelve: bool = True
    out_of_service: bool = True
    sign_note: bool = True
    handover: bool = True
    recipe_download: bool = Field(True, description="downloading an approved recipe to the line needs a signature")


class DowntimeReason(_Model):
    """A reason an operator may give a stop; planned reasons move the stop out of planned busy time."""

    code: Name
    text: str = Field(min_length=1, max_length=80)
    planned: bool = False


DEFAULT_DOWNTIME_REASONS = (
    DowntimeReason(code="jam", text="Jam / mechanical fault"),
    DowntimeReason(code="material", text="Material missing (starved)"),
    DowntimeReason(code="downstream", text="Downstream full (blocked)"),
    DowntimeReason(code="quality", text="Quality stop"),
    DowntimeReason(code="electrical", text="Electrical / controls fault"),
    DowntimeReason(code="changeover", text="Changeover", planned=True),
    DowntimeReason(code="cleaning", text="Cleaning", planned=True),
    DowntimeReason(code="other", text="Other (say what in the comment)"),
)


class HistorianPolicy(_Model):
    """Historian defaults for every tag and how it writes."""

    defaults: HistoryPolicy = HistoryPolicy()
    flush_interval_s: float = Field(1.0, gt=0, le=60, description="samples are written in batches this often")
    prune_interval_min: float = Field(60.0, gt=0, le=1440, description="how often samples past retention go")


class QueryLimits(_Model):
    """How much one query a person types may read: maximum spans, page size and export bounds."""

    trend_max_days: float = Field(
        366,
        gt=0,
        le=3660,
        description="longest trend window; the chart is downsampled anyway, this bounds the database work",
    )
    kpi_max_days: float = Field(400, gt=0, le=3660, description="longest alarm KPI window")
    list_max_days: float = Field(400, gt=0, le=3660, description="longest range of the journal and audit lists")
    page_rows: int = Field(200, ge=10, le=5000, description="rows per page of the journal and audit lists")
    export_max_days: float = Field(92, gt=0, le=3660, description="longest range of a journal or audit export")
    export_max_rows: int = Field(100_000, ge=100, le=1_000_000, description="most rows in one export")


class PlantConfig(_Model):
    """The whole plant description."""

    site: Site
    endpoints: tuple[Endpoint, ...] = Field(min_length=1)
    areas: tuple[Area, ...] = Field(min_length=1)
    alarm_policy: AlarmPolicy = AlarmPolicy()
    access: AccessPolicy = AccessPolicy()
    signatures: SignaturePolicy = SignaturePolicy()
    historian: HistorianPolicy = HistorianPolicy()
    downtime_reasons: tuple[DowntimeReason, ...] = DEFAULT_DOWNTIME_REASONS
    limits: QueryLimits = QueryLimits()
    displays: tuple[Display, ...] = Field((), description="custom SVG pictures bound to tags (hmi/graphics/)")
    notifications: Notifications = Field(
        Notifications(), description="alarm notifications by e-mail and webhook (docs/notifications.md)"
    )
    translations: dict[Literal["de"], dict[str, str]] = Field(
        default_factory=dict,
        description="plant texts (alarm messages, descriptions, downtime reasons) per language: text -> translation",
    )
    mqtt: MqttConfig | None = Field(None, description="publish the plant to an MQTT broker (docs/mqtt.md)")

    _display_svgs: dict[str, SafeSvg] = PrivateAttr(default_factory=dict)
    _tags: dict[str, TagRef] = PrivateAttr(default_factory=dict)
    _alarms: dict[str, AlarmRef] = PrivateAttr(default_factory=dict)
    _commands: dict[str, CommandRef] = PrivateAttr(default_factory=dict)
    _warnings: list[ConfigIssue] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any, /) -> None:
        """Index tags and alarms by name once; the model is immutable."""
        for area in self.areas:
            for line in area.lines:
                for machine, tag in _line_tags(line):
                    self._tags.setdefault(tag.name, TagRef(tag, area, line, machine))
                    for alarm in tag.alarms:
                        alarm_id = f"{tag.name}.{alarm.key()}"
                        self._alarms.setdefault(alarm_id, AlarmRef(alarm_id, alarm, tag, area, line, machine))
                for command in line.commands:
                    cid = f"{line.name}.{command.name}"
                    self._commands.setdefault(cid, CommandRef(cid, command, area, line, None))
                for machine in line.machines:
                    for command in machine.commands:
                        cid = f"{line.name}.{machine.name}.{command.name}"
                        self._commands.setdefault(cid, CommandRef(cid, command, area, line, machine))

    @property
    def tags(self) -> dict[str, TagRef]:
        """Every tag by name."""
        return self._tags

    @property
    def alarms(self) -> dict[str, AlarmRef]:
        """Every alarm definition by id (tag name + '.' + alarm name or type)."""
        return self._alarms

    @property
    def commands(self) -> dict[str, CommandRef]:
        """Every command by id (`<line>.<command>` or `<line>.<machine>.<command>`)."""
        return self._commands

    def write_limits(self, tag: str) -> tuple[float, float] | None:
        """The range a numeric tag may be written within: the write rule's min/max, else its eng_range."""
        ref = self._tags[tag].tag
        if ref.write is None or not ref.numeric:
            return None
        low = ref.write.min if ref.write.min is not None else (ref.eng_range[0] if ref.eng_range else None)
        high = ref.write.max if ref.write.max is not None else (ref.eng_range[1] if ref.eng_range else None)
        return None if low is None or high is None else (low, high)

    def display_svg(self, name: str) -> SafeSvg | None:
        """The sanitised drawing of display `name` (None: no such display), read when the plant file was loaded, or
        now for a PlantConfig built again from these models; raises OSError or UnsafeSvg when it cannot be read."""
        if name not in self._display_svgs:
            display = next((d for d in self.displays if d.name == name), None)
            if display is None:
                return None
            self._display_svgs[name] = load_svg(display.svg)
        return self._display_svgs[name]

    def drawing_sha256(self, name: str) -> str | None:
        """The SHA-256 of display `name`'s drawing as this plant read it; None when it has not read it (no such
        display, or a PlantConfig built again from these models before its page was shown)."""
        svg = self._display_svgs.get(name)
        return svg.sha256 if svg is not None else None

    def keep_drawings(self, other: PlantConfig) -> PlantConfig:
        """This plant holding the drawings `other` read for the displays both have unchanged (a PlantConfig built
        again from `other`'s models shows and audits the drawings as they were read, not as the files are now)."""
        mine = {d.name: d for d in self.displays}
        for d in other.displays:
            if mine.get(d.name) == d and d.name in other._display_svgs:
                self._display_svgs[d.name] = other._display_svgs[d.name]
        return self

    @property
    def warnings(self) -> list[ConfigIssue]:
        """What `hmi check` points out without refusing the file (e.g. a password written inline)."""
        return list(self._warnings)

    def history_policy(self, tag: str) -> HistoryPolicy:
        """The plant's historian defaults with the tag's own overrides applied."""
        own = self._tags[tag].tag.history
        defaults = self.historian.defaults
        return defaults if own is None else defaults.model_copy(update=own.model_dump(exclude_unset=True))

    def downtime_reason(self, code: str) -> DowntimeReason | None:
        """The configured downtime reason with this code, or None."""
        return next((r for r in self.downtime_reasons if r.code == code), None)

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint called `name`."""
        return next(e for e in self.endpoints if e.name == name)

    def lines(self) -> Iterator[tuple[Area, Line]]:
        """Every line with its area, in configuration order."""
        for area in self.areas:
            for line in area.lines:
                yield area, line

    def line(self, name: str) -> tuple[Area, Line] | None:
        """The line called `name` with its area, or None."""
        return next(((a, ln) for a, ln in self.lines() if ln.name == name), None)

    def summary(self) -> str:
        """One line with the counts `hmi check` prints."""
        n_lines = sum(1 for _ in self.lines())
        n_machines = sum(len(ln.machines) for _, ln in self.lines())
        return (
            f"site {self.site.name!r}: {len(self.endpoints)} endpoint(s), {len(self.areas)} area(s), "
            f"{n_lines} line(s), {n_machines} machine(s), {len(self.tags)} tag(s), {len(self.alarms)} alarm(s), "
            f"{len(self.site.shifts)} shift(s)"
        )


def _line_tags(line: Line) -> Iterator[tuple[Machine | None, Tag]]:
    for tag in line.tags:
        yield None, tag
    for machine in line.machines:
        for tag in machine.tags:
            yield machine, tag


# ---------------------------------------------------------------------------------------------- loading and errors

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file, located by line and by path inside the document."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(document)'}: {self.message}"


class ConfigError(Exception):
    """The configuration file cannot be used; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def format_path(loc: Loc) -> str:
    """('areas', 0, 'lines', 1) -> 'areas[0].lines[1]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_config(path: str | Path) -> PlantConfig:
    """Read, parse and validate a plant file; raise ConfigError naming every problem."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigIssue(
                    name,
                    None,
                    "",
                    "file not found; check the path or run `hmi browse` to write a starting configuration",
                )
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        issue = ConfigIssue(name, None, "", f"cannot read the file ({exc}); it must be UTF-8 text")
        raise ConfigError([issue]) from None
    return parse_config(text, name, base_dir=path.parent)


def parse_config(text: str, name: str = "<config>", *, base_dir: Path | None = None) -> PlantConfig:
    """Parse and validate plant YAML text; raise ConfigError naming every problem. Relative paths in it (display
    drawings) are read from `base_dir`, the plant file's folder (the working directory when None)."""
    try:
        root, data = compose_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [ConfigIssue(name, line, "", f"invalid YAML: {problem}; check indentation and quoting near this line")]
        ) from None
    if root is None or data is None:
        raise ConfigError(
            [
                ConfigIssue(
                    name,
                    None,
                    "",
                    "the file is empty; it needs at least site, endpoints and "
                    f"areas (see the demo plant {_demo_plant()})",
                )
            ]
        )
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigIssue(name, 1, "", "the document must be a mapping with keys site, endpoints and areas")]
        )
    issues = [ConfigIssue(name, line, format_path(loc), msg) for loc, line, msg in _duplicate_keys(root, ())]
    try:
        plant = PlantConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        for err in exc.errors():
            if _follow_on(err):
                continue
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            issues.append(ConfigIssue(name, _line_of(root, loc), format_path(loc), _explain(err)))
        raise ConfigError(issues) from None
    issues += [ConfigIssue(name, _line_of(root, loc), format_path(loc), msg) for loc, msg in semantic_issues(plant)]
    # Displays read their drawings: a separate step (hmi/graphics/display_check.py), imported here because it needs
    # this module's models.
    from hmi.graphics.display_check import check_displays

    drawings, display_errors, display_warnings = check_displays(plant, base_dir)
    issues += [ConfigIssue(name, _line_of(root, loc), format_path(loc), msg) for loc, msg in display_errors]
    if issues:
        raise ConfigError(issues)
    plant._display_svgs.update(drawings)
    plant._warnings.extend(
        ConfigIssue(name, _line_of(root, loc), format_path(loc), msg) for loc, msg in display_warnings
    )
    plant._warnings.extend(
        ConfigIssue(name, _line_of(root, loc), format_path(loc), msg)
        for loc, secret in secrets_of(plant)
        for msg in secret.warnings()
    )
    return plant


# libyaml through PyYAML's C extension when it is installed (PyYAML's wheels carry it): a 50,000-tag plant file
# parses in seconds rather than minutes. Its marks count characters like the Python loader's, so redaction and the
# line numbers of messages are the same with either.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


def compose_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (with the line and position of every node) and its data, parsed once."""
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        data = _data_of(root, loader) if root is not None else None
    finally:
        loader.dispose()
    return root, data


def _data_of(node: yaml.Node, loader: Any) -> Any:
    """The data of `node` as PyYAML's safe loader builds it. Text, plain mappings and lists (nearly all of a plant
    file) are built here, several times faster than PyYAML's constructor; everything else (numbers, booleans, merge
    keys, explicit tags) goes to that constructor."""
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else loader.construct_object(node, deep=True)
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        return [_data_of(item, loader) for item in node.value]
    if isinstance(node, yaml.MappingNode) and node.tag == _MAP and all(k.tag != _MERGE for k, _v in node.value):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key, value = _data_of(key_node, loader), _data_of(value_node, loader)
            try:
                out[key] = value
            except TypeError:  # a list or mapping as a key
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
                ) from None
        return out
    return loader.construct_object(node, deep=True)


@functools.cache
def _secret_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` whose type can hold a Secret, directly or in a nested model: the walk for secrets skips
    the rest (a 50,000-tag plant has no secret in any tag)."""
    return tuple(name for name, field in model.model_fields.items() if _may_hold_secret(field.annotation, set()))


def _may_hold_secret(annotation: Any, seen: set[type]) -> bool:
    if isinstance(annotation, type):
        if issubclass(annotation, Secret):
            return True
        if issubclass(annotation, BaseModel):
            if annotation in seen:
                return False
            seen.add(annotation)
            return any(_may_hold_secret(f.annotation, seen) for f in annotation.model_fields.values())
        return False
    return any(_may_hold_secret(arg, seen) for arg in get_args(annotation))


def _demo_plant() -> Path:
    # The shipped copy, so the hint names a file that exists wherever the package is installed.
    path: Path = assets.path(assets.DEMO_PLANT)
    return path


# ---------------------------------------------------------------------------------------------- secrets


def secrets_of(model: BaseModel, loc: Loc = ()) -> Iterator[tuple[Loc, Secret]]:
    """Every secret in the plant (or any part of it) with its place in the document."""
    for name in _secret_fields(type(model)):
        value = getattr(model, name)
        items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
        for i, item in items:
            where: Loc = (*loc, name) if i is None else (*loc, name, i)
            if isinstance(item, Secret):
                yield where, item
            elif isinstance(item, BaseModel):
                yield from secrets_of(item, where)


# A fallback for text that is not YAML: any `password:`-like key has its value hidden.
_SECRET_LINE = re.compile(r"(?im)^(\s*(?:-\s+)?[\"']?(?:password|passwd|secret|token)[\"']?\s*:[ \t]*)(\S[^\n]*)$")


def redact_config_text(text: str) -> str:
    """The plant file text with every secret written inline replaced by its fingerprint, the rest unchanged.

    The one redaction of configuration: config snapshots, their audit diffs and anything else that writes the
    plant file out use it. Secrets given as {env: ...} or {file: ...} are only references and stay as written.
    """
    try:
        root, _data = compose_yaml(text)
    except yaml.YAMLError:
        return _SECRET_LINE.sub(lambda m: m.group(1) + _yaml_string(redacted(m.group(2).strip())), text)
    nodes = sorted(_secret_nodes(root, PlantConfig), key=lambda n: n.start_mark.index, reverse=True)
    for node in nodes:
        start, end = node.start_mark.index, node.end_mark.index
        text = text[:start] + _yaml_string(redacted(str(node.value))) + text[end:]
    return text


def _yaml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _secret_nodes(node: yaml.Node | None, annotation: Any) -> Iterator[yaml.ScalarNode]:
    """The scalar YAML nodes the model reads as a Secret, found by walking the document beside the model's types."""
    if node is None:
        return
    if annotation is Secret:
        if isinstance(node, yaml.ScalarNode):
            yield node
        return
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            if arg is not type(None):
                yield from _secret_nodes(node, arg)
        return
    if origin in (tuple, list) and isinstance(node, yaml.SequenceNode):
        item = get_args(annotation)[0] if get_args(annotation) else Any
        for child in node.value:
            yield from _secret_nodes(child, item)
        return
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            field = annotation.model_fields.get(str(key.value))
            if field is not None:
                yield from _secret_nodes(value, field.annotation)


def _follow_on(err: Any) -> bool:
    """pydantic also calls a list with min_length too short when one of its items failed; that is only noise."""
    if err["type"] != "too_short" or not isinstance(err["input"], list | tuple):
        return False
    minimum = (err.get("ctx") or {}).get("min_length")
    return minimum is not None and len(err["input"]) >= minimum


def _explain(err: Any) -> str:
    kind = err["type"]
    loc = err["loc"]
    field = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        return f"unknown key {field!r}; remove it or check its spelling against the demo plant {_demo_plant()}"
    if kind == "missing":
        return f"required key {field!r} is missing; add it"
    msg = str(err["msg"])
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return "names may hold letters, digits, '.', '_' and '-' and must start with a letter or digit"
    return f"{msg} (got {err.get('input')!r})" if kind not in ("value_error", "model_type") else msg


def _duplicate_keys(node: yaml.Node, loc: Loc) -> Iterator[tuple[Loc, int, str]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            k = str(key.value)
            if k in seen:
                yield (*loc, k), key.start_mark.line + 1, f"key {k!r} appears twice here; keep one"
            seen.add(k)
            yield from _duplicate_keys(value, (*loc, k))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, i))


def _line_of(root: yaml.Node, loc: Loc) -> int:
    """The 1-based line of the deepest YAML node that `loc` reaches."""
    node = root
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if key.value == part:
                    child, line = value, key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def semantic_issues(plant: PlantConfig) -> list[tuple[Loc, str]]:
    """Checks across the document: unique names, references, limit order and deadbands."""
    out: list[tuple[Loc, str]] = []
    endpoint_names: set[str] = set()
    for i, ep in enumerate(plant.endpoints):
        if ep.name in endpoint_names:
            out.append((("endpoints", i, "name"), f"endpoint name {ep.name!r} is used twice; names must be unique"))
        endpoint_names.add(ep.name)

    tag_names: dict[str, str] = {}
    line_names: set[str] = set()
    refs: list[tuple[Loc, str]] = []
    for a, area in enumerate(plant.areas):
        for li, line in enumerate(area.lines):
            lloc: Loc = ("areas", a, "lines", li)
            if line.name in line_names:
                out.append(((*lloc, "name"), f"line name {line.name!r} is used twice; line names must be unique"))
            line_names.add(line.name)
            for key in ("state_tag", "speed_tag", "good_count_tag", "reject_count_tag"):
                if getattr(line, key):
                    refs.append(((*lloc, key), getattr(line, key)))
            refs += [((*lloc, "trend_tags", k), t) for k, t in enumerate(line.trend_tags)]
            if line.oee is not None:
                out += _oee_issues(plant, line, lloc)
            out += _flow_issues(plant, line, lloc)
            groups: list[tuple[Loc, tuple[Tag, ...]]] = [(lloc, line.tags)]
            control_issues, control_refs = _control_issues(plant, line.mode, line.mode, line.commands, lloc)
            out += control_issues
            refs += control_refs
            for m, machine in enumerate(line.machines):
                mloc: Loc = (*lloc, "machines", m)
                control_issues, control_refs = _control_issues(
                    plant, machine.mode, machine.mode or line.mode, machine.commands, mloc
                )
                out += control_issues
                refs += control_refs
                if machine.state_tag:
                    refs.append(((*mloc, "state_tag"), machine.state_tag))
                groups.append((mloc, machine.tags))
            for gloc, tags in groups:
                for t, tag in enumerate(tags):
                    tloc: Loc = (*gloc, "tags", t)
                    if tag.name in tag_names:
                        out.append(
                            (
                                (*tloc, "name"),
                                f"tag name {tag.name!r} is already used at "
                                f"{tag_names[tag.name]}; tag names must be unique",
                            )
                        )
                    else:
                        tag_names[tag.name] = format_path(tloc)
                    out += _mqtt_tag_issues(plant, tag, tloc)
                    if tag.endpoint not in endpoint_names:
                        out.append(
                            (
                                (*tloc, "endpoint"),
                                f"unknown endpoint {tag.endpoint!r}; define it under "
                                f"endpoints (known: {', '.join(sorted(endpoint_names))})",
                            )
                        )
                    out += _alarm_issues(tag, tloc)
                    out += _write_issues(tag, tloc)
                    if tag.write is not None and tag.write.interlock is not None:
                        iloc: Loc = (*tloc, "write", "interlock", "when")
                        refs += [(iloc, name) for name in tag.write.interlock.condition.tags()]
                    for k, alarm in enumerate(tag.alarms):
                        if alarm.setpoint_tag:
                            refs.append(((*tloc, "alarms", k, "setpoint_tag"), alarm.setpoint_tag))
                        if alarm.suppress_when:
                            refs.append(((*tloc, "alarms", k, "suppress_when", "tag"), alarm.suppress_when.tag))
    codes: set[str] = set()
    for r, reason in enumerate(plant.downtime_reasons):
        if reason.code in codes:
            out.append(
                (
                    ("downtime_reasons", r, "code"),
                    f"downtime reason code {reason.code!r} is used twice; codes must be unique",
                )
            )
        codes.add(reason.code)
    out += notification_issues(
        plant.notifications, [s.name for s in plant.site.shifts], [a.name for a in plant.areas], line_names
    )
    for loc, ref in refs:
        if ref not in tag_names:
            out.append((loc, f"unknown tag {ref!r}; it must name a tag defined in this file"))
    if plant.mqtt is not None:
        out += [(("mqtt", *loc), msg) for loc, msg in plant.mqtt.file_issues()]
    if plant.access.oidc is not None:
        out += [(("access", "oidc", *loc), msg) for loc, msg in plant.access.oidc.file_issues()]
    return out


def _mqtt_tag_issues(plant: PlantConfig, tag: Tag, tloc: Loc) -> list[tuple[Loc, str]]:
    """A tag's MQTT addressing matches its endpoint: a topic (and json_path) or a Sparkplug node and metric."""
    endpoint = next((e for e in plant.endpoints if e.name == tag.endpoint), None)
    if endpoint is None:
        return []
    out: list[tuple[Loc, str]] = []
    if endpoint.kind == "opcua":
        for key in ("json_path", "metric"):
            if getattr(tag, key) is not None:
                out.append(((*tloc, key), f"{key} is for tags of MQTT endpoints; {tag.endpoint} is OPC UA"))
        return out
    if tag.write is not None:
        out.append(((*tloc, "write"), "tags from MQTT are read only: the HMI writes through OPC UA endpoints only"))
    if endpoint.payload == "json":
        if "+" in tag.node_id or "#" in tag.node_id or not tag.node_id.strip("/"):
            out.append(((*tloc, "node_id"), "node_id is the MQTT topic the value comes on, without + or #"))
        if tag.metric is not None:
            out.append(((*tloc, "metric"), f"metric is for Sparkplug endpoints; {tag.endpoint} has payload json"))
    else:
        levels = tag.node_id.split("/")
        if len(levels) not in (2, 3) or not all(levels) or any(c in tag.node_id for c in "+#"):
            out.append(
                (
                    (*tloc, "node_id"),
                    "node_id of a Sparkplug tag is <group>/<edge node>[/<device>], e.g. Bottling/plc-7/Filler",
                )
            )
        if tag.metric is None:
            out.append(((*tloc, "metric"), "a Sparkplug tag needs metric: the metric's name in the births"))
        if tag.json_path is not None:
            out.append(((*tloc, "json_path"), f"json_path is for JSON endpoints; {tag.endpoint} has sparkplug"))
    return out


def _write_issues(tag: Tag, tloc: Loc) -> list[tuple[Loc, str]]:
    """A write rule must fit its tag: limits on numbers only, and a numeric setpoint always has limits."""
    rule = tag.write
    if rule is None:
        return []
    wloc: Loc = (*tloc, "write")
    if not tag.numeric:
        given = [k for k in ("min", "max", "step") if getattr(rule, k) is not None]
        return [((*wloc, given[0]), f"{given[0]} applies to numbers; {tag.name!r} is {tag.data_type}")] if given else []
    out: list[tuple[Loc, str]] = []
    low = rule.min if rule.min is not None else (tag.eng_range[0] if tag.eng_range else None)
    high = rule.max if rule.max is not None else (tag.eng_range[1] if tag.eng_range else None)
    if low is None or high is None:
        out.append((wloc, f"writable tag {tag.name!r} needs limits: give write min and max, or the tag's eng_range"))
    elif low >= high:
        out.append(((*wloc, "min"), f"write min ({low:g}) must be below max ({high:g})"))
    if tag.eng_range is not None:
        for key, value in (("min", rule.min), ("max", rule.max)):
            if value is not None and not tag.eng_range[0] <= value <= tag.eng_range[1]:
                out.append(
                    (
                        (*wloc, key),
                        f"write {key} {value:g} lies outside the tag's eng_range "
                        f"[{tag.eng_range[0]:g}, {tag.eng_range[1]:g}]",
                    )
                )
    if tag.data_type == "int" and rule.step is not None and rule.step != int(rule.step):
        out.append(((*wloc, "step"), f"{tag.name!r} is an int tag; its write step must be a whole number"))
    return out


def _control_issues(
    plant: PlantConfig, own_mode: ModeSpec | None, mode: ModeSpec | None, commands: tuple[Command, ...], loc: Loc
) -> tuple[list[tuple[Loc, str]], list[tuple[Loc, str]]]:
    """Problems with the commands of one line or machine (`mode`: the mode that gates them, its own or its
    line's), and the tags its own mode and commands refer to."""
    out: list[tuple[Loc, str]] = []
    refs: list[tuple[Loc, str]] = []
    known_endpoints = {e.name for e in plant.endpoints}
    if own_mode is not None:
        refs.append(((*loc, "mode", "tag"), own_mode.tag))
    names: set[str] = set()
    for c, command in enumerate(commands):
        cloc: Loc = (*loc, "commands", c)
        if command.name in names:
            out.append(((*cloc, "name"), f"command name {command.name!r} is used twice here; names must be unique"))
        names.add(command.name)
        if command.modes and mode is None:
            out.append(((*cloc, "modes"), "modes needs a mode tag: give the line or machine a mode: {tag: ...}"))
        if command.write is not None:
            refs.append(((*cloc, "write", "tag"), command.write.tag))
        if command.call is not None and command.call.endpoint not in known_endpoints:
            out.append(
                (
                    (*cloc, "call", "endpoint"),
                    f"unknown endpoint {command.call.endpoint!r}; known: {', '.join(sorted(known_endpoints))}",
                )
            )
        if command.interlock is not None:
            iloc: Loc = (*cloc, "interlock", "when")
            refs += [(iloc, name) for name in command.interlock.condition.tags()]
    return out, refs


def _flow_issues(plant: PlantConfig, line: Line, lloc: Loc) -> list[tuple[Loc, str]]:
    """The line picture's `flow` and `conveyors`: machines of this line, each once in the flow, and tags that exist
    and fit what is drawn from them."""
    out: list[tuple[Loc, str]] = []
    machines = [m.name for m in line.machines]
    known = ", ".join(machines) or "none: the line has no machines"
    seen: set[str] = set()
    for k, name in enumerate(line.flow):
        if name not in machines:
            out.append(
                (
                    (*lloc, "flow", k),
                    f"line {line.name!r}: flow names {name!r}, which is not a machine of this line; use one of {known}",
                )
            )
        elif name in seen:
            out.append(((*lloc, "flow", k), f"line {line.name!r}: flow lists {name!r} twice; name each machine once"))
        seen.add(name)
    missing = [m for m in machines if m not in seen]
    if line.flow and missing:
        out.append(
            (
                (*lloc, "flow"),
                f"line {line.name!r}: flow leaves out {', '.join(missing)}; list every machine of the line once "
                "(or leave flow out for the order of machines)",
            )
        )
    pairs: dict[tuple[str, str], int] = {}
    for k, conveyor in enumerate(line.conveyors):
        cloc: Loc = (*lloc, "conveyors", k)
        what = f"line {line.name!r}: conveyor {conveyor.from_machine} -> {conveyor.to_machine}"
        for key, name in (("from", conveyor.from_machine), ("to", conveyor.to_machine)):
            if name not in machines:
                out.append(((*cloc, key), f"{what}: {key} {name!r} is not a machine of this line; use one of {known}"))
        if conveyor.from_machine == conveyor.to_machine:
            out.append(((*cloc, "to"), f"{what}: a conveyor joins two different machines; correct from or to"))
        pair = (conveyor.from_machine, conveyor.to_machine)
        if pair in pairs:
            out.append(((*cloc, "to"), f"{what} is already listed as conveyors[{pairs[pair]}]; keep one"))
        pairs.setdefault(pair, k)
        for key in ("accumulation_tag", "state_tag"):
            name = getattr(conveyor, key)
            if name is None:
                continue
            ref = plant.tags.get(name)
            if ref is None:
                out.append(
                    (
                        (*cloc, key),
                        f"{what}: {key} {name!r} is not a tag of this file; define the tag (e.g. under the line's "
                        "tags) or correct the name",
                    )
                )
            elif key == "accumulation_tag" and (not ref.tag.numeric or ref.tag.eng_range is None):
                out.append(
                    (
                        (*cloc, key),
                        f"{what}: accumulation_tag {name!r} must be a float or int tag with an eng_range "
                        "(e.g. eng_range: [0, 100]), the scale of its level bar",
                    )
                )
            elif key == "state_tag" and ref.tag.data_type not in ("string", "bool"):
                out.append(
                    (
                        (*cloc, key),
                        f"{what}: state_tag {name!r} is {ref.tag.data_type}; use a string tag (Running, Stopped, "
                        "Blocked, Starved) or a bool tag (true: running)",
                    )
                )
    return out


def _oee_issues(plant: PlantConfig, line: Line, lloc: Loc) -> list[tuple[Loc, str]]:
    assert line.oee is not None
    out: list[tuple[Loc, str]] = []
    known = [shift.name for shift in plant.site.shifts]
    for k, name in enumerate(line.oee.shifts):
        if name not in known:
            out.append(
                (
                    (*lloc, "oee", "shifts", k),
                    f"unknown shift {name!r}; name one of site.shifts ({', '.join(known) or 'none defined'})",
                )
            )
    for key in ("state_tag", "good_count_tag", "reject_count_tag"):
        if getattr(line, key) is None:
            out.append(((*lloc, key), f"line {line.name!r} has an oee section, which needs {key}: name the tag"))
    return out


def _alarm_issues(tag: Tag, tloc: Loc) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    keys: set[str] = set()
    limits: dict[str, tuple[int, AlarmDef]] = {}
    for k, alarm in enumerate(tag.alarms):
        aloc: Loc = (*tloc, "alarms", k)
        if alarm.key() in keys:
            out.append(
                (
                    (*aloc, "name"),
                    f"two alarms on tag {tag.name!r} are both called {alarm.key()!r}; give each a distinct name",
                )
            )
        keys.add(alarm.key())
        if alarm.type in ("deviation", "rate") and not tag.numeric:
            out.append(((*aloc, "type"), f"a {alarm.type} alarm needs a numeric tag; {tag.name!r} is {tag.data_type}"))
        if alarm.type in LIMIT_TYPES:
            if not tag.numeric:
                out.append(
                    (
                        (*aloc, "type"),
                        f"a {alarm.type} limit alarm needs a numeric tag; {tag.name!r} is "
                        f"{tag.data_type}; use type: discrete",
                    )
                )
            elif alarm.type in limits:
                out.append(((*aloc, "type"), f"tag {tag.name!r} already has a {alarm.type} alarm; one per type"))
            else:
                limits[alarm.type] = (k, alarm)
    present = [t for t in LIMIT_TYPES if t in limits]
    for lower, upper in itertools.pairwise(present):
        lo, (ku, hi) = limits[lower][1], limits[upper]
        assert lo.limit is not None
        assert hi.limit is not None
        if lo.limit >= hi.limit:
            out.append(
                (
                    (*tloc, "alarms", ku, "limit"),
                    f"limits out of order: {upper} ({hi.limit}) must be above "
                    f"{lower} ({lo.limit}); the order is LL < L < H < HH",
                )
            )
            return out
    for i, kind in enumerate(present):
        ka, al = limits[kind]
        # A high alarm clears at limit - deadband, a low one at limit + deadband: that point must not pass the
        # neighbouring limit on the clearing side, or the two alarms could never both be normal.
        neighbour = present[i - 1] if kind in ("H", "HH") and i > 0 else None
        if kind in ("L", "LL") and i + 1 < len(present):
            neighbour = present[i + 1]
        if neighbour is None:
            continue
        other = limits[neighbour][1]
        assert al.limit is not None
        assert other.limit is not None
        gap = abs(al.limit - other.limit)
        if al.deadband >= gap:
            out.append(
                (
                    (*tloc, "alarms", ka, "deadband"),
                    f"deadband {al.deadband:g} of {kind} is not smaller than the gap {gap:g} to {neighbour}; reduce it",
                )
            )
    return out
