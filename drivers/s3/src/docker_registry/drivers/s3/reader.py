"""The stream ``S3Driver.reader`` returns: a GET's body with typed errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docker_registry.core.storage.objectstore import ObjectReader

if TYPE_CHECKING:
    from .driver import S3Driver


class S3Reader(ObjectReader):
    """A ranged GET's body as a binary stream; read errors become :class:`StorageError`."""

    def __init__(self, driver: S3Driver, path: str, body: Any) -> None:
        self._driver = driver
        self._path = path
        self._body = body

    def read(self, size: int | None = -1) -> bytes:
        amount = None if size is None or size < 0 else size
        return self._driver.call("read", self._path, lambda: self._body.read(amount))

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
