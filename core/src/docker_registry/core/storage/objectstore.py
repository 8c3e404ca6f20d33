"""The base of drivers over flat key-value object stores (S3, GCS, Azure Blob, Swift...).

Such stores have no directories: a directory is any key below a prefix, and nothing stops
a key from sitting below another key. In the spirit of fsspec's ``AbstractFileSystem``,
:class:`ObjectStoreDriver` derives the whole :class:`~.driver.StorageDriver` contract
(key mapping, ``stat``, ``list``, ``walk``, batched ``delete``, ``move``, the refusal of a
file below a file, error context) from a few primitives a driver writes with its SDK::

    head_object(key)                  -> ObjectInfo | None
    list_objects(prefix, recursive)   -> ObjectInfo (an object) | str (a common prefix)...
    open_object(path, key, offset)    -> a stream (an offset past the end: empty)
    get_range(key, offset, length)    -> a RangedBody (optional: large reads in pieces)
    put_object(key, data)             one request, atomic
    put_file(key, local_path, size)   the same from a local file (optional: streamed)
    copy_object(source, key)          server-side
    delete_objects(keys)              missing keys are no error
    open_writer(path, append)         -> an ObjectWriter
    error(exc, operation, path)       -> the StorageError an operator can act on

and :class:`ObjectWriter` is the one writer state machine, over four primitives of a
multipart upload (``upload_part``, ``complete``, ``put_whole``, ``discard``).
"""

from __future__ import annotations

import abc
import concurrent.futures
import functools
import io
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, TypeVar, cast

from .driver import CHUNK_SIZE, Capability, FileInfo, FileWriter, StorageDriver
from .errors import InvalidOffsetError, InvalidPathError, PathNotFoundError, StorageError
from .paths import ROOT, validate_path
from .pieces import DEFAULT_IN_FLIGHT, PieceReader, PieceThreads, RangedBody
from .writecheck import WritableCheck

_Result = TypeVar("_Result")
log = logging.getLogger(__name__)

#: Parts of local files one driver sends at once (shared by all its writers).
PART_THREADS = 4

#: States of an :class:`ObjectWriter`: OPEN, then exactly one of the others, for good.
OPEN, COMMITTED, CANCELLED, BROKEN = "open", "committed", "cancelled", "broken"


@dataclass(frozen=True)
class ObjectInfo:
    """What the store says of one object.

    :param key: the object's full key (prefix included).
    :param size: bytes of content.
    :param mtime: last modification, seconds since the epoch (``None`` if unknown).
    :param native: the SDK's own metadata (an ETag, a generation, an SLO header...), for
        the driver's primitives that need more than the size.
    """

    key: str
    size: int
    mtime: float | None
    native: Any = None


class OfferedCapabilities:
    """``capabilities`` of an object-store driver class: a frozenset either way.

    Read on the class, every capability the driver can have (what the documentation and
    the tests of the class ask); read on an instance, those its configuration allows, as
    :meth:`ObjectStoreDriver.offers` decides (no signing key, no redirect).
    """

    def __init__(self, *names: str) -> None:
        self.names = frozenset(names)

    def __get__(self, driver: ObjectStoreDriver | None, owner: type[Any]) -> frozenset[str]:
        if driver is None:
            return self.names
        return frozenset(name for name in self.names if driver.offers(name))


