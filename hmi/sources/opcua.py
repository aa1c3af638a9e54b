"""OPC UA source: one asyncua client per endpoint, subscriptions in chunks, reconnect, STALE on loss."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from asyncua import Client, Node, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import DataChangeEvent, Subscription
from asyncua.crypto import security_policies
from asyncua.observer import Observer, SubscriptionEvent

from hmi.config import Endpoint, Tag
from hmi.sources.base import EndpointStatus, StatusBoard
from hmi.supervise import stop_tasks
from hmi.tags import TagCache, TagState, classify, coerce
from hmi.texts import Text

log = logging.getLogger(__name__)
# Data changes handed to the cache at once: large enough that a batch costs little per value, small enough that the
# cache's listeners (alarms, historian, trends, screens) finish one in well under a tenth of a second.
MAX_BATCH = 2_000

Clock = Callable[[], datetime]

# The Variant a tag's value is sent as when the node's DataType cannot be read or is abstract (Number, BaseDataType).
_DEFAULT_VARIANT = {
    "float": ua.VariantType.Double,
    "int": ua.VariantType.Int32,
    "bool": ua.VariantType.Boolean,
    "string": ua.VariantType.String,
}
_INTEGER_VARIANTS = frozenset(
    {
        ua.VariantType.SByte,
        ua.VariantType.Byte,
        ua.VariantType.Int16,
        ua.VariantType.UInt16,
        ua.VariantType.Int32,
        ua.VariantType.UInt32,
        ua.VariantType.Int64,
        ua.VariantType.UInt64,
    }
)
_FLOAT_VARIANTS = frozenset({ua.VariantType.Float, ua.VariantType.Double})


class EndpointDown(ConnectionError):
    """The endpoint has no usable session: nothing was sent. The message names the endpoint."""

    def __init__(self, endpoint: str, url: str, detail: str = "") -> None:
        self.endpoint = endpoint
        self.url = url
        super().__init__(
            Text("endpoint {endpoint} ({url}) is not connected: {detail}", endpoint=endpoint, url=url, detail=detail)
            if detail
            else Text("endpoint {endpoint} ({url}) is not connected", endpoint=endpoint, url=url)
        )


def to_variant(value: Any, variant_type: ua.VariantType) -> ua.Variant:
    """`value` as a Variant of `variant_type`: numbers converted to the node's integer or floating type (a value
    that does not fit raises ValueError), booleans and text as they are."""
    if variant_type in _INTEGER_VARIANTS:
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(Text("{value!r} is not a whole number", value=value))
            value = int(value)
        value = int(value)
    elif variant_type in _FLOAT_VARIANTS:
        value = float(value)
    elif variant_type is ua.VariantType.Boolean:
        value = bool(value)
    elif variant_type in (ua.VariantType.String, ua.VariantType.LocalizedText):
        value = str(value) if variant_type is ua.VariantType.String else ua.LocalizedText(str(value))
    return ua.Variant(value, variant_type)


def _utc(ts: datetime | None) -> datetime | None:
    # asyncua returns naive UTC datetimes for some fields; the core only deals in aware UTC.
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def to_state(tag: Tag, dv: ua.DataValue, received: datetime, skew_tolerance_s: float | None = None) -> TagState:
    """Turn an OPC UA DataValue into a TagState, checking the value against the tag's configured type.

    A SourceTimestamp ahead of `received` by more than `skew_tolerance_s` is marked as clock skew: such a value
    cannot have been measured yet, the source's clock is wrong (IEC 62541-4 §7.7.3 SourceTimestamp).
    """
    raw = dv.Value.Value if dv.Value is not None else None
    code = dv.StatusCode.value if dv.StatusCode is not None else 0
    note = ""
    if classify(code) is not classify(0) or raw is None:
        value = raw
    else:
        value, override, note = coerce(tag.data_type, raw)
        if override:
            code = override
            log.warning("tag %s: malformed value %r from the server: %s", tag.name, raw, note)
    source = _utc(dv.SourceTimestamp)
    skew = 0.0
    if source is not None and skew_tolerance_s is not None:
        ahead = (source - received).total_seconds()
        skew = ahead if ahead > skew_tolerance_s else 0.0
    return TagState(tag.name, value, code, classify(code), source, _utc(dv.ServerTimestamp), received, None, note, skew)


def subscription_parameters(publishing_interval_ms: int) -> ua.CreateSubscriptionParameters:
    """The parameters of every subscription the HMI makes (data changes and Alarms & Conditions events).

    Keep-alive at least every second, lifetime ten keep-alives: an idle but healthy subscription still proves the
    server is there, and a dead one is noticed in seconds, not the library's minutes.
    """
    params = ua.CreateSubscriptionParameters()
    params.RequestedPublishingInterval = publishing_interval_ms
    params.RequestedMaxKeepAliveCount = max(1, math.ceil(1000 / publishing_interval_ms))
    params.RequestedLifetimeCount = params.RequestedMaxKeepAliveCount * 10
    params.MaxNotificationsPerPublish = 0
    params.PublishingEnabled = True
    params.Priority = 0
    return params


class SessionHook(Protocol):
    """Follows the endpoint's session, for a component that owns its own subscription on it (e.g. conditions).

    Called on the event loop from inside asyncua's connection handling: implementations only record and enqueue.
    """

    def on_session(self, client: Client) -> None:
        """The session is usable: after the first connect and after every reconnect (asyncua may still be
        restoring subscriptions then; `on_subscription_recreated` follows for each one it re-creates)."""

    def on_session_lost(self) -> None:
        """The connection is down (or the source stopped); the client may come back or be replaced."""

    def on_subscription_recreated(self, subscription_id: int) -> None:
        """asyncua re-created a subscription of this client under the new id (its items follow right after)."""


class _StateObserver(Observer):
    """Forwards the client's connection state changes and subscription re-creations (called on the event loop)."""

    def __init__(
        self, on_change: Callable[[UaClientState], None], on_recreated: Callable[[int], None] | None = None
    ) -> None:
        self._on_change = on_change
        self._on_recreated = on_recreated

    def on_state_change(self, state: UaClientState) -> None:
        self._on_change(state)

    def on_subscription_event(self, subscription_id: int | None, event: SubscriptionEvent) -> None:
        if event is SubscriptionEvent.RECREATED and subscription_id is not None and self._on_recreated is not None:
            self._on_recreated(subscription_id)


