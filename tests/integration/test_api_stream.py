"""GET /api/v1/stream over a real HTTP server (uvicorn, as NiceGUI serves the API): tag changes and alarm
transitions as Server-Sent Events, with the token rules of every request, and its subscriptions ended."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from hmi.records.audit import system_context
from tests.integration.test_api_rest import Site, app_of, error_of
from tests.integration.test_api_rest import site as site  # the runtime, server and tokens fixture
from tests.opcua_server import free_port
from tests.waiting import until


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of an SSE response as they arrive; heartbeats (comments) skipped."""
    kind, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif line == "" and data:
            yield kind, json.loads(data)
            kind, data = "message", ""


async def next_event(stream: AsyncIterator[tuple[str, dict[str, Any]]], kind: str, **match: Any) -> dict[str, Any]:
    """The next event of `kind` whose data has the `match` values (others are passed over)."""
    async for got, data in stream:
        if got == kind and all(data.get(k) == v for k, v in match.items()):
            return data
    raise AssertionError(f"the stream ended before a {kind} event {match}")


@pytest.fixture
async def served(site: Site) -> AsyncIterator[str]:
    """The API on a real HTTP server on a free loopback port; its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app_of(site.rt, heartbeat_s=0.3), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="api-test-server")
    try:
        await until(lambda: server.started, what="the HTTP server to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.req("API-009")
async def test_tag_changes_and_alarm_transitions_are_streamed(site: Site, served: str) -> None:
    rt = site.rt
    before = rt.cache.listener_count
    headers = {"Authorization": f"Bearer {site.tokens['op']}"}
    async with (
        httpx.AsyncClient(base_url=served, timeout=30) as client,
        client.stream("GET", "/api/v1/stream", params={"tags": "L1.Speed"}, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        first = await next_event(stream, "tag")
        assert (first["name"], first["value"], first["unit"]) == ("L1.Speed", 50.0, "bpm")
        assert rt.cache.listener_count == before + 1
        # A setpoint written over the API arrives as a change; the alarm of another tag as a transition.
        assert (await site.call("POST", "/tags/L1.Speed/write", "op", json={"value": 80})).status_code == 200
        assert (await next_event(stream, "tag", value=80.0))["quality"] == "good"
        await site.server.set("Sp.Plain", 1.0)
        change = await next_event(stream, "alarm")
        assert change["alarm"]["id"] == "L1.Plain.H"
        assert change["kind"] == "cleared"
    # The client went away: the stream's subscriptions are ended.
    await until(lambda: rt.cache.listener_count == before, what="the stream's subscription to end")


@pytest.mark.req("API-009", "API-002")
async def test_the_stream_keeps_the_token_rules(site: Site, served: str) -> None:
    assert error_of(await site.get("/stream", who=None))[0] == 401
    assert error_of(await site.get("/stream", who="revoked"))[0] == 401
    assert error_of(await site.get("/stream", tags="Nope"))[0] == 404
    assert error_of(await site.get("/stream", alarms="false"))[0] == 422
    headers = {"Authorization": f"Bearer {site.tokens['lead']}"}
    async with (
        httpx.AsyncClient(base_url=served, timeout=30) as client,
        client.stream("GET", "/api/v1/stream", params={"tags": "L1.Speed"}, headers=headers) as response,
    ):
        stream = events(response)
        await next_event(stream, "tag")
        # Revoked while streaming: at the next heartbeat the stream says why and ends.
        await site.rt.api_tokens.revoke(system_context("test-admin"), "lead-token")
        error = await next_event(stream, "error")
        assert error == {
            "error": "unauthorized",
            "detail": "token lead-token was revoked; ask an administrator for a new one",
        }
        assert [e async for e in stream] == []
