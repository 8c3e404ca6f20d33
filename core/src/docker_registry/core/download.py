"""Response bodies read from storage: never past their range, never holding a worker.

Waitress sends a response whose ``resp.stream`` is a real, seekable file through
``wsgi.file_wrapper``: its I/O thread writes the file to the socket as the client reads,
limited to ``Content-Length``, and the worker thread is free at once. Any other stream is
iterated by the worker thread, which waits while a slow client lets waitress's output
buffer fill. :func:`bounded_body` keeps real files as they are (the fast, thread-free
path, full or ranged) and stops other streams at the end of their range, so a ranged
read never pulls the rest of an object from a cloud store.
"""

from __future__ import annotations

import io
from typing import BinaryIO


def bounded_body(stream: BinaryIO, length: int) -> BinaryIO:
    """``stream`` as a response body of exactly ``length`` bytes from its position.

    :param stream: a driver's reader, positioned at the first byte to send.
    :param length: bytes to send (``Content-Length``).
    """
    if _is_real_file(stream):
        # NOTE: waitress reads at most Content-Length bytes of a file it wraps.
        return stream
    return _Bounded(stream, length)  # type: ignore[return-value]


def _is_real_file(stream: object) -> bool:
    try:
        return bool(stream.seekable()) and stream.fileno() >= 0  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


class _Bounded(io.RawIOBase):
    """At most ``length`` bytes of ``stream``; closing it closes ``stream``."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        super().__init__()
        self._stream = stream
        self._left = length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(size)
        self._left -= len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()
