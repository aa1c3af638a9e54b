"""Giving the memory this process has freed back to the operating system, so that its resident size says what it
holds (glibc only; elsewhere nothing is done).

glibc's malloc keeps freed memory for reuse: in the main arena below whatever is still in use at its top, and in
each thread's arena (SQLite's connection threads, the password hashing and directory workers each get one). Under a
steady load, the resident size of a process that runs for months then creeps up with memory nobody holds, and a real
leak cannot be told from it. `malloc_trim(0)` (malloc_trim(3)) hands back every whole free page of every arena; the
runtime calls it every `TRIM_S` in a worker thread (it takes each arena's lock in turn, never the event loop).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache

TRIM_S = 60.0
"""Seconds between two trims: a few milliseconds of a worker thread each, against minutes of a steady load."""


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS, Windows)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols, its C library's among them
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def trimming() -> bool:
    """Whether this process can give freed memory back (its C library is glibc)."""
    return _malloc_trim() is not None


def trim_free_memory() -> bool:
    """Hand the whole free pages of every malloc arena back to the operating system; True when some were. Blocks
    for a few milliseconds: call it in a worker thread."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
