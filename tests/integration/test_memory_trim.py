"""A running instance gives the memory it has freed back to the operating system every minute, until it stops."""

from __future__ import annotations

import asyncio

import pytest

from hmi.memory import TRIM_S, trimming
from tests.integration.test_api_rest import Site, site  # noqa: F401 - the fixture


def _trimmers() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "memory-trim" and not task.done()]


@pytest.mark.req("OPS-011")
@pytest.mark.skipif(not trimming(), reason="the C library is not glibc: nothing to trim with")
async def test_a_running_instance_trims_its_freed_memory_every_minute_until_it_stops(site: Site) -> None:  # noqa: F811
    assert TRIM_S <= 60
    (trimmer,) = _trimmers()
    assert site.rt._trimmer is trimmer
    await site.rt.stop()
    assert trimmer.done()
    assert _trimmers() == []
