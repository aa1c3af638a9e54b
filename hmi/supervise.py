"""Background loops that never die: a failure is logged, counted and followed by a retry, never the end of the task;
the one way to stop the tasks an object owns (`stop_tasks`); and the one way to wait for an event a while
(`wait_event`).

Writers (alarm journal, historian flush and tick, spool replay, audit anchor) run for the life of the process; a task
that ended on one unexpected exception would leave its work piling up unseen until the process exits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class Supervised:
    """Runs `body` as a named task; when it raises, logs the error, waits (doubling up to `max_backoff_s`) and runs
    it again. Ends only when `body` returns or the task is cancelled (`stop`)."""

    def __init__(
        self, name: str, body: Callable[[], Awaitable[None]], *, backoff_s: float = 0.5, max_backoff_s: float = 30.0
    ) -> None:
        self.name = name
        self._body = body
        self._backoff = backoff_s
        self._max_backoff = max_backoff_s
        self._task: asyncio.Task[None] | None = None
        self.restarts = 0
        self.last_error: str | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The asyncio task, while started."""
        return self._task

    def start(self) -> asyncio.Task[None]:
        """Start the task (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self.name)
        return self._task

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        task, self._task = self._task, None
        await stop_tasks(task)

    async def _run(self) -> None:
        delay = self._backoff
        while True:
            try:
                await self._body()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.restarts += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s failed (%s); restarting in %g s", self.name, self.last_error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)


async def every(name: str, seconds: float, action: Callable[[], Awaitable[object]]) -> None:
    """Call `action` every `seconds` for ever; an exception in one round is logged and the next round comes."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; tried again in %g s", name, seconds)


async def wait_event(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait until `event` is set, at most `seconds` (None: no bound); True when it was set, False after the time.

    `asyncio.timeout`, never `asyncio.wait_for` (which the lint bans): on Python 3.11 `wait_for` swallows a
    cancellation that arrives in the loop turn its awaitable completes in (CPython gh-86296), and a loop that waits
    on a wake-up event, woken at the moment it is stopped, then goes round again and never ends.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def stop_tasks(*tasks: asyncio.Task[Any] | None, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a bound
    """Cancel the tasks an object owns (None and finished ones are fine) and wait until every one has ended.

    All are cancelled first, then waited for together. An error a task ended with (other than its cancellation) is
    logged, not raised: stopping goes on. With `timeout` (seconds), a task still running after it (one that ignores
    its cancellation) is logged and left; the result is False then, else True. A cancellation of the caller itself
    is not swallowed.
    """
    owned = {task for task in tasks if task is not None}
    if not owned:
        return True
    for task in owned:
        task.cancel()
    done, pending = await asyncio.wait(owned, timeout=timeout)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("task %s ended with an error: %s", task.get_name(), error, exc_info=error)
    for task in pending:
        log.error("task %s did not end within %g s of being cancelled", task.get_name(), timeout)
    return not pending
