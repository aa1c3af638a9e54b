"""Several instances on one PostgreSQL database: exactly one is active (holds the OPC UA session, runs alarms,
journal and historian), the others stand by and take over when it is gone (docs/deployment.md, the redundant pair).

In-process runtimes here; tests/integration/test_failover.py kills a real `hmi run` process with SIGKILL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from hmi.access.roles import Role
from hmi.alarms.states import AlarmState
from hmi.cluster.feed import FeedPublisher, FeedReceiver
from hmi.cluster.leadership import HOLDER_SQL, LOCK_CLASS, LOCK_ID, Leadership
from hmi.config import PlantConfig, parse_config
from hmi.runtime import Runtime
from hmi.store.database import Database
from hmi.tags import Quality, TagCache, TagState
from tests.conftest import sign_in
from tests.integration.conftest import PAIR_PLANT
from tests.opcua_server import SmallServer
from tests.waiting import until

pytestmark = pytest.mark.postgres


def _plant(pair_server: SmallServer) -> PlantConfig:
    return parse_config(PAIR_PLANT.format(url=pair_server.url), "pair.yaml")


def _instance(plant: PlantConfig, url: str, name: str, data_dir: Path) -> Runtime:
    # The pair shares the audit key (one trail, one key), each has its own data folder.
    return Runtime(plant, Database(url), instance=name, data_dir=data_dir / name, audit_key_file=data_dir / "audit.key")


@pytest.mark.req("RED-001", "RED-002", "RED-005")
async def test_one_instance_acts_and_the_other_takes_over_when_it_stops(
    pair_server: SmallServer, pg_url: str, tmp_path: Path
) -> None:
    plant = _plant(pair_server)
    first = _instance(plant, pg_url, "hmi-a", tmp_path)
    second = _instance(plant, pg_url, "hmi-b", tmp_path)
    await first.start()
    try:
        await second.start()
        try:
            assert first.active
            assert not second.active
            assert second.leadership is not None
            assert await second.leadership.holder() == "hmi-a"
            await until(lambda: first.cache.get("Speed") is not None, timeout=15, what="the active one reads")
            # The standby holds no OPC UA session and runs no alarm engine or historian.
            assert not any(source.connected for source in second.sources)
            assert second.took_over_at is None
            # ...but shows the active one's values, sent over the database.
            await until(lambda: second.cache.get("Speed"), timeout=15, what="the feed to reach the standby")

            await first.stop()
            await until(lambda: second.active, timeout=10, what="the standby to take over")
            assert second.took_over_at is not None
            assert await second.leadership.holder() == "hmi-b"
            await until(lambda: all(s.connected for s in second.sources), timeout=15, what="it to re-subscribe")
            await pair_server.write("Speed", 120.0)
            await until(lambda: second.alarms.get("Speed.H"), timeout=15, what="its alarm engine to run")
            takeovers = await second.audit.query(action="cluster.takeover")
            assert [(e.object_id, e.username) for e in takeovers] == [("hmi-b", "system")]
            assert "hmi-b took over" in (takeovers[0].detail or "")
        finally:
            await second.stop()
    finally:
        if first.started:
            await first.stop()


@pytest.mark.req("RED-001")
async def test_a_broken_lock_connection_is_regained_or_stops_the_instance_from_acting(pg_url: str) -> None:
    """The active one whose lock connection breaks asks again: it keeps the role when nobody took it, and stops
    acting at once when another instance holds it now."""
    db = Database(pg_url)
    await db.start()
    lost: list[str] = []
    took: list[str] = []

    async def on_active() -> None:
        took.append("active")

    leadership = Leadership(db, "hmi-a", on_active=on_active, on_lost=lost.append, check_s=0.5, poll_s=0.5)
    thief = await asyncpg.connect(pg_url)

    async def cut() -> None:
        # What a network cut or a database restart does to the connection: the server ends it.
        await thief.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            leadership.application_name,
        )

    try:
        assert await leadership.start()
        assert await leadership.holder() == "hmi-a"
        await cut()

        async def holder() -> str | None:
            return await thief.fetchval(HOLDER_SQL, LOCK_CLASS, LOCK_ID)

        await until(lambda: leadership._link.current is None, timeout=10, what="the cut")
        await until(holder, timeout=10, what="the role to be regained")
        assert await holder() == "factory-hmi hmi-a"
        assert leadership.active
        assert lost == []

        await cut()
        # Another instance takes the role before this one asks again.
        await until(lambda: thief.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, LOCK_ID), timeout=10)
        await until(lambda: lost, timeout=10, what="the loss to be noticed")
        assert not leadership.active
        assert "another instance holds it now" in lost[0]
        assert took == [], "on_active is only for a standby that takes over"
    finally:
        await thief.close()
        await leadership.stop()
        await db.stop()


@pytest.mark.req("RED-005")
async def test_a_standby_shows_the_active_ones_values_and_marks_them_stale_when_it_falls_silent(pg_url: str) -> None:
    db = Database(pg_url)
    await db.start()
    active_cache, standby_cache = TagCache(), TagCache()
    publisher = FeedPublisher(db, active_cache, flush_s=0.05)
    receiver = FeedReceiver(db, standby_cache, silent_s=1.0)
    now = datetime.now(UTC)
    try:
        await receiver.start()
        # What the active one had before the standby started: sent when the standby asks.
        active_cache.update([TagState("Speed", 10.0, 0, Quality.GOOD, now, now, now)])
        await publisher.start()
        await until(lambda: standby_cache.get("Speed"), timeout=10, what="the first value")
        text = "x" * 3000  # several states per message, and more messages than one
        active_cache.update(
            [TagState(f"T{i}", text if i % 2 else i * 0.5, 0, Quality.GOOD, now, now, now) for i in range(20)]
            + [TagState("Speed", 12.5, 0, Quality.GOOD, now, now, now)]
        )
        await until(lambda: len(standby_cache) == 21, timeout=10, what="every state")
        speed = await until(lambda: (s := standby_cache.get("Speed")) and s.value == 12.5 and s, timeout=10)
        assert (speed.quality, speed.source_time) == (Quality.GOOD, now)
        assert standby_cache.get("T3").value == text
        await asyncio.sleep(1.5)
        assert standby_cache.get("Speed").quality is Quality.GOOD, "heartbeats keep a quiet feed alive"

        await publisher.stop()
        await until(
            lambda: all(s.quality is Quality.STALE for s in standby_cache.snapshot().values()),
            timeout=10,
            what="the values to go STALE once the active one is silent",
        )
        assert standby_cache.get("Speed").value == 12.5, "the last value stays, marked STALE"
    finally:
        await receiver.stop()
        await publisher.stop()
        await db.stop()


@pytest.mark.req("RED-006", "RED-009")
async def test_a_standby_lists_the_active_ones_alarms_hands_it_commands_and_goes_on_from_them(
    pair_server: SmallServer, pg_url: str, tmp_path: Path
) -> None:
    plant = _plant(pair_server)
    first = _instance(plant, pg_url, "hmi-a", tmp_path)
    second = _instance(plant, pg_url, "hmi-b", tmp_path)
    await first.start()
    try:
        await second.start()
        try:
            lead = await sign_in(first.users, "lena", Role.LEAD)
            await pair_server.write("Speed", 120.0)
            raised = await until(lambda: second.alarms.get("Speed.H"), timeout=15, what="the alarm on the standby")
            assert (raised.state, raised.message) == (AlarmState.ACTIVE_UNACK, "Too fast")
            assert [a.id for a in second.alarms.active()] == ["Speed.H"]

            # A command on the standby is run by the active one (hmi/cluster/commands.py): its engine and journal
            # hold it, and the standby lists it as the active one sends it.
            await second.alarm_service.acknowledge(lead.for_action(), ["Speed.H"], "seen on the line")
            assert first.alarms.get("Speed.H").state is AlarmState.ACTIVE_ACK  # type: ignore[union-attr]
            acked = await until(
                lambda: (a := second.alarms.get("Speed.H")) and a.state is AlarmState.ACTIVE_ACK and a,
                timeout=5,
                what="the acknowledgement on the standby",
            )
            assert (acked.acked_by, acked.ack_comment) == ("lena", "seen on the line")

            # The active one stops; the standby takes over from the acknowledged state: the alarm that still stands
            # is not raised (and acknowledged) again, and its clear ends that same activation.
            await first.stop()
            await until(lambda: second.active, timeout=10, what="the standby to take over")
            await until(lambda: all(s.connected for s in second.sources), timeout=15, what="it to re-subscribe")
            await until(lambda: (s := second.cache.get("Speed")) and s.quality is Quality.GOOD, timeout=15)
            assert second.alarms.get("Speed.H").state is AlarmState.ACTIVE_ACK  # type: ignore[union-attr]
            # Active now, it takes commands (there is nothing left to acknowledge).
            again = await second.alarm_service.acknowledge(lead.for_action(), ["Speed.H"], "seen again")
            assert (again.changes, again.skipped) == ([], ["Speed.H"])
            await pair_server.write("Speed", 50.0)
            await until(lambda: second.alarms.get("Speed.H") is None, timeout=15, what="the clear")
            rows = await until(lambda: _journal_after_clear(second), timeout=15, what="the clear in the journal")
            assert rows == ["activated", "acknowledged", "cleared"]
        finally:
            await second.stop()
    finally:
        if first.started:
            await first.stop()


async def _journal_after_clear(rt: Runtime) -> list[str] | None:
    """Speed.H's journal, oldest first, once it holds the clear."""
    kinds = [e.kind for e in reversed(await rt.alarm_service.history("Speed.H"))]
    return kinds if "cleared" in kinds else None


