"""The OPC UA source against a real asyncua server on loopback: values, quality, STALE on loss, recovery."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Client, ua

from hmi.config import Endpoint, Tag
from hmi.sources import StatusBoard
from hmi.sources.opcua import OpcUaSource
from hmi.tags import Quality, TagCache, TagState
from screens.fmt import quality_badge
from tests.opcua_server import SmallServer, free_port
from tests.waiting import until

TAGS = [
    Tag(name="Temp", endpoint="test", node_id="ns=2;s=Temp", data_type="float", unit="°C"),
    Tag(name="Count", endpoint="test", node_id="ns=2;s=Count", data_type="int"),
    Tag(name="Mode", endpoint="test", node_id="ns=2;s=Mode", data_type="float"),
]


@pytest.fixture
async def server() -> AsyncIterator[SmallServer]:
    srv = SmallServer(free_port(), {"Temp": 20.5, "Count": ua.Variant(7, ua.VariantType.Int64), "Mode": "auto"})
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def source(server: SmallServer) -> AsyncIterator[tuple[OpcUaSource, TagCache, StatusBoard]]:
    cache, board = TagCache(), StatusBoard()
    ep = Endpoint(name="test", url=server.url, publishing_interval_ms=100, stale_after_s=3)
    src = OpcUaSource(ep, TAGS, cache, board, reconnect_max_delay=1.0)
    await src.start()
    yield src, cache, board
    await src.stop()


@pytest.mark.req("OPC-001")
async def test_values_arrive_with_status_and_timestamps(server: SmallServer, source) -> None:
    _, cache, board = source
    await until(lambda: cache.get("Temp") is not None and cache.get("Count") is not None)
    temp = cache.get("Temp")
    assert temp is not None
    assert temp.value == pytest.approx(20.5)
    assert temp.quality is Quality.GOOD
    assert temp.status == "Good"
    assert temp.server_time is not None
    assert temp.received_at.tzinfo is not None
    assert board.get("test") is not None
    assert board.get("test").connected  # type: ignore[union-attr]

    seen: list[TagState] = []
    unsubscribe = cache.subscribe(["Temp"], seen.extend)
    await server.write("Temp", 42.0)
    await until(lambda: any(s.value == 42.0 for s in seen))
    got = next(s for s in seen if s.value == 42.0)
    assert got.source_time is not None
    assert got.source_time.tzinfo is not None
    unsubscribe()
    assert cache.listener_count == 0


@pytest.mark.req("OPC-002")
async def test_sensor_failure_is_bad_with_symbolic_status(server: SmallServer, source) -> None:
    _, cache, _ = source
    await until(lambda: cache.get("Temp") is not None)
    await server.write("Temp", 21.0, status=ua.StatusCodes.BadSensorFailure)
    await until(lambda: cache.get("Temp").quality is Quality.BAD)  # type: ignore[union-attr]
    assert cache.get("Temp").status == "BadSensorFailure"  # type: ignore[union-attr]
    await server.write("Temp", 21.0, status=ua.StatusCodes.UncertainLastUsableValue)
    await until(lambda: cache.get("Temp").quality is Quality.UNCERTAIN)  # type: ignore[union-attr]


@pytest.mark.req("OPC-003")
async def test_malformed_plc_value_is_bad_not_a_number(source) -> None:
    _, cache, _ = source
    await until(lambda: cache.get("Mode") is not None)
    mode = cache.get("Mode")
    assert mode is not None
    assert mode.quality is Quality.BAD
    assert mode.status == "BadTypeMismatch"
    assert "expected a number" in mode.note


@pytest.mark.req("OPC-004", "OPC-005")
async def test_stale_within_bound_then_fresh_after_restart(server: SmallServer, source) -> None:
    src, cache, board = source
    await until(lambda: cache.get("Temp") is not None and src.connected)
    await server.stop()
    start = time.monotonic()
    await until(
        lambda: all(cache.get(t.name).quality is Quality.STALE for t in TAGS),  # type: ignore[union-attr]
        timeout=3.0,
        what="every tag to be STALE",
    )
    took = time.monotonic() - start
    status = board.get("test")
    assert status is not None
    assert not status.connected
    stale = cache.get("Temp")
    assert stale is not None
    assert stale.stale_since is not None
    assert stale.value == pytest.approx(20.5), "the last value is kept for display, marked STALE"
    assert took <= 3.0

    server.variables["Temp"] = 55.5
    await server.start()
    await until(lambda: cache.get("Temp").quality is Quality.GOOD, timeout=5.0)  # type: ignore[union-attr]
    assert cache.get("Temp").value == pytest.approx(55.5)  # type: ignore[union-attr]
    assert board.get("test").connected  # type: ignore[union-attr]


@pytest.mark.req("OPC-004")
async def test_unreachable_server_is_reported_not_raised() -> None:
    cache, board = TagCache(), StatusBoard()
    ep = Endpoint(name="nowhere", url=f"opc.tcp://127.0.0.1:{free_port()}", stale_after_s=3)
    src = OpcUaSource(ep, TAGS[:1], cache, board, reconnect_max_delay=1.0)
    await src.start()
    await until(lambda: board.get("nowhere") is not None and board.get("nowhere").detail not in ("", "connecting"))  # type: ignore[union-attr]
    assert not src.connected
    await src.stop()


class RecordingHook:
    """A SessionHook that writes down what it is told, as a condition monitor would act on it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.clients: list[Client] = []

    def on_session(self, client: Client) -> None:
        self.calls.append("session")
        self.clients.append(client)

    def on_session_lost(self) -> None:
        self.calls.append("lost")

    def on_subscription_recreated(self, subscription_id: int) -> None:
        self.calls.append(f"recreated:{subscription_id}")


