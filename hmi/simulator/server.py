"""The simulator's OPC UA server: serves the process model's tags, and optional load tags, with asyncua.

Tags with a `write:` rule (and the tags commands write) are writable by clients (AccessLevel and UserAccessLevel
CurrentRead | CurrentWrite, IEC 62541-3 §5.6.2); a write reaches the process model, which follows it. Writable tags
named *TorqueSP are locked: AccessLevel says writable, UserAccessLevel does not, so asyncua answers every client
write with BadUserAccessDenied (IEC 62541-4 §5.10.4). Each line object (node id ns=<ns>;s=<line>) has the methods
Start, Stop and Reset (ns=<ns>;s=<line>.Start, ...); a call the line's PackML state does not allow returns
BadInvalidState. Analog tags carry the EURange and EngineeringUnits properties of IEC 62541-8 §5.3.2.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from asyncua import Server, ua
from asyncua.server.address_space import AttributeValue

from hmi.config import Endpoint, PlantConfig, Tag
from hmi.simulator.model import GOOD, InvalidStateError, LoadModel, ModelParams, PlantModel, Sample, Value
from hmi.simulator.server_alarms import ConditionServer, ConditionSpec, ConditionState
from hmi.supervise import stop_tasks

log = logging.getLogger(__name__)

APPLICATION_URI = "urn:factory-hmi:simulator"
NAMESPACE_URI = "urn:factory-hmi:simulator:plant"
LOAD_FOLDER = "Load"
# Latency probes (bench/panels.py): Int64 tags Probe.P01.. whose value is the milliseconds since the epoch at which
# the simulator wrote it, also their SourceTimestamp; each changes once a second, the probes evenly spread over it.
PROBE_FOLDER = "Probe"
PROBE_PERIOD_S = 1.0
_VARIANT_TYPES = {
    "float": ua.VariantType.Double,
    "int": ua.VariantType.Int64,
    "bool": ua.VariantType.Boolean,
    "string": ua.VariantType.String,
}
# How often the load writer wakes up; each wake-up writes the changes that fell due since the last one.
_LOAD_INTERVAL_S = 0.05
# Writable tags whose name ends so are locked at the server: every client write is refused (BadUserAccessDenied).
LOCKED_SUFFIX = "TorqueSP"
LINE_METHODS = ("Start", "Stop", "Reset")
# UNECE code list units (IEC 62541-8 §5.6.3): the namespace EngineeringUnits name; UnitId -1 means "not coded".
_UNITS_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
_READ = ua.AccessLevel.CurrentRead.mask
_READ_WRITE = ua.AccessLevel.CurrentRead.mask | ua.AccessLevel.CurrentWrite.mask


def simulated_endpoint(plant: PlantConfig) -> Endpoint:
    """The endpoint the simulator plays: the one called `plant`, else the first."""
    return next((e for e in plant.endpoints if e.name == "plant"), plant.endpoints[0])


def status_code(name: str) -> ua.StatusCode:
    """The OPC UA status code for a symbolic name such as BadSensorFailure or Bad_SensorFailure."""
    code = getattr(ua.StatusCodes, name.replace("_", ""), None)
    if not isinstance(code, int):
        raise ValueError(f"unknown OPC UA status {name!r}; use a symbolic name such as Good or BadSensorFailure")
    return ua.StatusCode(ua.UInt32(code))


class _SharedDataValue(ua.DataValue):
    """A DataValue that subscriptions share instead of deep-copying.

    asyncua deep-copies every written value for every monitored item (about 50 µs each), in case the writer
    changes it afterwards. The simulator builds a fresh DataValue of immutable scalars for each write and never
    touches it again, so sharing it is safe, and it is what keeps 10,000 subscribed changes per second affordable.
    asyncua has no public switch for that copy (checked against asyncua 2.1.0, where
    MonitoredItemValues.set_current_datavalue calls copy.deepcopy), hence the override.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


# An injected fault lasts long enough for a person (or a test) to find and acknowledge its alarm.
FAULT_INJECTED_S = 300.0
# What InjectFault takes as the machine name to press a line's emergency stop instead of jamming one machine.
EMERGENCY_STOP = "EmergencyStop"
# OPC UA severities of the simulated conditions (1-1000; the HMI maps 801-1000 to priority 1, 501-800 to 2).
EMERGENCY_STOP_SEVERITY = 900
OVER_TEMPERATURE_SEVERITY = 700


@dataclass(frozen=True, slots=True)
class _Served:
    """One variable the simulator writes, with its value attribute kept for fast writes."""

    name: str
    node_id: ua.NodeId
    data_type: str
    variant_type: ua.VariantType
    attribute: AttributeValue


@dataclass(frozen=True, slots=True)
class _LimitWatch:
    """A server-side condition raised while a tag is at or above a high limit (cleared below limit - deadband)."""

    condition: str
    limit: float
    deadband: float


