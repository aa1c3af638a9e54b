"""Background loops that never die: a failure is logged and the body runs again; only cancellation ends them."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hmi.supervise import Supervised, every, stop_tasks, wait_event


@pytest.mark.req("OPS-005")
async def test_a_supervised_body_that_raises_is_run_again_until_it_returns(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    async def body() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise ValueError(f"refused row {len(runs)}")

    task = Supervised("writer", body, backoff_s=0)
    await asyncio.wait_for(task.start(), 10)
    assert runs == [0, 1, 2]
    assert (task.restarts, task.last_error) == (2, "ValueError: refused row 2")
    assert task.task is not None
    assert task.task.done()
    assert "writer failed (ValueError: refused row 1)" in caplog.text


@pytest.mark.req("OPS-005")
async def test_stop_cancels_a_supervised_loop() -> None:
    started = asyncio.Event()

    async def body() -> None:
        started.set()
        await asyncio.Event().wait()

    task = Supervised("forever", body)
    task.start()
    await asyncio.wait_for(started.wait(), 10)
    running = task.task
    assert running is not None
    assert not running.done()
    await task.stop()
    assert (task.task, running.cancelled()) == (None, True)


@pytest.mark.req("OPS-005")
async def test_every_keeps_calling_after_a_round_fails() -> None:
    rounds: list[int] = []
    third = asyncio.Event()

    async def action() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 3:
            third.set()
        if len(rounds) == 1:
            raise RuntimeError("tick failed")

    loop = asyncio.create_task(every("tick", 0, action), name="test-every")
    try:
        await asyncio.wait_for(third.wait(), 10)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert rounds[:3] == [0, 1, 2]


async def test_stop_tasks_cancels_and_waits_for_every_task() -> None:
    ended: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(name)

    tasks = [asyncio.create_task(forever(name), name=name) for name in ("a", "b")]
    await asyncio.sleep(0)
    assert await stop_tasks(tasks[0], None, tasks[1])
    assert sorted(ended) == ["a", "b"]
    assert all(task.cancelled() for task in tasks)


async def test_stop_tasks_on_finished_tasks_logs_an_error_and_raises_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def fine() -> None:
        return

    async def broken() -> None:
        raise ValueError("lost the connection")

    done = asyncio.create_task(fine(), name="fine")
    failed = asyncio.create_task(broken(), name="broken")
    await asyncio.wait({done, failed})
    assert await stop_tasks(done, failed)
    assert await stop_tasks()
    assert "task broken ended with an error: lost the connection" in caplog.text
    assert "fine" not in caplog.text


async def test_stop_tasks_gives_up_on_a_task_that_ignores_its_cancellation(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    assert not await stop_tasks(task, timeout=0.05)
    assert not task.done()
    assert "task stubborn did not end within 0.05 s of being cancelled" in caplog.text
    release.set()
    await asyncio.wait_for(task, 10)


async def test_stop_tasks_does_not_swallow_the_cancellation_of_its_caller() -> None:
    release = asyncio.Event()

    async def slow_to_end() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await release.wait()

    task = asyncio.create_task(slow_to_end(), name="slow")
    await asyncio.sleep(0)
    stopper = asyncio.create_task(stop_tasks(task), name="stopper")
    await asyncio.sleep(0.01)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    release.set()
    await asyncio.wait({task}, timeout=10)
    assert task.cancelled()


async def test_wait_event_says_whether_the_event_came_within_the_time() -> None:
    event = asyncio.Event()
    assert not await wait_event(event, 0.01)
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 10)
    assert await wait_event(event, None), "already set: at once, even without a bound"


@pytest.mark.req("OPS-005")
async def test_a_loop_woken_in_the_turn_it_is_stopped_ends() -> None:
    # A channel's loop waits for a wake-up (a NOTIFY, a queued change) a while, then looks again. Stopped in the
    # very loop turn its wake-up comes (the wake-up first), it must end: Python 3.11's wait_for returned the wake-up
    # there and dropped the cancellation, so the loop went round again and its owner's stop waited for ever.
    wake = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await wait_event(wake, 30)
            wake.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    wake.set()
    task.cancel()
    assert await stop_tasks(task, timeout=5), "the loop went on after it was stopped"
    assert task.cancelled()
    assert rounds == 1
