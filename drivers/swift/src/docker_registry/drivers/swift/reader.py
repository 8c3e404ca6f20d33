"""Reading objects: a (ranged) GET body as a binary stream, and header/listing helpers."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from swiftclient.client import Connection

from docker_registry.core.storage.objectstore import ObjectReader

from .connection import status_of

if TYPE_CHECKING:
    from .driver import SwiftDriver

_Result = TypeVar("_Result")


class SwiftReader(ObjectReader):
    """A (ranged) GET's body as a binary stream holding its borrowed connection."""

    def __init__(self, driver: SwiftDriver, path: str, conn: Connection | None, body: Any) -> None:
        self._driver = driver
        self._path = path
        self._conn = conn
        self._body = body

    def read(self, size: int | None = -1) -> bytes:
        if self._body is None:
            return b""
        amount = None if size is None or size < 0 else size
        try:
            return bytes(self._body.read(amount))
        except Exception as exc:
            raise self._driver.error(exc, "read", self._path) from exc

    def close(self) -> None:
        if not self.closed:
            if self._body is not None:
                self._body.close()
            if self._conn is not None:
                self._driver.pool.release(self._conn)
                self._conn = None
        super().close()


def is_slo(headers: Mapping[str, str]) -> bool:
    return headers.get("x-static-large-object", "").lower() == "true"


def http_date(value: str | None) -> float | None:
    return parsedate_to_datetime(value).timestamp() if value else None


def iso_date(value: str | None) -> float | None:
    if not value:
        return None
    return float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")))


def once_more_on_404(call: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
    """Call ``call``; on a 404, call it once more before believing it.

    An object server replacing an object removes the old ``.data`` file right after
    renaming the new one in; a GET that listed the directory in between answers 404
    although the object exists (seen with one replica). A second look finds the new
    version; a real 404 costs one more request.
    """
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        if status_of(exc) != 404:
            raise
    return call(*args, **kwargs)
