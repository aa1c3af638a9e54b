"""Freed memory goes back to the operating system (glibc's malloc_trim), so the resident size follows what is held."""

from __future__ import annotations

import pytest

from hmi.api.health import rss_mib
from hmi.memory import trim_free_memory, trimming

pytestmark = pytest.mark.skipif(not trimming(), reason="the C library is not glibc: nothing to trim with")


@pytest.mark.req("OPS-011")
def test_memory_freed_below_what_is_still_held_goes_back_to_the_system() -> None:
    # 64 MiB in blocks of 4 KiB (malloc's own, not Python's small-object pools), one in 64 of them kept: the freed
    # ones lie between blocks still in use, where malloc keeps them for reuse, resident all the same.
    blocks = [bytearray(b"x" * 4096) for _ in range(16_384)]
    held = blocks[::64]
    before = rss_mib()
    blocks.clear()
    kept = rss_mib()
    assert kept > before - 16, "malloc gave the freed blocks back by itself: nothing left to show"
    assert trim_free_memory()
    assert rss_mib() < kept - 32
    assert all(block[0] == ord("x") for block in held)
