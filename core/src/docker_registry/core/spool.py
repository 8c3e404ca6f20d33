"""Request bodies received straight into a file that storage can adopt, hashed on arrival.

Waitress reads a whole request body before it calls the application; by default it
buffers a large body in an anonymous temporary file, and the registry then copied that
file into storage, so every upload was written (and read) twice. The server instead
gives waitress a :class:`BodySpool` per request: small bodies stay in memory, large
ones go to a named file in the storage's :attr:`~.StorageDriver.spool_directory` while
a helper thread computes their sha256. The application finds the result behind the
request stream with :func:`spooled` and hands the file to
:meth:`~.Storage.adopt_file` (a rename on the file driver): the bytes are written once,
and the digest is known when the handler starts.

A body that cannot be written (a full disk, a used-up quota, any ``OSError``) must not
reach waitress, which would drop the connection with no answer: the spool removes its
file, keeps the error, and takes the rest of the body without storing it (still counting
it, so the request stays framed). The application then answers with that error (``507``
for a full disk, see :mod:`.unreceived`), and reading such a body raises it too.

Files left by a crash are ``*.body`` files in the spool directory; :mod:`.spool_sweep`
removes those untouched for ``spool_sweep_age`` at start-up and then periodically. It
never removes a file this process is still receiving (:func:`receiving_paths`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from .storage.errors import StorageError, StorageFullError

log = logging.getLogger(__name__)

#: Pieces at least this large are hashed on the helper thread (smaller: inline).
_HASH_OFFLOAD = 64 * 1024
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
#: The disk, or the user's quota on it, has no room left.
_NO_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
#: Spool files of this process that still belong to a live request.
_receiving: set[str] = set()
_receiving_lock = threading.Lock()


def receiving_paths() -> frozenset[str]:
    """The spool files this process has open for a request (never to be swept)."""
    with _receiving_lock:
        return frozenset(_receiving)


def _hash_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(2, thread_name_prefix="body-hash")
        return _executor


class BodyTap(Protocol):
    """Something the application set up for a request it recognised by method and path,
    before the body arrives (an upload's chunk: see :mod:`.v2.uploads`).

    :attr:`seed` is a hash object to continue with the body's bytes instead of a fresh
    sha256 (``None``: a fresh one); :meth:`received` sees every piece as it arrives (on
    waitress's I/O thread: it must not block or raise); :meth:`abandon` runs when the
    request ends, whether or not the application used the tap.
    """

    seed: Any

    def received(self, data: bytes) -> None: ...

    def abandon(self) -> None: ...


#: Finds the tap for a request (``method``, ``path``), or ``None``.
TapFinder = Callable[[str, str], "BodyTap | None"]
#: ``refuses(method, path, headers) -> bool``: True when the request would be refused
#: whatever its body (see :meth:`~.access.control.AccessControl.refuses_early`).
BodyGate = Callable[[str, str, Mapping[str, str]], bool]


class SpooledFile(io.FileIO):
    """A request body in a spool file: read it, or adopt :attr:`spool_path` into storage.

    :attr:`sha256` is the hash of the whole body (copy it before updating it), continued
    from :attr:`tap`'s seed when the request has a tap.
    """

    spool_path: str
    body_size: int
    sha256: Any
    tap: BodyTap | None = None


class SpooledBytes(io.BytesIO):
    """A small request body, in memory; same attributes as :class:`SpooledFile`."""

    spool_path: str | None = None
    body_size: int
    sha256: Any
    tap: BodyTap | None = None


class UnreceivedBody(io.RawIOBase):
    """The stand-in for a body the spool could not store: reading it raises :attr:`error`.

    :attr:`body_size` counts every byte the client sent (all of them were discarded).
    """

    def __init__(self, error: StorageError, body_size: int) -> None:
        super().__init__()
        self.error = error
        self.body_size = body_size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise self.error


class RefusedBody(io.RawIOBase):
    """The stand-in for a body refused before it was stored (the request was not
    authorized, :meth:`BodySpool.refuse`): it reads as an error, never as empty.

    :attr:`body_size` counts every byte the client sent (all of them were discarded).
    """

    def __init__(self, body_size: int) -> None:
        super().__init__()
        self.body_size = body_size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise PermissionError("the request body was refused before authorization")


def body_refused(stream: object) -> bool:
    """True when the body behind a request stream was refused unread (not authorized).

    Accepts ``wsgi.input`` or Falcon's ``req.stream`` / ``req.bounded_stream``.
    """
    return isinstance(getattr(stream, "stream", stream), RefusedBody)


def unreceived_error(stream: object) -> StorageError | None:
    """Why the body behind a request stream could not be received, or ``None``.

    Accepts ``wsgi.input`` or Falcon's ``req.stream`` / ``req.bounded_stream``.
    """
    inner = getattr(stream, "stream", stream)
    return inner.error if isinstance(inner, UnreceivedBody) else None


def spooled(stream: object) -> SpooledFile | SpooledBytes | None:
    """The spooled body behind a request stream, when it has not been read yet.

    Accepts ``wsgi.input`` or Falcon's ``req.stream`` / ``req.bounded_stream``.
    """
    inner = getattr(stream, "stream", stream)  # falcon's BoundedStream wraps wsgi.input
    if isinstance(inner, (SpooledFile, SpooledBytes)) and inner.tell() == 0:
        return inner
    return None


class BodySpool:
    """A waitress body buffer (``append``/``getfile``/``close``) that spools and hashes.

    :param directory: where large bodies go (``None``: the system's temporary directory).
    :param memory_limit: bodies up to this many bytes stay in memory.
    :param tap: what the application set up for this request, if anything.
    """

    def __init__(
        self, directory: str | None, memory_limit: int, tap: BodyTap | None = None
    ) -> None:
        self._directory = directory or tempfile.gettempdir()
        self._memory_limit = memory_limit
        self._memory: bytearray | None = bytearray()
        self._file: SpooledFile | None = None
        self._tap = tap
        self._hash = tap.seed if tap is not None and tap.seed is not None else hashlib.sha256()
        if tap is not None:
            # NOTE: a connection dropped mid-body never reaches close().
            weakref.finalize(self, tap.abandon)
        self._pending: Future[None] | None = None
        self._size = 0
        self._body: SpooledFile | SpooledBytes | UnreceivedBody | RefusedBody | None = None
        #: Why the body could not be stored (the rest of it is then discarded).
        self.error: StorageError | None = None
        #: The request is not authorized: the body is counted, never stored.
        self.refused = False

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        """Take the next piece of the body (waitress's I/O thread calls this).

        Never raises for a failed write: waitress would drop the connection without an
        answer. The failure is kept in :attr:`error` for the application to answer.
        """
        # NOTE: counted even when discarded: waitress sets a chunked body's
        # CONTENT_LENGTH from len(self).
        self._size += len(data)
        if self.error is not None or self.refused:
            return
        self._update_hash(data)
        if self._tap is not None:
            self._tap.received(data)
        if self._memory is not None:
            self._memory += data
            if len(self._memory) <= self._memory_limit:
                return
            data, self._memory = bytes(self._memory), None
            try:
                self._file = self._create_file()
            except OSError as exc:
                self._fail(exc, self._directory)
                return
        assert self._file is not None
        try:
            view = memoryview(data)
            while view:
                view = view[self._file.write(view) :]
        except OSError as exc:
            self._fail(exc, self._file.spool_path)

    def _fail(self, exc: OSError, path: str) -> None:
        """Give up storing this body: remove its file, keep the error for the answer."""
        reason = f"{exc.strerror or exc} [{errno.errorcode.get(exc.errno or 0, '?')}]"
        if exc.errno in _NO_SPACE:
            self.error = StorageFullError(
                f"cannot receive the request body into {path}: {reason}; the spool "
                f"directory {self._directory} is on a full filesystem (or quota): free "
                "space there or grow it"
            )
        else:
            self.error = StorageError(
                f"cannot receive the request body into {path}: {reason}; check the spool "
                f"directory {self._directory} (permissions, mount, free space)"
            )
        # NOTE: debug only: the answer's error log line says the same with the request id.
        log.debug("%s; discarding the rest of the body", self.error)
        self._wait_for_hash()
        self._memory = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            _remove(self._file.spool_path)
            self._file = None

    def refuse(self) -> None:
        """Store nothing of this body: the request will be answered 401/403 (called
        before the first byte arrives, see :mod:`.transport`)."""
        self.refused = True
        self._memory = None

    def _update_hash(self, data: bytes) -> None:
        # PERF: sha256 releases the GIL: large pieces hash on a helper thread while this
        # thread receives and writes the next one. One piece at a time keeps them in order.
        self._wait_for_hash()
        if len(data) < _HASH_OFFLOAD:
            self._hash.update(data)
        else:
            self._pending = _hash_executor().submit(self._hash.update, data)

    def _wait_for_hash(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _create_file(self) -> SpooledFile:
        path = os.path.join(self._directory, f"{uuid.uuid4().hex}.body")
        try:
            spool = SpooledFile(path, "x+")
        except FileNotFoundError:
            os.makedirs(self._directory, exist_ok=True)
            spool = SpooledFile(path, "x+")
        spool.spool_path = path
        with _receiving_lock:
            _receiving.add(path)
        # NOTE: a connection dropped mid-body is never closed by waitress's request:
        # the file goes when the buffer is collected.
        weakref.finalize(self, _remove, path)
        return spool

    def getfile(self) -> SpooledFile | SpooledBytes | UnreceivedBody | RefusedBody:
        """The whole body, positioned at its start, with its size and sha256 (or, when it
        could not be stored, an :class:`UnreceivedBody` that raises :attr:`error`; when
        refused, a :class:`RefusedBody`)."""
        if self.refused:
            if self._body is None:
                self._body = RefusedBody(self._size)
            return self._body
        if self.error is not None:
            if self._body is None:
                self._body = UnreceivedBody(self.error, self._size)
            return self._body
        if self._body is None:
            self._wait_for_hash()
            body: SpooledFile | SpooledBytes
            if self._file is not None:
                body = self._file
                body.seek(0)
            else:
                body = SpooledBytes(bytes(self._memory or b""))
            body.body_size = self._size
            body.sha256 = self._hash
            body.tap = self._tap
            self._body = body
        return self._body

    def close(self) -> None:
        """Release the body; its file is removed unless storage adopted it."""
        if self._tap is not None:
            self._tap.abandon()
        if self._pending is not None:
            with contextlib.suppress(Exception):
                self._pending.result()
            self._pending = None
        if self._file is not None:
            self._file.close()
            _remove(self._file.spool_path)
        self._memory = None


def _remove(path: str) -> None:
    with _receiving_lock:
        _receiving.discard(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
