"""OPC UA Alarms & Conditions, client side, for one endpoint: the server's condition list and Acknowledge.

IEC 62541-9: events of AlarmConditionType from the Server object, kept by ConditionId; Retain=false removes;
ConditionRefresh (§5.5.7) after every connect, reconnect and subscription re-creation, and entries the refresh does not
confirm are removed at RefreshEnd; Acknowledge (§5.7.3) with the EventId of a notification and the operator's comment,
errors raised with their status name and never retried; Severity (IEC 62541-5 BaseEventType) mapped to priority
by a configurable table.

The monitor owns its own subscription on the endpoint's client and follows the session through the
`SessionHook` calls of `OpcUaSource` (`on_session`, `on_session_lost`, `on_subscription_recreated`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from asyncua import Client, ua
from asyncua.common.events import Event
from asyncua.common.subscription import OpcEvent, StatusChangeEvent, Subscription
from asyncua.common.ua_utils import get_node_subtypes

from hmi.clock import Clock, utc_now
from hmi.listeners import Listeners
from hmi.sources.opcua import subscription_parameters
from hmi.supervise import stop_tasks, wait_event

log = logging.getLogger(__name__)

_REFRESH_START = ua.NodeId(ua.Int32(ua.ObjectIds.RefreshStartEventType))
_REFRESH_END = ua.NodeId(ua.Int32(ua.ObjectIds.RefreshEndEventType))
_CONDITION_TYPE = ua.NodeId(ua.Int32(ua.ObjectIds.ConditionType))
_CONDITION_REFRESH = ua.NodeId(ua.Int32(ua.ObjectIds.ConditionType_ConditionRefresh))
_ACKNOWLEDGE = ua.NodeId(ua.Int32(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge))

# (field name in the Event asyncua builds, browse path, the type that defines the field). ConditionId is not a
# field of any type: it is selected by the NodeId attribute of the ConditionType itself (Part 9, 5.5.2), and
# asyncua names that field "NodeId".
_FIELDS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("EventId", ("EventId",), ua.ObjectIds.BaseEventType),
    ("EventType", ("EventType",), ua.ObjectIds.BaseEventType),
    ("SourceName", ("SourceName",), ua.ObjectIds.BaseEventType),
    ("SourceNode", ("SourceNode",), ua.ObjectIds.BaseEventType),
    ("Message", ("Message",), ua.ObjectIds.BaseEventType),
    ("Severity", ("Severity",), ua.ObjectIds.BaseEventType),
    ("Time", ("Time",), ua.ObjectIds.BaseEventType),
    ("ConditionName", ("ConditionName",), ua.ObjectIds.ConditionType),
    ("Retain", ("Retain",), ua.ObjectIds.ConditionType),
    ("Comment", ("Comment",), ua.ObjectIds.ConditionType),
    ("AckedState/Id", ("AckedState", "Id"), ua.ObjectIds.AcknowledgeableConditionType),
    ("ActiveState/Id", ("ActiveState", "Id"), ua.ObjectIds.AlarmConditionType),
)
_CONDITION_ID = "NodeId"


class ConditionError(Exception):
    """An Alarms & Conditions command failed; `status` is the OPC UA status name (e.g. BadEventIdUnknown)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class SeverityMap:
    """OPC UA Severity (1-1000) to HMI priority (1 highest - 4): each band is (lowest severity, priority)."""

    bands: tuple[tuple[int, int], ...] = ((801, 1), (501, 2), (201, 3), (1, 4))

    def __post_init__(self) -> None:
        lows = [low for low, _ in self.bands]
        if not lows or lows[-1] != 1 or any(a <= b for a, b in itertools.pairwise(lows)):
            raise ValueError(
                "severity bands must start at strictly decreasing severities and the last must "
                "start at 1, e.g. ((801, 1), (501, 2), (201, 3), (1, 4))"
            )
        for low, priority in self.bands:
            if not 1 <= low <= 1000 or not 1 <= priority <= 4:
                raise ValueError(f"severity band ({low}, {priority}): severity must be 1-1000 and priority 1-4")

    def priority(self, severity: int) -> int:
        """The priority of a severity; values outside 1-1000 (some servers send 0) are clamped first."""
        clamped = min(max(severity, 1), 1000)
        return next(priority for low, priority in self.bands if clamped >= low)


