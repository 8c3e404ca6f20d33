"""UploadStore: resumable blob uploads whose whole state lives in storage or the URL.

Starting a session writes nothing: its id travels with a signed state token
(``?_state=<started>.<mac>``, HMAC-SHA256 with the upload secret shared by all processes),
as the Go registry does, and every request of the session must carry it. Each accepted
PATCH lands in a file of its own, ``_uploads/<uuid>/chunks/<start>-<end>.<token>``,
written once by that request and never changed; the offset is the end of the chain of
chunks from 0. Completion verifies the client's digest against the bytes it publishes,
then publishes ``blobs/...`` unless that blob already exists, and marks the session
finished::

    POST   -> start()              nothing stored; Location carries id and state
    PATCH  -> append(offset)       _uploads/<uuid>/chunks/000..0-000..N.<token>
    PUT    -> finish(digest)       blobs/sha256/ab/abcd.../data, _layers link,
                                   _uploads/<uuid>/finished (tombstone until purged)
    DELETE -> cancel()             _uploads/<uuid>/cancelled (tombstone until purged)

Two requests racing for one offset (a client bug, or an attacker holding the URL) each
write their own chunk; the chain takes the one whose token sorts first and the other
request answers 416 and removes its file. Whatever the interleaving, a published blob
hashes to its digest: a remembered running hash is used only for the exact chain of
chunk files it was computed from, and anything else is hashed again from storage.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from ..bodies import COPIER, RequestBody
from ..inputs import parse_number
from ..storage import CHUNK_SIZE, PathNotFoundError, Storage, StorageError
from . import layout
from .assembly import Assembly, ChunkTap
from .blobs import BlobStore
from .digests import Digest
from .errors import BlobUploadInvalid, BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid

if TYPE_CHECKING:
    from ..coordination import Coordinator

log = logging.getLogger(__name__)


def upload_secret(
    storage: Storage, configured: object = None, coordinator: Coordinator | None = None
) -> bytes:
    """The key signing upload state tokens: ``configured``, else one kept in storage.

    Every process sharing the storage must use the same key; without ``upload_secret``
    the first process writes a random one to storage and the others read it. The read and
    the write happen under the coordinator's lock ``upload-secret``: processes starting at
    once on empty storage (``serve --workers``; several hosts with ``coordination: redis``)
    would otherwise each keep the key they wrote, and every upload hopping between them
    would be refused.
    """
    if configured:
        return str(configured).encode()
    path = layout.upload_secret()
    guard = (
        coordinator.lock("upload-secret") if coordinator is not None else contextlib.nullcontext()
    )
    with guard:
        try:
            return storage.get_content(path)
        except PathNotFoundError:
            key = secrets.token_hex(32).encode()
            storage.put_private(path, key)
            return key


_UPLOAD_ID = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")
#: The path of an upload session's requests, as the server's parser sees it.
_UPLOAD_PATH = re.compile(rf"/v2/.+/blobs/uploads/(?P<id>{_UPLOAD_ID.pattern})")
#: Upload sessions whose running hash this process remembers.
_HASH_CACHE_SIZE = 256
#: Threads writing a published blob's link and its session's end, shared by all requests.
_SIDE_WRITE_THREADS = 16


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
        # PERF: a running sha256 per session (and, where storage adopts local files, the
        # chunks joined so far: see .assembly), so that PUT after chunks served by this
        # process need not read everything back. Tied to the exact chain of chunk files
        # it holds: any other chain (a chunk written elsewhere, a racing request) makes
        # it useless, and finish() then hashes and joins what it publishes.
        self._progress: OrderedDict[str, _Progress] = OrderedDict()
        self._lock = threading.Lock()
        # PERF: the blob's link and the session's end are written while the blob
        # commits (both fsync); two per publishing request, so that requests on every
        # server thread never queue behind each other's side writes.
        self._pool = ThreadPoolExecutor(_SIDE_WRITE_THREADS, thread_name_prefix="v2-link")

    # -- session ---------------------------------------------------------------------

    def start(self, name: str) -> tuple[str, str]:
        """Open a new upload session in ``name``; return its id and state token."""
        upload_id = str(uuid.uuid4())
        return upload_id, self._sign(name, upload_id, int(time.time()))

    def offset(self, name: str, upload_id: str, state: str | None) -> int:
        """Bytes received so far.

        :raises BlobUploadUnknown: no such session, or it has ended.
        """
        return self._chunks(name, upload_id, state)[1]

    def cancel(self, name: str, upload_id: str, state: str | None) -> None:
        """Drop a session's data and leave a tombstone so that its URL stops working.

        :raises BlobUploadUnknown: no such session, or it has ended.
        """
        self._chunks(name, upload_id, state)
        self._forget(upload_id)
        with contextlib.suppress(PathNotFoundError):
            self.storage.delete(layout.upload_dir(name, upload_id))
        self._mark_closed(name, upload_id, layout.UPLOAD_CANCELLED)

    # -- data ------------------------------------------------------------------------

    def append(
        self,
        name: str,
        upload_id: str,
        state: str | None,
        body: RequestBody,
        *,
        start: int | None = None,
        length: int | None = None,
    ) -> int:
        """Store the request body as the next chunk; return the new offset.

        :param start: the chunk's first byte from ``Content-Range``; ``None`` appends.
        :param length: the declared chunk length, checked against what arrives.
        :raises RangeInvalid: ``start`` is not the current offset, or another request
            wrote this offset first.
        """
        chain, offset = self._chunks(name, upload_id, state)
        if start is not None and start != offset:
            raise RangeInvalid(f"chunk starts at {start} but the upload is at {offset}")
        if length == 0:
            return offset
        hasher = self._cached_hash(upload_id, chain)
        joined = _Joined(self._take_assembly(upload_id, chain) if hasher is not None else None)
        try:
            return self._append(name, upload_id, state, body, chain, offset, length, hasher, joined)
        except BaseException:
            joined.drop()
            raise

    def _append(
        self,
        name: str,
        upload_id: str,
        state: str | None,
        body: RequestBody,
        chain: tuple[str, ...],
        offset: int,
        length: int | None,
        hasher: Any,
        joined: _Joined,
    ) -> int:
        token = _request_token()
        tap = body.tap
        # NOTE: a tap set up for this very chain already joined the chunk and continued
        # the running hash as it arrived; any other tap only seeded the body's hash.
        seeded = isinstance(tap, ChunkTap) and tap.upload_id == upload_id and tap.chain == chain
        received_hash = body.sha256()
        feed = None
        if received_hash is not None and (seeded or (offset == 0 and tap is None)):
            hasher = received_hash
        elif offset == 0 or hasher is not None:
            hasher = feed = hasher if offset else hashlib.sha256()
        # NOTE: without a known length the chunk's name is known only at the end: it is
        # written under an empty span (ignored by readers), then renamed.
        known = body.size if body.size is not None else length
        staged_path = layout.upload_chunk(name, upload_id, offset, offset + (known or 0), token)
        # PERF: a chunk is made durable with the blob it becomes (move or concatenate),
        # not on its own: its bytes reach the disk once.
        with body.stage(self.storage, staged_path, feed, durable=False) as staged:
            size = staged.size
            if length is not None and size != length:
                raise BlobUploadInvalid(f"chunk of {size} bytes, {length} declared")
            if size == 0:
                joined.drop()
                return offset
            staged.commit()
            staged.hashed()
        path = layout.upload_chunk(name, upload_id, offset, offset + size, token)
        if path != staged_path:
            self.storage.move(staged_path, path)
        if seeded:
            assert isinstance(tap, ChunkTap)
            joined.assembly = self._joined_by_tap(tap, chain, offset, size)
        elif hasher is not None and body.received:
            joined.assembly = self._extend(joined.assembly, chain, body.join)
        else:
            joined.drop()
        assembly, joined.assembly = joined.assembly, None
        return self._claim(name, upload_id, state, chain, path, hasher, assembly)

    def _claim(
        self,
        name: str,
        upload_id: str,
        state: str | None,
        before: tuple[str, ...],
        path: str,
        hasher: Any,
        assembly: Assembly | None = None,
    ) -> int:
        """Keep the chunk just written at ``path`` if the session's chain now runs through
        it; otherwise another request took its offset: remove it and refuse.

        :returns: the session's new offset.
        """
        try:
            chain, offset = self._chunks(name, upload_id, state)
        except BlobUploadUnknown:
            self._discard(path)  # the session ended while this chunk was written
            if assembly is not None:
                assembly.discard()
            raise
        if path not in chain:
            self._discard(path)
            if assembly is not None:
                assembly.discard()
            raise RangeInvalid(
                f"another request of upload {upload_id} wrote these bytes first; "
                f"the upload is at {offset}"
            )
        position = chain.index(path)
        if hasher is not None and chain[:position] == before:
            self._remember(upload_id, _Progress(chain[: position + 1], hasher, assembly))
        elif assembly is not None:
            assembly.discard()
        return offset

    def finish(
        self,
        name: str,
        upload_id: str,
        state: str | None,
        digest: Digest,
        body: RequestBody | None,
        length: int | None = None,
    ) -> int:
        """Complete a session with an optional final chunk; publish the blob if it verifies.

        :returns: the blob's size.
        :raises DigestInvalid: the content does not match ``digest`` (nothing is stored).
        """
        chain, offset = self._chunks(name, upload_id, state)
        if length == 0:
            body = None
        if chain and body is not None and body.zero_copy:
            # PERF: a spooled final chunk joins the others as one more chunk (a rename).
            self.append(name, upload_id, state, body, start=offset, length=length)
            chain, offset = self._chunks(name, upload_id, state)
            body = None
        cached = self._cached_hash(upload_id, chain) if digest.algorithm == "sha256" else None
        assembly = self._take_assembly(upload_id, chain) if cached is not None else None
        if assembly is not None and not assembly.holds(offset):
            assembly.discard()  # swept while the session was idle, or damaged
            assembly = None
        try:
            size = self._publish_upload(
                name, upload_id, digest, body, length, chain, offset, cached, assembly
            )
        finally:
            if assembly is not None:
                assembly.discard()
        self._forget(upload_id)
        if chain:
            self._discard(layout.upload_chunks_dir(name, upload_id))
            self._discard(layout.upload_data(name, upload_id))
        return size

    def _publish_upload(
        self,
        name: str,
        upload_id: str,
        digest: Digest,
        body: RequestBody | None,
        length: int | None,
        chain: tuple[str, ...],
        offset: int,
        cached: Any,
        assembly: Assembly | None,
    ) -> int:
        """Verify and publish a session's content (see :meth:`finish`); return its size."""
        target = layout.blob_data(digest.algorithm, digest.hex)
        if not chain and body is not None:
            size = self.put_monolithic(name, digest, body, length, upload_id=upload_id)
        elif body is None and chain:
            # PERF: chunk files never change once written, so the hash checked is the
            # published content's: one this process did not keep is read from the
            # chunks (never their bytes written again), then the storage joins them (a
            # rename of one, in the kernel on the file driver, inside the store on
            # object stores) while the blob is linked.
            if cached is None:
                try:
                    cached = _hash_files(self.storage, chain, digest)
                except PathNotFoundError as exc:
                    raise _taken_by_another(upload_id) from exc
            _verify(cached, digest)
            if assembly is not None:
                # PERF: the chunks were joined as they arrived: the blob is a rename away.
                joined = assembly.path
                commit = functools.partial(self.storage.adopt_file, joined, target)
            else:
                commit = functools.partial(self.storage.join, chain, target)
            self._publish(name, digest, commit, upload_id)
            size = offset
        else:
            hasher = digest.hasher()
            with self.storage.writer(target) as writer:
                for path in chain:
                    with self.storage.reader(path) as stream:
                        COPIER.copy(stream.read, writer.write, hasher.update)
                size = offset
                if body is not None:
                    # NOTE: rare (a final chunk after chunks this process did not see, not
                    # spooled to a file): its bytes follow the chunks in the same writer.
                    received = body.copy_into(writer.write, hasher)
                    if length is not None and received != length:
                        raise BlobUploadInvalid(
                            f"final chunk of {received} bytes, {length} declared"
                        )
                    size += received
                _verify(hasher, digest)
                self._publish(name, digest, writer.commit, upload_id)
        return size

    def put_monolithic(
        self,
        name: str,
        digest: Digest,
        body: RequestBody,
        length: int | None = None,
        *,
        upload_id: str | None = None,
    ) -> int:
        """Store a whole blob from one request body, hashing while writing (one pass).

        :param upload_id: the session this body finishes (it is marked finished).
        :raises DigestInvalid: the content does not match ``digest`` (nothing is stored).
        """
        target = layout.blob_data(digest.algorithm, digest.hex)
        # PERF: a body hashed on arrival is verified without a second read; a spooled one
        # is then adopted by storage, no copy.
        received = body.sha256() if digest.algorithm == "sha256" else None
        hasher = received if received is not None else digest.hasher()
        with body.stage(self.storage, target, None if received is not None else hasher) as staged:
            if length is not None and staged.size != length:
                raise SizeInvalid(f"received {staged.size} bytes, {length} declared")
            staged.hashed()
            _verify(hasher, digest)
            self._publish(name, digest, staged.commit, upload_id)
        return staged.size

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
            if layout.is_uploads_folder(name):
                yield child
            elif layout.is_name_component(name):
                yield from self._uploads_dirs(child)

    # -- internals -------------------------------------------------------------------

    def _sign(self, name: str, upload_id: str, started: int) -> str:
        message = f"{name}\0{upload_id}\0{started}".encode()
        mac = hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]
        return f"{started}.{mac}"

    def _state_valid(self, name: str, upload_id: str, state: str | None) -> bool:
        # NOTE: the client's token: "²" or 5,000 digits must be a refusal, not a 500.
        started = parse_number((state or "").partition(".")[0])
        if started is None or time.time() - started > self.max_age:
            return False
        return hmac.compare_digest(self._sign(name, upload_id, started), state or "")

    def _chunks(self, name: str, upload_id: str, state: str | None) -> tuple[tuple[str, ...], int]:
        """The session's chain of chunk paths in order, and its offset.

        At each offset the chunk whose token sorts first is taken (one request wins
        a race for an offset, the same one for every reader); chunks off the chain
        are ignored.

        :raises BlobUploadUnknown: malformed id, missing/altered/expired state token, or
            the session was cancelled or finished.
        """
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise BlobUploadUnknown(f"upload {upload_id!r} is unknown")
        if not self._state_valid(name, upload_id, state):
            raise BlobUploadUnknown(
                f"upload {upload_id} is unknown: its _state token is missing, altered or "
                "expired; use the Location of the last response"
            )
        try:
            entries = self.storage.list(layout.upload_dir(name, upload_id))
        except PathNotFoundError:
            return (), 0
        folder = layout.UploadFolder.from_listing(entries)
        if folder.closed is not None:
            raise BlobUploadUnknown(f"upload {upload_id} is {folder.closed}")
        paths: list[str] = []
        offset = 0
        if folder.has_data:
            # NOTE: a session begun by the Go registry: its bytes so far are one chunk.
            data = layout.upload_data(name, upload_id)
            offset = self.storage.stat(data).size
            if offset:
                paths.append(data)
        if folder.has_chunks:
            first_at: dict[int, tuple[str, str, int]] = {}
            with contextlib.suppress(PathNotFoundError):
                for path in self.storage.list(layout.upload_chunks_dir(name, upload_id)):
                    span = layout.parse_chunk_name(layout.basename(path))
                    if span is None or span[1] <= span[0]:
                        continue
                    start, end, token = span
                    if start not in first_at or (token, path) < first_at[start][:2]:
                        first_at[start] = (token, path, end)
            while offset in first_at:
                _, path, offset = first_at[offset]
                paths.append(path)
        return tuple(paths), offset

    def _publish(
        self, name: str, digest: Digest, commit: Callable[[], None], upload_id: str | None
    ) -> None:
        """Make a verified blob visible with ``commit`` and link it into ``name``; the
        durable writes (blob, link, the session's end) run in parallel.

        A blob that exists is never replaced: the first upload of a digest wins and later
        ones only link it (their bytes are dropped by the caller). Two uploads verified
        at the same instant may both commit: they hold the same bytes.
        """
        side = [self._pool.submit(self.blobs.link, name, digest)]
        if upload_id is not None:
            finished = layout.UPLOAD_FINISHED
            side.append(self._pool.submit(self._mark_closed, name, upload_id, finished))
        target = layout.blob_data(digest.algorithm, digest.hex)
        try:
            # NOTE: a file is asked for, not a directory: a directory there (never made by
            # the registry) makes the commit refuse, as the driver's write check does.
            if not self.storage.is_file(target):
                commit()
        except PathNotFoundError as exc:
            # NOTE: a chunk vanished under the join: another request finished (or
            # cancelled) this session first; the blob it published is this one's too.
            if upload_id is None or not self.storage.is_file(target):
                for future in side:
                    future.exception()
                if upload_id is None:
                    raise
                raise _taken_by_another(upload_id) from exc
        except BaseException:
            for future in side:
                future.exception()
            if upload_id is not None:
                # NOTE: the session stays usable: the client may retry its PUT (a full
                # disk, a backend failing for a moment).
                self._discard(layout.upload_mark(name, upload_id, layout.UPLOAD_FINISHED))
            raise
        for future in side:
            future.result()

    def _mark_closed(self, name: str, upload_id: str, mark: str) -> None:
        self.storage.put_content(layout.upload_mark(name, upload_id, mark), b"")

    def _discard(self, path: str) -> None:
        with contextlib.suppress(PathNotFoundError):
            self.storage.delete(path)

    def _cached_hash(self, upload_id: str, chain: tuple[str, ...]) -> Any:
        """A copy of the running hash of exactly ``chain``, or ``None``."""
        with self._lock:
            progress = self._progress.get(upload_id)
            if progress is None or progress.chain != chain:
                return None
            return progress.hasher.copy()

    def _take_assembly(self, upload_id: str, chain: tuple[str, ...]) -> Assembly | None:
        """The assembly of exactly ``chain``, now the caller's alone (or ``None``)."""
        with self._lock:
            progress = self._progress.get(upload_id)
            if progress is None or progress.chain != chain:
                return None
            assembly, progress.assembly = progress.assembly, None
            return assembly

    def tap_for(self, method: str, path: str) -> ChunkTap | None:
        """A tap for a PATCH to a session whose running hash this process holds (see
        :mod:`.assembly`), set up from the request line before the body arrives;
        ``None`` for anything else. Only a hint: :meth:`append` uses it if the session's
        chain is still the one it was set up for.
        """
        match = _UPLOAD_PATH.fullmatch(path) if method == "PATCH" else None
        if match is None:
            return None
        upload_id = match["id"]
        with self._lock:
            progress = self._progress.get(upload_id)
            if progress is None:
                return None
            seed = progress.hasher.copy()
            assembly, progress.assembly = progress.assembly, None
            chain = progress.chain
        span = layout.parse_chunk_name(layout.basename(chain[-1])) if chain else None
        directory = self.storage.spool_directory
        if span is None or directory is None:
            if assembly is not None:
                assembly.discard()
            return ChunkTap(upload_id, chain, seed, None, 0)
        if assembly is None and len(chain) == 1:
            # NOTE: a session's second chunk starts its assembly; the first chunk is
            # copied in when the second is handed over (a single chunk needs none).
            with contextlib.suppress(OSError):
                assembly = Assembly.create(directory)
        return ChunkTap(upload_id, chain, seed, assembly, span[1])

    def _joined_by_tap(
        self, tap: ChunkTap, chain: tuple[str, ...], offset: int, size: int
    ) -> Assembly | None:
        """The assembly the tap wrote this chunk into, completed (the chain's bytes in
        front of it, for a new one) and counting it; ``None`` when that failed."""
        assembly = tap.hand_over(size)
        if assembly is None:
            return None
        try:
            if assembly.size == 0 and offset:
                self._copy_chain(assembly, chain)
            if assembly.size != offset:
                raise ValueError(f"the assembly holds {assembly.size} bytes, not {offset}")
            assembly.size += size
            return assembly
        except (OSError, ValueError, StorageError) as exc:
            log.warning("joining an upload's chunks as they arrive failed: %s", exc)
            assembly.discard()
            return None

    def _extend(
        self,
        assembly: Assembly | None,
        chain: tuple[str, ...],
        append: Callable[[Assembly], object],
    ) -> Assembly | None:
        """``assembly`` (of ``chain``) with the new chunk appended by ``append``, for a
        chunk that came without a tap (a WSGI server other than ours).

        Without one, a session's second chunk starts it from the first (a single chunk
        needs none: it becomes the blob by a rename); one lost later is not rebuilt. Any
        failure drops it: the closing PUT then joins the chunk files.
        """
        directory = self.storage.spool_directory
        if directory is None or not chain or (assembly is None and len(chain) != 1):
            return None
        try:
            if assembly is None:
                assembly = Assembly.create(directory)
                self._copy_chain(assembly, chain)
            append(assembly)
            return assembly
        except (OSError, ValueError, StorageError) as exc:
            log.warning("joining an upload's chunks as they arrive failed: %s", exc)
            if assembly is not None:
                assembly.discard()
            return None

    def _copy_chain(self, assembly: Assembly, chain: tuple[str, ...]) -> None:
        """Copy the chain's chunk files to the start of an empty ``assembly``."""
        end = 0
        for path in chain:
            span = layout.parse_chunk_name(layout.basename(path))
            if span is None:
                raise ValueError(f"{path} is not a chunk of ours")
            start, end, _ = span
            with self.storage.reader(path) as stream:
                assembly.copy_at(stream, end - start, start)
        assembly.size = end

    def _remember(self, upload_id: str, progress: _Progress) -> None:
        with self._lock:
            replaced = self._progress.pop(upload_id, None)
            self._progress[upload_id] = progress
            evicted = [replaced] if replaced is not None else []
            while len(self._progress) > _HASH_CACHE_SIZE:
                evicted.append(self._progress.popitem(last=False)[1])
        for old in evicted:
            if old.assembly is not None and old.assembly is not progress.assembly:
                old.assembly.discard()

    def _forget(self, upload_id: str) -> None:
        with self._lock:
            progress = self._progress.pop(upload_id, None)
        if progress is not None and progress.assembly is not None:
            progress.assembly.discard()


