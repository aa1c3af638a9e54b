"""The `hmi` command line as the integration tests run it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable

import pytest

from hmi.cli import main

Hmi = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def hmi(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Hmi:
    """Run `hmi ARGS` with `stdin` as its standard input; returns (exit code, stdout, stderr).

    The environment names no database and no audit key file: each command gets them from its arguments.
    (A test module may define an `hmi` fixture of its own for something else; that one wins there.)
    """
    monkeypatch.delenv("HMI_DB_URL", raising=False)
    monkeypatch.delenv("HMI_AUDIT_KEY_FILE", raising=False)

    async def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        # The command runs its own event loop (asyncio.run), so it cannot share the test's.
        code = await asyncio.to_thread(main, list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run
