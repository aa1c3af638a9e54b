"""Browse an OPC UA server and turn what it serves into a starting plant configuration.

Every object holding variables becomes a machine and every variable a tag, with `unit` and `eng_range` from the
standard EngineeringUnits and EURange properties where the server has them (IEC 62541-8 §5.6.3). Variables whose
AccessLevel allows CurrentWrite get a commented `write:` candidate, and the methods of an object a commented
`commands:` candidate: nothing becomes writable until a person uncomments it. Alarms & Conditions instances
(objects whose type derives from ConditionType, IEC 62541-9) are left out: the HMI receives them as events.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import yaml
from asyncua import Client, ua
from pydantic import ValidationError

from hmi.config import PlantConfig, format_path, semantic_issues

# Requests are chunked so that large servers never see one huge browse or read.
_BROWSE_CHUNK = 200
_READ_CHUNK = 1000
_NAME_MAX = 120
_CONDITION_TYPE = ua.NodeId(ua.Int32(ua.ObjectIds.ConditionType))
# Object types that certainly are not conditions, so the type hierarchy need not be asked about them.
_PLAIN_TYPES = frozenset(ua.NodeId(ua.Int32(i)) for i in (ua.ObjectIds.BaseObjectType, ua.ObjectIds.FolderType))
_PROPERTIES = ("EURange", "EngineeringUnits", "InputArguments")
_WRITE_MARK = "_write_candidate"
_COMMANDS_MARK = "_command_candidates"
_INVALID = re.compile(r"[^A-Za-z0-9_.\-]+")
_VARIANT_DATA_TYPES = {
    ua.VariantType.Boolean: "bool",
    ua.VariantType.SByte: "int",
    ua.VariantType.Byte: "int",
    ua.VariantType.Int16: "int",
    ua.VariantType.UInt16: "int",
    ua.VariantType.Int32: "int",
    ua.VariantType.UInt32: "int",
    ua.VariantType.Int64: "int",
    ua.VariantType.UInt64: "int",
    ua.VariantType.Float: "float",
    ua.VariantType.Double: "float",
    ua.VariantType.String: "string",
}


class BrowseError(Exception):
    """The server could not be browsed; the message says why and what to check."""


@dataclass(frozen=True, slots=True)
class BrowsedTag:
    """A variable found on the server, named and typed for the configuration."""

    name: str
    node_id: str
    data_type: str
    description: str = ""
    unit: str = ""
    eng_range: tuple[float, float] | None = None
    writable: bool = False


@dataclass(frozen=True, slots=True)
class BrowsedMethod:
    """A method found on an object: a command candidate, with its input arguments as (name, data type)."""

    name: str
    object_id: str
    method_id: str
    args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BrowsedMachine:
    """An object on the server holding variables; it becomes a machine."""

    name: str
    tags: tuple[BrowsedTag, ...]
    state_tag: str | None = None
    methods: tuple[BrowsedMethod, ...] = ()


@dataclass(frozen=True, slots=True)
class BrowseResult:
    """What a browse found: the server's name, machines with tags, and how many variables were left out."""

    url: str
    server_name: str
    machines: tuple[BrowsedMachine, ...]
    skipped: int = 0
    truncated: bool = False
    conditions: int = 0

    @property
    def tag_count(self) -> int:
        """Number of tags over all machines."""
        return sum(len(m.tags) for m in self.machines)

    def summary(self) -> str:
        """One line for the terminal."""
        text = (
            f"browsed {self.url}: server {self.server_name!r}, {len(self.machines)} machine(s), {self.tag_count} tag(s)"
        )
        writable = sum(1 for m in self.machines for t in m.tags if t.writable)
        methods = sum(len(m.methods) for m in self.machines)
        if writable or methods:
            text += f", {writable} writable and {methods} method(s) as commented candidates"
        if self.conditions:
            text += f", {self.conditions} alarm condition(s) left out (they arrive as events)"
        if self.skipped:
            text += f", {self.skipped} variable(s) skipped (arrays or unsupported data types)"
        if self.truncated:
            text += "; stopped early at the node limit, so the list is incomplete"
        return text


@dataclass(slots=True)
class _Found:
    node_id: ua.NodeId
    path: tuple[str, ...]
    owner: tuple[str, ...]
    kind: ua.NodeClass = ua.NodeClass.Object


@dataclass(slots=True)
class _Walk:
    """What the walk found: variables, methods (with the object they sit on), the standard properties of each,
    and how many condition objects it left out."""

    variables: list[_Found]
    methods: list[tuple[_Found, ua.NodeId]]
    properties: dict[ua.NodeId, dict[str, ua.NodeId]]
    conditions: int = 0
    truncated: bool = False


