"""A Glance image download (``GET .../file`` with ``Range``) as a binary stream."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from .driver import GlanceDriver


class GlanceReader(io.RawIOBase):
    """The body of a streamed download; read errors become :class:`StorageError`."""

    def __init__(self, driver: GlanceDriver, path: str, response: requests.Response | None):
        self._driver = driver
        self._path = path
        self._response = response

    @classmethod
    def of(cls, driver: GlanceDriver, path: str, response: requests.Response) -> io.BufferedReader:
        """A buffered stream over ``response``'s body."""
        return io.BufferedReader(cls(driver, path, response), 1024 * 1024)

    @classmethod
    def empty(cls, driver: GlanceDriver, path: str) -> io.BufferedReader:
        """A stream with nothing to read (an offset at or past the end)."""
        return io.BufferedReader(cls(driver, path, None))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._response is None:
            return 0
        try:
            data = self._response.raw.read(len(buffer), decode_content=True)
        except Exception as exc:
            raise self._driver.error(exc, "read", self._path) from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed and self._response is not None:
            self._response.close()
        super().close()
