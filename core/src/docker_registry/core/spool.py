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

Files left by a crash are ``*.body`` files in the spool directory (the file driver removes
those untouched for a day when it starts).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
import threading
import uuid
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

#: Pieces at least this large are hashed on the helper thread (smaller: inline).
_HASH_OFFLOAD = 64 * 1024
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _hash_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(2, thread_name_prefix="body-hash")
        return _executor


class SpooledFile(io.FileIO):
    """A request body in a spool file: read it, or adopt :attr:`spool_path` into storage.

    :attr:`sha256` is the hash of the whole body (copy it before updating it).
    """

    spool_path: str
    body_size: int
    sha256: Any


class SpooledBytes(io.BytesIO):
    """A small request body, in memory; same attributes as :class:`SpooledFile`."""

    spool_path: str | None = None
    body_size: int
    sha256: Any


def spooled(stream: object) -> SpooledFile | SpooledBytes | None:
    """The spooled body behind a request stream, when it has not been read yet.

    Accepts ``wsgi.input`` or Falcon's ``req.stream`` / ``req.bounded_stream``.
    """
    inner = getattr(stream, "stream", stream)  # falcon's BoundedStream wraps wsgi.input
    if isinstance(inner, (SpooledFile, SpooledBytes)) and inner.tell() == 0:
        return inner
    return None


def spooled_file(stream: object) -> SpooledFile | None:
    """Like :func:`spooled`, for bodies large enough to have gone to a spool file."""
    body = spooled(stream)
    return body if isinstance(body, SpooledFile) else None


class BodySpool:
    """A waitress body buffer (``append``/``getfile``/``close``) that spools and hashes.

    :param directory: where large bodies go (``None``: the system's temporary directory).
    :param memory_limit: bodies up to this many bytes stay in memory.
    """

    def __init__(self, directory: str | None, memory_limit: int) -> None:
        self._directory = directory or tempfile.gettempdir()
        self._memory_limit = memory_limit
        self._memory: bytearray | None = bytearray()
        self._file: SpooledFile | None = None
        self._hash = hashlib.sha256()
        self._pending: Future[None] | None = None
        self._size = 0
        self._body: SpooledFile | SpooledBytes | None = None

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        """Take the next piece of the body (waitress's I/O thread calls this)."""
        self._size += len(data)
        self._update_hash(data)
        if self._memory is not None:
            self._memory += data
            if len(self._memory) <= self._memory_limit:
                return
            data, self._memory = bytes(self._memory), None
            self._file = self._create_file()
        assert self._file is not None
        try:
            view = memoryview(data)
            while view:
                view = view[self._file.write(view) :]
        except OSError as exc:
            log.error(
                "cannot spool a request body to %s: %s; the upload fails, free space there "
                "or point the storage elsewhere",
                self._file.spool_path,
                exc,
            )
            raise

    def _update_hash(self, data: bytes) -> None:
        # PERF: sha256 releases the GIL: large pieces hash on a helper thread while this
        # thread receives and writes the next one. One piece at a time keeps them in order.
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        if len(data) < _HASH_OFFLOAD:
            self._hash.update(data)
        else:
            self._pending = _hash_executor().submit(self._hash.update, data)

    def _create_file(self) -> SpooledFile:
        path = os.path.join(self._directory, f"{uuid.uuid4().hex}.body")
        try:
            spool = SpooledFile(path, "x+")
        except FileNotFoundError:
            os.makedirs(self._directory, exist_ok=True)
            spool = SpooledFile(path, "x+")
        spool.spool_path = path
        # NOTE: a connection dropped mid-body is never closed by waitress's request:
        # the file goes when the buffer is collected.
        weakref.finalize(self, _remove, path)
        return spool

    def getfile(self) -> SpooledFile | SpooledBytes:
        """The whole body, positioned at its start, with its size and sha256."""
        if self._body is None:
            if self._pending is not None:
                self._pending.result()
                self._pending = None
            body: SpooledFile | SpooledBytes
            if self._file is not None:
                body = self._file
                body.seek(0)
            else:
                body = SpooledBytes(bytes(self._memory or b""))
            body.body_size = self._size
            body.sha256 = self._hash
            self._body = body
        return self._body

    def close(self) -> None:
        """Release the body; its file is removed unless storage adopted it."""
        if self._pending is not None:
            with contextlib.suppress(Exception):
                self._pending.result()
            self._pending = None
        if self._file is not None:
            self._file.close()
            _remove(self._file.spool_path)
        self._memory = None


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
