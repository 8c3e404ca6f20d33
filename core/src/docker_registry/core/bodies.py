"""Request bodies as services see them: a size, a sha256 when known, and a way into storage.

The server may have received a body into a spool file (:mod:`.spool`, hashed as it
arrived), into memory, or not at all yet (another WSGI server streams it). Resources
build one :class:`RequestBody` with :func:`request_body`; services call it and never ask
which kind it is. Each kind stores itself the cheapest way: a spool file is adopted by
storage (a rename on the file driver), the others are copied through a
:class:`~.streams.HashingCopier` while hashed.

A body is staged (:meth:`RequestBody.stage`) at a storage path, checked, then committed
or dropped::

    with body.stage(storage, path, hasher) as staged:
        if staged.size != declared:
            raise ...                   # nothing becomes visible
        staged.hashed()                 # every byte went through hasher
        staged.commit()
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, BinaryIO, Protocol

from .spool import BodyTap, SpooledBytes, SpooledFile, spooled
from .storage import CHUNK_SIZE, FileWriter, Storage
from .streams import HashingCopier


class Hasher(Protocol):
    """What a body feeds while it is stored: ``hashlib`` objects, v1's payload hasher."""

    def update(self, data: bytes, /) -> object: ...


class Joinable(Protocol):
    """A local file a body can be appended to (v2's chunk assembly)."""

    def append_file(self, source: BinaryIO, length: int) -> None: ...

    def append_bytes(self, data: bytes) -> None: ...


class StagedBody(Protocol):
    """A body written at a storage path, not yet visible there. Leaving the ``with``
    block without :meth:`commit` drops it."""

    #: Bytes the body held.
    size: int

    def hashed(self) -> None:
        """Wait until the hasher given to :meth:`RequestBody.stage` has seen every byte."""

    def commit(self) -> None:
        """Make the body visible at its path (a durable write unless staged otherwise)."""

    def __enter__(self) -> StagedBody: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class RequestBody(Protocol):
    """A request body, read at most once."""

    @property
    def size(self) -> int | None:
        """Bytes in the body, when known before storing it."""

    @property
    def zero_copy(self) -> bool:
        """True when storage takes the body over without copying its bytes."""

    @property
    def received(self) -> bool:
        """True when the whole body arrived before the service ran: it can still be
        joined (:meth:`join`) after it was staged."""

    @property
    def tap(self) -> BodyTap | None:
        """The tap that saw the body as it arrived (see :class:`~.spool.BodyTap`)."""

    def sha256(self) -> Any | None:
        """A copy of the sha256 of the body when it was hashed on arrival (continued from
        the tap's seed when the request had a tap), else ``None``."""

    def stage(
        self, storage: Storage, path: str, hasher: Hasher | None = None, *, durable: bool = True
    ) -> StagedBody:
        """Write the body at ``path`` without making it visible, feeding ``hasher``.

        :param durable: ``False`` for data made durable later with what it becomes.
        """

    def copy_into(self, write: Callable[[bytes], object] | None, hasher: Hasher | None) -> int:
        """Read the body into ``write`` (``None``: nowhere) and ``hasher``; return its
        size. For bodies that go somewhere :meth:`stage` does not: after other bytes in
        one writer, or only through a hash."""

    def join(self, assembly: Joinable) -> None:
        """Append the body to ``assembly`` (a :attr:`received` body, also once staged).

        :raises ValueError: the body was streamed and is gone.
        """


def request_body(stream: Any, read: Callable[[int], bytes] | None = None) -> RequestBody:
    """The body behind a request stream (``req.stream``, ``req.bounded_stream`` or
    ``wsgi.input``), before anything read it.

    :param read: how to read a body that was not spooled (default ``stream.read``: a
        resource may wrap it to turn a client gone mid-body into its API's error).
    """
    body = spooled(stream)
    if isinstance(body, SpooledFile):
        return SpooledFileBody(body)
    if isinstance(body, SpooledBytes):
        return MemoryBody(body)
    return StreamedBody(read or stream.read)


# -- kinds ----------------------------------------------------------------------------------

#: The copier every body shares (its helper threads hash while the request thread writes).
COPIER = HashingCopier()
_HASHING: ThreadPoolExecutor | None = None


def _hashing_pool() -> ThreadPoolExecutor:
    global _HASHING
    if _HASHING is None:
        _HASHING = ThreadPoolExecutor(4, thread_name_prefix="body-hash")
    return _HASHING


