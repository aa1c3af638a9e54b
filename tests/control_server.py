"""A real asyncua server for the control tests: writable nodes of each type, nodes whose writes the server refuses
or accepts without taking the value, and methods answering Good or BadInvalidState."""

from __future__ import annotations

import asyncio
from typing import Any

from asyncua import Server, ua

from tests.opcua_server import free_port

NS_URI = "urn:factory-hmi:control-test"

# name -> initial Variant; every node is writable (the refusals below come from the server's write service).
VARIABLES: dict[str, ua.Variant] = {
    "Sp.Double": ua.Variant(50.0, ua.VariantType.Double),
    "Sp.Float": ua.Variant(10.0, ua.VariantType.Float),
    "Sp.Int": ua.Variant(3, ua.VariantType.Int32),
    "Sp.Bool": ua.Variant(False, ua.VariantType.Boolean),
    "Sp.Text": ua.Variant("A", ua.VariantType.String),
    "Sp.Signed": ua.Variant(20.0, ua.VariantType.Double),
    "Sp.Interlocked": ua.Variant(1.0, ua.VariantType.Double),
    "Sp.ReadOnly": ua.Variant(1.0, ua.VariantType.Double),
    "Sp.Denied": ua.Variant(1.0, ua.VariantType.Double),
    "Sp.Held": ua.Variant(5.0, ua.VariantType.Double),
    "Sp.Plain": ua.Variant(7.0, ua.VariantType.Double),
    "Mode": ua.Variant("Auto", ua.VariantType.String),
    "Guard": ua.Variant(True, ua.VariantType.Boolean),
    "Pulse": ua.Variant(False, ua.VariantType.Boolean),
}
# Writes the server refuses with this status (a PLC's read-only or protected variable).
REFUSED = {"Sp.ReadOnly": ua.StatusCodes.BadNotWritable, "Sp.Denied": ua.StatusCodes.BadUserAccessDenied}
# Writes the server answers Good but does not take: the PLC program holds the value (read-back must catch it).
HELD = {"Sp.Held"}


class ControlServer:
    """The server; `writes` records each Write service call (the node names in it), `calls` each method call."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}"
        self.server: Server | None = None
        self.nodes: dict[str, Any] = {}
        self.writes: list[list[str]] = []
        self.calls: list[tuple[str, list[Any]]] = []
        self.write_gate: asyncio.Event | None = None

    async def start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace(NS_URI)
        assert ns == 2
        folder = await server.nodes.objects.add_folder(ua.NodeId("Control", ns), "Control")
        for name, variant in VARIABLES.items():
            node = await folder.add_variable(ua.NodeId(name, ns), name, variant)
            await node.set_writable()
            self.nodes[name] = node
        line = await folder.add_object(ua.NodeId("L1", ns), "L1")
        await line.add_method(
            ua.NodeId("L1.Start", ns), "Start", self._start, [ua.VariantType.Double], [ua.VariantType.Boolean]
        )
        await line.add_method(ua.NodeId("L1.Reset", ns), "Reset", self._reset, [], [])
        self._wrap_writes(server)
        await server.start()
        self.server = server

    def _wrap_writes(self, server: Server) -> None:
        service = server.iserver.attribute_service
        original = service.write

        async def write(params: ua.WriteParameters, user: Any = None) -> list[ua.StatusCode]:
            if not any(w.NodeId.NamespaceIndex == 2 for w in params.NodesToWrite):
                # The server's own bookkeeping (ServerStatus and the like).
                return await (original(params) if user is None else original(params, user=user))
            names = [str(w.NodeId.Identifier) for w in params.NodesToWrite]
            self.writes.append(names)
            if self.write_gate is not None:
                await self.write_gate.wait()
            results: list[ua.StatusCode | None] = [None] * len(names)
            passed = ua.WriteParameters()
            index: list[int] = []
            for i, (name, item) in enumerate(zip(names, params.NodesToWrite, strict=True)):
                if name in REFUSED:
                    results[i] = ua.StatusCode(REFUSED[name])
                elif name in HELD:
                    results[i] = ua.StatusCode()
                else:
                    passed.NodesToWrite.append(item)
                    index.append(i)
            if index:
                done = await (original(passed) if user is None else original(passed, user=user))
                for i, code in zip(index, done, strict=True):
                    results[i] = code
            return [r if r is not None else ua.StatusCode(ua.StatusCodes.BadInternalError) for r in results]

        service.write = write  # type: ignore[method-assign]

    async def _start(self, parent: ua.NodeId, speed: ua.Variant) -> list[ua.Variant]:
        self.calls.append(("Start", [speed.Value]))
        return [ua.Variant(True, ua.VariantType.Boolean)]

    async def _reset(self, parent: ua.NodeId) -> ua.StatusCode:
        self.calls.append(("Reset", []))
        return ua.StatusCode(ua.StatusCodes.BadInvalidState)

    async def set(self, name: str, value: Any, status: int = 0) -> None:
        """Change a value as the PLC would (with a status code)."""
        assert self.server is not None
        node = self.nodes[name]
        variant = ua.Variant(value, VARIABLES[name].VariantType)
        await self.server.write_attribute_value(node.nodeid, ua.DataValue(variant, ua.StatusCode(status)))

    async def value(self, name: str) -> Any:
        """The value the server holds now."""
        return await self.nodes[name].read_value()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
