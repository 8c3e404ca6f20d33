"""The stream ``AzureDriver.reader`` returns: a blob download with typed errors."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import AzureDriver


class AzureReader(io.RawIOBase):
    """A :class:`StorageStreamDownloader` as a binary stream, fetched chunk by chunk."""

    def __init__(self, driver: AzureDriver, path: str, downloader: Any) -> None:
        self._driver = driver
        self._path = path
        self._downloader = downloader

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        amount = -1 if size is None else size
        return self._driver.call("read", self._path, lambda: self._downloader.read(amount))

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