class SpooledFileBody:
    """A body the server received into a spool file storage can adopt."""

    zero_copy = True
    received = True

    def __init__(self, file: SpooledFile) -> None:
        self._file = file

    @property
    def size(self) -> int:
        return self._file.body_size

    @property
    def tap(self) -> BodyTap | None:
        return self._file.tap

    def sha256(self) -> Any:
        return self._file.sha256.copy()

    def stage(
        self, storage: Storage, path: str, hasher: Hasher | None = None, *, durable: bool = True
    ) -> StagedBody:
        # PERF: the hasher reads the file on a helper thread while storage takes it over
        # (a rename here, an upload on object storage).
        hashing = _hashing_pool().submit(_hash_stream, self._file, hasher) if hasher else None
        source = self._file.spool_path
        return _Adopted(
            self.size, hashing, lambda: storage.adopt_file(source, path, durable=durable)
        )

    def copy_into(self, write: Callable[[bytes], object] | None, hasher: Hasher | None) -> int:
        return COPIER.copy(self._file.read, write or _nowhere, _update_of(hasher))

    def join(self, assembly: Joinable) -> None:
        assembly.append_file(self._file, self.size)


class MemoryBody:
    """A small body the server received into memory (hashed on arrival too)."""

    zero_copy = False
    received = True

    def __init__(self, data: SpooledBytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return self._data.body_size

    @property
    def tap(self) -> BodyTap | None:
        return self._data.tap

    def sha256(self) -> Any:
        return self._data.sha256.copy()

    def stage(
        self, storage: Storage, path: str, hasher: Hasher | None = None, *, durable: bool = True
    ) -> StagedBody:
        return _Written.copy(storage, path, self._data.read, hasher)

    def copy_into(self, write: Callable[[bytes], object] | None, hasher: Hasher | None) -> int:
        return COPIER.copy(self._data.read, write or _nowhere, _update_of(hasher))

    def join(self, assembly: Joinable) -> None:
        assembly.append_bytes(self._data.getvalue())


class StreamedBody:
    """A body still on its way from the client: read once, while stored."""

    zero_copy = False
    received = False
    size = None
    tap = None

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read

    def sha256(self) -> None:
        return None

    def stage(
        self, storage: Storage, path: str, hasher: Hasher | None = None, *, durable: bool = True
    ) -> StagedBody:
        return _Written.copy(storage, path, self._read, hasher)

    def copy_into(self, write: Callable[[bytes], object] | None, hasher: Hasher | None) -> int:
        return COPIER.copy(self._read, write or _nowhere, _update_of(hasher))

    def join(self, assembly: Joinable) -> None:
        raise ValueError("a streamed body is read once: it cannot be joined after staging")


# -- staged bodies ----------------------------------------------------------------------------


class _Adopted:
    """A spool file storage will adopt on commit."""

    def __init__(self, size: int, hashing: Future[int] | None, adopt: Callable[[], None]) -> None:
        self.size = size
        self._hashing = hashing
        self._adopt = adopt

    def hashed(self) -> None:
        if self._hashing is not None:
            self._hashing.result()

    def commit(self) -> None:
        self._adopt()

    def __enter__(self) -> _Adopted:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        # NOTE: an uncommitted spool file is removed with its request (see .spool).
        if self._hashing is not None:
            self._hashing.exception()


class _Written:
    """A body copied into a storage writer, committed on :meth:`commit`."""

    def __init__(self, writer: FileWriter, size: int) -> None:
        self._writer = writer
        self.size = size

    @classmethod
    def copy(
        cls, storage: Storage, path: str, read: Callable[[int], bytes], hasher: Hasher | None
    ) -> _Written:
        writer = storage.writer(path)
        try:
            size = COPIER.copy(read, writer.write, _update_of(hasher))
        except BaseException:
            writer.close()
            raise
        return cls(writer, size)

    def hashed(self) -> None:
        """Hashed while copied."""

    def commit(self) -> None:
        self._writer.commit()

    def __enter__(self) -> _Written:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self._writer.close()


def _nowhere(data: bytes) -> None:
    """A body read only for its hash."""


def _update_of(hasher: Hasher | None) -> Callable[[bytes], object] | None:
    return hasher.update if hasher is not None else None


def _hash_stream(stream: Any, hasher: Hasher) -> int:
    total = 0
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
        total += len(chunk)
    return total
