"""What changed between two plant configurations: the structural diff a reload applies and audits. Pure.

Tags, alarms, endpoints, areas, lines and machines are compared by name; every other top-level section of the
plant file (site, alarm_policy, historian, downtime_reasons, limits, and sections added later such as displays)
is compared generically by its model dump, so a section this module does not know about still shows up. The
drawings of custom displays are files of their own: they are compared by the SHA-256 of the content each plant read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from hmi.config import PlantConfig
from hmi.secrets import Secret
from hmi.texts import Text

Kind = Literal["added", "removed", "changed"]
# Top-level sections compared by name, element by element; the rest is compared as a whole section.
_STRUCTURE = ("endpoints", "areas")
# Sections (or their parts) the running HMI cannot take over: (dotted path prefix, why a restart is needed).
RESTART_NEEDED: tuple[tuple[str, str], ...] = (
    (
        "access",
        Text(
            "sign-in rules (access) are fixed when the HMI starts: the session cookie's lifetime and Secure flag "
            "are set then"
        ),
    ),
    (
        "alarm_policy.severity_priorities",
        Text("alarm_policy.severity_priorities maps the priority of server alarms already listed"),
    ),
    ("mqtt", Text("the MQTT connection (mqtt) is set up when the HMI starts: restart it to use the changed section")),
)
_VALUE_CHARS = 80
_DETAILS = 8


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: `what` (tag, alarm, endpoint, area, line, machine, section) `name` was `kind`."""

    kind: Kind
    what: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.what} {self.name} {self.kind}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, slots=True)
