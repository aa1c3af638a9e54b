"""A small real asyncua server for tests that need precise control over one or two nodes."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole

from hmi.simulator.server_alarms import ConditionServer, ConditionSpec

logging.getLogger("asyncua").setLevel(logging.ERROR)


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PasswordUsers:
    """An asyncua user manager that admits only the given user names with their passwords."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        """The user when name and password match, else None (the server refuses the session)."""
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


class SmallServer:
    """An OPC UA server with a few variables under ns=2;s=<name>, restartable on the same port; with `users`
    it admits only those user names with their passwords."""

    def __init__(self, port: int, variables: dict[str, Any], users: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}"
        self.variables = variables
        self.users = users
        self.server: Server | None = None
        self.nodes: dict[str, Any] = {}
        # The server's limit on subscriptions (asyncua answers BadTooManySubscriptions beyond it); None: its default.
        self.max_subscriptions: int | None = None

    async def start(self) -> None:
        server = Server(user_manager=PasswordUsers(self.users) if self.users is not None else None)
        await server.init()
        if self.max_subscriptions is not None:
            server.iserver.max_subscriptions = self.max_subscriptions
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        if self.users is not None:
            server.set_security_IDs(["Username"])
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

    async def write(
        self,
        name: str,
        value: Any,
        status: int = 0,
        variant: ua.VariantType | None = None,
        source_time: datetime | None = None,
    ) -> None:
        """Write a value with a SourceTimestamp (default now: a PLC whose clock is right) and a status code."""
        node = self.nodes[name]
        vt = variant or (await node.read_data_type_as_variant_type())
        dv = ua.DataValue(
            ua.Variant(value, vt),
            ua.StatusCode(status),
            SourceTimestamp=source_time or datetime.now(UTC),
            ServerTimestamp=datetime.now(UTC),
        )
        await self.server.write_attribute_value(node.nodeid, dv)  # type: ignore[union-attr]


class GatedConditions(ConditionServer):
    """The simulator's conditions, whose Acknowledge can be held until a test opens its gate."""

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()
        self.calls: list[str] = []
        # Condition node id string -> the status its Acknowledge answers with instead of acknowledging.
        self.refuse: dict[str, int] = {}

    async def _acknowledge(self, parent: ua.NodeId, *args: ua.Variant) -> ua.StatusCode | list[ua.Variant]:
        self.calls.append(parent.to_string())
        if self.gate is not None:
            # A slow server: the call stays in flight until the test says so.
            self.waiting.set()
            await self.gate.wait()
        refusal = self.refuse.get(parent.to_string())
        if refusal is not None:
            return ua.StatusCode(refusal)
        return await super()._acknowledge(parent, *args)


class ConditionsServer:
    """A real asyncua server with Alarms & Conditions (the simulator's ConditionServer) and chosen condition specs.

    `specs` are (string identifier of the condition's node under ns=2, SourceName, ConditionName, Message); every
    condition has severity 700 and is about one object `ns=2;s=Machine`.
    """

    def __init__(self, port: int, specs: list[tuple[str, str, str, str]]) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}"
        self.specs = specs
        self.server: Server | None = None
        self.conditions: GatedConditions | None = None

    async def start(self) -> None:
        server = Server()
        # asyncua answers ConditionRefresh itself once asked to.
        server.iserver.bind_condition_methods = True
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace("urn:factory-hmi:test")
        assert ns == 2
        machine = await server.nodes.objects.add_object(ua.NodeId("Machine", ns), "Machine")
        conditions = GatedConditions(server)
        conditions.bind()
        for name, source_name, condition_name, message in self.specs:
            conditions.add(ConditionSpec(name, condition_name, machine.nodeid, source_name, 700, message), ns)
        await server.start()
        self.server, self.conditions = server, conditions

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = self.conditions = None

    async def set_active(self, name: str, active: bool) -> None:
        """Raise or clear one condition."""
        assert self.conditions is not None
        await self.conditions.set_active(name, active, manual=True)
