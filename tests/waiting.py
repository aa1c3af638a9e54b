"""Waiting for a condition instead of sleeping: the one polling helper of the test suite.

`until` (async tests) and `until_sync` (plain tests, subprocess fixtures) poll a predicate until it returns a
truthy value and return that value, so a test can wait for a thing and use it in one step:

    alarm = await until(lambda: rt.alarms.get("T1.H"), what="T1.H to be raised")

On timeout they raise AssertionError naming `what` (by default the predicate's source line).
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")


async def until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,  # noqa: ASYNC109
    what: str | None = None,
    interval: float = 0.05,
) -> T:
    """Poll `predicate` (a plain or an async function) every `interval` s until it returns a truthy value;
    return that value. After `timeout` s raise AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or _source(predicate)}")
        await asyncio.sleep(interval)


def until_sync(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    what: str | None = None,
    interval: float = 0.05,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """`until` for code without an event loop; `predicate` must be plain. Between polls it calls `sleep(interval)`
    (a Playwright test passes one that lets the page run: `lambda s: page.wait_for_timeout(s * 1000)`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or _source(predicate)}")
        sleep(interval)


def answers(url: str, timeout: float = 5.0, verify: ssl.SSLContext | bool = True) -> bool:
    """True when a GET of `url` returns 200; False while the server is not (yet) listening or failing. `verify`:
    how to check an https:// server's certificate (an SSLContext trusting a test CA)."""
    try:
        return httpx.get(url, timeout=timeout, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def answering(
    url: str, proc: subprocess.Popen[Any], log: Path, timeout: float, verify: ssl.SSLContext | bool = True
) -> None:
    """Wait until the server process `proc` answers `url` (HTTP 200); fail the test, showing its `log`, when it
    exits first or does not answer within `timeout` s."""
    try:
        until_sync(
            lambda: proc.poll() is not None or answers(url, verify=verify), timeout, f"{url} to answer", interval=0.3
        )
    except AssertionError as exc:
        pytest.fail(f"{exc}; its log:\n{log.read_text()}")
    if proc.poll() is not None:
        pytest.fail(f"the server exited with {proc.returncode} instead of answering {url}; its log:\n{log.read_text()}")


def ended(proc: subprocess.Popen[Any], timeout: float) -> None:
    """Ask the server process `proc` to stop (SIGTERM) and wait for it; kill it if it is not gone after `timeout` s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _source(predicate: Callable[..., object]) -> str:
    try:
        return " ".join(inspect.getsource(predicate).split())
    except (OSError, TypeError):
        return repr(predicate)
