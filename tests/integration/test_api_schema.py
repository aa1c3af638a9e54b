"""Property-based requests made from the API's own OpenAPI description (schemathesis, on Hypothesis) against a real
HTTP server with a valid token: whatever the parameters and bodies, the API answers, never with a server error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import hypothesis
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck

from tests.integration.test_api_rest import Site, app_of
from tests.integration.test_api_rest import site as site  # the runtime, server and tokens fixture
from tests.opcua_server import free_port
from tests.waiting import until

# Enough to try each parameter's edges (empty, huge, odd types) per operation; well under a minute in all.
EXAMPLES = 25
# The event stream never ends: schemathesis reads it for the request's timeout, so it gets fewer, shorter examples
# (its status and first events are what counts here; tests/integration/test_api_stream.py follows it for longer).
STREAM = "/v1/stream"
STREAM_EXAMPLES = 6
STREAM_READ_S = 1.0
HEALTH = "/v1/health"


@pytest.fixture
async def served(site: Site) -> AsyncIterator[str]:
    """The API on a real HTTP server on a free loopback port; its base URL (/api)."""
    port = free_port()
    # No rate limit to speak of: the generated requests must reach the endpoints, not a 429.
    app = app_of(site.rt, rate_limit="100000 per minute")
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="api-schema-server")
    try:
        await until(lambda: server.started, what="the HTTP server to listen")
        yield f"http://127.0.0.1:{port}/api"
    finally:
        server.should_exit = True
        await task


def reports_down(path: str, response: Any) -> bool:
    """The health endpoint's documented 503: the HMI saying what is down (docs/api.md), not a server error. Seen when
    the OPC UA session dropped under load in the middle of the run."""
    if path != HEALTH or response.status_code != 503:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == "down" and bool(body.get("problems"))


def fuzz(base_url: str, token: str) -> tuple[list[str], dict[str, set[int]]]:
    """Every operation of the schema with EXAMPLES generated requests: the server errors found (none expected) and
    the statuses each operation answered."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    found: list[str] = []
    statuses: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        streams = operation.path == STREAM

        @hypothesis.settings(
            max_examples=STREAM_EXAMPLES if streams else EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            timeout = STREAM_READ_S if case.path == STREAM else 30
            response = case.call(base_url=base_url, headers=headers, timeout=timeout)
            statuses.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            if response.status_code >= 500 and not reports_down(case.path, response):
                found.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")

        run()
    return found, statuses


@pytest.mark.req("API-008", "API-004")
@pytest.mark.timeout(900)
async def test_generated_requests_never_meet_a_server_error(site: Site, served: str) -> None:
    # An engineer's token reaches the most endpoints (the audit trail included). Blocking HTTP calls, so off the
    # event loop the server and runtime run on.
    found, statuses = await asyncio.to_thread(fuzz, served, site.tokens["eng"])
    assert found == []
    # Every operation was called, and the reads answered with data at least once (the requests were not all refused).
    paths = (await site.client.get("/api/openapi.json")).json()["paths"]
    assert len(statuses) == sum(len(methods) for methods in paths.values())
    assert all(200 in codes for op, codes in statuses.items() if op.startswith("GET") and "{" not in op), statuses