class PlantSimulator:
    """An OPC UA server on loopback that plays a bottling plant described by a PlantConfig."""

    def __init__(
        self,
        plant: PlantConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 4840,
        seed: int | None = None,
        extra_tags: int = 0,
        change_rate: float = 1000.0,
        tick_s: float = 0.5,
        params: ModelParams | None = None,
        probes: int = 0,
    ) -> None:
        """Describe the server; nothing listens until `start()`. Port 0 picks a free port."""
        if extra_tags < 0 or change_rate < 0 or tick_s <= 0 or probes < 0:
            raise ValueError("extra_tags, change_rate and probes must not be negative, and tick_s must be positive")
        self.plant = plant
        self.host = host
        self.endpoint = simulated_endpoint(plant)
        self.extra_tags = extra_tags
        self.change_rate = change_rate
        self.tick_s = tick_s
        self.probes = probes
        self._port = port
        self._seed = seed
        self._params = params
        self._server: Server | None = None
        self._model: PlantModel | None = None
        self._load: LoadModel | None = None
        self._tags: dict[str, _Served] = {}
        self._load_vars: list[_Served] = []
        self._probe_vars: list[_Served] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._paused = False
        self._status_cache: dict[str, ua.StatusCode] = {}
        self._objects: dict[str, ua.NodeId] = {}
        self._conditions: ConditionServer | None = None
        self._watches: dict[str, _LimitWatch] = {}
        self._estop_until: dict[str, datetime] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self.load_changes = 0

    # ------------------------------------------------------------------------------------------------- life cycle

    @property
    def url(self) -> str:
        """opc.tcp://host:port of the server, with the port actually bound once started."""
        return f"opc.tcp://{_url_host(self.host)}:{self.port}"

    @property
    def port(self) -> int:
        """The TCP port: the bound one once started, else the requested one."""
        if self._server is not None and self._server.bserver is not None:
            return int(self._server.bserver.port)
        return self._port

    @property
    def model(self) -> PlantModel:
        """The process model (available once started)."""
        if self._model is None:
            raise RuntimeError("the simulator is not started")
        return self._model

    @property
    def tag_names(self) -> list[str]:
        """Names of the configured tags the simulator serves."""
        return list(self._tags)

    @property
    def paused(self) -> bool:
        """True while the random process is paused."""
        return self._paused

    async def start(self) -> None:
        """Build the address space and start listening; values change from now on."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        _quiet_asyncua()
        served = [ref.tag for ref in self.plant.tags.values() if ref.tag.endpoint == self.endpoint.name]
        server = Server()
        # The name appears as the server's ApplicationName, so `hmi browse` finds the site name again.
        server.set_server_name(self.plant.site.name)
        # asyncua answers ConditionRefresh (RefreshStart, the retained conditions, RefreshEnd) only when asked to,
        # and only through its internal server (Server has no setter for it in asyncua 2.1.0).
        server.iserver.bind_condition_methods = True
        # No client becomes Admin by its user name: asyncua lets an Admin write any node, past the access levels.
        server.allow_remote_admin(False)
        await server.init()
        try:
            await self._build(server, served)
            await server.start()
        except BaseException as exc:
            self._model, self._load, self._tags, self._load_vars, self._probe_vars = None, None, {}, [], []
            self._conditions, self._watches, self._objects = None, {}, {}
            await _stop_quietly(server)
            if isinstance(exc, OSError):
                reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
                raise OSError(exc.errno, f"cannot listen on {self.host}:{self._port}: {reason}") from exc
            raise
        self._server = server
        self._tasks = [asyncio.create_task(self._run_process(), name="simulator-process")]
        if self._load is not None and self.change_rate > 0:
            self._tasks.append(asyncio.create_task(self._run_load(), name="simulator-load"))
        if self._probe_vars:
            self._tasks.append(asyncio.create_task(self._run_probes(), name="simulator-probes"))
        log.debug("simulator serving %d tag(s) and %d load tag(s) on %s", len(self._tags), self.extra_tags, self.url)

    async def _build(self, server: Server, served: list[Tag]) -> None:
        await server.set_application_uri(APPLICATION_URI)
        server.set_endpoint(f"opc.tcp://{_url_host(self.host)}:{self._port}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        # Registered first, so it gets index 2 as the configuration's node ids (ns=2;s=...) expect.
        ns = await server.register_namespace(NAMESPACE_URI)
        await _ensure_namespaces(server, served)
        now = datetime.now(UTC)
        rng = random.Random(self._seed)
        self._tags, self._load_vars, self._load, self._objects = {}, [], None, {}
        self._model = PlantModel(self.plant, rng, now, self._params, tags=[t.name for t in served])
        self._build_plant(server, served, ns)
        await self._add_ranges(server, served, ns)
        await self._add_line_methods(server, ns)
        if self.extra_tags:
            self._load = LoadModel(self.extra_tags, random.Random(rng.random()))
            self._build_load(server, ns)
            await self._write_load(list(enumerate(self._load.values)), now)
        self._probe_vars = []
        if self.probes:
            self._build_probes(server, ns)
            for probe in self._probe_vars:
                await self._write_probe(probe, now)
        self._conditions, self._watches, self._estop_until = None, {}, {}
        await self._write_samples(self._model.outputs(), now)
        await self._add_trainer_controls(server, ns)
        self._add_conditions(server, ns)
        # Start each condition from the value the process starts with.
        await self._evaluate_conditions(self._model.outputs())

    async def _add_trainer_controls(self, server: Server, ns: int) -> None:
        """A `Simulator` object with InjectFault(line, machine): a trainer (or a browser test) jams a machine from
        any OPC UA client, as a demo of what the HMI does with a fault; machine `EmergencyStop` presses the line's
        emergency stop (all its machines abort and its EmergencyStop condition is raised)."""
        controls = await server.nodes.objects.add_object(ua.NodeId(ua.String("Simulator"), ua.Int16(ns)), "Simulator")

        async def inject(_parent: ua.NodeId, line: ua.Variant, machine: ua.Variant) -> list[ua.Variant]:
            try:
                if machine.Value == EMERGENCY_STOP:
                    await self.emergency_stop(str(line.Value), duration_s=FAULT_INJECTED_S)
                else:
                    await self.fault(str(line.Value), str(machine.Value), kind="Held", duration_s=FAULT_INJECTED_S)
            except KeyError:
                return [ua.Variant(f"unknown machine {machine.Value!r} on line {line.Value!r}", ua.VariantType.String)]
            return [ua.Variant("ok", ua.VariantType.String)]

        await controls.add_method(
            ua.NodeId(ua.String("Simulator.InjectFault"), ua.Int16(ns)),
            "InjectFault",
            inject,
            [ua.VariantType.String, ua.VariantType.String],
            [ua.VariantType.String],
        )

        async def set_load(_parent: ua.NodeId, value: ua.Variant) -> list[ua.Variant]:
            n = await self.set_load(float(value.Value))
            return [ua.Variant(n, ua.VariantType.Int32)]

        # Load tests (an alarm flood): every load tag to one value at once, with one source timestamp.
        await controls.add_method(
            ua.NodeId(ua.String("Simulator.SetLoad"), ua.Int16(ns)),
            "SetLoad",
            set_load,
            [ua.VariantType.Double],
            [ua.VariantType.Int32],
        )

    async def set_load(self, value: float) -> int:
        """Write `value` to every load tag now (same SourceTimestamp); returns how many were written."""
        if self._load is None:
            return 0
        for i in range(len(self._load.values)):
            self._load.values[i] = value
        return await self._write_load(list(enumerate(self._load.values)), datetime.now(UTC))

    async def stop(self) -> None:
        """Stop changing values, close every client connection and free the port."""
        tasks, self._tasks = [*self._tasks, *self._pending], []
        self._pending = set()
        await stop_tasks(*tasks)
        server, self._server = self._server, None
        self._conditions = None
        if server is not None:
            await _stop_quietly(server)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------------- test controls

    def pause(self) -> None:
        """Freeze the random process: values stay as they are until `resume()`."""
        self._paused = True

    def resume(self) -> None:
        """Let the random process run again."""
        self._paused = False

    async def set_value(self, tag: str, value: Value) -> None:
        """Write `value` to `tag` with status Good and SourceTimestamp now; the process continues from it.

        Derived values (PackML states, jams) are recomputed on the next tick, so pause() first to keep them.
        """
        served = self._served(tag)
        sample = self.model.override(tag, _coerce(served.data_type, value))
        await self._write_samples({tag: sample}, datetime.now(UTC))

    async def set_status(self, tag: str, status: str) -> None:
        """Serve `tag` with the symbolic status (e.g. BadSensorFailure), keeping its value; Good releases it."""
        self._served(tag)
        name = status.replace("_", "")
        status_code(name)
        sample = self.model.force_status(tag, name)
        await self._write_samples({tag: sample}, datetime.now(UTC))

    async def fault(self, line: str, machine: str, *, kind: str = "Held", duration_s: float = 60.0) -> None:
        """Stop a machine now as a fault would (Held: a jam; Aborted: a drive fault); it recovers by itself."""
        await self._write_samples(self.model.fault(line, machine, kind=kind, duration_s=duration_s), datetime.now(UTC))

    async def emergency_stop(self, line: str, *, duration_s: float = 60.0) -> None:
        """Press a line's emergency stop: every machine aborts, and its EmergencyStop condition stays active until
        `duration_s` has passed (then the line restarts by itself)."""
        name = f"{line}.{EMERGENCY_STOP}"
        self._condition_server().state(name)  # unknown line: KeyError before anything changes
        now = datetime.now(UTC)
        for machine in self.model.lines[line].machines:
            await self._write_samples(self.model.fault(line, machine.name, kind="Aborted", duration_s=duration_s), now)
        self._estop_until[line] = now + timedelta(seconds=duration_s)
        await self._condition_server().set_active(name, True)

    def condition(self, name: str) -> ConditionState:
        """The server's state of one condition: active, acked, retain, comment, latest EventId."""
        return self._condition_server().state(name)

    async def set_condition(self, name: str, active: bool) -> None:
        """Raise or clear a condition now; from then on only this call changes it (the process no longer does)."""
        await self._condition_server().set_active(name, active, manual=True)

    def _condition_server(self) -> ConditionServer:
        if self._conditions is None:
            raise RuntimeError("the simulator is not started")
        return self._conditions

    def _served(self, tag: str) -> _Served:
        try:
            return self._tags[tag]
        except KeyError:
            if self._model is None:
                raise RuntimeError("the simulator is not started") from None
            raise KeyError(f"{tag!r} is not a tag this simulator serves (endpoint {self.endpoint.name!r})") from None

    # ------------------------------------------------------------------------------------------------- address space

    def _build_plant(self, server: Server, served: Sequence[Tag], ns: int) -> None:
        wanted = {t.name for t in served}
        objects = ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder))
        for _area, line in self.plant.lines():
            line_tags = [t for t in line.tags if t.name in wanted]
            machines = [(m, [t for t in m.tags if t.name in wanted]) for m in line.machines]
            if not line_tags and not any(tags for _m, tags in machines):
                continue
            taken = {t.node_id for t in served}
            line_id = _add_object(
                server, objects, ns, line.name, line.description, folder=False, node_id=_object_id(line.name, ns, taken)
            )
            self._objects[line.name] = line_id
            self._add_tags(server, line_id, line_tags, f"{line.name}.")
            for machine, tags in machines:
                if tags:
                    machine_id = _add_object(
                        server,
                        line_id,
                        ns,
                        machine.name,
                        machine.description,
                        folder=False,
                        node_id=_object_id(f"{line.name}.{machine.name}", ns, taken),
                    )
                    self._objects[f"{line.name}.{machine.name}"] = machine_id
                    self._add_tags(server, machine_id, tags, f"{line.name}.{machine.name}.")

    async def _add_ranges(self, server: Server, served: Sequence[Tag], ns: int) -> None:
        """EURange and EngineeringUnits properties on every numeric tag that has an eng_range or a unit."""
        for tag in served:
            if not tag.numeric or (tag.eng_range is None and not tag.unit):
                continue
            node = server.get_node(self._tags[tag.name].node_id)
            numbered = ua.NodeId(ua.Int32(0), ua.Int16(ns))  # a null identifier: the server numbers the property
            if tag.eng_range is not None:
                low, high = tag.eng_range
                await node.add_property(
                    numbered,
                    ua.QualifiedName("EURange", 0),
                    ua.Range(Low=low, High=high),
                    ua.VariantType.ExtensionObject,
                    _type_id(ua.ObjectIds.Range),
                )
            if tag.unit:
                unit = ua.EUInformation(
                    NamespaceUri=_UNITS_NAMESPACE,
                    UnitId=-1,
                    DisplayName=ua.LocalizedText(tag.unit),
                    Description=ua.LocalizedText(tag.unit),
                )
                await node.add_property(
                    numbered,
                    ua.QualifiedName("EngineeringUnits", 0),
                    unit,
                    ua.VariantType.ExtensionObject,
                    _type_id(ua.ObjectIds.EUInformation),
                )

    async def _add_line_methods(self, server: Server, ns: int) -> None:
        """Start, Stop and Reset on each line object: IEC 62541-4 §5.11.2 Call, driving the line's PackML state."""
        for _area, line in self.plant.lines():
            line_id = self._objects.get(line.name)
            if line_id is None:
                continue
            for name in LINE_METHODS:
                await server.get_node(line_id).add_method(
                    ua.NodeId(ua.String(f"{line.name}.{name}"), ua.Int16(ns)),
                    ua.QualifiedName(name, ns),
                    self._line_method(line.name, line_id, name),
                    [],
                    [],
                )

    def _line_method(self, line: str, line_id: ua.NodeId, name: str) -> Any:
        async def call(parent: ua.NodeId, *args: ua.Variant) -> ua.StatusCode | list[ua.Variant]:
            if parent != line_id:
                return ua.StatusCode(ua.UInt32(ua.StatusCodes.BadMethodInvalid))
            if args:
                return ua.StatusCode(ua.UInt32(ua.StatusCodes.BadTooManyArguments))
            try:
                changed = await self.command(line, name)
            except InvalidStateError as exc:
                log.info("%s.%s refused: %s", line, name, exc)
                return ua.StatusCode(ua.UInt32(ua.StatusCodes.BadInvalidState))
            log.debug("%s.%s: %d value(s) changed", line, name, len(changed))
            return []

        return call

    async def command(self, line: str, name: str) -> dict[str, Sample]:
        """Give a line the PackML command `name` (Start, Stop, Reset) as a method call does; InvalidStateError when
        its state does not allow it."""
        action = {"Start": self.model.start, "Stop": self.model.stop, "Reset": self.model.reset}[name]
        changed = action(line)
        await self._write_samples(changed, datetime.now(UTC))
        return changed

    def _client_write(self, tag: str) -> Any:
        """The value setter of a writable node: asyncua calls it for each client write that passed the access
        checks and the type check; the value is stored and handed to the model, and what follows from it is
        written back."""

        def store(node: Any, attr: ua.AttributeIds, dv: ua.DataValue) -> None:
            now = datetime.now(UTC)
            # A client need not send a SourceTimestamp; the server then stamps the value (IEC 62541-4 §7.7.3).
            if dv.SourceTimestamp is None:
                dv.SourceTimestamp = now  # type: ignore[assignment]
            if dv.ServerTimestamp is None:
                dv.ServerTimestamp = now  # type: ignore[assignment]
            node.attributes[attr].value = dv
            variant = dv.Value
            good = dv.StatusCode is None or dv.StatusCode.is_good()
            if self._model is None or not good or variant is None or variant.Value is None:
                return
            served = self._tags[tag]
            changed = self._model.write(tag, _coerce(served.data_type, variant.Value))
            changed.pop(tag, None)  # stored above, with the client's timestamps
            if changed:
                task = asyncio.get_running_loop().create_task(self._write_samples(changed, now))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

        return store

    def _add_conditions(self, server: Server, ns: int) -> None:
        """Alarm conditions: each served line's EmergencyStop, and <Line>.<Machine>.OverTemperature for every
        served float tag named <Line>.<Machine>.Temperature that has an H limit."""
        conditions = ConditionServer(server)
        conditions.bind()
        for _area, line in self.plant.lines():
            line_id = self._objects.get(line.name)
            if line_id is None:
                continue
            conditions.add(
                ConditionSpec(
                    f"{line.name}.{EMERGENCY_STOP}",
                    EMERGENCY_STOP,
                    line_id,
                    line.name,
                    EMERGENCY_STOP_SEVERITY,
                    f"{line.name}: emergency stop pressed",
                    ua.ObjectIds.SafetyConditionClassType,
                ),
                ns,
            )
            for machine in line.machines:
                source = self._objects.get(f"{line.name}.{machine.name}")
                tag = next(
                    (
                        t
                        for t in machine.tags
                        if t.name == f"{line.name}.{machine.name}.Temperature"
                        and t.data_type == "float"
                        and t.name in self._tags
                    ),
                    None,
                )
                high = next((a for a in tag.alarms if a.type == "H" and a.limit is not None), None) if tag else None
                if source is None or tag is None or high is None or high.limit is None:
                    continue
                name = f"{line.name}.{machine.name}.OverTemperature"
                unit = f" {tag.unit}" if tag.unit else ""
                conditions.add(
                    ConditionSpec(
                        name,
                        "OverTemperature",
                        source,
                        f"{line.name}.{machine.name}",
                        OVER_TEMPERATURE_SEVERITY,
                        f"{machine.name} temperature above {high.limit:g}{unit}",
                    ),
                    ns,
                )
                self._watches[tag.name] = _LimitWatch(name, high.limit, high.deadband)
        self._conditions = conditions

    async def _evaluate_conditions(self, samples: dict[str, Sample]) -> None:
        conditions = self._conditions
        if conditions is None:
            return
        for tag, watch in self._watches.items():
            sample = samples.get(tag)
            # Only a good value raises or clears: a failed sensor says nothing about the temperature.
            if sample is None or sample.status != GOOD or conditions.is_manual(watch.condition):
                continue
            value = float(sample.value)
            if conditions.state(watch.condition).active:
                if value < watch.limit - watch.deadband:
                    await conditions.set_active(watch.condition, False)
            elif value >= watch.limit:
                await conditions.set_active(watch.condition, True)

    def _add_tags(self, server: Server, parent: ua.NodeId, tags: Sequence[Tag], prefix: str) -> None:
        node_ids = [_parse_node_id(tag) for tag in tags]
        writable = self._writable()
        access = [
            (_READ, _READ)
            if tag.name not in writable
            else ((_READ_WRITE, _READ) if tag.name.endswith(LOCKED_SUFFIX) else (_READ_WRITE, _READ_WRITE))
            for tag in tags
        ]
        specs = [
            (node_id, tag.name.removeprefix(prefix) or tag.name, tag.description, _VARIANT_TYPES[tag.data_type])
            for tag, node_id in zip(tags, node_ids, strict=True)
        ]
        attributes = _add_variables(server, parent, specs, access)
        for tag, node_id, attribute in zip(tags, node_ids, attributes, strict=True):
            self._tags[tag.name] = _Served(tag.name, node_id, tag.data_type, _VARIANT_TYPES[tag.data_type], attribute)
            if tag.name in writable:
                server.set_attribute_value_setter(node_id, self._client_write(tag.name))

    def _writable(self) -> set[str]:
        """Tags clients may write: those with a write rule and those a command writes."""
        rules = {name for name, ref in self.plant.tags.items() if ref.tag.write is not None}
        return rules | {ref.command.write.tag for ref in self.plant.commands.values() if ref.command.write is not None}

    def _build_load(self, server: Server, ns: int) -> None:
        folder = _add_object(
            server,
            ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder)),
            ns,
            LOAD_FOLDER,
            "Filler tags for load tests",
            folder=True,
        )
        width = max(5, len(str(self.extra_tags)))
        names = [f"{LOAD_FOLDER}.Tag{i:0{width}d}" for i in range(1, self.extra_tags + 1)]
        specs = [
            (ua.NodeId(ua.String(name), ua.Int16(ns)), name.split(".", 1)[1], "", ua.VariantType.Double)
            for name in names
        ]
        attributes = _add_variables(server, folder, specs)
        self._load_vars = [
            _Served(name, spec[0], "float", ua.VariantType.Double, attribute)
            for name, spec, attribute in zip(names, specs, attributes, strict=True)
        ]

    def _build_probes(self, server: Server, ns: int) -> None:
        folder = _add_object(
            server,
            ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder)),
            ns,
            PROBE_FOLDER,
            "Latency probes: the value is the milliseconds since 1970-01-01 UTC at which it was written",
            folder=True,
        )
        names = probe_names(self.probes)
        specs = [
            (ua.NodeId(ua.String(name), ua.Int16(ns)), name.split(".", 1)[1], "", ua.VariantType.Int64)
            for name in names
        ]
        attributes = _add_variables(server, folder, specs)
        self._probe_vars = [
            _Served(name, spec[0], "int", ua.VariantType.Int64, attribute)
            for name, spec, attribute in zip(names, specs, attributes, strict=True)
        ]

    # ------------------------------------------------------------------------------------------------- writing

    def _status(self, name: str) -> ua.StatusCode:
        code = self._status_cache.get(name)
        if code is None:
            code = self._status_cache[name] = status_code(name)
        return code

    async def _write_samples(self, samples: dict[str, Sample], now: datetime) -> None:
        for name, sample in samples.items():
            served = self._tags.get(name)
            if served is not None:
                value = _coerce(served.data_type, sample.value)
                # asyncua annotates the timestamps with its marker subclass ua.DateTime, yet takes (and itself
                # passes) a plain datetime, which cannot be converted into one.
                await _write(
                    served.attribute,
                    _SharedDataValue(
                        Value=ua.Variant(value, served.variant_type),
                        StatusCode=self._status(sample.status),
                        SourceTimestamp=now,  # type: ignore[arg-type]
                        ServerTimestamp=now,  # type: ignore[arg-type]
                    ),
                )
        if self._watches:
            # Every write (process tick or set_value) re-evaluates the conditions on the written tags.
            await self._evaluate_conditions(samples)

    async def _write_load(self, changes: Iterable[tuple[int, float]], now: datetime) -> int:
        good = self._status(GOOD)
        double = ua.VariantType.Double
        variables = self._load_vars
        n = 0
        for index, value in changes:
            await _write(
                variables[index].attribute,
                _SharedDataValue(  # timestamps: see _write_samples
                    Value=ua.Variant(value, double),
                    StatusCode=good,
                    SourceTimestamp=now,  # type: ignore[arg-type]
                    ServerTimestamp=now,  # type: ignore[arg-type]
                ),
            )
            n += 1
        return n

    async def _write_probe(self, probe: _Served, now: datetime) -> None:
        await _write(
            probe.attribute,
            _SharedDataValue(  # timestamps: see _write_samples
                Value=ua.Variant(round(now.timestamp() * 1000), ua.VariantType.Int64),
                StatusCode=self._status(GOOD),
                SourceTimestamp=now,  # type: ignore[arg-type]
                ServerTimestamp=now,  # type: ignore[arg-type]
            ),
        )

    async def _run_probes(self) -> None:
        """Write the probes round-robin, one every PROBE_PERIOD_S / count seconds, so each changes once a period."""
        loop = asyncio.get_running_loop()
        step = PROBE_PERIOD_S / len(self._probe_vars)
        due, i = loop.time(), 0
        while True:
            due += step
            delay = due - loop.time()
            if delay < -PROBE_PERIOD_S:
                due, delay = loop.time(), 0.0  # far behind: skip, as the process tick does
            await asyncio.sleep(max(delay, 0.0))
            if self._paused:
                continue
            await self._write_probe(self._probe_vars[i], datetime.now(UTC))
            i = (i + 1) % len(self._probe_vars)

    async def _run_process(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.tick_s
            delay = due - loop.time()
            if delay < -self.tick_s:
                # Far behind (a busy machine): skip the missed ticks instead of rushing through them.
                due, delay = loop.time(), 0.0
            await asyncio.sleep(max(delay, 0.0))
            if self._paused or self._model is None:
                continue
            try:
                now = datetime.now(UTC)
                await self._write_samples(self._model.step(now), now)
                await self._release_emergency_stops(now)
            except Exception:
                # One bad tick must not end the simulation; say what happened and carry on.
                log.exception("simulator tick failed")

    async def _run_load(self) -> None:
        assert self._load is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        written = 0.0
        while True:
            await asyncio.sleep(_LOAD_INTERVAL_S)
            now_s = loop.time()
            if self._paused:
                started, written = now_s, 0.0
                continue
            due = self.change_rate * (now_s - started) - written
            if due > self.change_rate:
                # More than a second behind: drop the backlog, the rate is a target, not a debt.
                due = self.change_rate * _LOAD_INTERVAL_S
                started, written = now_s - _LOAD_INTERVAL_S, 0.0
            n = int(due)
            if n <= 0:
                continue
            now = datetime.now(UTC)
            self.load_changes += await self._write_load(self._load.next_changes(n), now)
            written += n
            # Let subscriptions and clients run between large batches.
            await asyncio.sleep(0)

    async def _release_emergency_stops(self, now: datetime) -> None:
        for line, until in list(self._estop_until.items()):
            if now >= until:
                del self._estop_until[line]
                name = f"{line}.{EMERGENCY_STOP}"
                if self._conditions is not None and not self._conditions.is_manual(name):
                    await self._conditions.set_active(name, False)


async def _write(attribute: AttributeValue, dv: ua.DataValue) -> None:
    """Store a value and notify subscriptions, as AddressSpace.write_attribute_value does, minus its checks.

    The address space would replace the value of a bad-status write by null; a failed sensor here keeps
    showing its last value (as many servers do), so the HMI must prove it never presents such a value as good.
    The public Server.write_attribute_value goes through those checks (asyncua 2.1.0), hence the attribute here.
    """
    attribute.value = dv
    if attribute.datachange_callbacks:
        for handle, callback in list(attribute.datachange_callbacks.items()):
            await callback(handle, dv)


def probe_names(count: int) -> list[str]:
    """The names (and string node ids) of `count` latency probes: Probe.P01, Probe.P02, ..."""
    width = max(2, len(str(count)))
    return [f"{PROBE_FOLDER}.P{i:0{width}d}" for i in range(1, count + 1)]


def _url_host(host: str) -> str:
    # An IPv6 address needs brackets in a URL.
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _coerce(data_type: str, value: Value) -> Value:
    if data_type == "float":
        return float(value)
    if data_type == "int":
        return int(value)
    if data_type == "bool":
        return bool(value)
    return str(value)


def _parse_node_id(tag: Tag) -> ua.NodeId:
    try:
        return ua.NodeId.from_string(tag.node_id)
    except (ValueError, ua.UaStringParsingError) as exc:
        raise ValueError(f"tag {tag.name!r}: node id {tag.node_id!r} is not valid ({exc})") from None


async def _ensure_namespaces(server: Server, tags: Iterable[Tag]) -> None:
    """Register filler namespaces so that every index the configuration uses exists."""
    indexes = {t.name: _parse_node_id(t).NamespaceIndex for t in tags}
    standard = [name for name, index in indexes.items() if index == 0]
    if standard:
        raise ValueError(f"tag {standard[0]!r}: namespace 0 belongs to the OPC UA standard model; use ns=2")
    count = len(await server.get_namespace_array())
    while count <= max(indexes.values(), default=0):
        await server.register_namespace(f"{NAMESPACE_URI}:{count}")
        count += 1


def _object_id(name: str, ns: int, taken: set[str]) -> ua.NodeId | None:
    """ns=<ns>;s=<name> for a line or machine object (commands name it as a method's object), unless a tag uses it."""
    node_id = ua.NodeId(ua.String(name), ua.Int16(ns))
    return None if node_id.to_string() in taken else node_id


def _type_id(identifier: int) -> ua.NodeId:
    return ua.NodeId(ua.Int32(identifier))


def _add_object(
    server: Server,
    parent: ua.NodeId,
    ns: int,
    name: str,
    description: str,
    *,
    folder: bool,
    node_id: ua.NodeId | None = None,
) -> ua.NodeId:
    # Through the internal node management service, like _add_variables: the public Node.add_object/add_folder
    # (asyncua 2.1.0) set the description to the name and cannot be given ours.
    attrs = ua.ObjectAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.Description = ua.LocalizedText(description or name)
    attrs.EventNotifier = 0
    item = ua.AddNodesItem()
    # Null identifier: the server numbers it in our namespace.
    item.RequestedNewNodeId = node_id if node_id is not None else ua.NodeId(ua.Int32(0), ua.Int16(ns))
    item.BrowseName = ua.QualifiedName(name, ns)
    item.NodeClass = ua.NodeClass.Object
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.Int32(ua.ObjectIds.Organizes if folder else ua.ObjectIds.HasComponent))
    item.TypeDefinition = ua.NodeId(ua.Int32(ua.ObjectIds.FolderType if folder else ua.ObjectIds.BaseObjectType))
    item.NodeAttributes = attrs
    (result,) = server.iserver.node_mgt_service.add_nodes([item])
    result.StatusCode.check()
    added: ua.NodeId = result.AddedNodeId  # asyncua's generated structures leave their field types unresolved (Any)
    return added