async def browse_server(url: str, *, timeout_s: float = 10.0, max_nodes: int = 200_000) -> BrowseResult:
    """Connect anonymously without security, walk the Objects folder and describe what it holds."""
    if not url.startswith("opc.tcp://"):
        raise BrowseError(f"{url!r} is not an OPC UA address; it must look like opc.tcp://host:4840")
    client = Client(url, timeout=timeout_s)
    # Ask for what servers commonly grant, so the library does not warn that the request was revised.
    client.session_timeout = 60_000
    try:
        await client.connect()
    except (OSError, TimeoutError, ua.UaError, ValueError) as exc:
        raise BrowseError(
            f"cannot connect to {url}: {_reason(exc)}; check that the server runs, the address and "
            "port are right, and that it accepts anonymous connections without security"
        ) from None
    try:
        name = await _server_name(client)
        walk = await _walk(client, max_nodes)
        machines, skipped = await _describe(client, walk)
    except (OSError, TimeoutError, ua.UaError) as exc:
        raise BrowseError(f"lost the connection to {url} while browsing: {_reason(exc)}") from None
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
    return BrowseResult(url, name, machines, skipped, walk.truncated, walk.conditions)


def to_config(result: BrowseResult, *, candidates: bool = False) -> dict[str, Any]:
    """The plant configuration (as plain data) for a browse result: one endpoint, area and line. With
    `candidates`, writable tags and machines with methods carry markers that render_yaml turns into comments."""
    host = urlparse(result.url).hostname or "server"
    endpoint = sanitize(host, "server")
    machines: list[dict[str, Any]] = []
    for m in result.machines:
        machine: dict[str, Any] = {"name": m.name}
        if m.state_tag:
            machine["state_tag"] = m.state_tag
        tags = []
        for t in m.tags:
            tag: dict[str, Any] = {"name": t.name, "endpoint": endpoint, "node_id": t.node_id, "data_type": t.data_type}
            if t.unit and t.data_type in ("float", "int"):
                tag["unit"] = t.unit
            if t.description:
                tag["description"] = t.description
            if t.eng_range is not None and t.data_type in ("float", "int"):
                tag["eng_range"] = list(t.eng_range)
            if candidates and t.writable:
                tag[_WRITE_MARK] = t.data_type in ("float", "int") and t.eng_range is None
            tags.append(tag)
        machine["tags"] = tags
        if candidates and m.methods:
            machine[_COMMANDS_MARK] = len(machines)
        machines.append(machine)
    return {
        "site": {"name": (result.server_name or host)[:120], "timezone": "UTC"},
        "endpoints": [{"name": endpoint, "url": result.url, "publishing_interval_ms": 500}],
        "areas": [{"name": "Area1", "lines": [{"name": "Line1", "machines": machines}]}],
    }


def render_yaml(result: BrowseResult) -> str:
    """The starting configuration as YAML text, checked with the same rules as `hmi check`."""
    data = to_config(result)
    # Validate the data rather than re-parsing the text: the same rules, without reading 10,000 tags twice.
    try:
        problems = [f"{format_path(loc)}: {msg}" for loc, msg in semantic_issues(PlantConfig.model_validate(data))]
    except ValidationError as exc:
        problems = [str(exc)]
    if problems:
        # Names and types are sanitised above, so this is a bug here rather than a problem of the server.
        raise BrowseError("the generated configuration does not validate:\n" + "\n".join(problems))
    header = (
        f"# Starting configuration written by `hmi browse` from {result.url}.\n"
        "# Every object holding variables became a machine and every variable a tag; units and ranges come from the\n"
        "# server's EngineeringUnits and EURange where it has them. Alarm conditions are left out (they arrive as\n"
        "# events). Values the server lets clients write carry a commented `write:` rule and objects' methods a\n"
        "# commented `commands:` list: uncomment only what operators should control. Next: set the time zone and\n"
        "# shifts, split the machines into lines, add units, ranges and alarms (see the demo plant,\n"
        "# demo-plant.yaml in hmi/assets of the installed package),\n"
        "# then validate with `hmi check`.\n"
    )
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml, when present, is ten times faster
    marked = to_config(result, candidates=True)
    text = yaml.dump(marked, Dumper=dumper, sort_keys=False, allow_unicode=True, width=120)
    endpoint = marked["endpoints"][0]["name"]
    return header + _comment_candidates(text, result, endpoint)