@dataclass(frozen=True, slots=True)
class ServerAlarm:
    """The latest notification of one server-side condition, as the HMI lists it."""

    condition_id: str
    event_id: bytes
    endpoint: str
    source_name: str
    source_node: str
    condition_name: str
    message: str
    severity: int
    priority: int
    active: bool
    acked: bool
    retain: bool
    time: datetime
    received_at: datetime
    comment: str

    @property
    def source_label(self) -> str:
        """SourceName as a person reads it: without a `2:` namespace index (a BrowseName's text form)."""
        return readable_name(self.source_name)

    @property
    def condition_label(self) -> str:
        """ConditionName as a person reads it: without a `2:` namespace index."""
        return readable_name(self.condition_name)

    @property
    def title(self) -> str:
        """Source and condition, e.g. `Filler · TemperatureHigh` (either alone when the other is empty)."""
        return " · ".join(part for part in (self.source_label, self.condition_label) if part) or self.condition_id


def readable_name(name: str) -> str:
    """A name without the `<namespace index>:` prefix some servers send (IEC 62541-3 §8.3, a QualifiedName in text)."""
    index, colon, rest = name.partition(":")
    return rest if colon and index.isdigit() and rest else name


ChangeListener = Callable[[list[tuple[ServerAlarm, bool]]], None]
"""Hears a batch of (alarm, removed) changes; an empty batch means only `stale` changed. Runs on the loop: be cheap."""