@dataclass
class _Joined:
    """The assembly a request is extending, dropped if the request fails."""

    assembly: Assembly | None

    def drop(self) -> None:
        if self.assembly is not None:
            self.assembly.discard()
            self.assembly = None


@dataclass
class _Progress:
    """What this process knows of a session: the chain of chunk files it has seen, their
    running hash and, where kept, their :class:`~.assembly.Assembly`."""

    chain: tuple[str, ...]
    hasher: Any
    assembly: Assembly | None = None


def _request_token() -> str:
    """A chunk file's token: unique per request, sorting roughly by start time."""
    return f"{time.time_ns():016x}{secrets.token_hex(4)}"


def range_header(offset: int) -> str:
    """The ``Range`` header value for an upload at ``offset`` (``0-0`` when empty)."""
    return f"0-{max(offset - 1, 0)}"


def _hash_stream(stream: BinaryIO, hasher: Any) -> None:
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)


def _taken_by_another(upload_id: str) -> BlobUploadUnknown:
    """The answer to a request whose session's chunks another request took first."""
    return BlobUploadUnknown(f"upload {upload_id} was finished or cancelled by another request")


def _hash_files(storage: Storage, paths: tuple[str, ...], digest: Digest):
    hasher = digest.hasher()
    for path in paths:
        with storage.reader(path) as stream:
            _hash_stream(stream, hasher)
    return hasher


def _verify(hasher, digest: Digest) -> None:
    if hasher.hexdigest() != digest.hex:
        raise DigestInvalid(
            f"content does not match digest {digest}",
            detail={"expected": str(digest), "actual": f"{digest.algorithm}:{hasher.hexdigest()}"},
        )