def _comment_candidates(text: str, result: BrowseResult, endpoint: str) -> str:
    """Replace the candidate markers by commented-out YAML at the same indentation."""

    def write(match: re.Match[str]) -> str:
        indent, needs_limits = match.group(1), match.group(2) == "true"
        limits = ", min: 0, max: 100}  # set the limits" if needs_limits else "}"
        return f"{indent}# write: {{roles: [lead, engineer]{limits}  # the server allows writes; uncomment to use"

    def commands(match: re.Match[str]) -> str:
        indent, machine = match.group(1), result.machines[int(match.group(2))]
        lines = [f"{indent}# commands:  # methods the server offers; uncomment those operators may use"]
        for method in machine.methods:
            command: dict[str, Any] = {
                "name": method.name,
                "call": {"endpoint": endpoint, "object_id": method.object_id, "method_id": method.method_id},
            }
            if method.args:
                command["call"]["args"] = [{"name": n, "data_type": d} for n, d in method.args]
            flow = yaml.safe_dump(
                command, default_flow_style=True, width=10**6, allow_unicode=True, sort_keys=False
            ).strip()
            lines.append(f"{indent}# - {flow}")
        return "\n".join(lines)

    text = re.sub(rf"(?m)^( *){_WRITE_MARK}: (true|false)$", write, text)
    return re.sub(rf"(?m)^( *){_COMMANDS_MARK}: (\d+)$", commands, text)


def sanitize(text: str, fallback: str) -> str:
    """A name matching hmi.config.NAME_PATTERN: invalid characters become '_', leading ones are dropped."""
    name = _INVALID.sub("_", text).lstrip("_.-")[:_NAME_MAX]
    return name or fallback


# ---------------------------------------------------------------------------------------------- walking the server


async def _server_name(client: Client) -> str:
    with contextlib.suppress(ua.UaError, OSError, TimeoutError):
        for server in await client.find_servers():
            if server.ApplicationName is not None and server.ApplicationName.Text:
                return str(server.ApplicationName.Text)
    with contextlib.suppress(ua.UaError, OSError, TimeoutError):
        node = client.get_node(ua.NodeId(ua.Int32(ua.ObjectIds.Server_ServerStatus_BuildInfo_ProductName)))
        product = await node.read_value()
        if product:
            return str(product)
    return ""


async def _walk(client: Client, max_nodes: int) -> _Walk:
    """Breadth-first over hierarchical references below Objects: variables, methods and their properties."""
    objects = ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder))
    frontier = [_Found(objects, (), ())]
    seen = {objects}
    walk = _Walk([], [], {})
    condition_types: dict[ua.NodeId, bool] = {}
    has_property = ua.NodeId(ua.Int32(ua.ObjectIds.HasProperty))
    while frontier:
        nxt: list[_Found] = []
        for start in range(0, len(frontier), _BROWSE_CHUNK):
            chunk = frontier[start : start + _BROWSE_CHUNK]
            for parent, refs in zip(chunk, await _browse(client, [f.node_id for f in chunk]), strict=True):
                for ref in refs:
                    target = ref.NodeId
                    node_id = ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType)
                    if ref.ReferenceTypeId == has_property:
                        # Properties describe their parent, not the process; a few standard ones fill in the tag.
                        name = ref.BrowseName.Name
                        if parent.kind != ua.NodeClass.Object and name in _PROPERTIES:
                            walk.properties.setdefault(parent.node_id, {})[name] = node_id
                        continue
                    # Namespace 0 is the standard model (the Server object and its diagnostics), and another server
                    # index is a different server.
                    remote = (getattr(target, "ServerIndex", None) or 0) != 0
                    if node_id.NamespaceIndex == 0 or remote or node_id in seen:
                        continue
                    seen.add(node_id)
                    path = (*parent.path, ref.BrowseName.Name or str(target.Identifier))
                    if ref.NodeClass == ua.NodeClass.Variable:
                        found = _Found(node_id, path, parent.owner, ua.NodeClass.Variable)
                        walk.variables.append(found)
                        nxt.append(found)
                    elif ref.NodeClass == ua.NodeClass.Method:
                        if parent.kind == ua.NodeClass.Object and parent.path:
                            method = _Found(node_id, path, parent.owner, ua.NodeClass.Method)
                            walk.methods.append((method, parent.node_id))
                            nxt.append(method)
                    elif ref.NodeClass == ua.NodeClass.Object:
                        if await _is_condition(client, _local(ref.TypeDefinition), condition_types):
                            walk.conditions += 1
                            continue
                        nxt.append(_Found(node_id, path, path))
                    if len(seen) >= max_nodes:
                        walk.truncated = True
                        return walk
        frontier = nxt
    return walk


