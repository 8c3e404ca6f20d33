"""Reading a byte range of an object as several ranged GETs in flight.

One GET streams an object no faster than one connection of the store delivers it; a
large blob's download waits on that. :class:`PieceReader` cuts the range into pieces:
the first is streamed as soon as its answer starts, the next ones are fetched whole by a
shared thread pool, a few ahead of the reader::

    [offset ....................................... end)      end = offset + length, or
     piece 0 (streamed)  piece 1   piece 2   piece 3 ...       the object's end if nearer
                         └ in flight, at most ``in_flight`` ┘

Memory is bounded by ``in_flight`` pieces per reader. No GET asks for a byte past
``end``. Every piece answers with the object's version (its ETag): a piece of another
version, a short piece or a failed GET raises :class:`StorageError` from ``read``, so a
response being sent is cut, never completed with wrong bytes.

Off by default (one closed-range GET per download): a driver turns pieces on with its
``<prefix>_read_piece_size`` option (:func:`read_piece_options`). They pay where one
connection to the store is slower than the client's link (a cloud store's rate per
connection); they cost dearly on a store that reads the whole object for every ranged
GET (moto does: benchmarks/README.md).
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import io
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from ..config.errors import ConfigError
from ..config.options import DriverOption
from .errors import StorageError

MIB = 1024 * 1024
#: Threads fetching pieces, shared by every download of one driver (also the most
#: pieces one download may have in flight).
PIECE_THREADS = 16
#: Pieces fetched ahead of a reader when only the piece size is configured.
DEFAULT_IN_FLIGHT = 4
#: The smallest piece worth a request of its own.
MIN_PIECE_SIZE = MIB


@dataclass
class RangedBody:
    """The answer to one ranged GET, its body not read yet.

    :param read: ``read(n)`` (``None``: the rest) of the body.
    :param release: called once when done with the body (read whole or not).
    :param version: what identifies the object's version (its ETag); ``None`` if unknown.
    :param object_size: the size of the whole object (from ``Content-Range``).
    """

    read: Callable[[int | None], bytes]
    release: Callable[[], object]
    version: str | None
    object_size: int


def read_piece_options(size_key: str, pieces_key: str) -> tuple[DriverOption, DriverOption]:
    """The two options of a driver whose downloads may be read in pieces (named
    ``<prefix>_read_piece_size`` and ``<prefix>_read_pieces``)."""
    return (
        DriverOption(
            size_key,
            int,
            default=0,
            help="bytes per ranged GET of a large download, several in flight "
            "(0: one GET per download)",
        ),
        DriverOption(
            pieces_key,
            int,
            default=DEFAULT_IN_FLIGHT,
            help=f"pieces fetched ahead per download (memory: pieces x piece size), "
            f"1 to {PIECE_THREADS}",
        ),
    )


def read_pieces(values: Mapping[str, Any], size_key: str, flight_key: str) -> tuple[int, int]:
    """``(piece size, pieces in flight)`` from the options of :func:`read_piece_options`.

    :raises ConfigError: naming the key at fault.
    """
    size = int(values.get(size_key) or 0)
    in_flight = values.get(flight_key)
    in_flight = DEFAULT_IN_FLIGHT if in_flight is None else int(in_flight)
    if size and size < MIN_PIECE_SIZE:
        raise ConfigError(f"must be 0 (off) or at least {MIN_PIECE_SIZE} bytes", key=size_key)
    if not 1 <= in_flight <= PIECE_THREADS:
        raise ConfigError(f"must be between 1 and {PIECE_THREADS}, got {in_flight}", key=flight_key)
    return size, in_flight


def plan_pieces(start: int, end: int, piece_size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of each piece of ``[start, end)``, in order."""
    return [(offset, min(piece_size, end - offset)) for offset in range(start, end, piece_size)]


class PieceThreads:
    """The threads of one driver that fetch pieces (created on first use)."""

    def __init__(self, name: str, threads: int = PIECE_THREADS) -> None:
        self._name = name
        self._threads = threads
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fetch: Callable[[], bytes]) -> concurrent.futures.Future[bytes]:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._threads, thread_name_prefix=f"{self._name}-pieces"
                )
            return self._pool.submit(fetch)

    def close(self) -> None:
        """Stop the threads without waiting for pieces still being fetched."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


class PieceReader(io.RawIOBase):
    """The bytes ``[start, end)`` of one object version: ``first`` streamed, the rest
    fetched ahead by ``threads``.

    :param first: the answer to the GET of the first piece (``start`` onwards), its
        ``read`` raising :class:`StorageError` on failure.
    :param fetch: ``fetch(offset, length)``: the answer to the GET of a later piece,
        failures already typed (:class:`StorageError`).
    :param fail: builds the :class:`StorageError` of a piece that is not what was asked.
    """

    def __init__(
        self,
        first: RangedBody,
        start: int,
        end: int,
        *,
        fetch: Callable[[int, int], RangedBody],
        fail: Callable[[str], StorageError],
        threads: PieceThreads,
        piece_size: int,
        in_flight: int,
    ) -> None:
        super().__init__()
        self._first = first
        self._first_released = False
        self._first_left = min(piece_size, end - start)
        self._fetch = fetch
        self._fail = fail
        self._threads = threads
        self._in_flight = max(1, in_flight)
        self._waiting = collections.deque(plan_pieces(start + self._first_left, end, piece_size))
        self._ahead: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()
        self._buffer = memoryview(b"")
        self._fill()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        if self._first_left:
            return self._read_first_piece(size)
        if not self._buffer and self._ahead:
            self._buffer = memoryview(self._next_piece())
        data = bytes(self._buffer[:size])
        self._buffer = self._buffer[len(data) :]
        return data

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(MIB):
            chunks.append(chunk)
        return b"".join(chunks)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            for future in self._ahead:
                future.cancel()
            self._ahead.clear()
            self._waiting.clear()
            self._buffer = memoryview(b"")
            self._release_first()
        super().close()

    def stream(self) -> BinaryIO:
        """This reader as the binary stream the driver contract returns."""
        return cast(BinaryIO, self)

    def _read_first_piece(self, size: int) -> bytes:
        data = self._first.read(min(size, self._first_left))
        if not data:
            raise self._fail(f"the store's answer ended {self._first_left} bytes early")
        self._first_left -= len(data)
        if not self._first_left:
            # NOTE: the connection goes back to the SDK's pool while later pieces are read.
            self._release_first()
        return data

    def _release_first(self) -> None:
        if not self._first_released:
            self._first_released = True
            self._first.release()

    def _next_piece(self) -> bytes:
        future = self._ahead.popleft()
        self._fill()
        return future.result()

    def _fill(self) -> None:
        """Keep ``in_flight`` pieces fetched or being fetched ahead of the reader."""
        while self._waiting and len(self._ahead) < self._in_flight:
            offset, length = self._waiting.popleft()
            self._ahead.append(self._threads.submit(functools.partial(self._get, offset, length)))

    def _get(self, offset: int, length: int) -> bytes:
        body = self._fetch(offset, length)
        try:
            first = self._first
            if (body.version, body.object_size) != (first.version, first.object_size):
                raise self._fail(
                    "the object changed while it was read (version "
                    f"{first.version}, {first.object_size} bytes; then {body.version}, "
                    f"{body.object_size} bytes at byte {offset})"
                )
            data = body.read(None)
        finally:
            body.release()
        if len(data) != length:
            raise self._fail(f"the store sent {len(data)} bytes of {length} at byte {offset}")
        return data
