"""Live values from the active instance to the standbys, over PostgreSQL LISTEN/NOTIFY.

Why LISTEN/NOTIFY and not the MQTT publishing: the pair already shares the database, so a standby needs nothing
else to be running or configured, and a plant without a broker can still run a pair. A notification is delivered
to every listening session of the database, in commit order, at most 8000 bytes each (PostgreSQL manual, NOTIFY),
so states are sent in chunks below that.

The active instance coalesces changes per tag and sends them every `FLUSH_S`, with a heartbeat when nothing changed;
a standby that hears nothing for `SILENT_S` marks every value STALE (it cannot know they are still true). A standby
that starts asks for everything once (`REQUEST`), and the active instance answers with its whole cache.

The alarms travel the same way on their own channel (`ALARMS`, hmi/cluster/alarm_feed.py): every alarm that changed,
whole, and the ids that went quiet. The standby's engine holds them (`AlarmEngine.mirror`), so its screens list the
active instance's alarms and, when it takes over, it goes on from their states.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from hmi.alarms.engine import AlarmChange, AlarmEngine
from hmi.clock import Clock, utc_now
from hmi.cluster.alarm_feed import decode_alarms, encode_alarms, iso, plain, when
from hmi.cluster.connection import OwnConnection
from hmi.store.database import Database
from hmi.supervise import stop_tasks
from hmi.tags import Quality, TagCache, TagState

log = logging.getLogger(__name__)

CHANNEL = "hmi_feed"
ALARMS = "hmi_feed_alarms"
# The receivers' connections carry this name, so the active instance sees in pg_stat_activity whether any standby
# listens; with none (a single server on PostgreSQL) it encodes and sends nothing.
RECEIVER_NAME = "factory-hmi feed-in"
PUBLISHER_NAME = "factory-hmi feed-out"
LISTENERS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1"
# How often the active instance looks for standbys (a new one also asks at once, REQUEST).
LOOK_S = 5.0
REQUEST = "hmi_feed_request"
# Below NOTIFY's 8000-byte payload limit, with room for multi-byte characters counted as one.
PAYLOAD_MAX = 6000
FLUSH_S = 0.1
HEARTBEAT_S = 1.0
SILENT_S = 3.0


def encode(states: Iterable[TagState]) -> list[str]:
    """The states as JSON payloads, each below PAYLOAD_MAX (a single state larger than that is cut to its text)."""
    payloads: list[str] = []
    parts: list[str] = []
    size = 2
    for s in states:
        row = [s.name, plain(s.value), s.status_code, s.quality.value, iso(s.source_time), iso(s.server_time)]
        row += [iso(s.stale_since), s.note, s.clock_skew_s]
        part = json.dumps(row, separators=(",", ":"))
        if len(part) > PAYLOAD_MAX - 2:
            row[1] = str(row[1])[:1000]
            part = json.dumps(row, separators=(",", ":"))
        if parts and size + len(part) + 1 > PAYLOAD_MAX:
            payloads.append("[" + ",".join(parts) + "]")
            parts, size = [], 2
        parts.append(part)
        size += len(part) + 1
    if parts:
        payloads.append("[" + ",".join(parts) + "]")
    return payloads


def decode(payload: str, received_at: datetime) -> list[TagState]:
    """The states of one payload, received now (a heartbeat `[]` has none)."""

    states = []
    for name, value, status, quality, source, server, stale, note, skew in json.loads(payload):
        states.append(
            TagState(
                name=name,
                value=value,
                status_code=int(status),
                quality=Quality(quality),
                source_time=when(source),
                server_time=when(server),
                received_at=received_at,
                stale_since=when(stale),
                note=note,
                clock_skew_s=float(skew),
            )
        )
    return states


class FeedPublisher:
    """On the active instance: every change of the cache, coalesced per tag, to the standbys."""

    def __init__(
        self, db: Database, cache: TagCache, alarms: AlarmEngine | None = None, *, flush_s: float = FLUSH_S
    ) -> None:
        self._db = db
        self._cache = cache
        self._alarms = alarms
        self._flush_s = flush_s
        self._pending: dict[str, TagState] = {}
        self._changed_alarms: set[str] = set()
        self._alarms_off: Any = None
        self._standbys = 0
        self._looked = 0.0  # monotonic time of the last look for standbys; 0: look at the next flush
        self.sent = 0  # payloads sent, for tests and the soak bench
        self._everything = False
        self._link = OwnConnection(db, PUBLISHER_NAME, {REQUEST: self._asked}, on_open=self._opened)
        self._unsubscribe: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._unsubscribe = self._cache.subscribe(None, self._changed)
        if self._alarms is not None:
            self._alarms_off = self._alarms.subscribe(self._alarms_changed)
        self._everything = True  # standbys already listening get the whole picture of the new active one
        self._task = asyncio.create_task(self._run(), name="feed-publisher")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._alarms_off is not None:
            self._alarms_off()
            self._alarms_off = None
        task, self._task = self._task, None
        await stop_tasks(task)
        await self._link.close()

    def _changed(self, states: Sequence[TagState]) -> None:
        if not self._standbys:
            return  # nobody to tell; a standby that appears gets everything (on the cache's hot path: no work)
        for state in states:
            self._pending[state.name] = state

    def _alarms_changed(self, changes: Sequence[AlarmChange]) -> None:
        if not self._standbys:
            return
        self._changed_alarms.update(c.alarm.id for c in changes)

    def _alarm_payloads(self, everything: bool) -> list[str]:
        """The alarms that changed since the last flush (all of them, as a new picture, when `everything`)."""
        engine = self._alarms
        if engine is None:
            return []
        ids, self._changed_alarms = self._changed_alarms, set()
        if everything:
            return encode_alarms(engine.everything(), (), reset=True, limit=PAYLOAD_MAX)
        if not ids:
            return []
        current = [a for i in sorted(ids) if (a := engine.get(i)) is not None]
        gone = sorted(i for i in ids if engine.get(i) is None)
        return encode_alarms(current, gone, reset=False, limit=PAYLOAD_MAX)

    def _asked(self, _payload: str) -> None:
        self._everything = True
        self._looked = 0.0

    async def _opened(self, _conn: Any) -> None:
        self._looked = 0.0  # a new connection: look for standbys at once

    async def _listening(self, conn: Any) -> bool:
        """True while at least one standby listens (looked up every LOOK_S); what changed meanwhile is dropped while
        none does, and a standby that appears gets everything."""
        if time.monotonic() - self._looked >= LOOK_S:
            before, self._standbys = self._standbys, int(await conn.fetchval(LISTENERS_SQL, RECEIVER_NAME))
            self._looked = time.monotonic()
            if self._standbys and not before:
                self._everything = True
        if not self._standbys:
            self._pending.clear()
            self._changed_alarms.clear()
        return self._standbys > 0

    async def _run(self) -> None:
        last_sent = 0.0
        while True:
            await asyncio.sleep(self._flush_s)
            try:
                conn = await self._link.get()
                if not await self._listening(conn):
                    continue
                everything, self._everything = self._everything, False
                if everything:
                    batch = list(self._cache.snapshot().values())
                    self._pending.clear()
                else:
                    batch, self._pending = list(self._pending.values()), {}
                payloads = encode(batch)
                alarm_payloads = self._alarm_payloads(everything)
                if not payloads and not alarm_payloads and time.monotonic() - last_sent < HEARTBEAT_S:
                    continue
                for payload in payloads or ["[]"]:
                    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
                for payload in alarm_payloads:
                    await conn.execute("SELECT pg_notify($1, $2)", ALARMS, payload)
                self.sent += len(payloads or ["[]"]) + len(alarm_payloads)
                last_sent = time.monotonic()
            except Exception as exc:  # the database is away: the standbys go STALE; everything again once back
                log.warning("the standby feed cannot be sent: %s", exc)
                await self._link.close()
                self._everything = True


class FeedReceiver:
    """On a standby: the active instance's values into this instance's cache; STALE when it falls silent."""

    def __init__(
        self,
        db: Database,
        cache: TagCache,
        clock: Clock = utc_now,
        alarms: AlarmEngine | None = None,
        *,
        silent_s: float = SILENT_S,
    ) -> None:
        self._db = db
        self._cache = cache
        self._alarms = alarms
        self._clock = clock
        self._silent_s = silent_s
        # A new connection asks for everything: what changed while none listened was missed.
        self._link = OwnConnection(
            db,
            RECEIVER_NAME,
            {CHANNEL: self._notified, ALARMS: self._alarms_notified},
            on_open=lambda conn: conn.execute("SELECT pg_notify($1, '')", REQUEST),
        )
        self._task: asyncio.Task[None] | None = None
        self._heard = time.monotonic()
        # Everything was marked STALE for a silence: when the feed is heard again, ask for everything, or a value
        # that did not change meanwhile would stay STALE though the active instance is back.
        self._stale = False
        self.received = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="feed-receiver")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_tasks(task)
        await self._link.close()

    def _notified(self, payload: str) -> None:
        self._heard = time.monotonic()
        try:
            states = decode(payload, self._clock())
        except (ValueError, TypeError) as exc:  # another program on the channel, or a newer version's format
            log.warning("a standby feed message could not be read: %s", exc)
            return
        self.received += len(states)
        self._cache.update(states)

    def _alarms_notified(self, payload: str) -> None:
        self._heard = time.monotonic()
        if self._alarms is None:
            return
        try:
            reset, alarms, gone = decode_alarms(payload)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("a standby alarm feed message could not be read: %s", exc)
            return
        self._alarms.mirror(alarms, gone, reset=reset)

    async def _run(self) -> None:
        while True:
            try:
                if self._link.current is None:
                    await self._link.get()
                elif self._stale and time.monotonic() - self._heard <= self._silent_s:
                    await self._link.notify(REQUEST, "")
                    self._stale = False
            except Exception as exc:
                log.warning("the standby feed cannot be received: %s", exc)
                await self._link.close()
            await asyncio.sleep(min(1.0, self._silent_s / 3))
            if not self._stale and time.monotonic() - self._heard > self._silent_s:
                # Nothing from the active instance: its values can no longer be shown as live (marked once per
                # silence, not a copy of the whole cache every second).
                self._cache.mark_stale(self._cache.snapshot().keys(), self._clock())
                self._stale = True
