"""The plant file's `notifications:` section: people, groups, webhooks, the SMTP server, the on-call group of each
shift and the rules that say which unacknowledged alarm reaches whom, when and how it escalates (docs/notifications.md).

Validated by `hmi check` with the rest of the plant file; `notification_issues` checks the references across the
document (people in groups, recipients in rules, shifts and areas that exist).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hmi.control.spec import Name
from hmi.secrets import Secret

ON_CALL = "on_call"
"""The recipient name standing for the on-call group of the shift running when the notification goes out."""

# Deliberately simple: one @, no spaces, a dot in the domain. The SMTP server is the real judge; this catches typos.
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address; write it as name@example.com")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Model):
    """Someone who can be notified by e-mail."""

    name: Name
    email: str
    full_name: str = Field("", max_length=200)

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        return _email(value)


class Group(_Model):
    """A group of people notified together (a shift's leads, the maintenance team)."""

    name: Name
    members: tuple[Name, ...] = Field(min_length=1, description="names of people defined under people")


class Webhook(_Model):
    """An HTTP endpoint that receives each notification as a JSON POST signed with HMAC-SHA256."""

    name: Name
    url: str
    secret: Secret = Field(description="HMAC key: text, {env: VARIABLE} or {file: /path}; never logged")
    timeout_s: float = Field(10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. https://mes.example.com/hooks/alarms")
        if parts.username or parts.password:
            raise ValueError("put no credentials in the URL; the body is signed with the webhook's secret instead")
        return value


class Smtp(_Model):
    """The mail server the e-mails go through."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (port 587), tls (implicit TLS, port 465) or none (a local relay only)"
    )
    username: str | None = None
    password: Secret | None = Field(None, description="text, {env: VARIABLE} or {file: /path}; never logged")
    ca_file: Path | None = Field(
        None, description="CA certificate(s) (PEM) the server's certificate is checked against; default: the system's"
    )
    sender: str = Field(alias="from", description="the From address")
    timeout_s: float = Field(20.0, gt=0, le=300)

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        return _email(value)

    @model_validator(mode="after")
    def _credentials(self) -> Smtp:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        return self


class Match(_Model):
    """Which alarms a rule covers; an empty list matches everything, several lists must all match."""

    priorities: tuple[int, ...] = ()
    areas: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    tags: tuple[str, ...] = Field((), description="shell patterns on the tag name, e.g. L1.* or *.Temp")

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(p not in (1, 2, 3, 4) for p in value):
            raise ValueError("priorities are 1 (highest) to 4")
        return value


class Escalation(_Model):
    """The next group told when the alarm is still unacknowledged this many minutes after the previous step."""

    after_min: float = Field(gt=0, le=7 * 24 * 60)
    notify: tuple[str, ...] = Field(min_length=1)


class Rule(_Model):
    """Which alarms, after how long unacknowledged, to whom, and the escalation after that."""

    name: Name
    match: Match = Match()
    after_min: float = Field(0, ge=0, le=7 * 24 * 60, description="unacknowledged this long before the first step")
    notify: tuple[str, ...] = Field(
        min_length=1, description=f"people, groups, webhooks, or {ON_CALL} (the running shift's on-call group)"
    )
    escalate: tuple[Escalation, ...] = ()
    quiet_min: float = Field(
        15, ge=0, le=7 * 24 * 60, description="the same alarm is not notified again by this rule within this time"
    )

    def matches(self, priority: int, area: str, line: str, tag: str) -> bool:
        """True when an alarm with these attributes falls under this rule."""
        m = self.match
        return (
            (not m.priorities or priority in m.priorities)
            and (not m.areas or area in m.areas)
            and (not m.lines or line in m.lines)
            and (not m.tags or any(fnmatchcase(tag, pattern) for pattern in m.tags))
        )

    def step_offsets_s(self) -> list[float]:
        """Seconds after the alarm's activation at which each step (first notification, then each escalation) is due."""
        offsets = [self.after_min * 60]
        for step in self.escalate:
            offsets.append(offsets[-1] + step.after_min * 60)
        return offsets

    def recipients(self, step: int) -> tuple[str, ...]:
        """Who step `step` notifies (0: the rule's `notify`, then each escalation's)."""
        return self.notify if step == 0 else self.escalate[step - 1].notify


class Retry(_Model):
    """How a failed delivery is retried: after first_delay_s, doubling up to max_delay_s, at most `attempts` tries in
    all; then it is a dead letter engineers see on the Notifications screen."""

    attempts: int = Field(5, ge=1, le=50)
    first_delay_s: float = Field(30.0, gt=0, le=3600)
    max_delay_s: float = Field(1800.0, gt=0, le=86_400)

    def delay_s(self, failed: int) -> float:
        """The wait after the `failed`-th failed attempt (1-based): exponential back-off, capped."""
        return float(min(self.first_delay_s * 2 ** (failed - 1), self.max_delay_s))


class OnCall(_Model):
    """The group on call during one of the site's shifts."""

    shift: str = Field(min_length=1, max_length=40)
    group: Name


class Notifications(_Model):
    """The whole `notifications:` section."""

    smtp: Smtp | None = None
    people: tuple[Person, ...] = ()
    groups: tuple[Group, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    on_call: tuple[OnCall, ...] = Field((), description="one entry per shift of the site")
    rules: tuple[Rule, ...] = ()
    retry: Retry = Retry()

    def person(self, name: str) -> Person | None:
        """The person called `name`, or None."""
        return next((p for p in self.people if p.name == name), None)

    def group(self, name: str) -> Group | None:
        """The group called `name`, or None."""
        return next((g for g in self.groups if g.name == name), None)

    def webhook(self, name: str) -> Webhook | None:
        """The webhook called `name`, or None."""
        return next((w for w in self.webhooks if w.name == name), None)

    def on_call_group(self, shift: str) -> str | None:
        """The name of the group on call during `shift`, or None when none is named."""
        return next((o.group for o in self.on_call if o.shift == shift), None)


Loc = tuple[str | int, ...]


def notification_issues(
    section: Notifications, shifts: Collection[str], areas: Collection[str], lines: Collection[str]
) -> list[tuple[Loc, str]]:
    """References across the plant file: unique names, group members, rule recipients, shifts, areas and lines."""
    out: list[tuple[Loc, str]] = []
    root: Loc = ("notifications",)
    owners: dict[str, str] = {}
    named: list[tuple[str, tuple[str, ...]]] = [
        ("people", tuple(p.name for p in section.people)),
        ("groups", tuple(g.name for g in section.groups)),
        ("webhooks", tuple(w.name for w in section.webhooks)),
    ]
    for key, names in named:
        for i, name in enumerate(names):
            if name == ON_CALL:
                out.append(((*root, key, i, "name"), f"{ON_CALL!r} is reserved for the on-call group; rename it"))
            elif name in owners:
                out.append(
                    (
                        (*root, key, i, "name"),
                        f"name {name!r} is already used under {owners[name]}; people, groups and "
                        "webhooks share one set of names",
                    )
                )
            owners.setdefault(name, key)
    people = {p.name for p in section.people}
    for g, group in enumerate(section.groups):
        for m, member in enumerate(group.members):
            if member not in people:
                out.append(((*root, "groups", g, "members", m), f"unknown person {member!r}; define it under people"))
    groups = {g.name for g in section.groups}
    seen_shifts: set[str] = set()
    for o, entry in enumerate(section.on_call):
        loc: Loc = (*root, "on_call", o)
        if entry.shift not in shifts:
            known = ", ".join(sorted(shifts)) or "none defined under site.shifts"
            out.append(((*loc, "shift"), f"unknown shift {entry.shift!r}; the site's shifts are: {known}"))
        if entry.shift in seen_shifts:
            out.append(((*loc, "shift"), f"shift {entry.shift!r} has two on-call groups; keep one"))
        seen_shifts.add(entry.shift)
        if entry.group not in groups:
            out.append(((*loc, "group"), f"unknown group {entry.group!r}; define it under groups"))
    recipients = set(owners) | {ON_CALL}
    uses_on_call = False
    uses_email = False
    rule_names: set[str] = set()
    for r, rule in enumerate(section.rules):
        rloc: Loc = (*root, "rules", r)
        if rule.name in rule_names:
            out.append(((*rloc, "name"), f"rule name {rule.name!r} is used twice; names must be unique"))
        rule_names.add(rule.name)
        for key, values, known_set in (("areas", rule.match.areas, areas), ("lines", rule.match.lines, lines)):
            for k, value in enumerate(values):
                if value not in known_set:
                    out.append(((*rloc, "match", key, k), f"unknown {key[:-1]} {value!r}; it must exist in this file"))
        lists: list[tuple[Loc, tuple[str, ...]]] = [((*rloc, "notify"), rule.notify)]
        lists += [((*rloc, "escalate", e, "notify"), step.notify) for e, step in enumerate(rule.escalate)]
        for lloc, names in lists:
            for k, name in enumerate(names):
                if name not in recipients:
                    out.append(
                        (
                            (*lloc, k),
                            f"unknown recipient {name!r}; name a person, group or webhook defined under "
                            f"notifications, or {ON_CALL}",
                        )
                    )
                uses_on_call |= name == ON_CALL
                uses_email |= name == ON_CALL or name in people or name in groups
    if uses_on_call:
        missing = [s for s in shifts if s not in seen_shifts]
        if not shifts:
            out.append(((*root, "on_call"), f"rules notify {ON_CALL} but the site has no shifts; define site.shifts"))
        elif missing:
            out.append(
                (
                    (*root, "on_call"),
                    f"rules notify {ON_CALL} but shift(s) {', '.join(missing)} have no on-call group; add one each",
                )
            )
    if uses_email and section.smtp is None:
        out.append(((*root, "smtp"), "rules notify people by e-mail but no smtp server is given; add smtp"))
    return out
