"""GET /api/v1/health on a real runtime, a real asyncua server and a SQLite file: no token, counts and states
only, 503 naming what is down (docs/api.md)."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_api_rest import Site, site  # noqa: F401 - the fixture
from tests.waiting import until


@pytest.mark.req("API-010")
async def test_health_needs_no_token_tells_no_secret_and_is_503_while_the_source_is_down(site: Site) -> None:  # noqa: F811
    up = await site.get("/health", who=None)
    assert up.status_code == 200, up.text
    body = up.json()
    assert body["status"] == "ok"
    assert body["problems"] == []
    assert body["role"] == "active"
    assert [(s["endpoint"], s["connected"]) for s in body["sources"]] == [("ctl", True)]
    assert body["database"]["reachable"] is True
    for task in ("alarm-ticker", "alarm-journal", "opcua:ctl", "historian-flush"):
        assert body["tasks"][task] is True, task
    assert body["tasks_died"] == 0
    counts = body["counts"]
    assert counts["asyncio_tasks"] > 0
    assert counts["cache_listeners"] == site.rt.cache.listener_count
    assert sum(counts["cache_listeners_by_owner"].values()) == counts["cache_listeners"]
    assert counts["rss_mib"] > 10
    assert counts["python_blocks"] > 1000
    assert body["historian"]["lag_s"] >= 0
    # Nothing secret: no user or token names, no tag names or values.
    text = json.dumps(body)
    for secret in ("op-user", "op-token", "L1.Plain", "L1.Hot", *site.tokens.values()):
        assert secret not in text

    await site.server.stop()
    await until(lambda: not site.rt.board.all()[0].connected, what="the endpoint to be reported down")
    down = await site.get("/health", who=None)
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "down"
    assert "endpoint ctl is not connected" in body["problems"]
    assert body["sources"][0]["connected"] is False
    # Still a health answer, not an error: the database and tasks are up.
    assert body["database"]["reachable"] is True
    assert body["tasks"]["opcua:ctl"] is True

    await site.server.start()
    await until(lambda: site.rt.board.all()[0].connected, timeout=15, what="the endpoint to reconnect")
    again = await site.get("/health", who=None)
    assert again.status_code == 200, again.text


@pytest.mark.req("API-010")
async def test_a_task_that_ends_while_the_instance_acts_is_counted_and_makes_it_down(site: Site) -> None:  # noqa: F811
    journal = site.rt.journal.task
    assert journal is not None
    # The journal writer ends by itself while the instance still acts (as if its stop flag were set by mistake):
    # alarm transitions would pile up unwritten, so the instance is down and the death is counted.
    site.rt.journal._stopping = True
    site.rt.journal._urgent.set()
    site.rt.journal._wake.set()
    await until(journal.done, what="the journal writer to end")
    assert site.rt.tasks_died == 1
    down = await site.get("/health", who=None)
    assert down.status_code == 503
    body = down.json()
    assert body["tasks_died"] == 1
    assert body["tasks"]["alarm-journal"] is False
    assert "task alarm-journal is not running" in body["problems"]