@pytest.mark.req("OPC-005")
async def test_session_hooks_hear_connect_loss_reconnect_and_recreated_subscriptions(server: SmallServer) -> None:
    hook = RecordingHook()
    ep = Endpoint(name="test", url=server.url, publishing_interval_ms=100, stale_after_s=3)
    src = OpcUaSource(ep, TAGS[:1], TagCache(), StatusBoard(), reconnect_max_delay=1.0, session_hooks=[hook])
    await src.start()
    try:
        await until(lambda: hook.calls == ["session"])
        client = hook.clients[0]
        # The hook gets the live client, usable for a subscription of its own.
        assert await client.get_node("ns=2;s=Temp").read_value() == pytest.approx(20.5)

        await server.stop()
        await until(lambda: "lost" in hook.calls, timeout=3.0)
        await server.start()
        await until(lambda: hook.calls.count("session") == 2 and any(c.startswith("recreated:") for c in hook.calls))
        assert hook.clients[1] is client, "auto-reconnect keeps the client; the hook is told it is usable again"
        await until(lambda: src.connected)
    finally:
        await src.stop()
    assert hook.calls[-1] == "lost", "stopping the source ends the session for its hooks too"


@pytest.mark.req("OPC-014")
async def test_a_subscription_not_recreated_after_a_reconnect_means_a_new_session(server: SmallServer) -> None:
    cache, board = TagCache(), StatusBoard()
    ep = Endpoint(name="test", url=server.url, publishing_interval_ms=100, stale_after_s=3)
    src = OpcUaSource(ep, TAGS[:1], cache, board, reconnect_max_delay=1.0)
    await src.start()
    try:
        await until(lambda: src.connected and cache.get("Temp") is not None)
        connects = src.connects
        await server.stop()
        await until(lambda: cache.get("Temp").quality is Quality.STALE, timeout=3.0)  # type: ignore[union-attr]
        # The server comes back but refuses subscriptions (BadTooManySubscriptions): the client's reconnect makes a
        # new session and reads the values once, but cannot re-create the subscription.
        server.variables["Temp"] = 33.0
        server.max_subscriptions = 0
        await server.start()
        await until(lambda: cache.get("Temp").value == 33.0, what="the value read after the reconnect")  # type: ignore[union-attr]
        # Without a subscription no change would ever arrive: the tag must not stay GOOD at a frozen value.
        await until(
            lambda: cache.get("Temp").quality is Quality.STALE and not src.connected,  # type: ignore[union-attr]
            timeout=15,
            what="Temp to turn STALE and the endpoint to be reported down while there is no subscription",
        )
        status = board.get("test")
        assert status is not None
        assert not status.connected

        # The server accepts subscriptions again: a new session with a new subscription brings the changes.
        assert server.server is not None
        server.server.iserver.max_subscriptions = 1000
        await server.write("Temp", 44.0)
        await until(
            lambda: cache.get("Temp").value == 44.0 and cache.get("Temp").quality is Quality.GOOD,  # type: ignore[union-attr]
            timeout=15,
            what="the change made on the server to arrive",
        )
        assert src.connects > connects, "a new session was made"
        await server.write("Temp", 45.0)
        await until(lambda: cache.get("Temp").value == 45.0, what="the next change to arrive by the subscription")  # type: ignore[union-attr]
    finally:
        await src.stop()