def _local(node_id: Any) -> ua.NodeId:
    """A NodeId from an ExpandedNodeId (or a null one)."""
    if node_id is None:
        return ua.NodeId()
    return ua.NodeId(node_id.Identifier, node_id.NamespaceIndex, node_id.NodeIdType)


async def _is_condition(client: Client, type_id: ua.NodeId, cache: dict[ua.NodeId, bool]) -> bool:
    """True when the object type derives from ConditionType (followed up the inverse HasSubtype references)."""
    chain: list[ua.NodeId] = []
    current = type_id
    answer = False
    for _ in range(32):
        if current in cache:
            answer = cache[current]
            break
        if current == _CONDITION_TYPE:
            answer = True
            break
        if current.is_null() or current in _PLAIN_TYPES:
            break
        chain.append(current)
        desc = ua.BrowseDescription()
        desc.NodeId = current
        desc.BrowseDirection = ua.BrowseDirection.Inverse
        desc.ReferenceTypeId = ua.NodeId(ua.Int32(ua.ObjectIds.HasSubtype))
        desc.IncludeSubtypes = True
        desc.NodeClassMask = ua.NodeClass.ObjectType
        desc.ResultMask = ua.BrowseResultMask.All
        params = ua.BrowseParameters()
        params.View = ua.ViewDescription()
        params.NodesToBrowse = [desc]
        (result,) = await client.uaclient.browse(params)
        supertypes = list(result.References or []) if result.StatusCode.is_good() else []
        if not supertypes:
            break
        current = _local(supertypes[0].NodeId)
    for node_id in chain:
        cache[node_id] = answer
    return answer


async def _browse(client: Client, node_ids: list[ua.NodeId]) -> list[list[ua.ReferenceDescription]]:
    params = ua.BrowseParameters()
    params.View = ua.ViewDescription()
    params.RequestedMaxReferencesPerNode = 0
    params.NodesToBrowse = [_description(n) for n in node_ids]
    results = await client.uaclient.browse(params)
    out: list[list[ua.ReferenceDescription]] = []
    for result in results:
        refs = list(result.References or []) if result.StatusCode.is_good() else []
        point = result.ContinuationPoint
        while point:
            # The server returned part of a long list; fetch the rest.
            more = ua.BrowseNextParameters()
            more.ContinuationPoints = [point]
            (nxt,) = await client.uaclient.browse_next(more)
            refs += list(nxt.References or [])
            point = nxt.ContinuationPoint
        out.append(refs)
    return out


def _description(node_id: ua.NodeId) -> ua.BrowseDescription:
    desc = ua.BrowseDescription()
    desc.NodeId = node_id
    desc.BrowseDirection = ua.BrowseDirection.Forward
    desc.ReferenceTypeId = ua.NodeId(ua.Int32(ua.ObjectIds.HierarchicalReferences))
    desc.IncludeSubtypes = True
    desc.NodeClassMask = ua.NodeClass.Object | ua.NodeClass.Variable | ua.NodeClass.Method
    desc.ResultMask = ua.BrowseResultMask.All
    return desc


async def _describe(client: Client, walk: _Walk) -> tuple[tuple[BrowsedMachine, ...], int]:
    variables = walk.variables
    ids = [v.node_id for v in variables]
    values = await _read(client, ids, ua.AttributeIds.Value)
    types = await _read(client, ids, ua.AttributeIds.DataType)
    descriptions = await _read(client, ids, ua.AttributeIds.Description)
    access = await _read(client, ids, ua.AttributeIds.AccessLevel)
    wanted = [(holder, name, prop) for holder, props in walk.properties.items() for name, prop in props.items()]
    read = await _read(client, [prop for _holder, _name, prop in wanted], ua.AttributeIds.Value)
    properties: dict[ua.NodeId, dict[str, Any]] = {}
    for (holder, name, _prop), dv in zip(wanted, read, strict=True):
        if dv.Value is not None and dv.Value.Value is not None:
            properties.setdefault(holder, {})[name] = dv.Value.Value
    groups: dict[tuple[str, ...], list[tuple[_Found, str, str, bool]]] = {}
    skipped = 0
    for found, value, dtype, desc, level in zip(variables, values, types, descriptions, access, strict=True):
        data_type = _data_type(value, dtype)
        if data_type is None:
            skipped += 1
            continue
        text = desc.Value.Value.Text if desc.Value is not None and desc.Value.Value is not None else ""
        if text == found.path[-1]:
            text = ""  # asyncua and others repeat the browse name as description; that says nothing
        writable = level.Value is not None and isinstance(level.Value.Value, int)
        writable = writable and bool(level.Value.Value & ua.AccessLevel.CurrentWrite.mask)  # type: ignore[union-attr]
        groups.setdefault(found.owner, []).append((found, data_type, str(text or ""), writable))
    methods: dict[tuple[str, ...], list[tuple[_Found, ua.NodeId]]] = {}
    for method, object_id in walk.methods:
        methods.setdefault(method.owner, []).append((method, object_id))
    tag_names: set[str] = set()
    machine_names: set[str] = set()
    machines = []
    for owner, items in groups.items():
        mname = _unique(sanitize(".".join(owner), "General") if owner else "General", machine_names)
        tags = []
        state_tag = None
        for found, data_type, text, writable in items:
            tname = _unique(_tag_name(found), tag_names)
            unit, eng_range = _engineering(properties.get(found.node_id, {}))
            tags.append(BrowsedTag(tname, found.node_id.to_string(), data_type, text[:500], unit, eng_range, writable))
            if state_tag is None and data_type == "string" and found.path[-1] == "State":
                state_tag = tname
        command_names: set[str] = set()
        commands = tuple(
            BrowsedMethod(
                _unique(sanitize(method.path[-1], "Command"), command_names),
                object_id.to_string(),
                method.node_id.to_string(),
                _arguments(properties.get(method.node_id, {}).get("InputArguments")),
            )
            for method, object_id in methods.get(owner, [])
        )
        machines.append(BrowsedMachine(mname, tuple(tags), state_tag, commands))
    return tuple(machines), skipped


