"""Browse an OPC UA server and turn what it serves into a starting plant configuration."""

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


@dataclass(frozen=True, slots=True)
class BrowsedMachine:
    """An object on the server holding variables; it becomes a machine."""

    name: str
    tags: tuple[BrowsedTag, ...]
    state_tag: str | None = None


@dataclass(frozen=True, slots=True)
class BrowseResult:
    """What a browse found: the server's name, machines with tags, and how many variables were left out."""

    url: str
    server_name: str
    machines: tuple[BrowsedMachine, ...]
    skipped: int = 0
    truncated: bool = False

    @property
    def tag_count(self) -> int:
        """Number of tags over all machines."""
        return sum(len(m.tags) for m in self.machines)

    def summary(self) -> str:
        """One line for the terminal."""
        text = (
            f"browsed {self.url}: server {self.server_name!r}, {len(self.machines)} machine(s), {self.tag_count} tag(s)"
        )
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
        variables, truncated = await _walk(client, max_nodes)
        machines, skipped = await _describe(client, variables)
    except (OSError, TimeoutError, ua.UaError) as exc:
        raise BrowseError(f"lost the connection to {url} while browsing: {_reason(exc)}") from None
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
    return BrowseResult(url, name, machines, skipped, truncated)


def to_config(result: BrowseResult) -> dict[str, Any]:
    """The plant configuration (as plain data) for a browse result: one endpoint, area and line."""
    host = urlparse(result.url).hostname or "server"
    endpoint = sanitize(host, "server")
    machines = []
    for m in result.machines:
        machine: dict[str, Any] = {"name": m.name}
        if m.state_tag:
            machine["state_tag"] = m.state_tag
        tags = []
        for t in m.tags:
            tag: dict[str, Any] = {"name": t.name, "endpoint": endpoint, "node_id": t.node_id, "data_type": t.data_type}
            if t.description:
                tag["description"] = t.description
            tags.append(tag)
        machine["tags"] = tags
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
        "# Every object holding variables became a machine and every variable a tag. Next: set the time zone and\n"
        "# shifts, split the machines into lines, add units, ranges and alarms (see the demo plant,\n"
        "# demo-plant.yaml in hmi/assets of the installed package),\n"
        "# then validate with `hmi check`.\n"
    )
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml, when present, is ten times faster
    return header + yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=120)


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


async def _walk(client: Client, max_nodes: int) -> tuple[list[_Found], bool]:
    """Breadth-first over hierarchical references below Objects; returns the variables found."""
    objects = ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder))
    frontier = [_Found(objects, (), ())]
    seen = {objects}
    variables: list[_Found] = []
    has_property = ua.NodeId(ua.Int32(ua.ObjectIds.HasProperty))
    while frontier:
        nxt: list[_Found] = []
        for start in range(0, len(frontier), _BROWSE_CHUNK):
            chunk = frontier[start : start + _BROWSE_CHUNK]
            for parent, refs in zip(chunk, await _browse(client, [f.node_id for f in chunk]), strict=True):
                for ref in refs:
                    target = ref.NodeId
                    node_id = ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType)
                    # Namespace 0 is the standard model (the Server object and its diagnostics), another server
                    # index is a different server, and properties describe their parent, not the process.
                    if (
                        ref.ReferenceTypeId == has_property
                        or node_id.NamespaceIndex == 0
                        or getattr(target, "ServerIndex", 0)
                        or node_id in seen
                    ):
                        continue
                    seen.add(node_id)
                    path = (*parent.path, ref.BrowseName.Name or str(target.Identifier))
                    if ref.NodeClass == ua.NodeClass.Variable:
                        found = _Found(node_id, path, parent.owner)
                        variables.append(found)
                        nxt.append(found)
                    elif ref.NodeClass == ua.NodeClass.Object:
                        nxt.append(_Found(node_id, path, path))
                    if len(seen) >= max_nodes:
                        return variables, True
        frontier = nxt
    return variables, False


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
    desc.NodeClassMask = ua.NodeClass.Object | ua.NodeClass.Variable
    desc.ResultMask = ua.BrowseResultMask.All
    return desc


async def _describe(client: Client, variables: list[_Found]) -> tuple[tuple[BrowsedMachine, ...], int]:
    values = await _read(client, [v.node_id for v in variables], ua.AttributeIds.Value)
    types = await _read(client, [v.node_id for v in variables], ua.AttributeIds.DataType)
    descriptions = await _read(client, [v.node_id for v in variables], ua.AttributeIds.Description)
    groups: dict[tuple[str, ...], list[tuple[_Found, str, str]]] = {}
    skipped = 0
    for found, value, dtype, desc in zip(variables, values, types, descriptions, strict=True):
        data_type = _data_type(value, dtype)
        if data_type is None:
            skipped += 1
            continue
        text = desc.Value.Value.Text if desc.Value is not None and desc.Value.Value is not None else ""
        if text == found.path[-1]:
            text = ""  # asyncua and others repeat the browse name as description; that says nothing
        groups.setdefault(found.owner, []).append((found, data_type, str(text or "")))
    tag_names: set[str] = set()
    machine_names: set[str] = set()
    machines = []
    for owner, items in groups.items():
        mname = _unique(sanitize(".".join(owner), "General") if owner else "General", machine_names)
        tags = []
        state_tag = None
        for found, data_type, text in items:
            tname = _unique(_tag_name(found), tag_names)
            tags.append(BrowsedTag(tname, found.node_id.to_string(), data_type, text[:500]))
            if state_tag is None and data_type == "string" and found.path[-1] == "State":
                state_tag = tname
        machines.append(BrowsedMachine(mname, tuple(tags), state_tag))
    return tuple(machines), skipped


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
