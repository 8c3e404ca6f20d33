"""The protocol of caches of small files, and the guard that keeps them optional.

A cache plugin (``registry_cache_backends``) returns an object with these four methods.
The :class:`~.wrapper.Storage` wrapper reads small files through it and invalidates it on
every write, move and delete; a cache that fails is logged and bypassed, never an error.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

#: Files larger than this are never cached (layers and blobs go through readers anyway).
MAX_CACHED_SIZE = 512 * 1024


@runtime_checkable
class FileCache(Protocol):
    """A key-value cache of storage files; keys are storage paths.

    Implementations namespace the keys themselves (a Redis cache shared by several
    registries prefixes them with its own storage identity).
    """

    def get(self, path: str) -> bytes | None:
        """Cached content of ``path``, or ``None`` on a miss."""

    def set(self, path: str, content: bytes) -> None:
        """Remember ``content`` for ``path``."""

    def delete(self, path: str) -> None:
        """Forget ``path``."""

    def delete_prefix(self, directory: str) -> None:
        """Forget every path under ``directory`` (a deleted or moved directory)."""


class GuardedCache:
    """Calls a :class:`FileCache`, turning its failures into warnings and misses.

    After a failure the cache is bypassed for ``retry_after`` seconds so that a cache
    server that went away does not slow every request down with connection attempts.
    Invalidations are still attempted meanwhile (a stale entry is worse than a slow one).
    """

    def __init__(self, cache: FileCache, retry_after: float = 5.0) -> None:
        self.cache = cache
        self.retry_after = retry_after
        self._down_until = 0.0

    def _failed(self, operation: str, path: str, exc: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning(
                "cache %s failed for %s (%s: %s); serving from storage without the cache "
                "for %.0f s",
                operation,
                path,
                type(exc).__name__,
                exc,
                self.retry_after,
            )
        self._down_until = time.monotonic() + self.retry_after

    def get(self, path: str) -> bytes | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            return self.cache.get(path)
        except Exception as exc:  # noqa: BLE001 - a cache must never fail a request
            self._failed("get", path, exc)
            return None

    def set(self, path: str, content: bytes) -> None:
        if len(content) > MAX_CACHED_SIZE or time.monotonic() < self._down_until:
            return
        try:
            self.cache.set(path, content)
        except Exception as exc:  # noqa: BLE001
            self._failed("set", path, exc)

    def invalidate(self, path: str, *, recursive: bool = False) -> None:
        try:
            self.cache.delete(path)
            if recursive:
                self.cache.delete_prefix(path)
        except Exception as exc:  # noqa: BLE001
            self._failed("invalidate", path, exc)
