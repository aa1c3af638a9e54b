"""Changing the plant without a restart: validate the edited plant file like `hmi check`, refuse it (nothing
changes) or apply it to the running runtime, and audit either way.

Applying keeps every page, session, value and alarm state that still has a place in the new plant: sources gain
and lose monitored items on their existing subscription, an endpoint added, removed or changed is started,
stopped or restarted, alarm definitions change under ISA-18.2 / IEC 62682 management of change (see
`AlarmEngine.use_plant`), and every service takes the new plant in one step on the event loop, after which
`Runtime.plant_generation` counts up so pages can rebuild (screens/plant_change.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmi.access.context import ActionContext
from hmi.config import ConfigError, PlantConfig, parse_config
from hmi.graphics.sparkline import key_value_names
from hmi.plant_diff import PlantDiff, diff_plants
from hmi.records.config_audit import record_reload
from hmi.sources.opcua import OpcUaSource
from hmi.texts import Text

if TYPE_CHECKING:
    from hmi.runtime import Runtime

log = logging.getLogger(__name__)

PlantLoader = Callable[[str, str], PlantConfig]
"""(file text, file name) -> the validated plant; raises ConfigError. `hmi demo` adds its simulator's address."""


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: applied (with the changes) or refused (with the errors, and nothing changed)."""

    applied: bool
    at: datetime
    by: str
    changes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    """Why it was refused: the reloader's own sentences are Texts (translated where shown); the plant file's
    diagnostics (pydantic's wording, quoted from `hmi check`) stay English."""
    generation: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def message(self) -> Text:
        """One sentence for people."""
        if not self.applied:
            return Text("plant reload refused: {count} problem(s); nothing was changed", count=len(self.errors))
        if not self.changes:
            return Text("plant file reloaded: no change to the plant model")
        return Text(
            "plant file reloaded: {count} change(s) applied (configuration generation {generation})",
            count=len(self.changes),
            generation=self.generation,
        )

    def as_json(self) -> dict[str, Any]:
        """The result as the reload channel writes it for `hmi reload`."""
        return {
            "applied": self.applied,
            "at": self.at.isoformat(),
            "by": self.by,
            "message": self.message,
            "changes": list(self.changes),
            "errors": list(self.errors),
            "notes": list(self.notes),
            "generation": self.generation,
        }


def _parse_beside(text: str, name: str) -> PlantConfig:
    """The plant file's text parsed as `hmi run` reads it: relative drawing paths from the file's own folder."""
    return parse_config(text, name, base_dir=Path(name).parent)


class PlantReloader:
    """Reloads the runtime's plant file on request; one reload at a time."""

    def __init__(self, rt: Runtime, load: PlantLoader | None = None) -> None:
        self._rt = rt
        self._load: PlantLoader = load or _parse_beside
        self._lock = asyncio.Lock()
        self.last: ReloadResult | None = None

    async def reload(self, actor: ActionContext) -> ReloadResult:
        """Read the plant file again, validate it, and apply it or refuse it; audited either way."""
        async with self._lock:
            result = await self._reload(actor)
            self.last = result
            return result

    async def _reload(self, actor: ActionContext) -> ReloadResult:
        rt = self._rt
        path = rt.config_path
        if path is None or not rt.started:
            why = (
                Text("this HMI was not started from a plant file")
                if path is None
                else Text("the HMI is not running yet")
            )
            return self._result(actor, errors=[why])
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors = [Text("{path}: cannot read the file ({exc}); it must be UTF-8 text", path=path, exc=exc)]
            return await self._refused(actor, path, "", errors)
        try:
            new = await asyncio.to_thread(self._load, text, str(path))
        except ConfigError as exc:
            return await self._refused(actor, path, text, [str(issue) for issue in exc.issues])
        diff = await asyncio.to_thread(diff_plants, rt.plant, new)
        if diff.restart_needed:
            return await self._refused(actor, path, text, list(diff.restart_needed))
        # Audited before it is applied: a change the audit trail cannot take is not made (21 CFR 11.10(e)).
        try:
            await record_reload(rt.db, rt.audit, actor, path, text, diff.lines(), clock=rt.clock)
        except Exception as exc:
            log.exception("plant reload: the audit row could not be written")
            return self._result(
                actor, errors=[Text("the audit trail could not be written ({exc}); nothing was changed", exc=exc)]
            )
        notes = await self._apply(new, diff)
        log.info("plant reload by %s: %d change(s) applied", actor.username, len(diff.changes))
        return self._result(actor, changes=diff.lines(), notes=notes)

    async def _refused(self, actor: ActionContext, path: Path, text: str, errors: Sequence[str]) -> ReloadResult:
        try:
            await record_reload(self._rt.db, self._rt.audit, actor, path, text, (), errors=errors, clock=self._rt.clock)
        except Exception:
            log.exception("plant reload: the refusal could not be audited")
        log.warning("plant reload by %s refused: %s", actor.username, "; ".join(errors))
        return self._result(actor, errors=errors)

    def _result(self, actor: ActionContext, *, changes: Any = (), errors: Any = (), notes: Any = ()) -> ReloadResult:
        return ReloadResult(
            applied=not errors,
            at=self._rt.clock(),
            by=actor.username,
            changes=tuple(changes),
            errors=tuple(errors),
            generation=self._rt.plant_generation,
            notes=tuple(notes),
        )

    async def _apply(self, new: PlantConfig, diff: PlantDiff) -> list[str]:
        """Apply a validated plant; returns notes for people (e.g. an endpoint that could not be updated yet)."""
        rt = self._rt
        old = rt.plant
        removed_eps = diff.names("endpoint", "removed")
        changed_eps = diff.names("endpoint", "changed")
        added_eps = diff.names("endpoint", "added")
        # 1. Endpoints that go away or change: their sources stop first (a changed one comes back below with its
        # new settings; its Alarms & Conditions monitor stays and refreshes on the new session).
        for name in sorted(removed_eps | changed_eps):
            source = next((s for s in rt.sources if s.name == name), None)
            if name in removed_eps and (monitor := rt.conditions.get(name)) is not None:
                await monitor.stop()
            if source is not None:
                await source.stop()
                rt.sources.remove(source)
            if name in removed_eps:
                rt.board.remove(name)
        # 2. The switch itself, without an await: the screens and every listener see the old plant or the new.
        by_endpoint: dict[str, list[Any]] = {ep.name: [] for ep in new.endpoints}
        for ref in new.tags.values():
            by_endpoint[ref.tag.endpoint].append(ref.tag)
        for source in rt.sources:
            source.set_tags(by_endpoint[source.name])
        started: list[tuple[OpcUaSource, bool]] = []
        for name in sorted(changed_eps | added_eps):
            endpoint = new.endpoint(name)
            monitor = rt.conditions.get(name)
            if monitor is None:
                monitor = rt.condition_monitor(endpoint)
                rt.conditions[name] = monitor
            monitor.use_publishing_interval(endpoint.publishing_interval_ms)
            source = OpcUaSource(
                endpoint, by_endpoint[name], rt.cache, rt.board, clock=rt.clock, session_hooks=[monitor]
            )
            rt.sources.append(source)
            started.append((source, name in added_eps))
        for name in removed_eps:
            rt.conditions.pop(name, None)
        rt.plant = new
        rt.alarms.use_plant(new)
        for name in sorted(removed_eps):
            rt.alarms.end_server_alarms(name, f"endpoint {name} removed by management of change: plant reloaded")
        rt.recorder.use_plant(new)
        rt.live_trends.use_names(name for name, ref in new.tags.items() if ref.tag.numeric)
        rt.key_trends.use_names(key_value_names(new))
        rt.history.use_plant(new)
        rt.trend_views.use_plant(new)
        rt.oee.use_plant(new)
        rt.handover.use_plant(new)
        rt.recipes.use_plant(new)
        if rt.mqtt is not None:
            rt.mqtt.use_plant(new)
        rt.control.use_plant(new, {s.name: s for s in rt.sources})
        rt.alarm_service.max_shelve = timedelta(hours=new.alarm_policy.max_shelve_h)
        rt.alarm_service.signature_policy = new.signatures
        rt.alarm_service.conditions = dict(rt.conditions)
        rt.journal.max_pending = new.alarm_policy.journal_max_pending
        rt.journal.behind_at = new.alarm_policy.journal_behind_at
        rt.cache.forget(old.tags.keys() - new.tags.keys())
        rt.plant_generation += 1
        # 3. What follows on the wire: new monitored items (their values read at once), removed ones deleted,
        # new and changed endpoints connected.
        notes: list[str] = []
        fresh = {id(source) for source, _ in started}
        for source in list(rt.sources):
            if id(source) in fresh:
                continue
            try:
                await source.apply_tags()
            except Exception as exc:
                # The source re-applies its tag list after the next reconnect (OpcUaSource._reread).
                log.warning("plant reload: endpoint %s: subscription not updated yet: %s", source.name, exc)
                notes.append(
                    Text(
                        "endpoint {name}: the subscription follows after its reconnect ({exc})",
                        name=source.name,
                        exc=exc,
                    )
                )
        for source, added in started:
            monitor = rt.conditions[source.name]
            if added:
                await monitor.start()
            await source.start()
        if old.historian.flush_interval_s != new.historian.flush_interval_s or (
            old.historian.prune_interval_min != new.historian.prune_interval_min
        ):
            await rt.recorder.restart_loops()
        rt.watch_tasks()  # the new sources' and loops' tasks count in tasks_died too
        return notes
