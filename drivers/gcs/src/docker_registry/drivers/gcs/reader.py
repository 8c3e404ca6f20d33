"""The stream ``GCSDriver.reader`` returns: ranged GETs of one object generation.

Each chunk is one GET, pinned to the generation the reader opened
(``ifGenerationMatch``), and checked against it: the ``x-goog-generation`` header the
service sends, or (emulators that send none and ignore the precondition) the object's
generation read again after the chunk. A reader open across an overwrite or a delete
therefore fails with a :class:`StorageError` instead of mixing two versions. It cannot
return the old version whole: a bucket without versioning keeps no old generation, and a
single streamed GET held open for the whole read would block the single-threaded
emulator the tests run on. So the driver does not declare ``Capability.SNAPSHOT_READS``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as api

from docker_registry.core.storage import StorageError
from docker_registry.core.storage.objectstore import ObjectReader

if TYPE_CHECKING:
    from .driver import GCSDriver

#: Bytes per ranged GET.
READ_CHUNK = 4 * 1024 * 1024
#: Seconds a ranged GET may take.
READ_TIMEOUT = 120.0


class GCSReader(ObjectReader):
    """Read ``blob`` from ``offset`` in ranged GETs of the generation first seen."""

    def __init__(self, driver: GCSDriver, path: str, blob: Any, offset: int) -> None:
        self._driver = driver
        self._path = path
        self._blob = blob
        self._generation = str(blob.generation)
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
            fetch = functools.partial(self._chunk, start, end)
            chunk = self._driver.call("read", self._path, fetch)
            if not chunk:
                break
            self._buffer += chunk
            self._position = start + len(chunk)
        data, self._buffer = self._buffer[:wanted], self._buffer[wanted:]
        return data

    def _chunk(self, start: int, end: int) -> bytes:
        # NOTE: the download URL names the generation too; ifGenerationMatch makes the
        # service refuse (412) rather than serve another one.
        url = self._blob._get_download_url(self._driver.client)
        response = self._driver.session.get(
            url,
            params={"ifGenerationMatch": self._generation},
            headers={"Range": f"bytes={start}-{end - 1}"},
            timeout=READ_TIMEOUT,
        )
        if response.status_code in (404, 412):
            raise self._changed()
        if response.status_code not in (200, 206):
            raise api.from_http_response(response)
        served = response.headers.get("x-goog-generation")
        if served is None:
            current = self._driver.head_object(self._blob.name)
            served = None if current is None else str(current.native.generation)
        if served != self._generation:
            raise self._changed()
        return response.content

    def _changed(self) -> StorageError:
        return StorageError(
            f"the object was overwritten or deleted while being read (generation "
            f"{self._generation} is gone); read it again",
            driver=self._driver.name,
            operation="read",
            path=self._path,
        )