class ObjectStoreDriver(StorageDriver):
    """A :class:`StorageDriver` derived from a handful of object-store primitives.

    A subclass calls ``super().__init__(prefix=..., part_size=...)``, sets ``name``,
    ``options`` and ``capabilities = OfferedCapabilities(...)``, and implements the
    abstract primitives. Paths come validated by the core's wrapper; keys are
    ``prefix + path`` without its leading slash (:meth:`key` guards the namespace). Every
    primitive runs inside
    :meth:`call`, so an SDK exception becomes the driver's :meth:`error` with the
    operation and path attached.
    """

    capabilities = OfferedCapabilities()
    #: The driver implements :meth:`get_range`: :meth:`range_reader` asks the store for
    #: the range only, and with :attr:`piece_size` set, in pieces (see :mod:`.pieces`).
    ranged_gets: ClassVar[bool] = False
    #: Bytes per ranged GET of a large range (0: one GET), and pieces fetched ahead of a
    #: reader (memory: their product); a driver sets them from its options.
    piece_size: int = 0
    pieces_in_flight: int = DEFAULT_IN_FLIGHT
    #: Keys handed to one :meth:`delete_objects` call (S3's maximum is 1,000).
    delete_batch: ClassVar[int] = 1000

    def __init__(self, *, prefix: str, part_size: int) -> None:
        #: the key prefix (``registry/``, or ``""`` for the whole bucket).
        self.prefix = prefix
        #: bytes per part of a multipart write; smaller contents are one request.
        self.part_size = part_size
        self._writable = WritableCheck(self.name)
        self._piece_threads = PieceThreads(self.name)
        self._part_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._part_pool_lock = threading.Lock()

    # -- primitives (one or two SDK calls each) ----------------------------------------

    @abc.abstractmethod
    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        """The typed error for ``exc`` (a missing key: :class:`PathNotFoundError`)."""

    @abc.abstractmethod
    def head_object(self, key: str) -> ObjectInfo | None:
        """The object at ``key``, or ``None`` when there is none."""

    @abc.abstractmethod
    def list_objects(
        self, prefix: str, *, recursive: bool, page_size: int | None = None
    ) -> Iterator[ObjectInfo | str]:
        """Every key starting with ``prefix``, lazily, page by page.

        With ``recursive=False`` the listing stops at the next ``/``: keys one level down
        come as :class:`ObjectInfo`, deeper ones as their common prefix (a ``str``
        ending in ``/``). ``page_size`` is a hint (1: only the first key is wanted).
        """

    @abc.abstractmethod
    def open_object(self, path: str, key: str, offset: int) -> BinaryIO:
        """A stream of the object from ``offset``; empty at or past its end.

        :raises: the SDK's not-found error (or :class:`PathNotFoundError`) when missing.
        """

    @abc.abstractmethod
    def put_object(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` in one atomic request."""

    @abc.abstractmethod
    def copy_object(self, source: ObjectInfo, key: str) -> None:
        """Copy ``source`` to ``key`` inside the store (any size)."""

    @abc.abstractmethod
    def delete_objects(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` (at most :attr:`delete_batch`); a missing key is no error."""

    @abc.abstractmethod
    def open_writer(self, path: str, append: bool) -> ObjectWriter:
        """The :class:`ObjectWriter` of this store for ``path``."""

    def signed_url(self, key: str, method: str) -> str:
        """A signed, expiring URL of ``key`` (only asked when REDIRECT is offered)."""
        raise NotImplementedError(f"{type(self).__name__} declares no redirects")

    def put_file(self, key: str, local_path: str, size: int) -> None:
        """Store the ``size`` bytes of the local file ``local_path`` at ``key`` in one
        atomic request. This default reads the file into :meth:`put_object`; a store
        whose SDK sends a stream overrides it with a :class:`FileSlice` (no copy held)."""
        with open(local_path, "rb") as source:
            self.put_object(key, source.read(size))

    # -- hooks with defaults -----------------------------------------------------------

    def offers(self, capability: str) -> bool:
        """Whether this instance's configuration allows ``capability`` (it is declared)."""
        return True

    def prepare(self, operation: str, path: str) -> None:
        """Run before every store call (a once-per-process bucket check, say)."""

    def reserved(self, key: str) -> bool:
        """Keys that are the driver's own (staging objects): never listed nor walked."""
        return False

    # -- keys --------------------------------------------------------------------------

    def key(self, path: str) -> str:
        """The object key of a file's storage path.

        :raises InvalidPathError: ``path`` is invalid or the driver's own. The wrapper
            validated it already; this is the driver's namespace guard when called
            directly (HTTP clients would resolve a ``.`` or ``..`` component).
        """
        validate_path(path)
        key = self.prefix + path.lstrip("/")
        if self.reserved(key + "/"):
            raise InvalidPathError(f"'{path}' is reserved for the driver's own objects", path=path)
        return key

    def dir_prefix(self, path: str) -> str:
        """The key prefix of everything below directory ``path``."""
        return self.prefix if path == ROOT else self.key(path) + "/"

    def path_of(self, key: str) -> str:
        """The storage path of a key (or of a common prefix)."""
        return "/" + key[len(self.prefix) :].rstrip("/")

    def _visible(self, key: str) -> bool:
        # NOTE: "folder" marker keys ending in '/' (made by consoles) are no file.
        return not key.endswith("/") and not self.reserved(key)

    # -- derived helpers ---------------------------------------------------------------

    def call(self, operation: str, path: str, call: Callable[[], _Result]) -> _Result:
        """Run one store call; any failure becomes a typed :class:`StorageError`."""
        self.prepare(operation, path)
        try:
            return call()
        except Exception as exc:
            raise self.error(exc, operation, path) from exc

    def head(self, path: str, operation: str) -> ObjectInfo | None:
        """The object at ``path``, or ``None``."""
        return self.call(operation, path, functools.partial(self.head_object, self.key(path)))

    def has_children(self, path: str, operation: str) -> bool:
        """Whether any key lies below ``path`` (it is a directory)."""
        listing = self.list_objects(self.dir_prefix(path), recursive=True, page_size=1)
        return self.call(operation, path, lambda: next(listing, None)) is not None

    def entries(self, path: str, operation: str, *, recursive: bool) -> Iterator[ObjectInfo | str]:
        """:meth:`list_objects` below directory ``path``, each page fetch translated."""
        listing = self.list_objects(self.dir_prefix(path), recursive=recursive)
        while (entry := self.call(operation, path, lambda: next(listing, None))) is not None:
            yield entry

    def check_writable(self, path: str, operation: str) -> None:
        """Refuse to write a file where a directory is, or below a file."""
        self._writable.check(path, operation, self.has_children, self.head)

    def removed(self, path: str) -> None:
        """Tell the write check that ``path`` is gone (a subclass overriding ``delete`` or
        ``move`` calls it): the folders above may be empty now."""
        self._writable.removed(path)

    def part_threads(self) -> concurrent.futures.ThreadPoolExecutor:
        """The threads sending parts of local files (see :meth:`ObjectWriter.send_together`)."""
        with self._part_pool_lock:
            if self._part_pool is None:
                self._part_pool = concurrent.futures.ThreadPoolExecutor(
                    PART_THREADS, thread_name_prefix=f"{self.name}-parts"
                )
            return self._part_pool

    # -- the contract ------------------------------------------------------------------

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return self._open(path, offset, "reader")

    def range_reader(self, path: str, offset: int, length: int) -> BinaryIO:
        if offset < 0:
            raise InvalidOffsetError(
                f"negative offset {offset}", driver=self.name, operation="reader", path=path
            )
        key = self.key(path)
        if not self.ranged_gets:
            return self.call(
                "reader", path, functools.partial(self.open_range, path, key, offset, length)
            )
        # NOTE: a zero-length range still asks for one byte: a missing object must raise.
        first_length = max(1, min(length, self.piece_size or length))
        first = self.call(
            "reader", path, functools.partial(self.get_range, key, offset, first_length)
        )
        if first is None:
            return empty_stream()
        first.read = functools.partial(self._typed_read, path, first.read)
        return PieceReader(
            first,
            offset,
            min(offset + length, first.object_size),
            fetch=functools.partial(self._fetch_piece, path, key),
            fail=functools.partial(self._piece_error, path),
            threads=self._piece_threads,
            piece_size=first_length,
            in_flight=self.pieces_in_flight,
        ).stream()

    def open_range(self, path: str, key: str, offset: int, length: int) -> BinaryIO:
        """A stream of at most ``length`` bytes of the object from ``offset``; a store
        that can ask for a byte range fetches no byte past it (the default streams from
        ``offset`` and the caller stops reading). Unused when :attr:`ranged_gets`."""
        return self.open_object(path, key, offset)

    def get_range(self, key: str, offset: int, length: int) -> RangedBody | None:
        """One GET of the bytes ``[offset, offset + length)`` of ``key`` (fewer at the
        object's end), its body not read yet; ``None`` when ``offset`` is at or past the
        end. A driver implementing it sets :attr:`ranged_gets`.

        :raises: the SDK's not-found error (or :class:`PathNotFoundError`) when missing.
        """
        raise NotImplementedError(f"{type(self).__name__} makes no ranged GETs")

    def _fetch_piece(self, path: str, key: str, offset: int, length: int) -> RangedBody:
        body = self.call("reader", path, functools.partial(self.get_range, key, offset, length))
        if body is None:
            raise self._piece_error(path, f"the object ended before byte {offset}")
        body.read = functools.partial(self._typed_read, path, body.read)
        return body

    def _typed_read(
        self, path: str, read: Callable[[int | None], bytes], size: int | None
    ) -> bytes:
        return bytes(self.call("read", path, functools.partial(read, size)))

    def _piece_error(self, path: str, detail: str) -> StorageError:
        return StorageError(
            f"{detail}; the download is cut (the client retries)",
            driver=self.name,
            operation="read",
            path=path,
        )

    def get_content(self, path: str) -> bytes:
        with self._open(path, 0, "get_content") as stream:
            return stream.read()

    def _open(self, path: str, offset: int, operation: str) -> BinaryIO:
        if offset < 0:
            raise InvalidOffsetError(
                f"negative offset {offset}", driver=self.name, operation=operation, path=path
            )
        return self.call(
            operation, path, functools.partial(self.open_object, path, self.key(path), offset)
        )

    def put_content(self, path: str, data: bytes) -> None:
        if len(data) >= self.part_size:
            super().put_content(path, data)
            return
        # PERF: below one part, a single PUT (atomic) needs no multipart round trips.
        self.check_writable(path, "put_content")
        self.call("put_content", path, functools.partial(self.put_object, self.key(path), data))

    def writer(self, path: str, append: bool = False) -> ObjectWriter:
        return self.open_writer(path, append)

    def adopt_file(self, local_path: str, path: str, *, durable: bool = True) -> None:
        """Upload the local file ``local_path`` (a spooled request body) to ``path``.

        PERF: the bytes go from the file itself: below :attr:`part_size` in one request
        (:meth:`put_file`), above it in parts (:meth:`ObjectWriter.write_file`); no part
        is held in memory where the SDK streams, and a store that takes numbered parts
        receives several at once.
        """
        size = os.path.getsize(local_path)
        if size < self.part_size:
            self.check_writable(path, "adopt_file")
            self.call(
                "adopt_file",
                path,
                functools.partial(self.put_file, self.key(path), local_path, size),
            )
            return
        writer = self.writer(path)
        with writer:
            writer.write_file(local_path, last=True)
            writer.commit()

    def concatenate(self, sources: Sequence[str], destination: str) -> None:
        """Join ``sources`` into one object at ``destination``.

        PERF: where the writer can copy parts inside the store (S3's
        ``upload_part_copy``, Swift's ``COPY`` into segments), a source big enough to be
        a part never leaves the store: an upload's chunks become the blob by copies made
        together and assembled server-side. Smaller sources (and every source on other
        stores) are streamed.
        """
        infos = [self.head(source, "concatenate") for source in sources]
        for source, info in zip(sources, infos, strict=True):
            if info is None:
                raise PathNotFoundError(driver=self.name, operation="concatenate", path=source)
        found = [(source, info) for source, info in zip(sources, infos, strict=True) if info]
        writer = self.writer(destination)
        with writer:
            writer.append_objects(found)
            writer.commit()

    def stat(self, path: str) -> FileInfo:
        if path == ROOT:
            return FileInfo(path=ROOT, size=0, mtime=None, is_dir=True)
        info = self.head(path, "stat")
        if info is not None:
            return FileInfo(path=path, size=info.size, mtime=info.mtime, is_dir=False)
        if self.has_children(path, "stat"):
            return FileInfo(path=path, size=0, mtime=None, is_dir=True)
        raise PathNotFoundError(driver=self.name, operation="stat", path=path)

    def file_info(self, path: str) -> FileInfo | None:
        # PERF: one HEAD; whether a directory is there needs the LIST that stat adds.
        info = self.head(path, "stat")
        return None if info is None else FileInfo(path, info.size, info.mtime, False)

    def list(self, path: str) -> list[str]:
        children: set[str] = set()
        for entry in self.entries(path, "list", recursive=False):
            if isinstance(entry, str):
                if not self.reserved(entry):
                    children.add(self.path_of(entry))
            elif self._visible(entry.key):
                children.add(self.path_of(entry.key))
        if not children and path != ROOT:
            raise PathNotFoundError(driver=self.name, operation="list", path=path)
        return sorted(children)

    def walk(self, path: str) -> Iterator[FileInfo]:
        found = False
        for entry in self.entries(path, "walk", recursive=True):
            if isinstance(entry, ObjectInfo) and self._visible(entry.key):
                found = True
                yield FileInfo(self.path_of(entry.key), entry.size, entry.mtime, False)
        if not found and path != ROOT:
            raise PathNotFoundError(driver=self.name, operation="walk", path=path)

    def move(self, source: str, destination: str) -> None:
        info = self.head(source, "move")
        if info is None:
            raise PathNotFoundError(driver=self.name, operation="move", path=source)
        self.check_writable(destination, "move")
        self.call("move", source, functools.partial(self.copy_object, info, self.key(destination)))
        try:
            self.call("move", source, functools.partial(self.delete_moved, info))
        finally:
            self.removed(source)

    def delete_moved(self, source: ObjectInfo) -> None:
        """Delete the source of a finished :meth:`move` (by default like any object; a
        store whose copy shares parts with the source keeps those)."""
        self.delete_objects([source.key])

    def delete(self, path: str) -> None:
        try:
            self._delete_objects_at(path)
        finally:
            self.removed(path)

    def _delete_objects_at(self, path: str) -> None:
        batch: list[str] = []
        if self.head(path, "delete") is not None:
            batch.append(self.key(path))
        found = bool(batch)
        for entry in self.entries(path, "delete", recursive=True):
            if isinstance(entry, ObjectInfo):
                found = True
                batch.append(entry.key)
            if len(batch) >= self.delete_batch:
                self.call("delete", path, functools.partial(self.delete_objects, batch))
                batch = []
        if batch:
            self.call("delete", path, functools.partial(self.delete_objects, batch))
        if not found:
            raise PathNotFoundError(driver=self.name, operation="delete", path=path)

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A signed URL of ``path``, or ``None`` when this configuration cannot sign.

        :raises PathNotFoundError: no file at ``path`` (a URL to a 404 helps no client).
        """
        if Capability.REDIRECT not in self.capabilities:
            return None
        if self.head(path, "redirect_url") is None:
            raise PathNotFoundError(driver=self.name, operation="redirect_url", path=path)
        return self.redirect_url_of_file(path, method)

    def redirect_url_of_file(self, path: str, method: str = "GET") -> str | None:
        # PERF: signing is local: no request to the store (the caller knows the file).
        if Capability.REDIRECT not in self.capabilities:
            return None
        return self.call(
            "redirect_url", path, functools.partial(self.signed_url, self.key(path), method)
        )

    def close(self) -> None:
        self._writable.close()
        self._piece_threads.close()
        if self._part_pool is not None:
            self._part_pool.shutdown(wait=False)


class ObjectReader(io.RawIOBase):
    """A readable raw stream over an object's body; subclasses implement :meth:`read`."""

    def readable(self) -> bool:
        return True

    @abc.abstractmethod
    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when negative or ``None``); ``b""`` at the end."""

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class BodyReader(ObjectReader):
    """A response body (``read(n)``, ``read(None)`` for the rest) with typed read errors.

    :param release: called once on close (the body's own ``close``, a pooled connection's
        return...).
    """

    def __init__(
        self,
        driver: ObjectStoreDriver,
        path: str,
        read: Callable[[int | None], bytes],
        release: Callable[[], object] | None = None,
    ) -> None:
        self._driver = driver
        self._path = path
        self._read = read
        self._release = release

    def read(self, size: int | None = -1) -> bytes:
        amount = None if size is None or size < 0 else size
        return bytes(self._driver.call("read", self._path, lambda: self._read(amount)))

    def close(self) -> None:
        if not self.closed and self._release is not None:
            self._release()
        super().close()

    def stream(self) -> BinaryIO:
        """This reader as the binary stream the contract returns."""
        return cast(BinaryIO, self)


class FileSlice(ObjectReader):
    """``length`` bytes of a local file from ``offset``, as a seekable stream of its own
    (an SDK reads it to sign and to send a part, with no buffer of the whole part).

    Each slice opens the file itself: slices of one file are read by several threads.
    """

    def __init__(self, local_path: str, offset: int, length: int) -> None:
        self._file = open(local_path, "rb")  # noqa: SIM115 - closed with the slice
        self._start = offset
        self._length = length
        self._position = 0

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = min(max(base + offset, 0), self._length)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._length - self._position
        amount = remaining if size is None or size < 0 else min(size, remaining)
        data = os.pread(self._file.fileno(), amount, self._start + self._position)
        self._position += len(data)
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


def empty_stream() -> BinaryIO:
    """The stream of a read that starts at or past the end of an existing object."""
    return io.BytesIO(b"")


class ObjectWriter(FileWriter):
    """The one writer state machine of object-store drivers.

    ::

        OPEN ──write()──> buffer ──(a full part)──> upload_part(part)
          │ commit(): no part sent ──> put_whole(buffer)   (one atomic request)
          │           otherwise ─────> complete(rest)      (the last part, then publish)
          ├──> COMMITTED
          ├──> CANCELLED  cancel() / close(): discard()
          └──> BROKEN     a failed write or commit: discard(); only cancel/close remain

    Nothing is visible at the path before ``put_whole`` or ``complete`` returns. A
    subclass implements the four primitives with its SDK (each runs inside the driver's
    :meth:`~ObjectStoreDriver.call`) and :attr:`multipart`; an append starts from the
    current object in its constructor (by copying parts server-side where it can). A
    store that can make a part of another object sets :attr:`copy_part_min` and
    implements :meth:`copy_parts` (see :meth:`append_objects`).
    """

    #: The smallest object :meth:`copy_part` may take as a part that is not the last
    #: (S3: 5 MiB); ``None``: the store copies no parts, every byte is streamed.
    copy_part_min: ClassVar[int | None] = None
    #: Whether :meth:`upload_part` may take the short last part, ``complete(b"")``
    #: following (S3); ``False``: the rest always goes to :meth:`complete` (GCS wants
    #: every other chunk a multiple of 256 KiB).
    short_last_part: ClassVar[bool] = False

    def __init__(self, driver: ObjectStoreDriver, path: str) -> None:
        self._driver = driver
        self._path = path
        self._key = driver.key(path)
        self._part_size = driver.part_size
        self._buffer = bytearray()
        self._size = 0
        self._state = OPEN
        #: the last discard failed: what the store holds uncommitted may remain.
        self._leftovers = False
        #: a short last part was sent: nothing may follow it but the commit.
        self._sealed = False

    # -- primitives ----------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def multipart(self) -> bool:
        """Whether parts exist (sent, copied or adopted), so commit must ``complete``."""

    @abc.abstractmethod
    def upload_part(self, part: bytes) -> None:
        """Hand the store one full part (starting the multipart upload if needed)."""

    @abc.abstractmethod
    def complete(self, rest: bytes) -> None:
        """Send ``rest`` (possibly empty) as the last part and publish the object."""

    @abc.abstractmethod
    def put_whole(self, data: bytes) -> None:
        """Publish ``data`` as the whole object in one request (no part was sent)."""

    @abc.abstractmethod
    def discard(self) -> None:
        """Drop what the store holds uncommitted; calling it again is harmless."""

    def copy_parts(self, sources: Sequence[ObjectInfo]) -> None:
        """Make the whole of each of ``sources`` the next part(s), in order, inside the
        store (only called when :attr:`copy_part_min` is set and no byte is buffered;
        several copies may run at once, see :meth:`send_together`)."""
        raise NotImplementedError(f"{type(self).__name__} copies no parts")

    def upload_file_parts(self, local_path: str, slices: Sequence[tuple[int, int]]) -> None:
        """Send each ``(offset, length)`` slice of the local file as the next part, in
        order. This default reads one slice at a time into :meth:`upload_part`; a store
        that numbers its parts sends several at once from :class:`FileSlice` streams
        (:meth:`send_together`)."""
        with open(local_path, "rb") as source:
            for offset, length in slices:
                source.seek(offset)
                self.upload_part(source.read(length))

    def send_together(self, sends: Sequence[Callable[[], _Result]]) -> list[_Result]:
        """Run ``sends`` on the driver's part threads; their results, in order.

        PERF: parts read from a file need no memory of their own, so several are in
        flight at once (bounded by :func:`part_threads`, shared by all requests). On a
        failure, sends not yet started are dropped, and the first failure is raised
        once every started one has ended (the caller then discards the upload).
        """
        pool = self._driver.part_threads()
        running = [pool.submit(send) for send in sends]
        concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_EXCEPTION)
        for future in running:
            future.cancel()
        concurrent.futures.wait(running)
        for future in running:
            if not future.cancelled() and (failure := future.exception()) is not None:
                raise failure
        return [future.result() for future in running]

    # -- the template --------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:
        self._check_open("write")
        if self._sealed and data:
            raise StorageError(
                "the writer's last part was sent: only commit or cancel remain",
                driver=self._driver.name,
                operation="write",
                path=self._path,
            )
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= self._part_size:
            # NOTE: a full part leaves the buffer before it is sent: at most one part
            # plus the last write is ever held in memory.
            part = bytes(memoryview(self._buffer)[: self._part_size])
            del self._buffer[: self._part_size]
            self._step("write", functools.partial(self.upload_part, part))
        return len(data)

    def write_file(self, local_path: str, *, last: bool = False) -> None:
        """Append the content of the local file ``local_path``.

        With nothing buffered, every full part is sent from the file itself
        (:meth:`upload_file_parts`) and so, with ``last`` (nothing is written after it)
        on a store that takes a :attr:`short_last_part`, is the rest: no byte of it is
        buffered. Otherwise the rest goes through :meth:`write`.
        """
        self._check_open("write")
        size = os.path.getsize(local_path)
        sent = 0
        if not self._buffer and size >= self._part_size:
            slices = [(offset, self._part_size) for offset in range(0, size, self._part_size)]
            if slices[-1][0] + self._part_size > size:
                tail = slices.pop()[0]
                if last and self.short_last_part:
                    slices.append((tail, size - tail))
            self._step("write", functools.partial(self.upload_file_parts, local_path, slices))
            sent = slices[-1][0] + slices[-1][1]
            self._size += sent
            self._sealed = last and self.short_last_part
        if sent < size:
            with open(local_path, "rb") as source:
                source.seek(sent)
                while chunk := source.read(CHUNK_SIZE):
                    self.write(chunk)

    def append_objects(self, objects: Sequence[tuple[str, ObjectInfo]]) -> None:
        """Append ``objects`` (storage path and object of the same store), in order.

        The leading objects that can be parts of their own (nothing buffered, each big
        enough to be followed by other parts, or the last) are copied inside the store,
        together (:meth:`copy_parts`); from the first that cannot, every object is
        streamed through :meth:`write` (its bytes land in the buffer). Both give the
        same bytes.
        """
        self._check_open("concatenate")
        objects = [(path, info) for path, info in objects if info.size]
        minimum = self.copy_part_min
        copied: list[ObjectInfo] = []
        if minimum is not None and not self._buffer:
            for index, (_, info) in enumerate(objects):
                if info.size < minimum and index != len(objects) - 1:
                    break
                copied.append(info)
        if copied:
            self._step("concatenate", functools.partial(self.copy_parts, copied))
            self._size += sum(info.size for info in copied)
        for path, _ in objects[len(copied) :]:
            with self._driver.reader(path) as stream:
                while chunk := stream.read(CHUNK_SIZE):
                    self.write(chunk)

    def commit(self) -> None:
        self._check_open("commit")
        rest = bytes(self._buffer)

        def publish() -> None:
            self._driver.check_writable(self._path, "commit")
            if self.multipart:
                self.complete(rest)
            else:
                self.put_whole(rest)

        self._step("commit", publish)
        self._buffer = bytearray()
        self._state = COMMITTED

    def cancel(self) -> None:
        if self._state == OPEN:
            self._finish(CANCELLED)

    def close(self) -> None:
        if self._state == OPEN:
            self.cancel()
        elif self._leftovers:
            # NOTE: the earlier discard found the store unreachable: once more.
            self._discard_quietly()

    def _step(self, operation: str, step: Callable[[], object]) -> None:
        """Run one store step; a failure leaves the writer BROKEN (the data is gone)."""
        try:
            self._driver.call(operation, self._path, step)
        except BaseException:
            self._finish(BROKEN)
            raise

    def _check_open(self, operation: str) -> None:
        if self._state != OPEN:
            raise StorageError(
                f"the writer is {self._state}",
                driver=self._driver.name,
                operation=operation,
                path=self._path,
            )

    def _finish(self, state: str) -> None:
        self._state = state
        self._buffer = bytearray()
        self._discard_quietly()

    def _discard_quietly(self) -> None:
        # NOTE: best effort: lifecycle rules (or the store's own expiry) reap leftovers.
        try:
            self.discard()
            self._leftovers = False
        except Exception:
            self._leftovers = True
            log.warning(
                "%s: could not discard the uncommitted parts of %s",
                self._driver.name,
                self._path,
                exc_info=True,
            )
