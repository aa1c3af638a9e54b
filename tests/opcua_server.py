"""A small real asyncua server for tests that need precise control over one or two nodes."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from typing import Any

from asyncua import Server, ua

logging.getLogger("asyncua").setLevel(logging.ERROR)


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmallServer:
    """An OPC UA server with a few variables under ns=2;s=<name>, restartable on the same port."""

    def __init__(self, port: int, variables: dict[str, Any]) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}"
        self.variables = variables
        self.server: Server | None = None
        self.nodes: dict[str, Any] = {}

    async def start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace("urn:factory-hmi:test")
        assert ns == 2
        folder = await server.nodes.objects.add_folder(ua.NodeId("Test", ns), "Test")
        for name, value in self.variables.items():
            node = await folder.add_variable(ua.NodeId(name, ns), name, value)
            await node.set_writable()
            self.nodes[name] = node
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def write(self, name: str, value: Any, status: int = 0, variant: ua.VariantType | None = None,
                    source_time: datetime | None = None) -> None:
        """Write a value with a SourceTimestamp (default now: a PLC whose clock is right) and a status code."""
        node = self.nodes[name]
        vt = variant or (await node.read_data_type_as_variant_type())
        dv = ua.DataValue(ua.Variant(value, vt), ua.StatusCode(status),
                          SourceTimestamp=source_time or datetime.now(UTC), ServerTimestamp=datetime.now(UTC))
        await self.server.write_attribute_value(node.nodeid, dv)  # type: ignore[union-attr]
