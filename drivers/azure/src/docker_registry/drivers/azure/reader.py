"""The stream ``AzureDriver.reader`` returns: a blob download with typed errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docker_registry.core.storage.objectstore import ObjectReader

if TYPE_CHECKING:
    from .driver import AzureDriver


class AzureReader(ObjectReader):
    """A :class:`StorageStreamDownloader` as a binary stream, fetched chunk by chunk."""

    def __init__(self, driver: AzureDriver, path: str, downloader: Any) -> None:
        self._driver = driver
        self._path = path
        self._downloader = downloader

    def read(self, size: int | None = -1) -> bytes:
        amount = -1 if size is None else size
        return self._driver.call("read", self._path, lambda: self._downloader.read(amount))
