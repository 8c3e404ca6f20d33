"""The guard of object-store writes: no file below a file, no file where a directory is.

Object stores keep both ``a`` and ``a/b`` if asked; the registry would then lose track of
one of them. :class:`WritableCheck` asks the store before each write, and remembers the
folders a write passed below so that the registry's deep paths cost about one round trip.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .errors import StorageError

#: Threads that check a write's ancestors concurrently (shared by all requests).
CHECK_THREADS = 16
#: Seconds a path found not to be a file (a write below it passed) is trusted without
#: asking the store again; bounds how long another process's later file there goes unseen.
KNOWN_DIRECTORY_SECONDS = 60.0
#: Paths a driver remembers as no file (the least recently confirmed are dropped first).
KNOWN_DIRECTORIES = 4096


def ancestors(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/a", "/a/b"]``: the paths that must not be files."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: index + 1]) for index in range(len(parts))]


class WritableCheck:
    """Refuses a write where a directory is, or below a file, probing ancestors at once.

    The store itself would keep both ``a`` and ``a/b``, and the registry would then lose
    track of one of them. PERF: one LIST plus one metadata request per ancestor not known
    to be a directory, sent concurrently, so a deep registry path costs about one round
    trip, not ten. An ancestor of a write that passed is remembered as no file for
    :data:`KNOWN_DIRECTORY_SECONDS` (the registry's paths share their top folders, so a
    blob push asks about its new folders only): a file can appear there only once
    everything below it is gone, which this driver's own deletes and moves report through
    :meth:`removed`. Like the probes themselves (check, then write), this is a guard
    against the registry misplacing a file, not a lock against other processes.
    """

    def __init__(self, driver_name: str) -> None:
        self._driver_name = driver_name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        #: path -> when it was last found to be no file (monotonic seconds).
        self._directories: OrderedDict[str, float] = OrderedDict()

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
        now = time.monotonic()
        parents = self._unknown(ancestors(path), now)
        pool = self._threads()
        children = pool.submit(has_children, path, operation)
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
        self._confirm(parents, path, now)

    def removed(self, path: str) -> None:
        """Forget what is known at, above and below ``path``: it was deleted or moved
        away, so its folders may now be empty (and a file may take their place)."""
        above = set(ancestors(path))
        below = path.rstrip("/") + "/"
        with self._lock:
            for known in [p for p in self._directories if p in above or p.startswith(below)]:
                del self._directories[known]
            self._directories.pop(path, None)

    def close(self) -> None:
        """Stop the threads without waiting for probes still running."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _unknown(self, parents: list[str], now: float) -> list[str]:
        """The ``parents`` not recently found to be no file."""
        with self._lock:
            return [
                parent
                for parent in parents
                if now - self._directories.get(parent, -KNOWN_DIRECTORY_SECONDS)
                >= KNOWN_DIRECTORY_SECONDS
            ]

    def _confirm(self, parents: list[str], path: str, now: float) -> None:
        """Remember ``parents`` as no file; ``path`` is about to become one."""
        with self._lock:
            self._directories.pop(path, None)
            for parent in parents:
                self._directories[parent] = now
                self._directories.move_to_end(parent)
            while len(self._directories) > KNOWN_DIRECTORIES:
                self._directories.popitem(last=False)

    def _threads(self) -> concurrent.futures.ThreadPoolExecutor:
        """The probing threads (created on first use)."""
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=CHECK_THREADS, thread_name_prefix=f"{self._driver_name}-checks"
                )
            return self._pool