def _engineering(properties: dict[str, Any]) -> tuple[str, tuple[float, float] | None]:
    """unit and eng_range from EngineeringUnits (EUInformation.DisplayName) and EURange (Range Low/High)."""
    unit = ""
    units = properties.get("EngineeringUnits")
    if isinstance(units, ua.EUInformation) and units.DisplayName is not None and units.DisplayName.Text:
        unit = str(units.DisplayName.Text)[:40]
    eng_range = None
    span = properties.get("EURange")
    if isinstance(span, ua.Range) and span.Low is not None and span.High is not None:
        low, high = float(span.Low), float(span.High)
        if low < high:
            eng_range = (low, high)
    return unit, eng_range


def _arguments(value: Any) -> tuple[tuple[str, str], ...]:
    """A method's InputArguments as (name, data type) pairs; a type the HMI does not know reads as string."""
    if not isinstance(value, list):
        return ()
    names: set[str] = set()
    out = []
    for arg in value:
        if not isinstance(arg, ua.Argument):
            continue
        data_type = "string"
        declared = arg.DataType
        if isinstance(declared, ua.NodeId) and declared.NamespaceIndex == 0 and isinstance(declared.Identifier, int):
            try:
                data_type = _VARIANT_DATA_TYPES.get(ua.VariantType(declared.Identifier), "string")
            except ValueError:
                data_type = "string"
        out.append((_unique(sanitize(arg.Name or "", "Arg"), names), data_type))
    return tuple(out)


async def _read(client: Client, node_ids: list[ua.NodeId], attribute: ua.AttributeIds) -> list[ua.DataValue]:
    out: list[ua.DataValue] = []
    for start in range(0, len(node_ids), _READ_CHUNK):
        params = ua.ReadParameters()
        params.TimestampsToReturn = ua.TimestampsToReturn.Neither
        for node_id in node_ids[start : start + _READ_CHUNK]:
            rv = ua.ReadValueId()
            rv.NodeId = node_id
            rv.AttributeId = attribute
            params.NodesToRead.append(rv)
        out += await client.uaclient.read(params)
    return out


def _data_type(value: ua.DataValue, dtype: ua.DataValue) -> str | None:
    variant = value.Value
    if variant is not None and variant.Value is not None:
        if variant.is_array:
            return None
        return _VARIANT_DATA_TYPES.get(variant.VariantType)
    # No value to look at (bad status or empty): fall back to the declared data type.
    if dtype.Value is None or not isinstance(dtype.Value.Value, ua.NodeId):
        return None
    declared = dtype.Value.Value
    if declared.NamespaceIndex != 0 or not isinstance(declared.Identifier, int):
        return None
    try:
        return _VARIANT_DATA_TYPES.get(ua.VariantType(declared.Identifier))
    except ValueError:
        return None


def _tag_name(found: _Found) -> str:
    # A string node id such as "Line1.Filler.Temperature" usually is the name people know the value by.
    ident = found.node_id.Identifier
    if found.node_id.NodeIdType == ua.NodeIdType.String and isinstance(ident, str) and sanitize(ident, "") == ident:
        return ident
    return sanitize(".".join(found.path), "Tag")


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name[: _NAME_MAX - 6]}_{n}"
    taken.add(candidate)
    return candidate


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__
