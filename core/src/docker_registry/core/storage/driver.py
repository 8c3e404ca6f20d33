"""The storage driver contract: the only thing a backend has to implement.

A driver moves bytes between opaque paths and a backend. It never sees repositories,
images or manifests: the core's layouts build every path (see :mod:`.paths` for the
grammar). Each method documents when writes become visible, what is recursive and what
happens at the edges, so that every driver behaves the same and the shared conformance
suite (:mod:`docker_registry.testing`) can prove it.

Drivers are registered under the ``docker_registry.drivers`` entry-point group; the
entry name is the ``storage:`` value of the configuration.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

from ..config.options import DriverOption
from .errors import PathNotFoundError, UnsupportedMethodError

__all__ = [
    "CHUNK_SIZE",
    "Capability",
    "DriverOption",
    "FileInfo",
    "FileWriter",
    "StorageDriver",
]

#: Bytes per chunk when a driver or the core streams data.
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    """What :meth:`StorageDriver.stat` knows about a path.

    :param path: the storage path.
    :param size: bytes of content; 0 for a directory.
    :param mtime: last modification, seconds since the epoch (``None`` if unknown).
    :param is_dir: the path is a directory (a prefix of other paths).
    """

    path: str
    size: int
    mtime: float | None
    is_dir: bool


class Capability:
    """Names of optional behaviours a driver declares in ``capabilities``.

    Each one is a promise the conformance suite tests, and most change what the core
    does. (A
    ``server_side_move`` capability existed until 0.1: nothing read it, and whether a move
    streams bytes is invisible to a black-box test, so it was dropped; ``move`` is atomic
    for every driver, and object-store drivers copy inside the backend anyway.)
    """

    #: ``redirect_url`` returns URLs clients may fetch directly (with
    #: ``storage_redirect: true`` the registry answers 302 to them).
    REDIRECT = "redirect"
    #: ``reader`` returns a real, seekable OS file object (``fileno()``): downloads go
    #: through ``wsgi.file_wrapper`` (sendfile), and ``nginx_x_accel_redirect`` may hand
    #: v1 layers to nginx, which reads them from the same local files.
    LOCAL_FILES = "local_files"
    #: a reader open across an overwrite or a delete of its file returns the version it
    #: opened, whole (a file descriptor, one streamed response). Without it, such a reader
    #: may fail with :class:`~.errors.StorageError` instead; never may it return a mix of
    #: two versions or a short read. The conformance suite checks both.
    SNAPSHOT_READS = "snapshot_reads"


class FileWriter(abc.ABC):
    """A write in progress to one path, returned by :meth:`StorageDriver.writer`.

    Nothing is visible at the path until :meth:`commit` returns: readers keep seeing the
    previous content (or nothing). :meth:`cancel` drops what was written and leaves the
    path as it was. :meth:`close` releases resources; closing a writer that was neither
    committed nor cancelled cancels it. Writers are context managers: leaving the block
    closes them, so only an explicit ``commit()`` publishes data.
    """

    @abc.abstractmethod
    def write(self, data: bytes) -> int:
        """Append ``data``; return the number of bytes accepted (all of them).

        :raises StorageError: the writer was already committed, cancelled or closed.
        """

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Total bytes the path will hold on commit (appended-to content included)."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Make the written content visible at the path, atomically and durably."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Discard everything written; the path keeps its previous content."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources; cancel first if neither committed nor cancelled."""

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class StorageDriver(abc.ABC):
    """Base class of every storage driver.

    Subclasses set ``name``, declare their ``options`` and ``capabilities``, accept each
    option as a keyword argument of ``__init__``, and implement the abstract methods.
    All paths they receive are valid per :func:`.paths.validate_path`; a driver that
    maps paths onto a local namespace must still confine them under its root.

    Errors are the typed :mod:`.errors` classes. A driver may raise them without
    context: the core's :class:`~docker_registry.core.storage.Storage` wrapper adds the
    driver name, operation and path. Any write (``put_content``, a writer's ``write`` or
    ``commit``, ``adopt_file``, ``concatenate``, ``move``) that finds no room (a full
    disk, a used-up quota, a bucket at its limit) raises
    :class:`~.errors.StorageFullError` naming what is full, after removing whatever it
    had created: the client is answered ``507 Insufficient Storage``, what was stored
    before stays readable, and the same write succeeds once room returns.
    """

    #: entry-point name (the ``storage:`` value).
    name: ClassVar[str] = ""
    #: version of this contract the driver implements.
    api_version: ClassVar[int] = 1
    #: :class:`~docker_registry.core.config.options.Option` (alias ``DriverOption``)
    #: declarations, read from the configuration: type, default, range, required, secret.
    options: ClassVar[tuple[DriverOption, ...]] = ()
    #: :class:`Capability` names.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    @classmethod  # noqa: B027 - an optional hook with an empty default
    def validate_options(cls, values: Mapping[str, Any]) -> None:
        """Check the resolved option values together, before the driver is built.

        Declarations check each option alone; override this for rules they cannot
        express (one of two keys, a minimum part size, credentials the library cannot
        use). ``docker-registry config check`` and start-up both call it.

        :param values: every declared option, defaults applied.
        :raises ConfigError: with ``key=`` naming the option at fault.
        """

    # -- whole-object access ---------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        """Return the whole content of the file at ``path``.

        :raises PathNotFoundError: no file there (a directory counts as missing).
        """
        with self.reader(path) as stream:
            return stream.read()

    def put_content(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path``, replacing any previous content atomically.

        Parent directories are implied. Readers see the old or the new content, never a
        mix or a truncated file.

        :raises StorageError: ``path`` is a directory, or one of its parents is a file.
        """
        with self.writer(path) as writer:
            writer.write(data)
            writer.commit()

    def put_private(self, path: str, data: bytes) -> None:
        """Store a secret (a signing key): like :meth:`put_content`, and where the backend
        has per-file permissions, readable by the registry's own account only (the file
        driver creates it with mode 0600). This default is :meth:`put_content`: object
        stores grant access per bucket or container, not per object.
        """
        self.put_content(path, data)

    # -- streams -----------------------------------------------------------------------

    @abc.abstractmethod
    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        """Open the file at ``path`` for reading from byte ``offset``.

        The stream supports ``read(n)`` and ``close()``. An offset at or past the end
        gives an empty stream. A reader returns one version only: when the file is
        overwritten or deleted before the reader is done, a driver with
        :attr:`Capability.SNAPSHOT_READS` still returns the version it opened, whole; any
        other raises :class:`~.errors.StorageError` from ``read`` (pin the ETag or
        generation); none returns a mix of versions or ends early without an error.

        :raises PathNotFoundError: no file there.
        :raises InvalidOffsetError: ``offset`` is negative.
        """

    def range_reader(self, path: str, offset: int, length: int) -> BinaryIO:
        """:meth:`reader`, for a caller that reads at most ``length`` bytes.

        Drivers over networked stores fetch no byte past ``offset + length`` (a ranged
        download of a large blob must not pull the rest of it); the default is
        :meth:`reader`, whose caller stops reading at ``length``.
        """
        return self.reader(path, offset)

    @abc.abstractmethod
    def writer(self, path: str, append: bool = False) -> FileWriter:
        """Start writing the file at ``path``.

        With ``append=False`` the committed file holds only what is written now. With
        ``append=True`` it holds the current content at ``path`` (nothing if absent)
        followed by what is written now; ``FileWriter.size`` starts at the current size.
        Nothing changes at ``path`` before ``commit()``.
        """

    # -- metadata and namespace ------------------------------------------------------

    @abc.abstractmethod
    def stat(self, path: str) -> FileInfo:
        """Describe the file or directory at ``path`` (``/`` is the root directory).

        :raises PathNotFoundError: neither a file nor a directory is there.
        """

    def file_info(self, path: str) -> FileInfo | None:
        """Describe the file at ``path``; ``None`` when no file is there (nothing, or a
        directory). This default asks :meth:`stat`; a driver that can tell a file apart
        in one request (an object store's HEAD) answers without asking about directories.
        """
        try:
            info = self.stat(path)
        except PathNotFoundError:
            return None
        return None if info.is_dir else info

    @abc.abstractmethod
    def list(self, path: str) -> list[str]:
        """Return the full paths of the direct children of directory ``path``, sorted.

        Only direct children: files and subdirectories one level down. The root of an
        empty backend lists as ``[]``.

        :raises PathNotFoundError: ``path`` is not a directory (missing, or a file).
        """

    def walk(self, path: str) -> Iterator[FileInfo]:
        """Yield a :class:`FileInfo` for every file under directory ``path``, recursively.

        Directories themselves are not yielded. Order is unspecified. A walk is lazy:
        calling ``walk`` never raises; a missing directory (or a file) raises on the first
        ``next()``, before any item. (The core's ``Storage.walk`` reads the walk at once,
        so callers of the core get the error at the call.)

        :raises PathNotFoundError: ``path`` is not a directory (on the first ``next()``).
        """
        for child in self.list(path):
            info = self.stat(child)
            if info.is_dir:
                yield from self.walk(child)
            else:
                yield info

    @abc.abstractmethod
    def move(self, source: str, destination: str) -> None:
        """Move the file at ``source`` to ``destination``, replacing what is there.

        Readers of ``destination`` see the old or the new content, never a partial one.
        Once it returns, ``destination`` is as durable as a committed :meth:`writer`, even
        when ``source`` was adopted with ``durable=False``.

        :raises PathNotFoundError: no file at ``source`` (a directory counts as missing).
        """

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Delete the file at ``path``, or the directory and everything under it.

        Nothing outside ``path`` is touched (``/a/b`` never removes ``/a/bc``).

        :raises PathNotFoundError: nothing is there.
        """

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """Return a URL a client may use to fetch ``path`` directly, or ``None``.

        ``None`` means the registry serves the bytes itself. Drivers with the
        :attr:`Capability.REDIRECT` capability return signed, expiring URLs.

        :raises PathNotFoundError: a driver that redirects finds no file at ``path``.
        """
        return None

    def redirect_url_of_file(self, path: str, method: str = "GET") -> str | None:
        """:meth:`redirect_url` of a path the caller knows holds a file (the registry's
        blob-descriptor cache answered for it): a driver may skip its own existence
        check. This default is :meth:`redirect_url`."""
        return self.redirect_url(path, method)

    #: A local directory where callers may create files for :meth:`adopt_file` to take
    #: over cheaply (the file driver: its staging directory, on the same filesystem as
    #: the data), or ``None``: callers then use the system's temporary directory.
    spool_directory: str | None = None

    def adopt_file(self, local_path: str, path: str, *, durable: bool = True) -> None:
        """Store the content of the local, complete file ``local_path`` at ``path``.

        Atomic like a committed :meth:`writer`, and durable unless ``durable=False``:
        then the caller only ever makes it durable through :meth:`move` or
        :meth:`concatenate` (an upload's chunk), and a machine crash may lose or truncate
        it; drivers whose writes are durable anyway ignore the flag. The driver may take
        the file over (the file driver renames it into place when it lies on its
        filesystem): afterwards ``local_path`` may be gone, and the caller removes it if
        not. This default streams it through :meth:`writer`.
        """
        with open(local_path, "rb") as source, self.writer(path) as writer:
            while chunk := source.read(CHUNK_SIZE):
                writer.write(chunk)
            writer.commit()

    def concatenate(self, sources: Sequence[str], destination: str) -> None:
        """Write the files at ``sources``, one after the other, to ``destination``.

        Durable and atomic like a committed :meth:`writer`; the sources stay. This
        default streams them through :meth:`writer` (the file driver copies in the kernel).

        :raises PathNotFoundError: a source is missing (nothing is written).
        """
        with self.writer(destination) as writer:
            for source in sources:
                with self.reader(source) as stream:
                    while chunk := stream.read(CHUNK_SIZE):
                        writer.write(chunk)
            writer.commit()

    def join(self, sources: Sequence[str], destination: str) -> None:
        """Move the files at ``sources``, one after the other, into one file at
        ``destination`` (an upload's chunks becoming its blob).

        Durable and atomic like a committed :meth:`writer`; the sources are gone
        afterwards. A driver may reuse the sources' storage for the destination instead
        of copying it (Swift: their segments); that is why the sources go. If it fails,
        ``destination`` is unchanged and the sources stay; a process killed in the
        middle may lose the sources (never the destination's previous content). This
        default is :meth:`move` for one source, else :meth:`concatenate` then a
        :meth:`delete` of each source.

        :raises PathNotFoundError: a source is missing (nothing is written).
        """
        if len(sources) == 1:
            self.move(sources[0], destination)
            return
        self.concatenate(sources, destination)
        for source in sources:
            with contextlib.suppress(PathNotFoundError):
                self.delete(source)

    def close(self) -> None:  # noqa: B027 - optional hook with an empty default
        """Release connections and other resources held by the driver."""


__all__ = [
    "CHUNK_SIZE",
    "Capability",
    "DriverOption",
    "FileInfo",
    "FileWriter",
    "PathNotFoundError",
    "StorageDriver",
    "UnsupportedMethodError",
]
