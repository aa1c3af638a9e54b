"""GET /api/v1/health: is this instance up, and what does it hold? For a load balancer, a monitoring system and the
soak bench (bench/soak.py). No token: it says nothing secret (no tag values, no user or token names, no addresses
with credentials), only counts and states (IEC 62443-3-3 SR 6.2 continuous monitoring, SR 7.6 network and security
configuration settings kept visible)."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hmi.api.paging import iso
from hmi.runtime import Runtime

DB_PROBE_S = 2.0
"""How long the database may take to answer `SELECT 1` before the health calls it unreachable."""


def rss_mib() -> float:
    """This process's resident memory in MiB (Linux: /proc/self/statm; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def db_connections(rt: Runtime) -> int | None:
    """Connections checked out of the database pool now (None when the pool does not count them)."""
    try:
        pool = rt.db.engine.pool
    except RuntimeError:
        return None
    checkedout = getattr(pool, "checkedout", None)
    return int(checkedout()) if callable(checkedout) else None


async def _database(rt: Runtime) -> str | None:
    """None when the database answers `SELECT 1` in time, else why not (without its address or password)."""
    try:
        async with asyncio.timeout(DB_PROBE_S):
            async with rt.db.session() as session:
                await session.execute(sa.text("SELECT 1"))
    except TimeoutError:
        return f"no answer within {DB_PROBE_S:g} s"
    except Exception as exc:
        return type(exc).__name__
    return None


async def health(rt: Runtime) -> tuple[bool, dict[str, Any]]:
    """(vital parts all up, the health document). Vital: running, the database, and on the active instance the
    owned tasks and every OPC UA / MQTT endpoint's connection."""
    problems: list[str] = []
    body: dict[str, Any] = {}
    if not rt.started:
        problems.append(f"the HMI is not running: {'start-up failed' if rt.start_error else 'it is still starting'}")
    role = "active" if rt.active else "standby"
    body["role"] = role
    body["took_over_at"] = iso(rt.took_over_at)
    sources = [
        {"endpoint": s.endpoint, "connected": s.connected, "since": iso(s.since), "detail": s.detail}
        for s in rt.board.all()
    ]
    body["sources"] = sources
    tasks = {name: task is not None and not task.done() for name, task in rt.owned_tasks().items()}
    body["tasks"] = tasks
    body["tasks_died"] = rt.tasks_died
    if rt.started and rt.active:
        problems += [f"task {name} is not running" for name, alive in tasks.items() if not alive]
        problems += [f"endpoint {s['endpoint']} is not connected" for s in sources if not s["connected"]]
    reason = await _database(rt) if rt.started else "not started"
    body["database"] = {"dialect": rt.db.dialect, "reachable": reason is None, "detail": reason or ""}
    if rt.started and reason is not None:
        problems.append(f"the database is unreachable: {reason}")
    hist = rt.recorder.status
    lag = (rt.clock() - hist.oldest_waiting).total_seconds() if hist.oldest_waiting is not None else 0.0
    body["historian"] = {
        "queued": hist.queued,
        "spooled_batches": hist.spooled_batches,
        "lag_s": round(max(lag, 0.0), 3),
        "buffering": hist.buffering_since is not None,
    }
    journal = rt.journal.status
    body["journal"] = {"pending": rt.journal.pending, "behind": journal.behind}
    body["counts"] = {
        "asyncio_tasks": len(asyncio.all_tasks()),
        "cache_listeners": rt.cache.listener_count,
        "cache_listeners_by_owner": rt.cache.listener_owners(),
        "db_connections": db_connections(rt),
        "rss_mib": round(rss_mib(), 1),
        # Python's own allocated blocks: flat while rss_mib grows means native memory (SQLite's page caches, the
        # allocator's arenas), not Python objects piling up.
        "python_blocks": sys.getallocatedblocks(),
    }
    body["status"] = "down" if problems else "ok"
    body["problems"] = problems
    return not problems, body


def health_routes(rt: Runtime) -> APIRouter:
    """The health endpoint for `rt` (no token)."""
    router = APIRouter(prefix="/v1")

    @router.get(
        "/health",
        summary="Is this instance up: sources, tasks, database, historian lag, counts (no token; 503 when down)",
        responses={503: {"description": "a vital part is down: the same document, `problems` says which"}},
    )
    async def get_health() -> JSONResponse:
        ok, body = await health(rt)
        return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})

    return router
