"""The MQTT publisher the runtime owns: tag changes, alarm transitions, line state and OEE go to the broker.

Nothing here may slow the HMI: the tag cache and the alarm engine hand their changes to listeners that only put
events into a bounded in-memory queue (the oldest dropped and counted when full). One task sends them. While the
broker cannot be reached it moves the queue to the outbox on local disk (hmi/mqtt/outbox.py) and, once connected
again, sends the outbox first and the queue after, so the broker receives everything in the order it happened
(at least once: a message whose acknowledgement was lost with the connection is sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import aiomqtt

from hmi.alarms.engine import AlarmChange, AlarmEngine
from hmi.clock import Clock, utc_now
from hmi.config import PlantConfig
from hmi.mqtt.events import Event, Message, alarm_event, dumps, line_state_event, oee_event, tag_event
from hmi.mqtt.outbox import Outbox
from hmi.mqtt.settings import MqttConfig
from hmi.mqtt.sparkplug import SparkplugEncoder
from hmi.mqtt.uns import UnsEncoder
from hmi.oee.service import OeeService
from hmi.shifts import current_shift
from hmi.supervise import stop_tasks
from hmi.tags import TagCache, TagState

log = logging.getLogger(__name__)

# Outbox events sent per read while catching up; each batch is forgotten once all its messages reached the broker.
REPLAY_BATCH = 200
# A publish the broker does not acknowledge in this time counts as a lost connection (a broker that stopped
# delivering must not hold the queue forever).
PUBLISH_TIMEOUT_S = 10.0
# Control events between the publisher's own tasks, never sent nor kept on disk.
_REBIRTH: Event = {"kind": "rebirth"}
BD_SEQ_KEY = "sparkplug_bd_seq"
_LOST = "lost"
_CONTROL = ("rebirth", _LOST)


class Format(Protocol):
    """How events become MQTT messages: `uns` (hmi/mqtt/uns.py) or `sparkplug` (hmi/mqtt/sparkplug.py)."""

    def use_plant(self, plant: PlantConfig) -> None:
        """Take a reloaded plant's tags and places."""

    def will(self) -> Message | None:
        """The last will of the next connection (asked once per connection attempt)."""

    def death(self) -> Message | None:
        """The current connection's will, said by the publisher itself on a clean stop."""

    def births(self) -> list[Message]:
        """What to publish first on every connection and on a rebirth request."""

    def encode(self, event: Event, *, replay: bool = False) -> list[Message]:
        """The messages of an event; `replay` for one kept on disk during an outage."""

    def commands(self) -> list[str]:
        """Topics to subscribe to for commands addressed to this HMI."""

    def command(self, topic: str, payload: bytes) -> bool:
        """Handle a received command; True when it asks for a new birth."""


@dataclass(frozen=True, slots=True)
class PublisherStatus:
    """What the screens show about the publisher."""

    state: str
    """'connecting', 'connected', 'unreachable' or 'stopped'."""
    since: datetime | None
    detail: str
    on_disk: int
    dropped: int
    published: int

    @property
    def trouble(self) -> bool:
        """True when people should be told: the broker cannot be reached, or messages were dropped."""
        return self.state == "unreachable" or self.dropped > 0


