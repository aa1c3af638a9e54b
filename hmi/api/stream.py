"""GET /api/v1/stream: Server-Sent Events of tag changes and alarm transitions, so an MES follows without polling.

Events (https://html.spec.whatwg.org/multipage/server-sent-events.html): `tag` (the same fields as GET /tags, first
the current value of each chosen tag, then each change), `alarm` (a transition: kind, state after, who, when),
`lost` (events dropped because the client read too slowly), `error` (the token stopped being valid; the stream
ends). A comment line every heartbeat keeps proxies from closing an idle stream; the token is checked again then.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from hmi.access.context import ActionContext
from hmi.access.roles import Permission
from hmi.alarms.engine import AlarmChange
from hmi.api.auth import Caller, need
from hmi.api.errors import ApiError, error_body
from hmi.api.paging import iso
from hmi.api.reads import alarm_json, tag_json
from hmi.runtime import Runtime
from hmi.tags import TagState

HEARTBEAT_S = 15.0
# Events kept for a slow client; past this they are counted and reported as `lost`, never held without bound.
QUEUE_MAX = 2000


def stream_routes(rt: Runtime, caller: Caller, *, heartbeat_s: float = HEARTBEAT_S) -> APIRouter:
    """The stream endpoint for `rt`."""
    router = APIRouter(prefix="/v1")

    @router.get(
        "/stream",
        summary="Server-Sent Events of tag changes (chosen tags) and alarm transitions",
        response_class=StreamingResponse,
    )
    async def stream(
        request: Request,
        tags: str | None = Query(None, description="comma-separated tag names to follow"),
        alarms: bool = Query(True, description="also send alarm transitions"),
        ctx: ActionContext = Depends(caller),  # noqa: B008 - FastAPI's idiom
    ) -> StreamingResponse:
        need(ctx, Permission.VIEW)
        names = list(dict.fromkeys(n.strip() for n in (tags or "").split(",") if n.strip()))
        unknown = [n for n in names if n not in rt.plant.tags]
        if unknown:
            raise ApiError(404, "not found", f"no tag {', '.join(unknown)} in the plant; GET /api/v1/plant lists them")
        if not names and not alarms:
            raise ApiError(422, "invalid request", "choose tags=A,B and/or alarms=true: there is nothing to follow")
        secret = request.headers.get("authorization", "").partition(" ")[2].strip()
        return StreamingResponse(
            _events(rt, names, alarms, secret, heartbeat_s),
            media_type="text/event-stream",
            # Proxies must pass each event on at once.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _events(rt: Runtime, names: list[str], alarms: bool, secret: str, heartbeat_s: float) -> AsyncIterator[str]:
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=QUEUE_MAX)
    lost = 0

    def put(kind: str, data: dict[str, Any]) -> None:
        nonlocal lost
        try:
            queue.put_nowait((kind, data))
        except asyncio.QueueFull:
            lost += 1

    def on_tags(states: Sequence[TagState]) -> None:
        for state in states:
            put("tag", tag_json(rt, state.name, state))

    def on_alarms(changes: Sequence[AlarmChange]) -> None:
        for change in changes:
            put("alarm", _change(change))

    # Owned by this response: ended in `finally` when the client goes away, the token fails or the app stops.
    ends = []
    if names:
        ends.append(rt.cache.subscribe(names, on_tags))
    if alarms:
        ends.append(rt.alarms.subscribe(on_alarms))
    number = 0
    try:
        for name in names:
            number += 1
            yield _event(number, "tag", tag_json(rt, name, rt.cache.get(name)))
        while True:
            try:
                async with asyncio.timeout(heartbeat_s):
                    kind, data = await queue.get()
            except TimeoutError:
                check = await rt.api_tokens.resolve(secret)
                if check.ctx is None:
                    number += 1
                    yield _event(number, "error", error_body("unauthorized", check.reason))
                    return
                yield ": heartbeat\n\n"
                continue
            if lost:
                number += 1
                yield _event(number, "lost", {"events": lost})
                lost = 0
            number += 1
            yield _event(number, kind, data)
    finally:
        for end in ends:
            end()


def _event(number: int, kind: str, data: dict[str, Any]) -> str:
    return f"id: {number}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _change(change: AlarmChange) -> dict[str, Any]:
    return {
        "kind": str(change.kind),
        "at": iso(change.at),
        "username": change.username,
        "comment": change.comment,
        "alarm": alarm_json(change.alarm),
    }
