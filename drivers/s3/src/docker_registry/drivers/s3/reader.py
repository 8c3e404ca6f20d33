"""The stream ``S3Driver.reader`` returns: a GET's body with typed errors."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .driver import S3Driver


class S3Reader(io.RawIOBase):
    """A ranged GET's body as a binary stream; read errors become :class:`StorageError`."""

    def __init__(self, driver: S3Driver, path: str, body: Any) -> None:
        self._driver = driver
        self._path = path
        self._body = body

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        amount = None if size is None or size < 0 else size
        return self._driver.call("read", self._path, lambda: self._body.read(amount))

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
