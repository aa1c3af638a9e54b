"""Tags from an MQTT broker: a topic's JSON (a dotted path per tag) or Sparkplug B metrics (docs/mqtt.md).

Quality follows the OPC UA source: while the broker cannot be reached every tag of the endpoint is STALE; so is a
tag whose topic stays silent longer than the endpoint's `stale_after_s`, and every tag of a Sparkplug edge node or
device that announced its death (NDEATH, DDEATH; Sparkplug B 3.0). Values are checked against the tag's data type
like OPC UA values (hmi/tags.py `coerce`).

As a Sparkplug host application (Sparkplug B 3.0 §5 and §6.4): an NDEATH counts only when its bdSeq is the one the
edge node's last NBIRTH announced (a late will from an earlier connection does not end the current one); data from an
edge node or device whose birth this HMI has not seen, or a gap in the edge node's sequence numbers, gets a rebirth
request (an NCMD setting `Node Control/Rebirth`), at most one per edge node every REBIRTH_S seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pysparkplug as spb

from hmi.clock import Clock, utc_now
from hmi.config import Endpoint, Tag
from hmi.mqtt.settings import DEFAULT_PORTS, check_broker_url
from hmi.sources.base import EndpointStatus, StatusBoard
from hmi.supervise import stop_tasks
from hmi.tags import GOOD, Quality, TagCache, TagState, classify, coerce

log = logging.getLogger(__name__)

BAD = 0x80000000  # Bad (IEC 62541-4 StatusCode severity bits): a publisher said its value is bad
UNCERTAIN = 0x40000000
BAD_DECODING_ERROR = 0x80070000  # BadDecodingError: the payload could not be read
RETRY_S = 2.0
REBIRTH_S = 5.0
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"
_QUALITY_CODES = {"good": GOOD, "uncertain": UNCERTAIN, "bad": BAD, "stale": BAD}
# A Sparkplug place: (group, edge node, device or None for the node's own metrics).
Place = tuple[str, str, str | None]


def pick(payload: Any, path: str | None) -> Any:
    """The value at a dotted `path` ('a.b.0.c', an optional leading '$.') in decoded JSON; without a path the
    object's `value` (the unified-namespace convention), else the payload itself. KeyError when absent."""
    if path is None:
        return payload["value"] if isinstance(payload, dict) and "value" in payload else payload
    node = payload
    for part in path.removeprefix("$.").split("."):
        if isinstance(node, list) and part.isdigit():
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            raise KeyError(part)
    return node