def _add_variables(
    server: Server,
    parent: ua.NodeId,
    specs: Sequence[tuple[ua.NodeId, str, str, ua.VariantType]],
    access: Sequence[tuple[int, int]] | None = None,
) -> list[AttributeValue]:
    """Add scalar variables under `parent` in one pass; return their value attributes. `access` gives each one's
    (AccessLevel, UserAccessLevel); default read-only.

    asyncua's AddNodes scans all of a parent's references for every node added, which takes minutes for
    10,000 load tags; the nodes are therefore added without a parent and linked to it in one go.
    """
    service = server.iserver.node_mgt_service
    aspace = server.iserver.aspace
    parent_data = aspace[parent]
    parent_class = parent_data.attributes[ua.AttributeIds.NodeClass].value
    assert parent_class is not None
    assert parent_class.Value is not None
    has_component = ua.NodeId(ua.Int32(ua.ObjectIds.HasComponent))
    type_definition = ua.NodeId(ua.Int32(ua.ObjectIds.BaseDataVariableType))
    items = []
    for k, (node_id, browse, description, vtype) in enumerate(specs):
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(browse)
        attrs.Description = ua.LocalizedText(description or browse)
        attrs.DataType = ua.NodeId(ua.Int32(vtype.value))
        attrs.Value = ua.Variant(_ZERO[vtype], vtype)
        attrs.ValueRank = ua.ValueRank.Scalar
        attrs.AccessLevel, attrs.UserAccessLevel = access[k] if access is not None else (_READ, _READ)
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = node_id
        item.BrowseName = ua.QualifiedName(browse, node_id.NamespaceIndex)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = ua.NodeId()
        item.ReferenceTypeId = has_component
        item.TypeDefinition = type_definition
        item.NodeAttributes = attrs
        items.append(item)
    failed = list(service.try_add_nodes(items, check=False))
    if failed:
        raise ValueError(
            f"cannot create node {failed[0].RequestedNewNodeId.to_string()}: two tags (or a tag and a "
            "load tag) use this node id; give each tag its own"
        )
    out = []
    for item in items:
        data = aspace[item.RequestedNewNodeId]
        parent_data.references.append(
            ua.ReferenceDescription(
                ReferenceTypeId=has_component,
                IsForward=True,
                NodeId=item.RequestedNewNodeId,
                BrowseName=item.BrowseName,
                DisplayName=item.NodeAttributes.DisplayName,
                NodeClass=ua.NodeClass.Variable,
                TypeDefinition=type_definition,
            )
        )
        data.references.append(
            ua.ReferenceDescription(
                ReferenceTypeId=has_component,
                IsForward=False,
                NodeId=parent,
                BrowseName=_browse_name(parent_data),
                DisplayName=_display_name(parent_data),
                NodeClass=parent_class.Value.Value,
            )
        )
        out.append(data.attributes[ua.AttributeIds.Value])
    return out


