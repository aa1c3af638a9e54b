"""Background loops that never die: a failure is logged and the body runs again; only cancellation ends them."""

from __future__ import annotations

import asyncio

import pytest

from hmi.supervise import Supervised, every


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
