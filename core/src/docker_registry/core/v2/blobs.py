"""BlobStore: content-addressed blobs shared by repositories, linked into each one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from ..mirroring import StreamTee
from ..storage import PathNotFoundError, Storage
from . import layout
from .digests import Digest

if TYPE_CHECKING:
    from .bridge import V1Bridge
from .errors import BlobUnknown


@dataclass(frozen=True)
class BlobHandle:
    """A blob found in a repository, ready to be read with :meth:`BlobStore.reader`.

    Where storage keeps the bytes (the blob store, or a v1 layer through the bridge)
    stays inside the store: callers see the digest and the size.
    """

    digest: Digest
    size: int
    _location: str = field(repr=False)


@dataclass(frozen=True)
class RemoteBlob:
    """A blob only the upstream of a pull-through store holds so far (see
    :class:`~.proxy.ProxiedBlobStore`): answered whole, never by range.

    :param size: upstream's ``Content-Length`` (``None``: it sent none).
    :param body: from :meth:`BlobStore.fetch`, the bytes as they arrive, stored while
        read (:meth:`BlobStore.ingest`); ``None`` from :meth:`BlobStore.describe`.
    """

    digest: Digest
    size: int | None
    body: Iterable[bytes] | None = None


class _DigestHasher:
    """Hashes a blob with its digest's algorithm; ``checksum()`` is ``alg:hex``."""

    def __init__(self, digest: Digest) -> None:
        self._algorithm = digest.algorithm
        self._hash = digest.hasher()

    def update(self, chunk: bytes, /) -> None:
        self._hash.update(chunk)

    def checksum(self) -> str:
        return f"{self._algorithm}:{self._hash.hexdigest()}"


class BlobStore:
    """Find, open, link, mount, unlink and ingest blobs; no HTTP here.

    A blob is visible in repository ``name`` when its data exists and the repository
    links it (``_layers``); manifests stored as blobs count as well (``revisions``),
    as clients fetch an index's children either way.

    :param storage: the registry's storage.
    :param bridge: serves blobs of v1 images (``None``: v2 content only).
    """

    def __init__(self, storage: Storage, bridge: V1Bridge | None = None) -> None:
        self.storage = storage
        self.bridge = bridge

    def _find(self, digest: Digest, fresh: bool = False) -> BlobHandle:
        """Where a blob's bytes are, and their size (a v1 layer through the bridge).

        :param fresh: ask storage, not the descriptor cache.
        """
        path = layout.blob_data(digest.algorithm, digest.hex)
        try:
            return BlobHandle(digest, self.storage.stat(path, fresh=fresh).size, path)
        except PathNotFoundError:
            bridged = self.bridge.layer_image(digest) if self.bridge is not None else None
            if bridged is None:
                raise BlobUnknown(f"blob {digest} is unknown") from None
        try:
            return BlobHandle(digest, self.storage.stat(bridged).size, bridged)
        except PathNotFoundError:
            raise BlobUnknown(f"blob {digest} is unknown") from None

    def stat(self, name: str, digest: Digest) -> BlobHandle:
        """A blob of repository ``name``: its size, and a handle to read it.

        :raises BlobUnknown: not in the repository or its data is missing.
        """
        self._check_linked(name, digest)
        return self._find(digest)

    def describe(self, name: str, digest: Digest) -> BlobHandle | RemoteBlob:
        """What a ``HEAD`` of the blob answers: here, the local blob (:meth:`stat`).

        :raises BlobUnknown: not in the repository.
        """
        return self.stat(name, digest)

    def fetch(self, name: str, digest: Digest) -> BlobHandle | RemoteBlob:
        """What a ``GET`` of the blob serves: here, the local blob (:meth:`stat`).

        :raises BlobUnknown: not in the repository.
        """
        return self.stat(name, digest)

    def ingest(
        self,
        name: str,
        digest: Digest,
        chunks: Iterator[bytes],
        length: int | None,
        *,
        close: Callable[[], None],
        label: str,
    ) -> StreamTee:
        """Store a blob from elsewhere while its bytes pass through to a reader.

        Iterating the result yields ``chunks`` as they are written to the blob's data;
        the blob is committed, then linked into ``name``, only once every byte arrived
        (``length`` of them, when known) and they hash to ``digest``. Anything else
        leaves nothing visible and the iteration raises
        :class:`~docker_registry.core.mirroring.StreamRejected`.

        :param close: releases the source (called once, whatever happens).
        :param label: names the blob and its source in log messages.
        """
        try:
            writer = self.storage.writer(layout.blob_data(digest.algorithm, digest.hex))
        except BaseException:
            close()
            raise
        return StreamTee(
            chunks,
            writer,
            _DigestHasher(digest),
            [str(digest)],
            length,
            lambda _checksum: self.link(name, digest),
            lambda: None,
            close,
            label,
        )

    def open(self, name: str, digest: Digest, offset: int = 0) -> tuple[BinaryIO, int]:
        """Open a blob for reading from ``offset``; return the stream and the full size.

        :raises BlobUnknown: not in the repository.
        """
        blob = self.stat(name, digest)
        return self.reader(blob, offset), blob.size

    def reader(self, blob: BlobHandle, offset: int = 0, length: int | None = None) -> BinaryIO:
        """Open a blob found by :meth:`stat` from ``offset``, for ``length`` bytes at most
        (``None``: to its end).

        :raises BlobUnknown: it vanished in between (or a cached size outlived it).
        """
        try:
            return self.storage.reader(blob._location, offset, length)
        except PathNotFoundError:
            raise BlobUnknown(f"blob {blob.digest} vanished") from None

    def redirect_url(self, digest: Digest, method: str = "GET") -> str | None:
        """A direct URL from the driver for a blob's data, or ``None``."""
        return self.storage.redirect_url(layout.blob_data(digest.algorithm, digest.hex), method)

    def exists(self, digest: Digest, *, fresh: bool = False) -> bool:
        """True when the blob's data exists (v1 layers included), in any repository.

        :param fresh: ask storage, not the descriptor cache (a check guarding a write).
        """
        try:
            self._find(digest, fresh)
        except BlobUnknown:
            return False
        return True

    def linked(self, name: str, digest: Digest) -> bool:
        """True when repository ``name`` links the blob."""
        return self.storage.exists(
            layout.layer_link(name, digest.algorithm, digest.hex)
        ) or self.storage.exists(layout.revision_link(name, digest.algorithm, digest.hex))

    def link(self, name: str, digest: Digest) -> None:
        """Make an existing blob part of repository ``name``."""
        self.storage.put_content(
            layout.layer_link(name, digest.algorithm, digest.hex), str(digest).encode()
        )

    def mount(self, name: str, digest: Digest, source: str | None) -> bool:
        """Link a blob from repository ``source`` (or any, when ``None``) into ``name``.

        :returns: ``False`` when the blob is not available to mount.
        """
        if source is not None and not self.linked(source, digest):
            return False
        if not self.exists(digest):
            return False
        self.link(name, digest)
        return True

    def unlink(self, name: str, digest: Digest) -> None:
        """Remove a blob from repository ``name`` (its data stays for garbage collection).

        :raises BlobUnknown: the repository does not link it.
        """
        try:
            self.storage.delete(layout.layer_link_dir(name, digest.algorithm, digest.hex))
        except PathNotFoundError:
            raise BlobUnknown(f"blob {digest} is unknown to repository {name}") from None

    def _check_linked(self, name: str, digest: Digest) -> None:
        if not self.linked(name, digest):
            raise BlobUnknown(f"blob {digest} is unknown to repository {name}")
