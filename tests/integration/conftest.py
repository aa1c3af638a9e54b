"""The `hmi` command line as the integration tests run it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack

import pytest

from hmi.cli import main
from tests.conftest import fresh_postgres_database
from tests.opcua_server import SmallServer, free_port

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


# A plant of one tag with one alarm, served by the `server` fixture: the redundant pair tests (test_cluster.py,
# test_failover.py).
PAIR_PLANT = """
site: {{name: Pair}}
endpoints: [{{name: e, url: "{url}", publishing_interval_ms: 100}}]
areas:
  - name: A
    lines:
      - name: L
        tags:
          - {{name: Speed, endpoint: e, node_id: "ns=2;s=Speed", unit: m/min,
              alarms: [{{type: H, limit: 100, priority: 2, message: Too fast}}]}}
"""


@pytest.fixture
async def pair_server() -> AsyncIterator[SmallServer]:
    srv = SmallServer(free_port(), {"Speed": 10.0})
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def processes() -> Iterator[ExitStack]:
    """Callbacks that end the processes a test started (`hmi run`, a proxy), whatever its outcome."""
    with ExitStack() as stack:
        yield stack