class MqttPublisher:
    """Publishes the plant to the broker of `config` in its format; started and stopped by the runtime."""

    def __init__(
        self,
        config: MqttConfig,
        plant: PlantConfig,
        cache: TagCache,
        alarms: AlarmEngine,
        oee: OeeService | None,
        outbox_dir: Path,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self.plant = plant
        self.cache = cache
        self.alarms = alarms
        self.oee = oee
        self.clock = clock
        self.format: Format = self._format()
        self.outbox = Outbox(outbox_dir / "outbox.sqlite3", config.buffer_max_messages)
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=config.queue_size)
        self._state = "stopped"
        self._since: datetime | None = None
        self._detail = ""
        self._dropped_in_memory = 0
        self._published = 0
        # Taken from the queue, not yet acknowledged by the broker: kept on disk first when the connection is lost.
        self._pending: deque[Event] = deque()
        self._session_no = 0
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._line_of_state_tag = {line.state_tag: line.name for _, line in plant.lines() if line.state_tag}
        self.connected = asyncio.Event()
        """Set while a session with the broker is up (tests and the demo wait on it)."""

    def _format(self) -> Format:
        if self.config.format == "sparkplug":
            return SparkplugEncoder(self.config, self.plant, self.cache, self.clock, self._alarm_state)
        return UnsEncoder(self.config, self.plant)

    def _alarm_state(self, alarm_id: str) -> str:
        alarm = self.alarms.get(alarm_id)
        return "normal" if alarm is None else str(alarm.state)

    def use_plant(self, plant: PlantConfig) -> None:
        """Publish the tags of a reloaded plant (its `mqtt:` section itself takes a restart, hmi/plant_diff.py)."""
        self.plant = plant
        self.format.use_plant(plant)
        self._line_of_state_tag = {line.state_tag: line.name for _, line in plant.lines() if line.state_tag}
        # Sparkplug B: new or removed metrics need new birth certificates.
        self.request_rebirth()

    @property
    def status(self) -> PublisherStatus:
        """The publisher's state now, with the messages waiting on disk and those dropped."""
        return PublisherStatus(
            self._state,
            self._since,
            self._detail,
            self.outbox.count,
            self.outbox.dropped + self._dropped_in_memory,
            self._published,
        )

    @property
    def idle(self) -> bool:
        """True when everything queued has been acknowledged by the broker (nothing in memory waits)."""
        return self._queue.empty() and not self._pending

    @property
    def client_id(self) -> str:
        """The MQTT client id: configured, else factory-hmi-<site>."""
        # MQTT 3.1.1 §3.1.3.1: brokers must accept letters and digits; other characters only may be.
        return self.config.client_id or "factory-hmi-" + re.sub(r"[^0-9A-Za-z]+", "-", self.plant.site.name).strip("-")

    # ---------------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open the outbox and listen to the cache and the alarm engine; the sending task connects by itself."""
        await self.outbox.open()
        if isinstance(self.format, SparkplugEncoder):
            # Sparkplug B: each connection's bdSeq follows the previous one's, across restarts too.
            self.format.bd_seq = await self.outbox.number(BD_SEQ_KEY, -1)
        publish = self.config.publish
        if publish.tags or publish.lines:
            self._unsubscribe.append(self.cache.subscribe(None, self._on_tags))
        if publish.alarms:
            self._unsubscribe.append(self.alarms.subscribe(self._on_alarms))
        self._set("connecting", "")
        self._tasks.append(asyncio.create_task(self._run(), name="mqtt-publisher"))
        if publish.lines and self.oee is not None:
            self._tasks.append(asyncio.create_task(self._oee_loop(), name="mqtt-oee"))

    async def stop(self) -> None:
        """Stop listening, end the session (a clean one: the format's death is sent) and keep on disk what is
        still queued, for the next start."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        tasks, self._tasks = self._tasks, []
        await stop_tasks(*tasks)
        waiting = [*self._pending, *self._drain()]
        self._pending = deque()
        with contextlib.suppress(Exception):
            await self.outbox.append([dumps(e) for e in waiting if e.get("kind") not in _CONTROL])
        await self.outbox.close()
        self.connected.clear()
        self._set("stopped", "")

    # ---------------------------------------------------------------------------------------------- listeners

    def _on_tags(self, states: Sequence[TagState]) -> None:
        """Tag cache listener (runs inside the cache's update): only enqueue."""
        publish = self.config.publish
        for state in states:
            if state.name not in self.plant.tags:
                continue
            if publish.tags:
                self._put(tag_event(state))
            line = self._line_of_state_tag.get(state.name)
            if publish.lines and line is not None:
                self._put(line_state_event(line, state))

    def _on_alarms(self, changes: Sequence[AlarmChange]) -> None:
        """Alarm engine listener: only enqueue."""
        for change in changes:
            self._put(alarm_event(change))

    def _put(self, event: Event) -> None:
        """Queue an event; a full queue drops its oldest (counted) rather than block or grow without bound."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self._dropped_in_memory += 1
            self._queue.put_nowait(event)

    def request_rebirth(self) -> None:
        """Publish the births again (Sparkplug B: on a `Node Control/Rebirth` command)."""
        self._put(dict(_REBIRTH))

    # ---------------------------------------------------------------------------------------------- sending

    async def _run(self) -> None:
        """Connect, send, and on losing the broker keep events on disk until the next attempt."""
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (aiomqtt.MqttError, OSError, ssl.SSLError, TimeoutError, ValueError) as exc:
                self._lost(str(exc) or type(exc).__name__)
            except Exception as exc:
                log.exception("MQTT publisher failed")
                self._lost(f"{type(exc).__name__}: {exc}")
            self.connected.clear()
            await self._spill(list(self._pending))
            self._pending = deque()
            await self._hold(self.config.reconnect_s)

    def _lost(self, why: str) -> None:
        if self._state != "unreachable":
            log.warning("MQTT broker %s unreachable: %s; keeping messages on local disk", self.config.url, why)
        self._set("unreachable", why)

    async def _hold(self, seconds: float) -> None:
        """Until the next connection attempt: move what arrives to the outbox, in batches, in order."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    first = await self._queue.get()
            except TimeoutError:
                return
            await self._spill([first, *self._drain()])

    async def _spill(self, events: list[Event]) -> None:
        kept = [dumps(e) for e in events if e.get("kind") not in _CONTROL]
        dropped = await self.outbox.append(kept)
        if dropped:
            log.warning("MQTT outbox full: dropped the %d oldest message(s)", dropped)

    def _drain(self) -> list[Event]:
        out: list[Event] = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                return out

    async def _session(self) -> None:
        will = self.format.will()
        if isinstance(self.format, SparkplugEncoder):
            await self.outbox.set_number(BD_SEQ_KEY, self.format.bd_seq)
        client = aiomqtt.Client(
            self.config.host,
            self.config.port,
            username=self.config.username,
            password=self.config.password.reveal() if self.config.password is not None else None,
            identifier=self.client_id,
            will=None if will is None else aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
            keepalive=self.config.keepalive_s,
            timeout=PUBLISH_TIMEOUT_S,
            clean_session=True,
            tls_context=await asyncio.to_thread(self._tls_context) if self.config.scheme == "mqtts" else None,
        )
        async with client:
            self._session_no += 1
            # Reads commands and, with or without any, notices a lost connection while nothing is being sent.
            listener = asyncio.create_task(self._commands(client, self._session_no), name="mqtt-commands")
            try:
                for topic in self.format.commands():
                    await client.subscribe(topic, qos=1)
                await self._send(client, self.format.births())
                self._set("connected", "")
                self.connected.set()
                log.info("MQTT publisher connected to %s as %s", self.config.url, self.client_id)
                await self._replay(client)
                while True:
                    event = await self._queue.get()
                    self._pending = deque([event, *self._drain()])
                    while self._pending:
                        item = self._pending[0]
                        if item.get("kind") == _LOST and item.get("session") == self._session_no:
                            raise aiomqtt.MqttError("connection to the broker lost")
                        if item.get("kind") == "rebirth":
                            await self._send(client, self.format.births())
                        elif item.get("kind") not in _CONTROL:
                            await self._send(client, self.format.encode(item))
                        self._pending.popleft()
            finally:
                await stop_tasks(listener)
                await self._goodbye(client)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """On a clean stop, say the death the will would have said (Sparkplug B: NDEATH before disconnecting)."""
        will = self.format.death() if self._stopping() else None
        if will is not None:
            with contextlib.suppress(Exception):
                await client.publish(will.topic, will.payload, qos=will.qos, retain=will.retain, timeout=2)

    def _stopping(self) -> bool:
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0

    async def _replay(self, client: aiomqtt.Client) -> None:
        """Send what waits on disk, oldest first, before anything newer."""
        while batch := await self.outbox.oldest(REPLAY_BATCH):
            for _, text in batch:
                await self._send(client, self.format.encode(json.loads(text), replay=True))
            await self.outbox.remove_through(batch[-1][0])

    async def _send(self, client: aiomqtt.Client, messages: list[Message]) -> None:
        for message in messages:
            await client.publish(
                message.topic, message.payload, qos=message.qos, retain=message.retain, timeout=PUBLISH_TIMEOUT_S
            )
            self._published += 1

    async def _commands(self, client: aiomqtt.Client, session: int) -> None:
        try:
            await self._read_commands(client)
        except aiomqtt.MqttError:
            # Wakes the sending loop, which may be waiting for the next change (a control event, never dropped
            # for being late: one from an older session is ignored).
            self._put({"kind": _LOST, "session": session})

    async def _read_commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            try:
                rebirth = self.format.command(str(message.topic), payload)
            except Exception:
                log.exception("MQTT command on %s could not be read", message.topic)
                continue
            if rebirth:
                log.info("MQTT rebirth requested on %s", message.topic)
                self.request_rebirth()

    def _tls_context(self) -> ssl.SSLContext:
        tls = self.config.tls
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls and tls.ca_file else None)
        if tls is not None:
            if tls.cert_file is not None and tls.key_file is not None:
                context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
            context.check_hostname = tls.verify_hostname
        return context

    # ---------------------------------------------------------------------------------------------- OEE

    async def _oee_loop(self) -> None:
        """Each line's OEE for the current shift, every `oee_interval_s` (ISO 22400-2)."""
        assert self.oee is not None
        while True:
            now = self.clock()
            shift = current_shift(self.plant.site, now)
            for _, line in self.plant.lines():
                if line.oee is None:
                    continue
                try:
                    report = await self.oee.report(line.name, shift.start, min(now, shift.end))
                except Exception:
                    log.exception("OEE of line %s for MQTT could not be computed", line.name)
                    continue
                self._put(oee_event(report, shift.name, now))
            await asyncio.sleep(self.config.publish.oee_interval_s)

    def _set(self, state: str, detail: str) -> None:
        if state != self._state:
            self._since = self.clock()
        self._state = state
        self._detail = detail
