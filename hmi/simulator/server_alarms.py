"""Server-side OPC UA Alarms & Conditions for the simulator: AlarmConditionType events and Acknowledge.

asyncua serves ConditionRefresh itself once `bind_condition_methods` is set (it replays every event whose Retain
is true between a RefreshStartEvent and a RefreshEndEvent), but it has no condition state machine and no
Acknowledge. This module adds those: each condition keeps its active / acked state, sends a standard
AlarmConditionType event with a fresh EventId on every change, and answers AcknowledgeableConditionType.Acknowledge
(called, as A&C clients do, with the condition as the object) by checking the EventId against its latest one.

Events are emitted on the Server object with SourceNode set to the machine (or line): asyncua does not pass events
up a HasNotifier hierarchy, and A&C clients subscribe to the Server object.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import Server, ua
from asyncua.common.event_objects import AlarmCondition

log = logging.getLogger(__name__)

# Event fields whose data type asyncua's event classes give as a NodeId (UtcTime) rather than a VariantType;
# they must carry a VariantType before a value can be sent in them.
_TIME_FIELDS = (
    "ActiveState/TransitionTime",
    "AckedState/TransitionTime",
    "EnabledState/TransitionTime",
    "Comment/SourceTimestamp",
    "LastSeverity/SourceTimestamp",
    "Quality/SourceTimestamp",
)


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """One condition the simulator serves: its node id name, the object it belongs to, severity and text."""

    name: str  # unique, also the string identifier of the condition node: "Line1.EmergencyStop"
    condition_name: str  # ConditionName: "EmergencyStop"
    source: ua.NodeId  # the machine or line object the condition is about
    source_name: str  # SourceName: "Line1.Filler"
    severity: int  # 1-1000
    message: str  # Message while active
    condition_class: int = ua.ObjectIds.ProcessConditionClassType


@dataclass(frozen=True, slots=True)
class ConditionState:
    """What the server holds for one condition (for tests and the trainer)."""

    name: str
    node_id: str
    active: bool
    acked: bool
    retain: bool
    comment: str
    event_id: bytes


class _Condition:
    """One condition's state and the event object asyncua keeps for ConditionRefresh."""

    def __init__(self, spec: ConditionSpec, node_id: ua.NodeId) -> None:
        self.spec = spec
        self.node_id = node_id
        self.active = False
        self.acked = True
        self.comment = ""
        self.event_id = b""
        # Pinned by set_condition: the process no longer raises or clears it by itself.
        self.manual = False
        # Any: asyncua adds the event type's fields (SourceName, Quality, ...) as attributes at runtime.
        event: Any = AlarmCondition(sourcenode=spec.source, message=spec.message, severity=spec.severity)
        # ConditionId travels as the NodeId attribute of the ConditionType (asyncua's name for that field).
        event.add_property("NodeId", node_id, ua.VariantType.NodeId)
        for name in _TIME_FIELDS:
            event.data_types[name] = ua.VariantType.DateTime
        event.SourceName = spec.source_name
        event.ConditionName = spec.condition_name
        event.ConditionClassId = ua.NodeId(ua.Int32(spec.condition_class))
        event.ConditionClassName = ua.LocalizedText(
            "Safety" if spec.condition_class == ua.ObjectIds.SafetyConditionClassType else "Process"
        )
        event.BranchId = ua.NodeId()
        setattr(event, "EnabledState/Id", True)
        event.EnabledState = ua.LocalizedText("Enabled")
        event.Quality = ua.StatusCode(ua.UInt32(ua.StatusCodes.Good))
        event.LastSeverity = spec.severity
        self.event: AlarmCondition = event

    @property
    def retain(self) -> bool:
        # ISA-18.2 / Part 9: interesting while active or while it still waits for an acknowledgement.
        return self.active or not self.acked

    def state(self) -> ConditionState:
        return ConditionState(
            self.spec.name, self.node_id.to_string(), self.active, self.acked, self.retain, self.comment, self.event_id
        )