@pytest.mark.req("OPC-006")
async def test_a_password_from_the_environment_opens_a_user_session(monkeypatch: pytest.MonkeyPatch) -> None:
    srv = SmallServer(free_port(), {"Temp": 20.5}, users={"hmi": "plc-secret-1"})
    await srv.start()
    try:
        monkeypatch.setenv("PLC_TEST_PASSWORD", "plc-secret-1")
        cache, board = TagCache(), StatusBoard()
        ep = Endpoint(name="test", url=srv.url, stale_after_s=3, username="hmi", password={"env": "PLC_TEST_PASSWORD"})  # type: ignore[arg-type]  # resolved by the model
        src = OpcUaSource(ep, TAGS[:1], cache, board, reconnect_max_delay=1.0)
        await src.start()
        await until(lambda: (s := cache.get("Temp")) is not None and s.value == 20.5)
        await src.stop()
        # The wrong password is refused by the server: no values, the endpoint reported, nothing raised.
        wrong = Endpoint(name="wrong", url=srv.url, stale_after_s=3, username="hmi", password="not-it")  # type: ignore[arg-type]
        other = TagCache()
        src = OpcUaSource(wrong, TAGS[:1], other, board, reconnect_max_delay=1.0)
        await src.start()
        await until(lambda: (b := board.get("wrong")) is not None and b.detail not in ("", "connecting"))
        assert not src.connected
        assert other.get("Temp") is None or other.get("Temp").value is None  # type: ignore[union-attr]
        await src.stop()
    finally:
        await srv.stop()


@pytest.mark.req("OPC-007")
async def test_source_time_ahead_of_the_hmi_clock_is_marked_and_the_endpoint_named(server: SmallServer, source) -> None:
    _, cache, board = source
    await until(lambda: cache.get("Temp") is not None)
    assert board.skewed() == []
    # The PLC's clock runs an hour ahead (tolerance 5 s by default).
    await server.write("Temp", 31.0, source_time=datetime.now(UTC) + timedelta(hours=1))
    await until(lambda: cache.get("Temp").value == 31.0)  # type: ignore[union-attr]
    state = cache.get("Temp")
    assert state is not None
    assert state.skewed
    assert 3590 < state.clock_skew_s <= 3600
    assert state.quality is Quality.GOOD  # the value is fine, its time is not
    assert quality_badge(state, datetime.now(UTC))[1].startswith("CLOCK SKEW +")
    [skewed] = board.skewed()
    assert (skewed.endpoint, skewed.url) == ("test", server.url)
    # The clock is set right: the next value is not marked and the endpoint leaves the list.
    await server.write("Temp", 32.0)
    await until(lambda: cache.get("Temp").value == 32.0)  # type: ignore[union-attr]
    assert not cache.get("Temp").skewed  # type: ignore[union-attr]
    assert board.skewed() == []
