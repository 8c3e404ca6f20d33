"""UploadStore: resumable blob uploads whose whole state lives in storage or the URL.

Starting a session writes nothing: its id travels with a signed state token
(``?_state=<started>.<mac>``, HMAC-SHA256 with the upload secret shared by all processes),
as the Go registry does. Data lands in ``_uploads/<uuid>/chunks/<start>-<end>``, one file
per accepted PATCH; the offset is the end of the last chunk. A chunk appears only when
its writer commits, so a client that disconnects mid-PATCH resumes from the last
committed offset, and any process sharing the storage and the secret can take the next
request of the session. Completion hashes the data, checks the client's digest and only
then publishes ``blobs/...``::

    POST   -> start()              nothing stored; Location carries id and state
    PATCH  -> append(offset)       _uploads/<uuid>/chunks/000..0-000..N
    PUT    -> finish(digest)       blobs/sha256/ab/abcd.../data, _layers link
    DELETE -> cancel()             _uploads/<uuid>/cancelled (tombstone until purged)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ..spool import spooled_file
from ..storage import CHUNK_SIZE, FileWriter, PathNotFoundError, Storage
from ..streams import HashingCopier
from . import layout
from .blobs import BlobStore
from .digests import Digest
from .errors import BlobUploadInvalid, BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid

log = logging.getLogger(__name__)


class Readable(Protocol):
    """A request body: anything with ``read(size)``."""

    def read(self, size: int = ..., /) -> bytes: ...


_UPLOAD_ID = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")
#: Upload sessions whose running hash this process remembers.
_HASH_CACHE_SIZE = 256
_TOMBSTONE = "cancelled"


class UploadStore:
    """Start, extend, finish, cancel and purge uploads.

    :param storage: the registry's storage.
    :param blobs: where finished uploads become blobs.
    :param secret: key signing upload state tokens (the same on every process).
    :param max_age: seconds an upload session stays valid.
    """

    def __init__(
        self, storage: Storage, blobs: BlobStore, secret: bytes = b"", max_age: float = 7 * 86400
    ) -> None:
        self.storage = storage
        self.blobs = blobs
        self.secret = secret or uuid.uuid4().bytes
        self.max_age = max_age
        # PERF: a running sha256 per session, so that PUT after chunks served by this
        # process need not read everything back. Keyed by the offset it has hashed up to:
        # any chunk written elsewhere makes it stale, and finish() then re-reads.
        self._hashes: OrderedDict[str, tuple[int, object]] = OrderedDict()
        self._lock = threading.Lock()
        self._copier = HashingCopier()
        # PERF: the blob's link is written while the blob commits (both fsync).
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="v2-link")

    # -- session ---------------------------------------------------------------------

    def start(self, name: str) -> tuple[str, str]:
        """Open a new upload session in ``name``; return its id and state token."""
        upload_id = str(uuid.uuid4())
        return upload_id, self._sign(name, upload_id, int(time.time()))

    def offset(self, name: str, upload_id: str, state: str | None) -> int:
        """Bytes received so far.

        :raises BlobUploadUnknown: no such session.
        """
        return self._chunks(name, upload_id, state)[1]

    def cancel(self, name: str, upload_id: str, state: str | None) -> None:
        """Drop a session's data and leave a tombstone so that its URL stops working.

        :raises BlobUploadUnknown: no such session.
        """
        self._chunks(name, upload_id, state)
        self._forget(upload_id)
        directory = layout.upload_dir(name, upload_id)
        with contextlib.suppress(PathNotFoundError):
            self.storage.delete(directory)
        self.storage.put_content(f"{directory}/{_TOMBSTONE}", b"")

    # -- data ------------------------------------------------------------------------

    def append(
        self,
        name: str,
        upload_id: str,
        state: str | None,
        body: Readable,
        *,
        start: int | None = None,
        length: int | None = None,
    ) -> int:
        """Store the request body as the next chunk; return the new offset.

        :param start: the chunk's first byte from ``Content-Range``; ``None`` appends.
        :param length: the declared chunk length, checked against what arrives.
        :raises RangeInvalid: ``start`` is not the current offset.
        """
        _, offset = self._chunks(name, upload_id, state)
        if start is not None and start != offset:
            raise RangeInvalid(f"chunk starts at {start} but the upload is at {offset}")
        if length == 0:
            return offset
        hasher = self._cached_hash(upload_id, offset)
        body_file = spooled_file(body)
        if body_file is not None:
            size = body_file.body_size
            if length is not None and size != length:
                raise BlobUploadInvalid(f"chunk of {size} bytes, {length} declared")
            hashing = None
            if offset == 0:
                hasher = body_file.sha256.copy()
            elif hasher is not None:
                # PERF: the running hash reads the chunk while storage makes it durable.
                hashing = self._pool.submit(_hash_stream, body_file, hasher)
            try:
                self.storage.adopt_file(
                    body_file.spool_path,
                    layout.upload_chunk(name, upload_id, offset, offset + size),
                )
            finally:
                if hashing is not None:
                    hashing.result()
            if hasher is not None:
                self._remember(upload_id, offset + size, hasher)
            return offset + size
        if hasher is None and offset == 0:
            hasher = hashlib.sha256()
        # NOTE: without a declared length the chunk's name is known only at the end:
        # write it under an empty span (ignored by readers), then rename it.
        end = offset if length is None else offset + length
        with self.storage.writer(layout.upload_chunk(name, upload_id, offset, end)) as writer:
            size = self._copy(body, writer, hasher)
            if length is not None and size != length:
                raise BlobUploadInvalid(f"chunk of {size} bytes, {length} declared")
            if size == 0:
                return offset
            writer.commit()
        if length is None:
            self.storage.move(
                layout.upload_chunk(name, upload_id, offset, offset),
                layout.upload_chunk(name, upload_id, offset, offset + size),
            )
        if hasher is not None:
            self._remember(upload_id, offset + size, hasher)
        return offset + size

    def finish(
        self,
        name: str,
        upload_id: str,
        state: str | None,
        digest: Digest,
        body: Readable | None,
        length: int | None = None,
    ) -> int:
        """Complete a session with an optional final chunk; publish the blob if it verifies.

        :returns: the blob's size.
        :raises DigestInvalid: the content does not match ``digest`` (nothing is stored).
        """
        chunks, offset = self._chunks(name, upload_id, state)
        target = layout.blob_data(digest.algorithm, digest.hex)
        if length == 0:
            body = None
        final_chunk = spooled_file(body) if chunks else None
        if final_chunk is not None:
            # PERF: a spooled final chunk joins the others as one more chunk (a rename).
            end = self.append(name, upload_id, state, final_chunk, start=offset, length=length)
            chunks.append(layout.upload_chunk(name, upload_id, offset, end))
            offset, body = end, None
        cached = self._cached_hash(upload_id, offset) if digest.algorithm == "sha256" else None
        if body is None and len(chunks) == 1:
            # PERF: a single chunk becomes the blob by a rename, no copy.
            if cached is None:
                cached = _hash_file(self.storage, chunks[0], digest)
            _verify(cached, digest)
            self.storage.move(chunks[0], target)
            self.blobs.link(name, digest)
            size = offset
        elif not chunks and body is not None:
            size = self.put_monolithic(name, digest, body, length)
        elif body is None and cached is not None:
            # PERF: the hash is known: the storage joins the chunks (in the kernel on the
            # file driver) while the blob is linked.
            _verify(cached, digest)
            self._commit_and_link(lambda: self.storage.concatenate(chunks, target), name, digest)
            size = offset
        else:
            hasher = cached if cached is not None else digest.hasher()
            with self.storage.writer(target) as writer:
                for path in chunks:
                    with self.storage.reader(path) as stream:
                        self._copy(stream, writer, None if cached is not None else hasher)
                size = offset
                if body is not None:
                    received = self._copy(body, writer, hasher)
                    if length is not None and received != length:
                        raise BlobUploadInvalid(
                            f"final chunk of {received} bytes, {length} declared"
                        )
                    size += received
                _verify(hasher, digest)
                self._commit_and_link(writer.commit, name, digest)
        self._forget(upload_id)
        if chunks:
            try:
                self.storage.delete(layout.upload_dir(name, upload_id))
            except PathNotFoundError:
                log.info("upload %s was removed concurrently", upload_id)
        return size

    def put_monolithic(
        self, name: str, digest: Digest, body: Readable, length: int | None = None
    ) -> int:
        """Store a whole blob from one request body, hashing while writing (one pass).

        :raises DigestInvalid: the content does not match ``digest`` (nothing is stored).
        """
        target = layout.blob_data(digest.algorithm, digest.hex)
        body_file = spooled_file(body) if digest.algorithm == "sha256" else None
        if body_file is not None:
            # PERF: the server received the body into a file storage can adopt, and
            # hashed it on arrival: no copy and no second read.
            if length is not None and body_file.body_size != length:
                raise SizeInvalid(f"received {body_file.body_size} bytes, {length} declared")
            _verify(body_file.sha256, digest)
            path = body_file.spool_path
            self._commit_and_link(lambda: self.storage.adopt_file(path, target), name, digest)
            return body_file.body_size
        hasher = digest.hasher()
        with self.storage.writer(target) as writer:
            size = self._copy(body, writer, hasher)
            if length is not None and size != length:
                raise SizeInvalid(f"received {size} bytes, {length} declared")
            _verify(hasher, digest)
            self._commit_and_link(writer.commit, name, digest)
        return size

    def blob_writer(self, digest: Digest) -> FileWriter:
        """A writer at a blob's data path, for content verified by the caller before it
        commits (the proxy's streamed copies); link it with :meth:`BlobStore.link`."""
        return self.storage.writer(layout.blob_data(digest.algorithm, digest.hex))

    def _copy(self, source: Readable, writer: FileWriter, hasher: Any) -> int:
        """Stream ``source`` into ``writer``, hashing on the way; return the bytes copied."""
        return self._copier.copy(
            source.read, writer.write, hasher.update if hasher is not None else None
        )

    # -- housekeeping ----------------------------------------------------------------

    def purge(self, max_age: float, now: float | None = None) -> int:
        """Delete upload sessions untouched for ``max_age`` seconds, in every repository.

        Only ``_uploads`` folders are walked; manifests and layer links are never listed.

        :returns: how many sessions were removed.
        """
        now = time.time() if now is None else now
        removed = 0
        for uploads_dir in self._uploads_dirs(layout.REPOSITORIES):
            try:
                sessions = self.storage.list(uploads_dir)
            except PathNotFoundError:
                continue
            for session in sessions:
                try:
                    files = list(self.storage.walk(session))
                except PathNotFoundError:
                    continue
                newest = max((info.mtime or 0.0 for info in files), default=0.0)
                if now - newest > max_age:
                    with contextlib.suppress(PathNotFoundError):
                        self.storage.delete(session)
                        removed += 1
        return removed

    def _uploads_dirs(self, path: str):
        """Every ``_uploads`` folder below ``path`` (repositories may nest)."""
        try:
            children = self.storage.list(path)
        except PathNotFoundError:
            return
        for child in children:
            name = layout.basename(child)
            if name == "_uploads":
                yield child
            elif not name.startswith("_"):
                yield from self._uploads_dirs(child)

    # -- internals -------------------------------------------------------------------

    def _sign(self, name: str, upload_id: str, started: int) -> str:
        message = f"{name}\0{upload_id}\0{started}".encode()
        mac = hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]
        return f"{started}.{mac}"

    def _state_valid(self, name: str, upload_id: str, state: str | None) -> bool:
        started, _, _ = (state or "").partition(".")
        if not started.isdigit() or time.time() - int(started) > self.max_age:
            return False
        return hmac.compare_digest(self._sign(name, upload_id, int(started)), state or "")

    def _chunks(self, name: str, upload_id: str, state: str | None) -> tuple[list[str], int]:
        """The session's chunk paths in order, and its offset.

        :raises BlobUploadUnknown: malformed id, cancelled, or neither data nor a valid
            state token.
        """
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise BlobUploadUnknown(f"upload {upload_id!r} is unknown")
        try:
            entries = self.storage.list(layout.upload_dir(name, upload_id))
        except PathNotFoundError:
            if self._state_valid(name, upload_id, state):
                return [], 0
            raise BlobUploadUnknown(f"upload {upload_id} is unknown") from None
        names = {layout.basename(entry) for entry in entries}
        if _TOMBSTONE in names:
            raise BlobUploadUnknown(f"upload {upload_id} was cancelled")
        paths: list[str] = []
        offset = 0
        if "data" in names:
            # NOTE: a session begun by the Go registry: its bytes so far are one chunk.
            data = layout.upload_data(name, upload_id)
            offset = self.storage.stat(data).size
            if offset:
                paths.append(data)
        if "chunks" in names:
            for path in self.storage.list(layout.upload_chunks_dir(name, upload_id)):
                span = layout.parse_chunk_name(layout.basename(path))
                if span is None or span[1] <= span[0] or span[0] != offset:
                    continue
                paths.append(path)
                offset = span[1]
        return paths, offset

    def _commit_and_link(self, commit: Callable[[], None], name: str, digest: Digest) -> None:
        """Make a verified blob visible with ``commit`` and link it into ``name``, the two
        durable writes in parallel."""
        linking = self._pool.submit(self.blobs.link, name, digest)
        try:
            commit()
        finally:
            linking.result()

    def _cached_hash(self, upload_id: str, offset: int):
        with self._lock:
            entry = self._hashes.get(upload_id)
        if entry is None or entry[0] != offset:
            return None
        return entry[1].copy()  # type: ignore[attr-defined]

    def _remember(self, upload_id: str, offset: int, hasher: object) -> None:
        with self._lock:
            self._hashes[upload_id] = (offset, hasher)
            self._hashes.move_to_end(upload_id)
            while len(self._hashes) > _HASH_CACHE_SIZE:
                self._hashes.popitem(last=False)

    def _forget(self, upload_id: str) -> None:
        with self._lock:
            self._hashes.pop(upload_id, None)


def range_header(offset: int) -> str:
    """The ``Range`` header value for an upload at ``offset`` (``0-0`` when empty)."""
    return f"0-{max(offset - 1, 0)}"


def _hash_stream(stream: Readable, hasher: Any) -> None:
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)


def _hash_file(storage: Storage, path: str, digest: Digest):
    hasher = digest.hasher()
    with storage.reader(path) as stream:
        _hash_stream(stream, hasher)
    return hasher


def _verify(hasher, digest: Digest) -> None:
    if hasher.hexdigest() != digest.hex:
        raise DigestInvalid(
            f"content does not match digest {digest}",
            detail={"expected": str(digest), "actual": f"{digest.algorithm}:{hasher.hexdigest()}"},
        )
