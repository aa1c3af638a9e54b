"""Changing the plant without a restart (issue 11 §6): a reloaded plant file is validated like `hmi check`, applied
to the running runtime against a real OPC UA server (subscriptions follow, alarms change under management of
change), audited with its diff; an invalid one changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hmi.alarms.states import AlarmState
from hmi.records.audit import system_context
from hmi.runtime import Runtime
from hmi.store.database import Database
from hmi.store.models import AlarmEvent, AuditEntry, ConfigSnapshot
from tests.opcua_server import SmallServer, free_port
from tests.plant_fixture import INITIAL, PLANT_YAML, small_plant
from tests.waiting import until

ENGINEER = system_context("cli:erin", station="test", full_name="command line (hmi reload)")
# A new tag at the end of machine M1's tag list, reading a node the server already has.
FLOW = '              - {name: L1.M1.Flow, endpoint: test, node_id: "ns=2;s=L1.M1.Pressure", unit: bar}\n'


class Plant:
    """The runtime, its server and its plant file, which a test edits and reloads."""

    def __init__(self, rt: Runtime, server: SmallServer, path: Path) -> None:
        self.rt = rt
        self.server = server
        self.path = path
        self.text = path.read_text(encoding="utf-8")

    def edit(self, old: str, new: str) -> None:
        assert old in self.text, old
        self.text = self.text.replace(old, new, 1)
        self.path.write_text(self.text, encoding="utf-8")

    def cut(self, start: str, end: str) -> None:
        """Remove the text from `start` up to (not including) `end`."""
        a = self.text.index(start)
        self.edit(self.text[a : self.text.index(end, a)], "")

    def append(self, text: str) -> None:
        self.text += text
        self.path.write_text(self.text, encoding="utf-8")

    async def audit(self, action: str) -> list[AuditEntry]:
        async with self.rt.db.session() as session:
            rows = await session.execute(sa.select(AuditEntry).where(AuditEntry.action == action))
            return list(rows.scalars())

    async def journal(self, alarm_id: str) -> list[AlarmEvent]:
        await self.rt.journal.flush()
        async with self.rt.db.session() as session:
            rows = await session.execute(
                sa.select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
            )
            return list(rows.scalars())


@pytest.fixture
async def plant(tmp_path: Path) -> AsyncIterator[Plant]:
    server = SmallServer(free_port(), dict(INITIAL))
    await server.start()
    path = tmp_path / "plant.yaml"
    path.write_text(PLANT_YAML.format(url=server.url), encoding="utf-8")
    rt = Runtime(small_plant(server.url), Database(f"sqlite:///{tmp_path / 'hmi.db'}"), config_path=path)
    await rt.start()
    try:
        await until(lambda: rt.cache.get("L1.M1.Temp") is not None, what="the first values")
        yield Plant(rt, server, path)
    finally:
        await rt.stop()
        await server.stop()


@pytest.mark.req("RLD-001", "RLD-002", "RLD-006")
async def test_an_added_tag_is_subscribed_and_its_values_arrive(plant: Plant) -> None:
    rt = plant.rt
    listeners = rt.cache.listener_count
    plant.append(FLOW)
    result = await rt.reload_plant(ENGINEER)
    assert result.applied, result.errors
    assert "tag L1.M1.Flow added" in result.changes
    assert rt.plant_generation == 1
    assert "L1.M1.Flow" in rt.plant.tags
    state = await until(lambda: rt.cache.get("L1.M1.Flow"), what="the new tag's first value")
    assert state.value == 4.0
    await plant.server.write("L1.M1.Pressure", 5.5)
    await until(lambda: (s := rt.cache.get("L1.M1.Flow")) is not None and s.value == 5.5, what="a change")
    # Consumers follow the new tag; none subscribed twice.
    assert "L1.M1.Flow" in rt.live_trends.names
    assert "L1.M1.Flow" in rt.recorder.recorded
    assert rt.cache.listener_count == listeners
    [entry] = await plant.audit("plant.reload")
    assert entry.username == "cli:erin"
    assert entry.old_value != entry.new_value
    assert entry.detail is not None
    assert "- tag L1.M1.Flow added" in entry.detail
    assert "+" + FLOW.rstrip("\n") in entry.detail
    async with rt.db.session() as session:
        last = (await session.execute(sa.select(ConfigSnapshot).order_by(ConfigSnapshot.id.desc()))).scalars().first()  # type: ignore[union-attr]
    assert last is not None
    assert last.sha256 == entry.new_value
    assert await rt.audit.verify() is None


@pytest.mark.req("RLD-002")
async def test_a_removed_tag_is_unsubscribed_and_leaves_the_cache(plant: Plant) -> None:
    rt = plant.rt
    assert rt.cache.get("L1.M1.Level") is not None
    plant.cut("              - name: L1.M1.Level\n", "              - name: L1.M1.Jam\n")
    result = await rt.reload_plant(ENGINEER)
    assert result.applied, result.errors
    assert result.changes[:2] == ("tag L1.M1.Level removed", "alarm L1.M1.Level.L removed")
    assert rt.cache.get("L1.M1.Level") is None
    assert "L1.M1.Level" not in rt.plant.tags
    assert "L1.M1.Level" not in rt.live_trends.names
    assert "L1.M1.Level" not in rt.recorder.recorded
    source = rt.sources[0]
    items = {item.node.nodeid.to_string() for item in source._sub._monitored_items.values()}  # type: ignore[union-attr]
    assert "ns=2;s=L1.M1.Level" not in items
    assert "ns=2;s=L1.M1.Temp" in items
    # A later change of the node does not bring it back.
    await plant.server.write("L1.M1.Level", 5.0)
    await plant.server.write("L1.M1.Temp", 71.0)
    await until(lambda: (s := rt.cache.get("L1.M1.Temp")) is not None and s.value == 71.0, what="Temp's change")
    assert rt.cache.get("L1.M1.Level") is None


@pytest.mark.req("RLD-003")
async def test_a_changed_alarm_limit_keeps_the_state_and_is_evaluated_again(plant: Plant) -> None:
    rt = plant.rt
    await plant.server.write("L1.M1.Temp", 85.0)
    alarm = await until(lambda: rt.alarms.get("L1.M1.Temp.H"), what="the H alarm")
    assert alarm.state is AlarmState.ACTIVE_UNACK
    activation = alarm.activation
    # A higher limit the value still exceeds: the same activation, the new priority, journaled as redefined.
    plant.edit("{type: H, limit: 80, deadband: 2, priority: 2,", "{type: H, limit: 84, deadband: 0, priority: 1,")
    result = await rt.reload_plant(ENGINEER)
    assert result.applied, result.errors
    assert any(c.startswith("alarm L1.M1.Temp.H changed: limit 80.0 -> 84.0") for c in result.changes)
    kept = rt.alarms.get("L1.M1.Temp.H")
    assert kept is not None
    assert (kept.state, kept.activation, kept.priority) == (AlarmState.ACTIVE_UNACK, activation, 1)
    # A limit above the value: evaluated at once from the current value, so it returns to normal (unacknowledged).
    plant.edit("{type: H, limit: 84,", "{type: H, limit: 90,")
    assert (await rt.reload_plant(ENGINEER)).applied
    returned = rt.alarms.get("L1.M1.Temp.H")
    assert returned is not None
    assert returned.state is AlarmState.RTN_UNACK
    kinds = [e.kind.value for e in await plant.journal("L1.M1.Temp.H")]
    assert kinds == ["activated", "redefined", "redefined", "cleared"]
    events = await plant.journal("L1.M1.Temp.H")
    assert events[1].comment is not None
    assert "limit 80.0 -> 84.0" in events[1].comment


@pytest.mark.req("RLD-004")
async def test_a_removed_active_alarm_ends_in_the_journal(plant: Plant) -> None:
    rt = plant.rt
    await plant.server.write("L1.M1.Jam", True)
    await until(lambda: rt.alarms.get("L1.M1.Jam.discrete"), what="the jam alarm")
    plant.edit(
        "                alarms:\n                  - {type: discrete, value: true, priority: 1, message: Jam at M1}\n",
        "",
    )
    result = await rt.reload_plant(ENGINEER)
    assert result.applied, result.errors
    assert "alarm L1.M1.Jam.discrete removed" in result.changes
    assert rt.alarms.get("L1.M1.Jam.discrete") is None
    assert all(a.id != "L1.M1.Jam.discrete" for a in rt.alarms.active())
    events = await plant.journal("L1.M1.Jam.discrete")
    assert [e.kind.value for e in events] == ["activated", "removed"]
    assert events[-1].state == "normal"
    assert events[-1].comment is not None
    assert "management of change" in events[-1].comment
    # The tag stays and keeps its values; only the alarm went.
    await plant.server.write("L1.M1.Jam", False)
    await until(lambda: (s := rt.cache.get("L1.M1.Jam")) is not None and s.value is False, what="the jam to clear")


@pytest.mark.req("RLD-005")
async def test_an_invalid_file_changes_nothing_and_is_refused_with_its_errors(plant: Plant) -> None:
    rt = plant.rt
    before = rt.plant
    plant.append(FLOW.replace("endpoint: test", "endpoint: nowhere"))
    result = await rt.reload_plant(ENGINEER)
    assert not result.applied
    assert any("unknown endpoint 'nowhere'" in e for e in result.errors)
    assert rt.plant is before
    assert rt.plant_generation == 0
    assert rt.cache.get("L1.M1.Flow") is None
    [refused] = await plant.audit("plant.reload.refused")
    assert refused.username == "cli:erin"
    assert refused.detail is not None
    assert "unknown endpoint 'nowhere'" in refused.detail
    assert await plant.audit("plant.reload") == []
    assert rt.reloader.last is result


@pytest.mark.req("RLD-005")
async def test_a_change_that_needs_a_restart_is_refused(plant: Plant) -> None:
    plant.append("access: {idle_lock_min: 3, logoff_min: 10}\n")
    result = await plant.rt.reload_plant(ENGINEER)
    assert not result.applied
    assert any("restart the HMI" in e and e.startswith("access") for e in result.errors)
    assert plant.rt.plant_generation == 0


@pytest.mark.req("RLD-010")
async def test_the_watcher_applies_a_saved_file_once_it_has_settled(tmp_path: Path) -> None:
    server = SmallServer(free_port(), dict(INITIAL))
    await server.start()
    path = tmp_path / "plant.yaml"
    text = PLANT_YAML.format(url=server.url)
    path.write_text(text, encoding="utf-8")
    rt = Runtime(
        small_plant(server.url), Database(f"sqlite:///{tmp_path / 'hmi.db'}"), config_path=path, watch_plant=True
    )
    await rt.start()
    try:
        # Saved in two writes, the first cut in the middle of a line: only the complete file is ever applied.
        full = text + FLOW
        path.write_text(full[: len(full) - 30], encoding="utf-8")
        path.write_text(full, encoding="utf-8")
        await until(lambda: rt.plant_generation == 1, timeout=30, what="the watcher's reload")
        assert rt.reloader.last is not None
        assert rt.reloader.last.by == "watcher"
        assert "L1.M1.Flow" in rt.plant.tags
        async with rt.db.session() as session:
            actions = list(
                (await session.execute(sa.select(AuditEntry.action).where(AuditEntry.action.like("plant.reload%"))))  # type: ignore[attr-defined]
                .scalars()
            )
        assert actions == ["plant.reload"]
    finally:
        await rt.stop()
        await server.stop()
