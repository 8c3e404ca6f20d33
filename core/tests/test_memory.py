"""The trimmer hands freed heap pages back once a process grew (glibc, Linux)."""

from __future__ import annotations

import ctypes
import sys
import time

import pytest

from docker_registry.core import memory

MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or memory.resident_bytes() is None,
    reason="glibc and /proc only",
)


def _wait_for(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_freed_memory_goes_back_after_growth() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    trimmer = memory.Trimmer(growth=8 * MIB, every=0.05)
    trimmer.start()
    try:
        time.sleep(0.2)
        # 48 MiB in 64 KiB blocks (below the mmap threshold: from the heap), each written
        # to, then all freed but the last, which keeps the heap's top from shrinking.
        blocks = [libc.malloc(64 * 1024) for _ in range(768)]
        for block in blocks:
            ctypes.memset(block, 1, 64 * 1024)
        grown = memory.resident_bytes()
        for block in blocks[:-1]:
            libc.free(block)
        assert grown is not None
        assert _wait_for(lambda: trimmer.trims >= 1), "the growth was never trimmed"
        after = memory.resident_bytes()
        assert after is not None and after < grown - 24 * MIB, (grown // MIB, after // MIB)
        libc.free(blocks[-1])
    finally:
        trimmer.stop()
        trimmer.join(timeout=2)


def test_no_trim_without_growth() -> None:
    trimmer = memory.Trimmer(growth=256 * MIB, every=0.02)
    trimmer.start()
    time.sleep(0.2)
    trimmer.stop()
    trimmer.join(timeout=2)
    assert trimmer.trims == 0