def json_time(payload: Any) -> datetime | None:
    """A `timestamp` at the top of the JSON object: ISO 8601 text or epoch milliseconds; None when absent."""
    raw = payload.get("timestamp") if isinstance(payload, dict) else None
    try:
        if isinstance(raw, str):
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return datetime.fromtimestamp(raw / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


class MqttSource:
    """Feeds the cache from one MQTT endpoint; started and stopped by the runtime like an OPC UA source."""

    def __init__(
        self, endpoint: Endpoint, tags: Sequence[Tag], cache: TagCache, board: StatusBoard, clock: Clock = utc_now
    ) -> None:
        check_broker_url(endpoint.url)
        self.name = endpoint.name
        self.endpoint = endpoint
        self.tags = list(tags)
        self._cache = cache
        self._board = board
        self._clock = clock
        self._connected = False
        self._tasks: list[asyncio.Task[None]] = []
        self._last_seen: dict[str, datetime] = {}
        self._by_topic: dict[str, list[Tag]] = {}
        self._by_place: dict[Place, dict[str, list[Tag]]] = {}
        self._births: dict[Place, spb.NBirth | spb.DBirth] = {}
        # Per edge node (group, edge): its NBIRTH's bdSeq, the last sequence number heard, the last rebirth request.
        self._bd_seq: dict[tuple[str, str], int] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._rebirth_asked: dict[tuple[str, str], datetime] = {}
        # NCMD topics to publish a rebirth request on, sent by the session after the message that called for it.
        self._commands: list[str] = []
        for tag in self.tags:
            if endpoint.payload == "json":
                self._by_topic.setdefault(tag.node_id, []).append(tag)
            else:
                group, edge, *device = tag.node_id.split("/")
                place = (group, edge, device[0] if device else None)
                self._by_place.setdefault(place, {}).setdefault(tag.metric or tag.name, []).append(tag)

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self._connected

    def subscriptions(self) -> list[str]:
        """The topic filters this endpoint needs."""
        if self.endpoint.payload == "json":
            return sorted(self._by_topic)
        # Every message type of each edge node the tags come from (births, data, deaths of it and its devices).
        return sorted({f"spBv1.0/{group}/+/{edge}/#" for group, edge, _ in self._by_place})

    async def start(self) -> None:
        """Connect in the background; never raises for an unreachable broker."""
        self._tasks = [
            asyncio.create_task(self._run(), name=f"mqtt-source-{self.name}"),
            asyncio.create_task(self._watch_silence(), name=f"mqtt-silence-{self.name}"),
        ]

    async def stop(self) -> None:
        """End the connection and the silence watch."""
        tasks, self._tasks = self._tasks, []
        await stop_tasks(*tasks)
        self._connected = False

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (aiomqtt.MqttError, OSError, ssl.SSLError, TimeoutError) as exc:
                self._lost(str(exc) or type(exc).__name__)
            except Exception as exc:
                log.exception("MQTT endpoint %s failed", self.name)
                self._lost(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(RETRY_S)

    async def _session(self) -> None:
        ep = self.endpoint
        address = urlsplit(ep.url)
        secure = address.scheme == "mqtts"
        context = await asyncio.to_thread(ssl.create_default_context) if secure else None
        client = aiomqtt.Client(
            address.hostname or "",
            address.port or DEFAULT_PORTS[address.scheme],
            username=ep.username,
            password=ep.password.reveal() if ep.password is not None else None,
            keepalive=max(5, int(ep.stale_after_s * 2)),
            timeout=max(3.0, ep.stale_after_s * 2),
            tls_context=context,
        )
        async with client:
            for topic in self.subscriptions():
                await client.subscribe(topic, qos=1)
            self._connected = True
            self._board.set(EndpointStatus(self.name, ep.url, True, self._clock(), ""))
            log.info("MQTT endpoint %s connected to %s", self.name, ep.url)
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
                try:
                    self.receive(str(message.topic), bytes(payload))
                except Exception:
                    log.exception("MQTT endpoint %s: message on %s could not be read", self.name, message.topic)
                for topic, command in self.take_commands():
                    await client.publish(topic, command, qos=0)

    def take_commands(self) -> list[tuple[str, bytes]]:
        """The rebirth requests to publish now (topic, NCMD payload); each is handed out once."""
        topics, self._commands = self._commands, []
        now = int(self._clock().timestamp() * 1000)
        ask = spb.NCmd(
            timestamp=now, metrics=(spb.Metric(timestamp=now, name=REBIRTH, datatype=spb.DataType.BOOLEAN, value=True),)
        )
        return [(topic, ask.encode(include_dtypes=True)) for topic in topics]

    def _ask_rebirth(self, node: tuple[str, str], why: str) -> None:
        now = self._clock()
        last = self._rebirth_asked.get(node)
        if last is not None and now - last < timedelta(seconds=REBIRTH_S):
            return
        self._rebirth_asked[node] = now
        log.info("MQTT endpoint %s: asking edge node %s/%s to rebirth: %s", self.name, *node, why)
        self._commands.append(f"spBv1.0/{node[0]}/NCMD/{node[1]}")

    def _lost(self, detail: str) -> None:
        prev = self._board.get(self.name)
        since = prev.since if prev is not None and not prev.connected else self._clock()
        self._connected = False
        self._board.set(EndpointStatus(self.name, self.endpoint.url, False, since, detail))
        self._cache.mark_stale((t.name for t in self.tags), since)

    # ------------------------------------------------------------------------------------------------ messages

    def receive(self, topic: str, payload: bytes) -> None:
        """Turn one message into tag states (public for the silence tests' clock; runs on the event loop)."""
        if self.endpoint.payload == "json":
            self._json(topic, payload)
        else:
            self._sparkplug(topic, payload)

    def _json(self, topic: str, payload: bytes) -> None:
        tags = self._by_topic.get(topic)
        if not tags:
            return
        now = self._clock()
        try:
            decoded = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._update([self._state(t, None, BAD_DECODING_ERROR, None, now, f"not JSON: {exc}") for t in tags])
            return
        when = json_time(decoded)
        said = decoded.get("quality") if isinstance(decoded, dict) else None
        status = _QUALITY_CODES.get(said, GOOD) if isinstance(said, str) else GOOD
        states = []
        for tag in tags:
            try:
                raw = pick(decoded, tag.json_path)
            except (KeyError, IndexError):
                where = tag.json_path or "value"
                states.append(self._state(tag, None, BAD_DECODING_ERROR, when, now, f"no {where} in the message"))
                continue
            states.append(self._state(tag, raw, status, when, now))
        self._update(states)

    def _sparkplug(self, topic: str, payload: bytes) -> None:
        parsed = spb.Topic.from_str(topic)
        if parsed.group_id is None or parsed.edge_node_id is None:
            return
        kind = parsed.message_type
        place: Place = (parsed.group_id, parsed.edge_node_id, parsed.device_id)
        node = place[:2]
        now = self._clock()
        if kind == spb.MessageType.NDEATH:
            said = spb.NDeath.decode(payload).bd_seq_metric.value
            if node in self._bd_seq and said != self._bd_seq[node]:
                log.info(
                    "MQTT endpoint %s: NDEATH of %s/%s with bdSeq %s, not its birth's %s: an earlier "
                    "connection's will, ignored",
                    self.name,
                    *node,
                    said,
                    self._bd_seq[node],
                )
                return
            self._bd_seq.pop(node, None)
            self._seq.pop(node, None)
            for known in [p for p in self._births if p[:2] == node]:
                del self._births[known]
        elif kind == spb.MessageType.DDEATH:
            self._follow_sequence(node, spb.DDeath.decode(payload).seq)
            self._births.pop(place, None)
        if kind == spb.MessageType.NDEATH or kind == spb.MessageType.DDEATH:
            dead = [
                t.name
                for (group, edge, device), metrics in self._by_place.items()
                if (group, edge) == place[:2] and (kind == spb.MessageType.NDEATH or device == place[2])
                for tags in metrics.values()
                for t in tags
            ]
            self._cache.mark_stale(dead, now)
            return
        if kind in (spb.MessageType.NBIRTH, spb.MessageType.DBIRTH):
            birth_type = spb.NBirth if kind == spb.MessageType.NBIRTH else spb.DBirth
            birth = birth_type.decode(payload)
            if kind == spb.MessageType.NBIRTH:
                # A new session of the edge node: its devices' earlier births no longer hold.
                for known in [p for p in self._births if p[:2] == node]:
                    del self._births[known]
                bd_seq = next((m.value for m in birth.metrics if m.name == BD_SEQ), None)
                if isinstance(bd_seq, int):
                    self._bd_seq[node] = bd_seq
            elif (node[0], node[1], None) not in self._births:
                self._ask_rebirth(node, f"DBIRTH of {place[2]} before the node's NBIRTH")
            self._follow_sequence(node, birth.seq, birth=kind == spb.MessageType.NBIRTH)
            self._births[place] = birth
            metrics = birth.metrics
        elif kind in (spb.MessageType.NDATA, spb.MessageType.DDATA):
            was_born = self._births.get(place)
            if was_born is None:
                # Without the birth, aliases and data types are unknown: the edge node must send its births again.
                self._ask_rebirth(node, f"data from {'/'.join(p for p in place if p)} before its birth")
                return
            data = spb.DData.decode(payload, birth=was_born)
            self._follow_sequence(node, data.seq)
            metrics = data.metrics
        else:
            return
        wanted = self._by_place.get(place)
        if not wanted:
            return
        states = []
        for metric in metrics:
            name = metric.name
            if name is None and metric.alias is not None and place in self._births:
                name = self._births[place].get_name(metric.alias)
            if name is None or metric.is_historical:
                continue
            when = datetime.fromtimestamp(metric.timestamp / 1000, UTC) if metric.timestamp else None
            value = None if metric.is_null else metric.value
            status = BAD if metric.is_null else GOOD
            states += [self._state(tag, value, status, when, now) for tag in wanted.get(name, ())]
        self._update(states)

    def _follow_sequence(self, node: tuple[str, str], seq: int | None, *, birth: bool = False) -> None:
        """Follow the edge node's sequence numbers (0-255, one per message of the node and its devices; its NBIRTH
        starts them afresh); a gap means messages were lost, and asks for a rebirth."""
        if seq is None:
            return
        last = self._seq.get(node)
        self._seq[node] = seq
        if not birth and last is not None and seq != (last + 1) % 256:
            self._ask_rebirth(node, f"sequence number {seq} after {last}: messages were lost")

    def _state(self, tag: Tag, raw: Any, status: int, when: datetime | None, now: datetime, note: str = "") -> TagState:
        value = raw
        if classify(status) is Quality.GOOD:
            value, override, why = coerce(tag.data_type, raw)
            if override:
                status, note = override, why
        self._last_seen[tag.name] = now
        return TagState(tag.name, value, status, classify(status), when, None, now, None, note)

    def _update(self, states: list[TagState]) -> None:
        if states:
            self._cache.update(states)

    # ------------------------------------------------------------------------------------------------ silence

    async def _watch_silence(self) -> None:
        """A tag not heard of within `stale_after_s` turns STALE, since the moment it should have been."""
        limit = timedelta(seconds=self.endpoint.stale_after_s)
        while True:
            await asyncio.sleep(min(1.0, self.endpoint.stale_after_s / 4))
            self.check_silence(limit)

    def check_silence(self, limit: timedelta) -> None:
        """Mark STALE the tags silent for longer than `limit`."""
        now = self._clock()
        for name, seen in list(self._last_seen.items()):
            if now - seen > limit:
                self._cache.mark_stale([name], seen + limit)
                with contextlib.suppress(KeyError):
                    del self._last_seen[name]