class OpcUaSource:
    """Feeds the cache from one endpoint. Connection loss turns its tags STALE within `stale_after_s`."""

    def __init__(
        self,
        endpoint: Endpoint,
        tags: Sequence[Tag],
        cache: TagCache,
        board: StatusBoard,
        *,
        clock: Clock = lambda: datetime.now(UTC),
        chunk_size: int = 500,
        reconnect_max_delay: float = 5.0,
        on_reconnect: Callable[[], None] | None = None,
        queue_size: int = 200_000,
        session_hooks: Sequence[SessionHook] = (),
        request_timeout_s: float | None = None,
    ) -> None:
        self.name = endpoint.name
        self.endpoint = endpoint
        self.tags = list(tags)
        self._cache = cache
        self._board = board
        self._clock = clock
        self._chunk = chunk_size
        self._max_delay = reconnect_max_delay
        self._queue_size = queue_size
        self._on_reconnect = on_reconnect
        self._hooks = list(session_hooks)
        # The tags each subscribed node feeds (usually one; two tags may read the same node, e.g. in two units).
        self._by_nodeid: dict[ua.NodeId, tuple[Tag, ...]] = {}
        # The monitored items of the subscription and the tag changes of a plant reload take turns (set_tags).
        self._items_lock = asyncio.Lock()
        # The tags the live subscription was made or last updated for: a reload reads the values of the others.
        self._applied: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._aux: set[asyncio.Task[Any]] = set()
        self._client: Client | None = None
        self._sub: Subscription | None = None
        self._connected = False
        self._stopping = False
        self._skew_tolerance = endpoint.clock_skew_tolerance_s
        self._skewed = False
        # The Variant type of each written node, read from its DataType once per session.
        self._variants: dict[str, ua.VariantType] = {}
        # Write, Call and Read of people's actions wait at most this long (the client's own timeout also applies).
        self.request_timeout_s = request_timeout_s or max(2.0, endpoint.stale_after_s)
        self.connects = 0
        self._board.set(EndpointStatus(self.name, endpoint.url, False, clock(), "connecting"))

    # ----------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start the connection loop in the background."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"opcua:{self.name}")

    async def stop(self) -> None:
        """Disconnect and end every task of this source."""
        self._stopping = True
        # Whatever follows this session (the condition list) is no longer live once the source stops.
        self._tell(lambda hook: hook.on_session_lost())
        await stop_tasks(self._task, *self._aux)
        self._task = None
        self._aux.clear()
        await self._disconnect()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"opcua:{self.name}:{name}")
        self._aux.add(task)
        task.add_done_callback(self._aux.discard)

    # ------------------------------------------------------------------------------------ connection loop
    async def _run(self) -> None:
        delay = 0.5
        while not self._stopping:
            try:
                await self._connect()
                delay = 0.5
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                detail = _describe(exc)
                log.warning("endpoint %s (%s): %s; retrying in %.1f s", self.name, self.endpoint.url, detail, delay)
                self._lost(detail)
            await self._disconnect()
            if self._stopping:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    def _make_client(self) -> Client:
        ep = self.endpoint
        stale = ep.stale_after_s
        # The watchdog probes the server every second so a silent (not closed) connection is found within the
        # stale bound; auto_reconnect re-creates the session and subscriptions with backoff.
        client = Client(
            ep.url,
            timeout=max(1.0, stale / 2),
            watchdog_intervall=min(1.0, stale / 3),
            auto_reconnect=True,
            reconnect_max_delay=self._max_delay,
            reconnect_request_timeout=stale,
        )
        client.session_timeout = 30_000
        # asyncua re-creates a subscription it has heard nothing from for keep-alive time x this margin (1.5 by
        # default: 1.5 s with our one-second keep-alive). An event loop busy for that long (a start-up burst, a
        # loaded panel server) is not a dead subscription, and re-creating one drops its events and, for the
        # conditions, forces a ConditionRefresh. The plant's own bound for silence is stale_after_s; a subscription
        # that is really gone is still replaced (and, failing that, the session: _watch_subscription).
        client._stale_check_margin = max(1.5, stale)
        if ep.username is not None and ep.password is not None:
            client.set_user(ep.username)
            client.set_password(ep.password.reveal())
        return client

    async def _connect(self) -> None:
        client = self._make_client()
        self._client = client
        ep = self.endpoint
        if ep.security.policy == "Basic256Sha256":
            sec = ep.security
            assert sec.certificate is not None
            assert sec.private_key is not None
            client.application_uri = _application_uri(sec.certificate) or client.application_uri
            await client.set_security(
                security_policies.SecurityPolicyBasic256Sha256,
                str(sec.certificate),
                str(sec.private_key),
                server_certificate=str(sec.server_certificate),
                mode=getattr(ua.MessageSecurityMode, sec.mode),
            )
        async with asyncio.timeout(max(3.0, ep.stale_after_s * 2)):
            await client.connect()
        self._variants.clear()
        client.uaclient.observer = _StateObserver(self._on_client_state, self._on_recreated)
        async with self._items_lock:
            await self._subscribe(client)
            await self._read_all(client)
        self.connects += 1
        self._set_connected()
        self._tell(lambda hook: hook.on_session(client))
        self._spawn(self._watch_subscription(client), "subscription-watch")

    async def _subscribe(self, client: Client) -> None:
        params = subscription_parameters(self.endpoint.publishing_interval_ms)
        sub = await client.create_subscription(params, None, queue_maxsize=self._queue_size)
        self._sub = sub
        self._by_nodeid.clear()
        nodes: list[Node] = []
        for tag in self.tags:
            try:
                node = client.get_node(tag.node_id)
            except Exception as exc:
                log.error(
                    "tag %s: node id %r is not valid (%s); fix node_id in the configuration", tag.name, tag.node_id, exc
                )
                continue
            if node.nodeid not in self._by_nodeid:
                nodes.append(node)  # one monitored item per node, whatever number of tags read it
            self._by_nodeid[node.nodeid] = (*self._by_nodeid.get(node.nodeid, ()), tag)
        self._applied = {tag.name for tags in self._by_nodeid.values() for tag in tags}
        for start in range(0, len(nodes), self._chunk):
            chunk = nodes[start : start + self._chunk]
            handles = await sub.subscribe_data_change(chunk, queuesize=1)
            for node, handle in zip(chunk, handles, strict=False):
                if isinstance(handle, (ua.StatusCode, Exception)):
                    tag = self._by_nodeid[node.nodeid][0]
                    log.error("tag %s: cannot subscribe to %s: %s", tag.name, tag.node_id, handle)
        log.info("endpoint %s: %d monitored items in chunks of %d", self.name, len(nodes), self._chunk)

    # --------------------------------------------------------------------------------- plant reload
    def set_tags(self, tags: Sequence[Tag]) -> None:
        """From now on the source serves `tags` (a plant reload): values of tags no longer among them stop at
        once, definitions of kept tags (type, node) are the new ones. The subscription follows in `apply_tags`;
        while disconnected, the next connect subscribes the new list anyway."""
        self.tags = list(tags)
        self._retarget(_node_ids(self.tags))

    def _retarget(self, wanted: dict[ua.NodeId, tuple[Tag, ...]]) -> None:
        """Map each subscribed node to the tags that read it now (new tags on a subscribed node included)."""
        for node_id in list(self._by_nodeid):
            tags = wanted.get(node_id)
            if tags is None:
                del self._by_nodeid[node_id]  # the consume loop drops its notifications from here on
            else:
                self._by_nodeid[node_id] = tags

    async def apply_tags(self) -> tuple[int, int]:
        """Make the live subscription match `tags`: monitored items for new nodes, removed nodes unsubscribed, and
        the current value of every new tag read into the cache. Returns (nodes added, nodes removed); (0, 0)
        while disconnected (the next connect subscribes the whole list)."""
        async with self._items_lock:
            client, sub = self._client, self._sub
            if client is None or sub is None or not self._connected:
                return 0, 0
            wanted = _node_ids(self.tags)
            had = self._applied
            # A connect that was subscribing while set_tags ran may have mapped the old list.
            self._retarget(wanted)
            # asyncua keeps the server handles current across re-created subscriptions only in its own table
            # (checked against asyncua 2.1.0; `subscribe_data_change` returns the handles of that moment).
            current = {
                item.node.nodeid: item.server_handle
                for item in sub._monitored_items.values()
                if item.node is not None and item.server_handle is not None
            }
            gone = [handle for node_id, handle in current.items() if node_id not in wanted]
            if gone:
                await sub.unsubscribe(gone)
            nodes = [client.get_node(node_id) for node_id in wanted if node_id not in current]
            for start in range(0, len(nodes), self._chunk):
                chunk = nodes[start : start + self._chunk]
                handles = await sub.subscribe_data_change(chunk, queuesize=1)
                for node, handle in zip(chunk, handles, strict=False):
                    tags = wanted[node.nodeid]
                    if isinstance(handle, (ua.StatusCode, Exception)):
                        log.error("tag %s: cannot subscribe to %s: %s", tags[0].name, tags[0].node_id, handle)
                    self._by_nodeid[node.nodeid] = tags
            # New tags, on new nodes or on nodes already subscribed (which may not change for a long time), get
            # their value now; only they are updated, so nothing else is recorded twice.
            fresh = [
                client.get_node(node_id)
                for node_id, tags in self._by_nodeid.items()
                if any(tag.name not in had for tag in tags)
            ]
            self._applied = {tag.name for tags in self._by_nodeid.values() for tag in tags}
            if fresh:
                await self._read_nodes(client, fresh, only=self._applied - had)
            log.info(
                "endpoint %s: plant reload added %d and removed %d monitored items", self.name, len(nodes), len(gone)
            )
            return len(nodes), len(gone)

    async def _read_all(self, client: Client) -> None:
        """Read every tag's current value (after connect and reconnect) so the cache never waits on a change."""
        await self._read_nodes(client, [client.get_node(nid) for nid in self._by_nodeid])

    async def _read_nodes(self, client: Client, nodes: Sequence[Node], only: set[str] | None = None) -> None:
        """Read the nodes' values into the cache (for every tag reading them, or only the tags named `only`)."""
        states: list[TagState] = []
        for start in range(0, len(nodes), self._chunk):
            chunk = nodes[start : start + self._chunk]
            values = await client.read_attributes(chunk, ua.AttributeIds.Value)
            received = self._clock()
            for node, dv in zip(chunk, values, strict=True):
                # A reload may have removed the node's tags meanwhile: then there is nothing to update.
                for tag in self._by_nodeid.get(node.nodeid, ()):
                    if only is None or tag.name in only:
                        states.append(to_state(tag, dv, received, self._skew_tolerance))
        self._note_skew(states)
        # In MAX_BATCH steps with the loop free between them, like the subscription's data changes.
        for start in range(0, len(states), MAX_BATCH):
            self._cache.update(states[start : start + MAX_BATCH])
            await asyncio.sleep(0)

    async def _consume(self) -> None:
        sub = self._sub
        assert sub is not None
        # Iterator mode: the publish loop only enqueues; we drain whatever has arrived and hand the cache one batch.
        # asyncua (checked against 2.1.0) hands out queued events one at a time only (`async for`, next_event(),
        # whose timeout wraps every get in a task) and has no public way to take what is queued without waiting,
        # so the batch is read from the subscription's own queue, which iterator mode (no handler) creates up front.
        queue = sub._event_queue
        assert queue is not None
        by_nodeid = self._by_nodeid
        cache_update = self._cache.update
        clock = self._clock
        while True:
            first = await queue.get()
            batch = [first]
            while not queue.empty() and len(batch) < MAX_BATCH:
                batch.append(queue.get_nowait())
            received = clock()
            states = []
            for ev in batch:
                if ev is None:
                    raise ConnectionError("subscription closed")
                if type(ev) is DataChangeEvent:
                    for tag in by_nodeid.get(ev.node.nodeid, ()):
                        states.append(to_state(tag, ev.data.monitored_item.Value, received, self._skew_tolerance))
            self._note_skew(states)
            cache_update(states)
            # Let the panels, the publish loop and the database writes run between batches: a burst (every tag's
            # value at a (re)connect) is handed over in MAX_BATCH steps, never as one long stretch on the loop.
            await asyncio.sleep(0)

    def subscription_dead_after_s(self) -> float:
        """How long the data subscription may stay without a publish (data or keep-alive, at least every second)
        or without a server-side id, while the session is up, before the session is replaced."""
        return max(3.0, self.endpoint.stale_after_s)

    async def _watch_subscription(self, client: Client) -> None:
        """End this session when its subscription is gone for good while the session itself is fine.

        asyncua's reconnect (checked against 2.1.0) re-creates the session and then the subscription; when the
        latter fails (e.g. BadTooManySubscriptions, or the connection dropping again during it) it logs, reports the
        client as connected and never tries again: the session answers, no value ever changes, and the tags would
        show their last value as GOOD for ever. A new session with a new subscription (IEC 62541-4 §6.7) is the way
        out; the connection loop makes it once the subscription has been silent for `subscription_dead_after_s`.
        """
        limit = self.subscription_dead_after_s()
        silent_since: float | None = None
        while not self._stopping and self._client is client:
            await asyncio.sleep(min(1.0, limit / 3))
            sub = self._sub
            if sub is None or client.uaclient.state is not UaClientState.CONNECTED:
                silent_since = None  # reconnecting: asyncua restores the subscription once the session is back
                continue
            last = sub.last_publish_at
            now = time.monotonic()
            silent = sub.subscription_id is None or (last is not None and now - last > limit)
            if not silent:
                silent_since = None
                continue
            silent_since = now if silent_since is None else silent_since
            if now - silent_since < limit:
                continue
            log.warning(
                "endpoint %s: the session is up but its subscription %s; starting a new session",
                self.name,
                "could not be re-created" if sub.subscription_id is None else f"sent nothing for {limit:g} s",
            )
            # Ends _consume with ConnectionError: the connection loop marks the tags STALE and connects anew.
            queue = sub._event_queue
            if queue is not None:
                while queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)
            return

    async def _disconnect(self) -> None:
        client, self._client, self._sub = self._client, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await client.disconnect()

    # -------------------------------------------------------------------------------------- state changes
    def _on_client_state(self, state: UaClientState) -> None:
        if self._stopping:
            return
        if state is UaClientState.CONNECTED:
            if not self._connected:
                log.info("endpoint %s reconnected", self.name)
                self._set_connected()
                client = self._client
                if client is not None:
                    self._spawn(self._reread(client), "reread")
                    self._tell(lambda hook: hook.on_session(client))
        elif state in (UaClientState.RECONNECTING, UaClientState.DISCONNECTED) and self._connected:
            self._lost("connection lost; reconnecting")

    def _on_recreated(self, subscription_id: int) -> None:
        if not self._stopping:
            self._tell(lambda hook: hook.on_subscription_recreated(subscription_id))

    def _tell(self, call: Callable[[SessionHook], None]) -> None:
        # A failing hook must not break the connection handling it is called from.
        for hook in self._hooks:
            try:
                call(hook)
            except Exception:
                log.exception("endpoint %s: session hook %r failed", self.name, hook)

    async def _reread(self, client: Client) -> None:
        try:
            # A plant reload while the connection was down left the restored subscription with the old items.
            await self.apply_tags()
            await self._read_all(client)
        except Exception as exc:
            log.warning("endpoint %s: re-reading values after reconnect failed: %s", self.name, _describe(exc))
        if self._on_reconnect is not None:
            self._on_reconnect()

    def _note_skew(self, states: Sequence[TagState]) -> None:
        """Tell the board when the endpoint's clock starts or stops running ahead (not on every batch)."""
        timed = [s for s in states if s.source_time is not None]
        if not timed:
            return
        skew = max(s.clock_skew_s for s in timed)
        if (skew > 0) == self._skewed:
            return
        self._skewed = skew > 0
        status = self._board.get(self.name)
        if status is not None:
            if self._skewed:
                log.warning("endpoint %s: source times %.1f s ahead of this HMI's clock", self.name, skew)
            self._board.set(replace(status, clock_skew_s=round(skew, 1)))

    def _set_connected(self) -> None:
        self._connected = True
        self._skewed = False  # the new status carries no skew; the next values say again
        self._board.set(EndpointStatus(self.name, self.endpoint.url, True, self._clock(), ""))

    def _lost(self, detail: str) -> None:
        prev = self._board.get(self.name)
        # "Since when" is the first moment of the outage, not the latest failed retry.
        since = prev.since if prev is not None and not prev.connected else self._clock()
        self._connected = False
        self._skewed = False
        self._board.set(EndpointStatus(self.name, self.endpoint.url, False, since, detail))
        self._cache.mark_stale((t.name for t in self.tags), since)
        self._tell(lambda hook: hook.on_session_lost())

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The connection loop, while started."""
        return self._task

    @property
    def connected(self) -> bool:
        """True while the session is up."""
        return self._connected

    # ------------------------------------------------------------------------------ writes, calls, reads
    def _live_client(self) -> Client:
        client = self._client
        if client is None or not self._connected or self._stopping:
            status = self._board.get(self.name)
            raise EndpointDown(self.name, self.endpoint.url, status.detail if status is not None else "")
        return client

    async def _request(self, call: Any) -> Any:
        """Await one service request, bounded by `request_timeout_s`; a broken channel is EndpointDown."""
        try:
            async with asyncio.timeout(self.request_timeout_s):
                return await call
        except TimeoutError:
            raise TimeoutError(
                Text(
                    "endpoint {endpoint} ({url}) did not answer within {seconds:g} s",
                    endpoint=self.name,
                    url=self.endpoint.url,
                    seconds=self.request_timeout_s,
                )
            ) from None
        except ua.UaStatusCodeError:
            raise
        except (ConnectionError, OSError) as exc:
            raise EndpointDown(self.name, self.endpoint.url, _describe(exc)) from exc

    def variant_type(self, tag: Tag) -> ua.VariantType | None:
        """The Variant type values of `tag` are sent as, once learnt from the node (None before the first write)."""
        return self._variants.get(tag.node_id)

    async def _learn_variants(self, client: Client, tags: Sequence[Tag]) -> None:
        """Read the DataType of the nodes not known yet, in one Read; abstract or unreadable types fall back to
        the tag's configured type."""
        unknown = list(dict.fromkeys(t.node_id for t in tags if t.node_id not in self._variants))
        if not unknown:
            return
        by_id = {t.node_id: t for t in tags}
        node_ids = [client.get_node(n).nodeid for n in unknown]
        values = await self._request(client.uaclient.read_attributes(node_ids, ua.AttributeIds.DataType))
        for node_id, dv in zip(unknown, values, strict=True):
            fallback = _DEFAULT_VARIANT[by_id[node_id].data_type]
            variant = fallback
            dtype = (
                dv.Value.Value if dv.Value is not None and (dv.StatusCode is None or dv.StatusCode.is_good()) else None
            )
            if isinstance(dtype, ua.NodeId):
                if dtype.NamespaceIndex == 0 and isinstance(dtype.Identifier, int) and 1 <= dtype.Identifier <= 21:
                    variant = ua.VariantType(dtype.Identifier)
                else:
                    with contextlib.suppress(Exception):
                        variant = await self._request(client.get_node(node_id).read_data_type_as_variant_type())
            if variant in (ua.VariantType.Variant, ua.VariantType.Null):
                variant = fallback
            self._variants[node_id] = variant

    async def write(self, items: Sequence[tuple[Tag, Any]]) -> list[int]:
        """Write each (tag, value) in one OPC UA Write (IEC 62541-4 §5.10.4); the StatusCode value per item.

        Values are sent as the node's DataType (read once and cached), so a Float or Int16 node gets a Float or
        Int16 Variant. No timestamps are sent: the server stamps the value. EndpointDown when there is no session
        (nothing sent); TimeoutError when the server did not answer in time (the write may or may not have happened).
        A value that does not fit its node's type gets BadTypeMismatch without being sent.
        """
        if not items:
            return []
        client = self._live_client()
        await self._learn_variants(client, [tag for tag, _ in items])
        results: list[int | None] = [None] * len(items)
        params = ua.WriteParameters()
        sent: list[int] = []
        for i, (tag, value) in enumerate(items):
            vt = self._variants.get(tag.node_id, _DEFAULT_VARIANT[tag.data_type])
            try:
                variant = to_variant(value, vt)
            except (TypeError, ValueError):
                results[i] = ua.StatusCodes.BadTypeMismatch
                continue
            item = ua.WriteValue()
            item.NodeId = client.get_node(tag.node_id).nodeid
            item.AttributeId = ua.AttributeIds.Value
            item.Value = ua.DataValue(variant)
            params.NodesToWrite.append(item)
            sent.append(i)
        if sent:
            try:
                codes = await self._request(client.uaclient.write(params))
                for i, code in zip(sent, codes, strict=True):
                    results[i] = code.value
            except ua.UaStatusCodeError as exc:
                # The whole service was refused (e.g. BadTooManyOperations, BadSessionIdInvalid): every item was.
                for i in sent:
                    results[i] = exc.code
        return [ua.StatusCodes.BadInternalError if r is None else r for r in results]

    async def call(self, object_id: str, method_id: str, args: Sequence[tuple[str, Any]]) -> tuple[int, list[Any]]:
        """Call one OPC UA method (IEC 62541-4 §5.11.2) with (data_type, value) arguments, data_type one of float,
        int, bool, string; returns the StatusCode value and the output values. EndpointDown / TimeoutError as
        for `write`."""
        client = self._live_client()
        request = ua.CallMethodRequest()
        request.ObjectId = client.get_node(object_id).nodeid
        request.MethodId = client.get_node(method_id).nodeid
        request.InputArguments = [to_variant(value, _DEFAULT_VARIANT[data_type]) for data_type, value in args]
        try:
            results = await self._request(client.uaclient.call([request]))
        except ua.UaStatusCodeError as exc:
            return exc.code, []
        result = results[0]
        outputs = [v.Value for v in (result.OutputArguments or [])]
        return result.StatusCode.value, outputs

    async def read(self, tags: Sequence[Tag]) -> list[TagState]:
        """Read the current values of `tags` in one OPC UA Read (the cache is not changed); EndpointDown /
        TimeoutError as for `write`."""
        if not tags:
            return []
        client = self._live_client()
        node_ids = [client.get_node(t.node_id).nodeid for t in tags]
        values = await self._request(client.uaclient.read_attributes(node_ids, ua.AttributeIds.Value))
        received = self._clock()
        return [to_state(tag, dv, received, self._skew_tolerance) for tag, dv in zip(tags, values, strict=True)]


def _node_ids(tags: Sequence[Tag]) -> dict[ua.NodeId, tuple[Tag, ...]]:
    """The tags reading each node (tags whose node id does not parse are left out; `_subscribe` says why)."""
    out: dict[ua.NodeId, tuple[Tag, ...]] = {}
    for tag in tags:
        try:
            node_id = ua.NodeId.from_string(tag.node_id)
        except Exception:
            continue
        out[node_id] = (*out.get(node_id, ()), tag)
    return out


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer from the server (timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: is the OPC UA server running at this address?"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _application_uri(cert_path: Any) -> str | None:
    """The URI in the client certificate's SubjectAltName: OPC UA requires the session's to match it."""
    try:
        from cryptography import x509

        data = open(cert_path, "rb").read()  # noqa: SIM115 - small file read once at connect
        cert = x509.load_pem_x509_certificate(data) if b"BEGIN" in data else x509.load_der_x509_certificate(data)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        return uris[0] if uris else None
    except Exception:
        return None