class ConditionServer:
    """The simulator's conditions: create them, raise and clear them, and acknowledge them from any client."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._by_name: dict[str, _Condition] = {}
        self._by_node: dict[ua.NodeId, _Condition] = {}

    def bind(self) -> None:
        """Answer AcknowledgeableConditionType.Acknowledge for every condition (one callback, dispatched by object)."""
        self._server.link_method(
            self._server.get_node(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge), self._acknowledge
        )

    def add(self, spec: ConditionSpec, ns: int) -> None:
        """Create the condition node (type AlarmConditionType) with a HasCondition reference from its source."""
        if spec.name in self._by_name:
            raise ValueError(f"condition {spec.name!r} is defined twice")
        node_id = ua.NodeId(ua.String(spec.name), ua.Int16(ns))
        attrs = ua.ObjectAttributes()
        attrs.DisplayName = ua.LocalizedText(spec.condition_name)
        attrs.Description = ua.LocalizedText(spec.message)
        attrs.EventNotifier = 0
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = node_id
        item.BrowseName = ua.QualifiedName(spec.condition_name, ns)
        item.NodeClass = ua.NodeClass.Object
        # Not part of the browse hierarchy (HasCondition is non-hierarchical): clients find conditions by events,
        # and `hmi browse` keeps seeing only machines and their variables.
        item.ParentNodeId = ua.NodeId()
        item.ReferenceTypeId = ua.NodeId()
        item.TypeDefinition = ua.NodeId(ua.Int32(ua.ObjectIds.AlarmConditionType))
        item.NodeAttributes = attrs
        # The internal node management service (asyncua 2.1.0): the public Node API always adds a parent reference.
        service = self._server.iserver.node_mgt_service
        # check=False: asyncua refuses a node without a parent otherwise, and the condition has none on purpose.
        if list(service.try_add_nodes([item], check=False)):
            raise ValueError(f"condition {spec.name!r}: node {node_id.to_string()} already exists; rename it")
        refs = []
        for source, target, forward in ((spec.source, node_id, True), (node_id, spec.source, False)):
            ref = ua.AddReferencesItem()
            ref.SourceNodeId = source
            ref.TargetNodeId = target
            ref.ReferenceTypeId = ua.NodeId(ua.Int32(ua.ObjectIds.HasCondition))
            ref.IsForward = forward
            ref.TargetNodeClass = ua.NodeClass.Object
            refs.append(ref)
        for status in service.add_references(refs):
            status.check()
        condition = _Condition(spec, node_id)
        self._by_name[spec.name] = condition
        self._by_node[node_id] = condition

    def state(self, name: str) -> ConditionState:
        """The server's state of one condition."""
        return self._get(name).state()

    def is_manual(self, name: str) -> bool:
        """True once set_active(manual=True) pinned the condition."""
        return self._get(name).manual

    async def set_active(self, name: str, active: bool, *, manual: bool = False, message: str | None = None) -> None:
        """Raise or clear a condition; sends an event only on a change. `manual` pins it against the process."""
        condition = self._get(name)
        if manual:
            condition.manual = True
        if condition.active == active:
            return
        now = datetime.now(UTC)
        condition.active = active
        setattr(condition.event, "ActiveState/TransitionTime", now)
        if active:
            # A new activation needs a new acknowledgement, and the last one's comment no longer applies.
            condition.acked, condition.comment = False, ""
            setattr(condition.event, "AckedState/TransitionTime", now)
        message = message or (condition.spec.message if active else f"{condition.spec.message} (cleared)")
        await self._send(condition, now, message)

    async def _acknowledge(self, parent: ua.NodeId, *args: ua.Variant) -> ua.StatusCode | list[ua.Variant]:
        condition = self._by_node.get(parent)
        if condition is None:
            return ua.StatusCode(ua.UInt32(ua.StatusCodes.BadNodeIdUnknown))
        if len(args) < 2:
            return ua.StatusCode(ua.UInt32(ua.StatusCodes.BadArgumentsMissing))
        event_id, comment = args[0].Value, args[1].Value
        if not isinstance(event_id, bytes) or not isinstance(comment, ua.LocalizedText | str | None):
            return ua.StatusCode(ua.UInt32(ua.StatusCodes.BadTypeMismatch))
        # Part 9, 5.7.3: only the latest notification can be acknowledged; an older one was about another state.
        if event_id != condition.event_id:
            return ua.StatusCode(ua.UInt32(ua.StatusCodes.BadEventIdUnknown))
        if condition.acked:
            return ua.StatusCode(ua.UInt32(ua.StatusCodes.BadConditionBranchAlreadyAcked))
        now = datetime.now(UTC)
        condition.acked = True
        condition.comment = (comment.Text or "") if isinstance(comment, ua.LocalizedText) else (comment or "")
        setattr(condition.event, "AckedState/TransitionTime", now)
        setattr(condition.event, "Comment/SourceTimestamp", now)
        log.info("condition %s acknowledged: %s", condition.spec.name, condition.comment)
        await self._send(condition, now, None)
        return []

    async def _send(self, condition: _Condition, now: datetime, message: str | None) -> None:
        event: Any = condition.event
        condition.event_id = os.urandom(16)
        event.EventId = condition.event_id
        event.Time = event.ReceiveTime = now
        if message is not None:
            event.Message = ua.LocalizedText(message)
        event.Severity = event.LastSeverity = condition.spec.severity
        event.Retain = condition.retain
        setattr(event, "ActiveState/Id", condition.active)
        event.ActiveState = ua.LocalizedText("Active" if condition.active else "Inactive")
        setattr(event, "AckedState/Id", condition.acked)
        event.AckedState = ua.LocalizedText("Acknowledged" if condition.acked else "Unacknowledged")
        event.Comment = ua.LocalizedText(condition.comment)
        # asyncua keeps the event of every condition with Retain=true (by ConditionId) and replays it on
        # ConditionRefresh; Retain=false drops it from that set. Field values are copied per notification.
        # Sent through the internal subscription service: the public EventGenerator.trigger (asyncua 2.1.0) would
        # replace the EventId, which Acknowledge must match.
        await self._server.iserver.subscription_service.trigger_event(event)

    def _get(self, name: str) -> _Condition:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name) or "none"
            raise KeyError(f"{name!r} is not a condition of this simulator (it serves: {known})") from None