class ConditionMonitor:
    """The condition list of one endpoint, kept current through its own event subscription; acknowledges."""

    def __init__(
        self,
        endpoint_name: str,
        *,
        clock: Clock = utc_now,
        severity_map: SeverityMap | None = None,
        publishing_interval_ms: int = 250,
        refresh_timeout_s: float = 5.0,
        call_timeout_s: float = 5.0,
        refresh_attempts: int = 5,
    ) -> None:
        self.endpoint = endpoint_name
        self._clock = clock
        self._severity = severity_map or SeverityMap()
        self._interval_ms = publishing_interval_ms
        self._refresh_timeout = refresh_timeout_s
        self._call_timeout = call_timeout_s
        self._attempts = refresh_attempts
        self._conditions: dict[str, ServerAlarm] = {}
        self._listeners: Listeners[list[tuple[ServerAlarm, bool]]] = Listeners("condition")
        self._client: Client | None = None
        self._online = False
        self._sub: Subscription | None = None
        self._sub_client: Client | None = None
        self._reader: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._refresh_end = asyncio.Event()
        # ConditionIds seen between RefreshStart and RefreshEnd; None while no refresh is under way.
        self._confirmed: set[str] | None = None
        self._pending: list[tuple[ServerAlarm, bool]] = []
        self._flush_scheduled = False
        self._stopping = False
        # Nothing is known before the first refresh: the (empty) list starts stale.
        self._stale = True
        self._stale_since: datetime | None = clock()
        # Completed refreshes (a RefreshEnd that followed its RefreshStart), for diagnostics and tests.
        self.refreshes = 0

    # ------------------------------------------------------------------------------------------------ queries
    @property
    def conditions(self) -> Mapping[str, ServerAlarm]:
        """The retained conditions by ConditionId (a read-only live view)."""
        return MappingProxyType(self._conditions)

    @property
    def stale(self) -> bool:
        """True from a connection loss (and before the first refresh) until the next refresh completes."""
        return self._stale

    @property
    def stale_since(self) -> datetime | None:
        """When the list stopped being current; None while it is current."""
        return self._stale_since

    @property
    def subscription_id(self) -> int | None:
        """The server's id of the monitor's event subscription, while it has one."""
        return self._sub.subscription_id if self._sub is not None else None

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Hear every batch of changes; returns the unsubscribe function."""
        return self._listeners.add(listener)

    def use_publishing_interval(self, publishing_interval_ms: int) -> None:
        """The endpoint's interval after a plant reload; used from the next subscription (the next session)."""
        self._interval_ms = publishing_interval_ms

    # ---------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start following the session; the subscription is made once `on_session` hands over a client."""
        self._stopping = False
        self._worker = asyncio.create_task(self._run(), name=f"conditions:{self.endpoint}")

    async def stop(self) -> None:
        """End the worker, delete the subscription on the server (if still connected) and mark the list stale."""
        self._stopping = True
        worker, self._worker = self._worker, None
        await stop_tasks(worker)
        await self._drop_subscription()
        self._client = None
        self._online = False
        self._mark_stale()

    # ----------------------------------------------------------------------------------- SessionHook (sync)
    def on_session(self, client: Client) -> None:
        """The endpoint's session is up (first connect or reconnect): subscribe if needed and refresh."""
        self._client = client
        self._online = True
        self._wake.set()

    def on_session_lost(self) -> None:
        """Keep the list for display but mark it stale until the refresh after the reconnect."""
        self._online = False
        # An interrupted refresh proves nothing; the next RefreshStart begins a new one.
        self._confirmed = None
        self._mark_stale()

    def on_subscription_recreated(self, subscription_id: int) -> None:
        """asyncua re-created a subscription; if it is ours, the server forgot its conditions: refresh."""
        if self._sub is not None and self._sub.subscription_id == subscription_id:
            self._wake.set()

    # ------------------------------------------------------------------------------------------- acknowledge
    async def acknowledge(self, condition_id: str, comment: str, *, event_id: bytes | None = None) -> None:
        """Call the condition's Acknowledge with the EventId of its latest notification (or `event_id`, the one
        the operator saw) and the comment. Raises ConditionError on any failure; never retries."""
        alarm = self._conditions.get(condition_id)
        if alarm is None:
            raise ConditionError(
                f"{self.endpoint}: condition {condition_id} is not in the list (it may have been "
                "removed by the server); nothing was acknowledged",
                "BadNodeIdUnknown",
            )
        client = self._client
        if client is None or not self._online:
            raise ConditionError(
                f"{self.endpoint}: not connected; {alarm.source_name} {alarm.condition_name} was not acknowledged",
                "BadNotConnected",
            )
        request = ua.CallMethodRequest()
        request.ObjectId = ua.NodeId.from_string(condition_id)
        request.MethodId = _ACKNOWLEDGE
        request.InputArguments = [
            ua.Variant(event_id if event_id is not None else alarm.event_id, ua.VariantType.ByteString),
            ua.Variant(ua.LocalizedText(comment), ua.VariantType.LocalizedText),
        ]
        what = f"{self.endpoint}: acknowledging {alarm.source_name} {alarm.condition_name}"
        try:
            async with asyncio.timeout(self._call_timeout):
                (result,) = await client.uaclient.call([request])
        except TimeoutError:
            raise ConditionError(
                f"{what}: no answer within {self._call_timeout:g} s; the outcome is unknown, "
                "check the list before acknowledging again",
                "BadTimeout",
            ) from None
        except ua.UaStatusCodeError as exc:
            raise ConditionError(f"{what} failed: {_status_text(exc.code)}", _status_name(exc.code)) from None
        except (ConnectionError, OSError) as exc:
            raise ConditionError(f"{what} failed: the connection is down ({exc})", "BadNotConnected") from None
        code = result.StatusCode.value if result.StatusCode is not None else 0
        if ua.StatusCode(ua.UInt32(code)).is_bad():
            raise ConditionError(f"{what} failed: {_status_text(code)}", _status_name(code))

    # -------------------------------------------------------------------------------- subscription and refresh
    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            client = self._client
            if client is None or not self._online:
                continue
            try:
                if self._sub is None or self._sub_client is not client or self._sub.is_deleted:
                    await self._replace_subscription(client)
                done = await self._refresh(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("endpoint %s: conditions not refreshed: %s", self.endpoint, str(exc) or type(exc).__name__)
                done = False
            if done:
                failures = 0
                continue
            if self._wake.is_set() or not self._online or self._client is not client:
                continue  # something newer (a re-created subscription, another session) already asks again
            failures += 1
            if failures > self._attempts:
                log.error(
                    "endpoint %s: ConditionRefresh did not complete after %d attempts; the condition list "
                    "stays stale until the next reconnect",
                    self.endpoint,
                    self._attempts,
                )
                failures = 0
                continue
            # Back off, but go again at once when the session or the subscription changes.
            await wait_event(self._wake, min(0.5 * 2**failures, 5.0))
            self._wake.set()

    async def _replace_subscription(self, client: Client) -> None:
        await self._drop_subscription()
        # Keep-alive like the data subscription's: a dead subscription is noticed in seconds. A lost event would
        # leave the list wrong until the next refresh, so the queue is deep.
        sub = await client.create_subscription(subscription_parameters(self._interval_ms), None, queue_maxsize=10_000)
        self._sub, self._sub_client = sub, client
        try:
            await sub.subscribe_events(ua.ObjectIds.Server, evfilter=await _event_filter(client), queuesize=1000)
        except BaseException:
            await self._drop_subscription()
            raise
        self._reader = asyncio.create_task(self._read(sub), name=f"conditions:{self.endpoint}:events")
        log.info("endpoint %s: condition subscription %s", self.endpoint, sub.subscription_id)

    async def _drop_subscription(self) -> None:
        sub, self._sub, self._sub_client = self._sub, None, None
        reader, self._reader = self._reader, None
        if sub is not None:
            # Deletes it on the server when connected. Offline, asyncua would hold the request until a reconnect;
            # cut short, it still marks the subscription deleted, so it is neither restored nor read any more.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0 if self._online else 0.1):
                    await sub.delete()
        await stop_tasks(reader)

    async def _refresh(self, client: Client) -> bool:
        """Ask for a ConditionRefresh and wait for its RefreshEnd; False if it did not happen (try again)."""
        sub = self._sub
        sid = sub.subscription_id if sub is not None else None
        if sid is None:
            return False
        self._refresh_end.clear()
        request = ua.CallMethodRequest()
        # Part 9, 5.5.7: called on the ConditionType with the subscription id; the server replays its retained
        # conditions between a RefreshStartEvent and a RefreshEndEvent on that subscription only.
        request.ObjectId = _CONDITION_TYPE
        request.MethodId = _CONDITION_REFRESH
        request.InputArguments = [ua.Variant(sid, ua.VariantType.UInt32)]
        async with asyncio.timeout(self._call_timeout):
            (result,) = await client.uaclient.call([request])
        code = result.StatusCode.value if result.StatusCode is not None else 0
        if ua.StatusCode(ua.UInt32(code)).is_bad():
            # BadSubscriptionIdInvalid right after a reconnect: asyncua is still re-creating the subscription and
            # on_subscription_recreated asks again.
            log.info("endpoint %s: ConditionRefresh(%s): %s", self.endpoint, sid, _status_name(code))
            return False
        ended = asyncio.ensure_future(self._refresh_end.wait())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({ended, woken}, timeout=self._refresh_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            woken.cancel()
        return self._refresh_end.is_set()

    # ----------------------------------------------------------------------------------------------- events
    async def _read(self, sub: Subscription) -> None:
        # Iterator mode: the publish loop only enqueues. Events already queued are taken without yielding, so the
        # flush scheduled by the first one runs after the whole batch: listeners hear one list per batch.
        async for item in sub:
            if isinstance(item, OpcEvent):
                try:
                    self._apply(item.event)
                except Exception:
                    log.exception("endpoint %s: cannot read condition event %s", self.endpoint, item.event)
            elif isinstance(item, StatusChangeEvent):
                log.warning("endpoint %s: condition subscription status %s", self.endpoint, item.notification.Status)

    def _apply(self, event: Event) -> None:
        etype = getattr(event, "EventType", None)
        if etype == _REFRESH_START:
            self._confirmed = set()
            return
        if etype == _REFRESH_END:
            self._end_refresh()
            return
        alarm = self._to_alarm(event)
        if alarm is None:
            return
        if self._confirmed is not None:
            self._confirmed.add(alarm.condition_id)
        if alarm.retain:
            self._conditions[alarm.condition_id] = alarm
            self._emit(alarm, False)
        elif self._conditions.pop(alarm.condition_id, None) is not None:
            self._emit(alarm, True)

    def _end_refresh(self) -> None:
        confirmed, self._confirmed = self._confirmed, None
        if confirmed is None:
            # An end without its start (the start was lost): nothing is proven, the worker asks again.
            log.info("endpoint %s: RefreshEnd without RefreshStart ignored", self.endpoint)
            return
        for cid in [cid for cid in self._conditions if cid not in confirmed]:
            self._emit(self._conditions.pop(cid), True)
        self.refreshes += 1
        if self._stale:
            self._stale, self._stale_since = False, None
            self._schedule_flush()
        self._refresh_end.set()

    def _to_alarm(self, event: Event) -> ServerAlarm | None:
        cid = getattr(event, _CONDITION_ID, None)
        if not isinstance(cid, ua.NodeId) or cid.is_null():
            log.debug("endpoint %s: event without ConditionId ignored: %s", self.endpoint, event)
            return None
        now = self._clock()
        severity = int(getattr(event, "Severity", None) or 0)
        source = getattr(event, "SourceNode", None)
        event_id = getattr(event, "EventId", None)
        return ServerAlarm(
            condition_id=cid.to_string(),
            event_id=bytes(event_id) if isinstance(event_id, bytes | bytearray) else b"",
            endpoint=self.endpoint,
            source_name=str(getattr(event, "SourceName", None) or ""),
            source_node=source.to_string() if isinstance(source, ua.NodeId) else "",
            condition_name=str(getattr(event, "ConditionName", None) or ""),
            message=_text(getattr(event, "Message", None)),
            severity=min(max(severity, 1), 1000),
            priority=self._severity.priority(severity),
            active=bool(getattr(event, "ActiveState/Id", None)),
            acked=bool(getattr(event, "AckedState/Id", None)),
            retain=bool(getattr(event, "Retain", None)),
            time=_utc(getattr(event, "Time", None)) or now,
            received_at=now,
            comment=_text(getattr(event, "Comment", None)),
        )

    # -------------------------------------------------------------------------------------------- listeners
    def _mark_stale(self) -> None:
        if not self._stale:
            self._stale, self._stale_since = True, self._clock()
            self._schedule_flush()

    def _emit(self, alarm: ServerAlarm, removed: bool) -> None:
        self._pending.append((alarm, removed))
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # Hooks run inside asyncua's connection handling: listeners are called afterwards, never from there.
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        changes, self._pending = self._pending, []
        self._listeners.emit(changes)


async def _event_filter(client: Client) -> ua.EventFilter:
    """Select the fields the list needs; let through AlarmConditionType (and subtypes) and the refresh markers."""
    evfilter = ua.EventFilter()
    for _name, path, type_id in _FIELDS:
        op = ua.SimpleAttributeOperand()
        op.TypeDefinitionId = ua.NodeId(ua.Int32(type_id))
        op.BrowsePath = [ua.QualifiedName(part, 0) for part in path]
        op.AttributeId = ua.AttributeIds.Value
        evfilter.SelectClauses.append(op)
    condition_id = ua.SimpleAttributeOperand()
    condition_id.TypeDefinitionId = _CONDITION_TYPE
    condition_id.AttributeId = ua.AttributeIds.NodeId
    evfilter.SelectClauses.append(condition_id)
    # InList of the concrete types rather than OfType: some servers (asyncua among them) match OfType exactly.
    # The refresh markers are listed too, since a server may apply the where clause to them as well.
    alarm_types = await get_node_subtypes(client.get_node(ua.ObjectIds.AlarmConditionType))
    element = ua.ContentFilterElement()
    element.FilterOperator = ua.FilterOperator.InList
    event_type = ua.SimpleAttributeOperand()
    event_type.TypeDefinitionId = ua.NodeId(ua.Int32(ua.ObjectIds.BaseEventType))
    event_type.BrowsePath = [ua.QualifiedName("EventType", 0)]
    event_type.AttributeId = ua.AttributeIds.Value
    element.FilterOperands = [
        event_type,
        *(ua.LiteralOperand(Value=ua.Variant(node.nodeid)) for node in alarm_types),
        ua.LiteralOperand(Value=ua.Variant(_REFRESH_START)),
        ua.LiteralOperand(Value=ua.Variant(_REFRESH_END)),
    ]
    evfilter.WhereClause.Elements = [element]
    return evfilter


def _status_name(code: int) -> str:
    return ua.StatusCode(ua.UInt32(code)).name


def _status_text(code: int) -> str:
    name, doc = ua.status_codes.get_name_and_doc(code)
    return f"{name} ({doc.rstrip('.').lower()})" if doc else name


def _text(value: Any) -> str:
    if isinstance(value, ua.LocalizedText):
        return value.Text or ""
    return "" if value is None else str(value)


def _utc(ts: Any) -> datetime | None:
    # asyncua decodes DateTime as naive UTC in places; the core deals only in aware UTC.
    if not isinstance(ts, datetime):
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