class PlantDiff:
    """Every difference between two plants, and what of it needs a restart (empty: all can be applied)."""

    changes: tuple[Change, ...]
    restart_needed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the two plants are the same."""
        return not self.changes

    def names(self, what: str, kind: Kind) -> set[str]:
        """The names of the `what`s that were `kind` (e.g. names("tag", "added"))."""
        return {c.name for c in self.changes if c.what == what and c.kind == kind}

    def lines(self) -> list[str]:
        """The changes as sentences, one a line, for people (the CLI, the audit trail, the engineers' banner)."""
        return [str(c) for c in self.changes]


def diff_plants(old: PlantConfig, new: PlantConfig) -> PlantDiff:
    """The structural diff from `old` to `new`."""
    changes: list[Change] = []
    changes += _keyed("endpoint", {e.name: e for e in old.endpoints}, {e.name: e for e in new.endpoints})
    changes += _keyed("area", {a.name: a for a in old.areas}, {a.name: a for a in new.areas}, skip=("lines",))
    old_lines = {ln.name: ln for _, ln in old.lines()}
    new_lines = {ln.name: ln for _, ln in new.lines()}
    changes += _keyed("line", old_lines, new_lines, skip=("tags", "machines"), where=_area_of(old, new))
    changes += _keyed(
        "machine",
        {f"{ln.name}.{m.name}": m for ln in old_lines.values() for m in ln.machines},
        {f"{ln.name}.{m.name}": m for ln in new_lines.values() for m in ln.machines},
        skip=("tags",),
    )
    changes += _keyed(
        "tag",
        {n: r.tag for n, r in old.tags.items()},
        {n: r.tag for n, r in new.tags.items()},
        skip=("alarms",),
        where=lambda name, side: _tag_place(old if side == "old" else new, name),
    )
    changes += _keyed(
        "alarm",
        {i: r.alarm for i, r in old.alarms.items()},
        {i: r.alarm for i, r in new.alarms.items()},
        where=lambda name, side: _alarm_place(old if side == "old" else new, name),
    )
    sections = [f for f in PlantConfig.model_fields if f not in _STRUCTURE]
    for name in sections:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            details = list(_differences(_plain(before), _plain(after), name))
            changes.append(Change("changed", "section", name, _summary(details)))
    changes += _drawings(old, new)
    return PlantDiff(tuple(changes), _restart_needed(old, new))


def _drawings(old: PlantConfig, new: PlantConfig) -> Iterator[Change]:
    """A display's drawing is a file beside the plant file: the same path with other content must not be invisible
    in the audit trail (21 CFR 11.10(e)), so each drawing read, added or removed is named by its SHA-256."""
    before = {d.name: d for d in old.displays}
    after = {d.name: d for d in new.displays}
    for name in sorted(before.keys() - after.keys()):
        yield Change("removed", "drawing", name, f"{before[name].svg.name} sha256 {_hash(old, name)}")
    for name in sorted(after.keys() - before.keys()):
        yield Change("added", "drawing", name, f"{after[name].svg.name} sha256 {_hash(new, name)}")
    for name in sorted(before.keys() & after.keys()):
        a, b = old.drawing_sha256(name), new.drawing_sha256(name)
        if a != b or before[name].svg != after[name].svg:
            yield Change(
                "changed", "drawing", name, f"{after[name].svg.name} sha256 {_hash(old, name)} -> {_hash(new, name)}"
            )


def _hash(plant: PlantConfig, name: str) -> str:
    return plant.drawing_sha256(name) or "(not read)"


def _restart_needed(old: PlantConfig, new: PlantConfig) -> tuple[str, ...]:
    out = []
    for path, why in RESTART_NEEDED:
        if _at(old, path) != _at(new, path):
            out.append(Text("{path} changed: {why}; restart the HMI to apply it", path=path, why=why))
    if _mqtt_inputs(old) != _mqtt_inputs(new):
        out.append(
            Text(
                "MQTT endpoints or their tags changed: MQTT subscriptions are set up when the HMI starts; restart the "
                "HMI to apply it"
            )
        )
    return tuple(out)


def _mqtt_inputs(plant: PlantConfig) -> tuple[object, ...]:
    """The MQTT endpoints and the tags read from them (hmi/sources/mqtt.py), compared as a whole."""
    endpoints = {e.name: e for e in plant.endpoints if e.kind == "mqtt"}
    tags = sorted((n, ref.tag) for n, ref in plant.tags.items() if ref.tag.endpoint in endpoints)
    return tuple(sorted(endpoints.items())), tuple((n, t.model_dump_json()) for n, t in tags)


def _at(model: Any, path: str) -> Any:
    for part in path.split("."):
        model = getattr(model, part)
    return model


def _area_of(old: PlantConfig, new: PlantConfig) -> Any:
    def where(name: str, side: str) -> str:
        found = (old if side == "old" else new).line(name)
        return found[0].name if found is not None else ""

    return where


def _tag_place(plant: PlantConfig, name: str) -> str:
    ref = plant.tags[name]
    return ref.line.name + (f".{ref.machine.name}" if ref.machine is not None else "")


def _alarm_place(plant: PlantConfig, alarm_id: str) -> str:
    ref = plant.alarms[alarm_id]
    return f"{ref.area.name}/{ref.line.name}"


def _keyed(
    what: str,
    old: Mapping[str, BaseModel],
    new: Mapping[str, BaseModel],
    *,
    skip: tuple[str, ...] = (),
    where: Any = None,
) -> Iterator[Change]:
    """Added, removed and changed items of one kind; `skip` names fields compared elsewhere (children);
    `where(name, side)` gives an item's place, so a move (a tag to another machine) counts as a change."""
    for name in sorted(old.keys() - new.keys()):
        yield Change("removed", what, name)
    for name in sorted(new.keys() - old.keys()):
        yield Change("added", what, name)
    for name in sorted(old.keys() & new.keys()):
        before = _plain(old[name], skip)
        after = _plain(new[name], skip)
        details = list(_differences(before, after, ""))
        if where is not None and (a := where(name, "old")) != (b := where(name, "new")):
            details.append(f"moved from {a} to {b}")
        if details:
            yield Change("changed", what, name, _summary(details))


def _plain(value: Any, skip: Iterable[str] = ()) -> Any:
    """A model as plain data (secrets kept as Secret, so they compare by value but never print)."""
    if isinstance(value, BaseModel):
        return {k: _plain(getattr(value, k)) for k in type(value).model_fields if k not in skip}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _differences(before: Any, after: Any, path: str) -> Iterator[str]:
    """`path: old -> new` for every leaf that differs; lists of different length are one difference."""
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in list(before) + [k for k in after if k not in before]:
            yield from _differences(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            yield from _differences(a, b, f"{path}[{i}]")
        return
    if isinstance(before, list) and isinstance(after, list):
        yield f"{path or 'value'} {len(before)} item(s) -> {len(after)} item(s)"
        return
    if isinstance(before, Secret) or isinstance(after, Secret):
        # Never the value, not even its fingerprint: that the secret changed is all the diff says.
        yield f"{path or 'value'} changed (secret)"
        return
    yield f"{path or 'value'} {_short(before)} -> {_short(after)}"


def _short(value: Any) -> str:
    text = "(none)" if value is None else repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _summary(details: list[str]) -> str:
    if len(details) <= _DETAILS:
        return "; ".join(details)
    return "; ".join(details[:_DETAILS]) + f"; and {len(details) - _DETAILS} more"