@pytest.mark.req("RED-005")
async def test_the_active_one_sends_nothing_while_no_standby_listens(pg_url: str) -> None:
    """A single server on PostgreSQL encodes and sends no feed; a standby that starts gets everything at once."""
    db = Database(pg_url)
    await db.start()
    active_cache, standby_cache = TagCache(), TagCache()
    publisher = FeedPublisher(db, active_cache, flush_s=0.05)
    receiver = FeedReceiver(db, standby_cache, silent_s=3.0)
    now = datetime.now(UTC)
    try:
        await publisher.start()
        for i in range(20):
            active_cache.update([TagState("Speed", float(i), 0, Quality.GOOD, now, now, now)])
            await asyncio.sleep(0.05)
        assert publisher.sent == 0, "nobody listens: nothing is sent"
        await receiver.start()
        speed = await until(lambda: standby_cache.get("Speed"), timeout=10, what="everything for the new standby")
        assert speed.value == 19.0
        assert publisher.sent > 0
    finally:
        await receiver.stop()
        await publisher.stop()
        await db.stop()


@pytest.mark.req("RED-005")
async def test_values_marked_stale_in_a_silence_are_live_again_when_the_feed_is_heard(pg_url: str) -> None:
    """A standby that marked everything STALE asks for everything when it hears the active one again: a value that
    did not change meanwhile must not stay STALE though its source is live."""
    db = Database(pg_url)
    await db.start()
    active_cache, standby_cache = TagCache(), TagCache()
    publisher = FeedPublisher(db, active_cache, flush_s=0.05)
    # Shorter than the heartbeat (1 s): with no change at all, every gap between heartbeats is a silence.
    receiver = FeedReceiver(db, standby_cache, silent_s=0.4)
    now = datetime.now(UTC)
    try:
        active_cache.update([TagState("Speed", 10.0, 0, Quality.GOOD, now, now, now)])
        await publisher.start()
        await receiver.start()
        await until(lambda: (s := standby_cache.get("Speed")) and s.quality is Quality.GOOD, timeout=10)
        await until(lambda: standby_cache.get("Speed").quality is Quality.STALE, timeout=10, what="a silence")
        # Nothing changed on the active one; the next heartbeat brings the whole picture back.
        await until(lambda: standby_cache.get("Speed").quality is Quality.GOOD, timeout=10, what="live again")
    finally:
        await receiver.stop()
        await publisher.stop()
        await db.stop()
