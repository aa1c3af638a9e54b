"""How much one query a person types may ask of the database: a maximum span per range and pages of rows.

A year of trend history, a journal of a flooding plant or the whole audit trail must never become a 30 MB chart
or a query that holds the event loop and the database for minutes: the services refuse beyond these bounds with
a message saying what to narrow, and lists are read a page at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from hmi.texts import Text

T = TypeVar("T")


class RangeTooLong(ValueError):
    """A time range is longer than its configured maximum; the message names both and the fix."""


class TooManyRows(ValueError):
    """An export would hold more rows than its configured maximum; the message says to narrow the filter."""


def span_text(span: timedelta) -> Text:
    """'400 days', '36 hours' or '90 minutes' as people say it."""
    seconds = span.total_seconds()
    if seconds >= 2 * 86_400:
        return Text("{n:.3g} days", n=seconds / 86_400)
    if seconds >= 2 * 3600:
        return Text("{n:.3g} hours", n=seconds / 3600)
    return Text("{n:.3g} minutes", n=seconds / 60)


def check_span(what: str, start: datetime | None, end: datetime, max_days: float) -> None:
    """Return when [start, end) is at most `max_days` long; RangeTooLong (or ValueError without a start) else.
    `what` ("the export") is translated on a screen when the caller passes a Text."""
    limit = timedelta(days=max_days)
    if start is None:
        raise RangeTooLong(
            Text("{what} needs a start time; choose a range of at most {limit}", what=what, limit=span_text(limit))
        )
    span = end - start
    if span > limit:
        raise RangeTooLong(
            Text(
                "{what} covers {span}; at most {limit} can be read at once: choose a shorter range",
                what=what,
                span=span_text(span),
                limit=span_text(limit),
            )
        )


def check_rows(what: str, n: int, max_rows: int) -> None:
    """Return when `n` rows are within `max_rows`; TooManyRows naming the limit and the fix else."""
    if n > max_rows:
        raise TooManyRows(
            Text(
                "{what} would hold more than {most} rows; narrow the filter or choose a shorter range",
                what=what,
                most=max_rows,
            )
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, newest first: `offset` rows were skipped; `more` when older rows follow."""

    rows: Sequence[T]
    offset: int
    size: int
    more: bool

    @property
    def first(self) -> int:
        """1-based number of the first row on the page (0 when the page is empty)."""
        return self.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """1-based number of the last row on the page."""
        return self.offset + len(self.rows)


def page_of(rows: Sequence[T], offset: int, size: int) -> Page[T]:
    """The page from `size + 1` rows read at `offset`: the extra row only says that more follow."""
    return Page(rows[:size], offset, size, len(rows) > size)
