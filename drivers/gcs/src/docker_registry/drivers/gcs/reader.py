"""The stream ``GCSDriver.reader`` returns: ranged GETs of one object generation."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from docker_registry.core.storage.objectstore import ObjectReader

if TYPE_CHECKING:
    from .driver import GCSDriver

#: Bytes per ranged GET.
READ_CHUNK = 4 * 1024 * 1024


class GCSReader(ObjectReader):
    """Read ``blob`` from ``offset`` in ranged GETs pinned to the generation first seen.

    Pinning means a concurrent overwrite fails the read (``StorageError``) instead of
    mixing two versions in one stream.
    """

    def __init__(self, driver: GCSDriver, path: str, blob: Any, offset: int) -> None:
        self._driver = driver
        self._path = path
        self._blob = blob
        self._position = offset
        self._size = int(blob.size or 0)
        self._buffer = b""

    def read(self, size: int | None = -1) -> bytes:
        wanted = (
            self._size - self._position + len(self._buffer) if size is None or size < 0 else size
        )
        while len(self._buffer) < wanted and self._position < self._size:
            end = min(self._position + max(wanted - len(self._buffer), READ_CHUNK), self._size)
            start = self._position
            download = functools.partial(
                self._blob.download_as_bytes,
                start=start,
                end=end - 1,
                if_generation_match=self._blob.generation,
                retry=self._driver.retry,
            )
            chunk = self._driver.call("read", self._path, download)
            if not chunk:
                break
            self._buffer += chunk
            self._position = start + len(chunk)
        data, self._buffer = self._buffer[:wanted], self._buffer[wanted:]
        return data
