"""Helpers for drivers over flat key-value object stores (S3, GCS, Azure Blob, Swift...).

Such stores have no directories: a directory is any key below a prefix, and nothing stops
a key from sitting below another key. These pieces are what the drivers share.
"""

from __future__ import annotations

import abc
import concurrent.futures
import io
import threading
from collections.abc import Callable
from typing import Any

from .driver import FileWriter
from .errors import StorageError

#: Threads that check a write's ancestors concurrently (shared by all requests).
CHECK_THREADS = 16

#: States of a :class:`PartWriter`.
OPEN, COMMITTED, CANCELLED, BROKEN = "open", "committed", "cancelled", "broken"


def ancestors(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/a", "/a/b"]``: the paths that must not be files."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: index + 1]) for index in range(len(parts))]


class WritableCheck:
    """Refuses a write where a directory is, or below a file, probing ancestors at once.

    The store itself would keep both ``a`` and ``a/b``, and the registry would then lose
    track of one of them. PERF: one LIST plus one metadata request per ancestor, sent
    concurrently, so a deep registry path costs about one round trip, not ten.
    """

    def __init__(self, driver_name: str) -> None:
        self._driver_name = driver_name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def check(
        self,
        path: str,
        operation: str,
        has_children: Callable[[str, str], bool],
        file_at: Callable[[str, str], object | None],
    ) -> None:
        """Raise :class:`StorageError` unless a file may be written at ``path``.

        ``has_children(path, operation)`` tells whether any key is below ``path``;
        ``file_at(path, operation)`` returns the file's metadata, or ``None``.
        """
        # NOTE: the probes come per call, not at construction: a driver holding a helper
        # bound to its own methods would be a reference cycle.
        pool = self._threads()
        children = pool.submit(has_children, path, operation)
        parents = ancestors(path)
        files = [pool.submit(file_at, parent, operation) for parent in parents]
        if children.result():
            raise StorageError(
                "a directory is at this path",
                driver=self._driver_name,
                operation=operation,
                path=path,
            )
        for parent, found in zip(parents, files, strict=True):
            if found.result() is not None:
                raise StorageError(
                    f"a parent of the path is a file: {parent}",
                    driver=self._driver_name,
                    operation=operation,
                    path=path,
                )

    def close(self) -> None:
        """Stop the threads without waiting for probes still running."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _threads(self) -> concurrent.futures.ThreadPoolExecutor:
        """The probing threads (created on first use)."""
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=CHECK_THREADS, thread_name_prefix=f"{self._driver_name}-checks"
                )
            return self._pool


class ObjectReader(io.RawIOBase):
    """A readable raw stream over an object's body; subclasses implement :meth:`read`."""

    def readable(self) -> bool:
        return True

    @abc.abstractmethod
    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when negative or ``None``); ``b""`` at the end."""

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class PartWriter(FileWriter):
    """A writer that buffers bytes and hands the store one full part at a time."""

    def __init__(self, driver_name: str, path: str, part_size: int) -> None:
        self._driver_name = driver_name
        self._path = path
        self._part_size = part_size
        self._buffer = bytearray()
        self._size = 0
        self._state = OPEN

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:
        self._check_open("write")
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= self._part_size:
            # NOTE: a memoryview slice is sent, then dropped: at most one part plus the
            # last write is ever held in memory.
            self._send_part(bytes(memoryview(self._buffer)[: self._part_size]))
            del self._buffer[: self._part_size]
        return len(data)

    def cancel(self) -> None:
        if self._state == OPEN:
            self._finish(CANCELLED)

    def close(self) -> None:
        if self._state == OPEN:
            self.cancel()

    def _check_open(self, operation: str) -> None:
        if self._state != OPEN:
            raise StorageError(
                f"the writer is {self._state}",
                driver=self._driver_name,
                operation=operation,
                path=self._path,
            )

    @abc.abstractmethod
    def _send_part(self, part: bytes) -> None:
        """Hand one part to the store (a failure must leave the writer broken)."""

    @abc.abstractmethod
    def _finish(self, state: str) -> None:
        """Enter ``state`` and drop the buffer and whatever the store holds uncommitted."""
