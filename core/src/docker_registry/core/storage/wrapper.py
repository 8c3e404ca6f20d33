"""The core's front door to a driver: path checks, operator-readable errors, caching.

Services talk to :class:`Storage`, never to a driver directly. It refuses invalid paths
before the driver sees them, turns any failure into a typed
:class:`~.errors.StorageError` that names the driver, the operation and the path, and
reads small files through an optional cache that every write invalidates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO, Protocol, TypeVar

from . import paths
from .cache import FileCache, GuardedCache
from .descriptors import DescriptorCache
from .driver import FileInfo, FileWriter, StorageDriver
from .errors import PathNotFoundError, StorageError

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")


class StorageObserver(Protocol):
    """Told of every operation and cache lookup (the metrics, :mod:`..ops.metrics`)."""

    def storage_operation(
        self, driver: str, operation: str, seconds: float, error: BaseException | None
    ) -> None: ...

    def cache_lookup(self, hit: bool) -> None: ...


class Storage:
    """Validating, error-annotating, caching wrapper around one :class:`StorageDriver`.

    :param driver: the configured driver instance.
    :param cache: a cache of small files (``get_content``); written through on
        ``put_content``, invalidated on writer commits, moves and deletes.
    """

    #: Told of each operation's time and error (``None``: nobody is counting).
    observer: StorageObserver | None = None

    def __init__(self, driver: StorageDriver, cache: FileCache | None = None) -> None:
        self.driver = driver
        self.cache = GuardedCache(cache) if cache is not None else None
        #: ``stat`` of files that never change once written (see :mod:`.descriptors`).
        self.descriptors: DescriptorCache | None = None

    def use_descriptors(self, descriptors: DescriptorCache | None) -> None:
        """Answer ``stat`` of immutable files from ``descriptors`` (``None``: always ask)."""
        self.descriptors = descriptors

    def use_cache(self, cache: FileCache | None) -> None:
        """Read small files through ``cache`` from now on (``None`` turns caching off)."""
        self.cache = GuardedCache(cache) if cache is not None else None

    @property
    def name(self) -> str:
        return self.driver.name

    @property
    def capabilities(self) -> frozenset[str]:
        return self.driver.capabilities

    def _call(
        self, operation: str, path: str, call: Callable[[], _Result], *, allow_root: bool = False
    ) -> _Result:
        observer = self.observer
        if observer is None:
            return self._checked(operation, path, call, allow_root)
        started = time.perf_counter()
        try:
            result = self._checked(operation, path, call, allow_root)
        except StorageError as exc:
            observer.storage_operation(self.name, operation, time.perf_counter() - started, exc)
            raise
        observer.storage_operation(self.name, operation, time.perf_counter() - started, None)
        return result

    def _checked(
        self, operation: str, path: str, call: Callable[[], _Result], allow_root: bool
    ) -> _Result:
        try:
            paths.validate_path(path, allow_root=allow_root)
            return call()
        except StorageError as exc:
            raise exc.with_context(driver=self.name, operation=operation, path=path) from None
        except Exception as exc:
            log.exception("storage driver %s failed in %s %s", self.name, operation, path)
            raise StorageError(
                f"{type(exc).__name__}: {exc}", driver=self.name, operation=operation, path=path
            ) from exc

    def get_content(self, path: str) -> bytes:
        if self.cache is None:
            return self._call("get_content", path, lambda: self.driver.get_content(path))
        cached = self.cache.get(path)
        if self.observer is not None:
            self.observer.cache_lookup(cached is not None)
        if cached is not None:
            return cached
        content = self._call("get_content", path, lambda: self.driver.get_content(path))
        self.cache.set(path, content)
        return content

    def put_content(self, path: str, data: bytes) -> None:
        # NOTE: always write storage, then the cache: skipping "unchanged" writes (the
        # seed's Q13) loses data when storage was wiped behind the cache's back.
        self._call("put_content", path, lambda: self.driver.put_content(path, data))
        if self.cache is not None:
            self.cache.invalidate(path)
            self.cache.set(path, bytes(data))

    def put_private(self, path: str, data: bytes) -> None:
        """See :meth:`StorageDriver.put_private` (never cached: it holds a secret)."""
        self._call("put_private", path, lambda: self.driver.put_private(path, data))
        if self.cache is not None:
            self.cache.invalidate(path)

    def reader(self, path: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        """See :meth:`StorageDriver.reader`; ``length``: bytes the caller will read at
        most (a driver may fetch no further)."""
        try:
            if length is None:
                return self._call("reader", path, lambda: self.driver.reader(path, offset))
            return self._call(
                "reader", path, lambda: self.driver.range_reader(path, offset, length)
            )
        except PathNotFoundError:
            if self.descriptors is not None:
                self.descriptors.vanished(path)
            raise

    def writer(self, path: str, append: bool = False) -> FileWriter:
        writer = self._call("writer", path, lambda: self.driver.writer(path, append))
        return _WrappedWriter(self, path, writer)

    @property
    def spool_directory(self) -> str | None:
        """See :attr:`StorageDriver.spool_directory`."""
        return self.driver.spool_directory

    def adopt_file(self, local_path: str, path: str, *, durable: bool = True) -> None:
        """See :meth:`StorageDriver.adopt_file`."""
        try:
            self._call(
                "adopt_file",
                path,
                lambda: self.driver.adopt_file(local_path, path, durable=durable),
            )
        finally:
            if self.cache is not None:
                self.cache.invalidate(path)

    def concatenate(self, sources: Sequence[str], destination: str) -> None:
        """See :meth:`StorageDriver.concatenate`."""

        def concatenate() -> None:
            for source in sources:
                paths.validate_path(source)
            self.driver.concatenate(sources, destination)

        try:
            self._call("concatenate", destination, concatenate)
        finally:
            if self.cache is not None:
                self.cache.invalidate(destination)

    def join(self, sources: Sequence[str], destination: str) -> None:
        """See :meth:`StorageDriver.join`."""

        def join() -> None:
            for source in sources:
                paths.validate_path(source)
            self.driver.join(sources, destination)

        try:
            self._call("join", destination, join)
        finally:
            if self.descriptors is not None:
                for source in sources:
                    self.descriptors.forget(source)
            if self.cache is not None:
                for path in (*sources, destination):
                    self.cache.invalidate(path)

    def stat(self, path: str, *, fresh: bool = False) -> FileInfo:
        """See :meth:`StorageDriver.stat`; ``fresh``: ask storage even when the answer is
        cached (a check that guards a write, such as a manifest's blobs after GC)."""
        descriptors = self.descriptors
        if descriptors is None or not descriptors.cacheable(path):
            return self._call("stat", path, lambda: self.driver.stat(path), allow_root=True)
        cached, stamp = descriptors.find(path, fresh=fresh)
        if cached is not None:
            return cached
        try:
            info = self._call("stat", path, lambda: self.driver.stat(path), allow_root=True)
        except PathNotFoundError:
            descriptors.vanished(path, stamp)
            raise
        descriptors.remember(path, info, stamp)
        return info

    def list(self, path: str) -> list[str]:
        return self._call("list", path, lambda: self.driver.list(path), allow_root=True)

    def walk(self, path: str) -> Iterator[FileInfo]:
        return self._call("walk", path, lambda: iter(list(self.driver.walk(path))), allow_root=True)

    def move(self, source: str, destination: str) -> None:
        def move() -> None:
            paths.validate_path(destination)
            self.driver.move(source, destination)

        try:
            self._call("move", source, move)
        finally:
            if self.descriptors is not None:
                self.descriptors.forget(source)
        if self.cache is not None:
            self.cache.invalidate(source)
            self.cache.invalidate(destination)

    def delete(self, path: str) -> None:
        try:
            self._call("delete", path, lambda: self.driver.delete(path))
        finally:
            if self.descriptors is not None:
                self.descriptors.forget(path)
            # NOTE: a directory's children are forgotten too (the seed's stale-key bug).
            if self.cache is not None:
                self.cache.invalidate(path, recursive=True)

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """See :meth:`StorageDriver.redirect_url`; a path the descriptor cache holds is
        known to be a file, so the driver is spared its existence check."""
        descriptors = self.descriptors
        if (
            descriptors is not None
            and descriptors.cacheable(path)
            and descriptors.find(path)[0] is not None
        ):
            return self._call(
                "redirect_url", path, lambda: self.driver.redirect_url_of_file(path, method)
            )
        return self._call("redirect_url", path, lambda: self.driver.redirect_url(path, method))

    def exists(self, path: str, *, fresh: bool = False) -> bool:
        """True when a file or directory is at ``path`` (``fresh``: see :meth:`stat`)."""
        try:
            self.stat(path, fresh=fresh)
        except PathNotFoundError:
            return False
        return True

    def is_file(self, path: str) -> bool:
        """True when a file is at ``path`` (a directory is none; see
        :meth:`StorageDriver.file_info`), from the descriptor cache when it knows."""
        descriptors = self.descriptors
        if descriptors is None or not descriptors.cacheable(path):
            info = self._call("stat", path, lambda: self.driver.file_info(path))
            return info is not None
        cached, stamp = descriptors.find(path)
        if cached is not None:
            return True
        info = self._call("stat", path, lambda: self.driver.file_info(path))
        if info is None:
            descriptors.vanished(path, stamp)
            return False
        descriptors.remember(path, info, stamp)
        return True

    def close(self) -> None:
        if self.descriptors is not None:
            self.descriptors.close()
        self.driver.close()


class _WrappedWriter(FileWriter):
    """A driver's writer whose errors name the driver and path, and that forgets the
    path's cached content once committed."""

    def __init__(self, storage: Storage, path: str, inner: FileWriter) -> None:
        self._storage = storage
        self._path = path
        self._inner = inner

    def write(self, data: bytes) -> int:
        return self._storage._call("write", self._path, lambda: self._inner.write(data))

    @property
    def size(self) -> int:
        return self._inner.size

    def commit(self) -> None:
        try:
            self._storage._call("commit", self._path, self._inner.commit)
        finally:
            if self._storage.cache is not None:
                self._storage.cache.invalidate(self._path)

    def cancel(self) -> None:
        self._storage._call("cancel", self._path, self._inner.cancel)

    def close(self) -> None:
        self._storage._call("close", self._path, self._inner.close)
