"""Pages of every list the API returns, and the JSON forms of times and values."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi import Query, Request

from hmi.api.errors import ApiError

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Far beyond any list, and within what every database takes as an integer (SQLite: 64 bits).
MAX_OFFSET = 1_000_000_000


class Paging:
    """`limit` and `offset` of a list request (a FastAPI dependency)."""

    def __init__(
        self,
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="rows per page"),
        offset: int = Query(0, ge=0, le=MAX_OFFSET, description="rows to skip (the previous page's next_offset)"),
    ) -> None:
        self.limit = limit
        self.offset = offset


def page(request: Request, paging: Paging, rows: Sequence[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """The page from up to `limit + 1` rows read at `offset` (the extra row says that more follow)."""
    more = len(rows) > paging.limit
    next_offset = paging.offset + paging.limit if more else None
    return {
        "items": [render(row) for row in rows[: paging.limit]],
        "limit": paging.limit,
        "offset": paging.offset,
        "next_offset": next_offset,
        "next": str(request.url.include_query_params(offset=next_offset)) if next_offset is not None else None,
    }


def window(rows: Sequence[T], paging: Paging) -> Sequence[T]:
    """The rows of a list held in memory that `page` needs: from `offset`, `limit + 1` of them."""
    return rows[paging.offset : paging.offset + paging.limit + 1]


def iso(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds, or None."""
    return when.astimezone(UTC).isoformat(timespec="microseconds") if when is not None else None


def json_value(value: Any) -> Any:
    """A tag value JSON can carry: a non-finite float (kept BAD for diagnosis) becomes None, times ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def time_range(
    start: datetime | None, end: datetime | None, now: datetime, default: timedelta
) -> tuple[datetime, datetime]:
    """[from, to] of a request: `to` defaults to now, `from` to `default` before it; both must carry a zone."""
    for name, when in (("from", start), ("to", end)):
        if when is not None and when.tzinfo is None:
            raise ApiError(
                422, "invalid request", f"{name}: give the time with its zone, e.g. 2025-01-06T06:00:00Z or +01:00"
            )
    try:
        # In UTC here, so the database never converts a time at the calendar's edge (year 1 at +01:00).
        end = (end or now).astimezone(UTC)
        start = (start or end - default).astimezone(UTC)
    except OverflowError:
        raise ApiError(
            422, "invalid request", "the range reaches outside the calendar; give times between the years 1 and 9999"
        ) from None
    if end <= start:
        raise ApiError(422, "invalid request", f"the range is empty: to ({iso(end)}) is not after from ({iso(start)})")
    return start, end