_ZERO: dict[ua.VariantType, Value] = {
    ua.VariantType.Double: 0.0,
    ua.VariantType.Int64: 0,
    ua.VariantType.Boolean: False,
    ua.VariantType.String: "",
}


def _browse_name(data: Any) -> ua.QualifiedName:
    dv = data.attributes[ua.AttributeIds.BrowseName].value
    return dv.Value.Value if dv is not None and dv.Value is not None else ua.QualifiedName()


def _display_name(data: Any) -> ua.LocalizedText:
    dv = data.attributes[ua.AttributeIds.DisplayName].value
    return dv.Value.Value if dv is not None and dv.Value is not None else ua.LocalizedText()


def _quiet_asyncua() -> None:
    """Keep asyncua's server chatter (connections, certificates, bind failures) out of the log unless debugging."""
    logger = logging.getLogger("asyncua.server")
    # Our own OSError says why a start failed; asyncua's extra traceback would only repeat it.
    if logger.level == logging.NOTSET and logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.CRITICAL)


async def _stop_quietly(server: Server) -> None:
    # The internal server's clock task (asyncua 2.1.0); Server.disable_clock() would stop it from ever running.
    time_task = server.iserver.time_task
    if time_task is not None:
        # The server clock task sleeps a whole second between updates and stop() waits for it; end it now.
        await stop_tasks(time_task)
        server.iserver.time_task = None
    try:
        await server.stop()
    except Exception:
        # Closing may race with clients going away; the port is freed either way.
        log.debug("error while stopping the OPC UA server", exc_info=True)
