"""The ``inmemory`` driver: a dictionary of paths, for tests and throwaway registries.

Every instance has its own namespace; nothing survives the process. Paths are validated
here too (not only by the :class:`~.wrapper.Storage` wrapper), so that a direct caller
cannot store keys that no listing would ever show.
"""

from __future__ import annotations

import io
import threading
import time
from typing import BinaryIO

from . import paths
from .driver import Capability, FileInfo, FileWriter, StorageDriver
from .errors import InvalidOffsetError, PathNotFoundError, StorageError


class InMemoryDriver(StorageDriver):
    """Stores files as bytes in a dict keyed by path; directories are implied."""

    name = "inmemory"
    capabilities = frozenset({Capability.SNAPSHOT_READS})

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def _content(self, path: str) -> bytes:
        paths.validate_path(path)
        try:
            return self._files[path][0]
        except KeyError:
            raise PathNotFoundError(path=path) from None

    def _is_dir(self, path: str) -> bool:
        prefix = "/" if path == paths.ROOT else path + "/"
        return any(key.startswith(prefix) for key in self._files)

    def _check_storable(self, path: str) -> None:
        """Refuse to store a file where a directory is, or below a file (lock held)."""
        paths.validate_path(path)
        if self._is_dir(path):
            raise StorageError("a directory is already at this path", path=path)
        for ancestor in _ancestors(path):
            if ancestor in self._files:
                raise StorageError(f"{ancestor} is a file, not a directory", path=path)

    def _store(self, path: str, data: bytes) -> None:
        with self._lock:
            self._check_storable(path)
            self._files[path] = (data, time.time())

    def get_content(self, path: str) -> bytes:
        return self._content(path)

    def put_content(self, path: str, data: bytes) -> None:
        self._store(path, bytes(data))

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        if offset < 0:
            raise InvalidOffsetError(f"negative offset {offset}", path=path)
        stream = io.BytesIO(self._content(path))
        stream.seek(offset)
        return stream

    def writer(self, path: str, append: bool = False) -> FileWriter:
        paths.validate_path(path)
        initial = self._files.get(path, (b"", 0.0))[0] if append else b""
        return _InMemoryWriter(self, path, initial)

    def stat(self, path: str) -> FileInfo:
        paths.validate_path(path, allow_root=True)
        # NOTE: the lock keeps writers from resizing the dict while _is_dir iterates it.
        with self._lock:
            entry = self._files.get(path)
            if entry is not None:
                return FileInfo(path, len(entry[0]), entry[1], False)
            if path == paths.ROOT or self._is_dir(path):
                return FileInfo(path, 0, None, True)
        raise PathNotFoundError(path=path)

    def list(self, path: str) -> list[str]:
        paths.validate_path(path, allow_root=True)
        prefix = "/" if path == paths.ROOT else path + "/"
        with self._lock:
            keys = list(self._files)
        children = {
            prefix + key[len(prefix) :].split("/", 1)[0] for key in keys if key.startswith(prefix)
        }
        if not children and path != paths.ROOT:
            raise PathNotFoundError("not a directory", path=path)
        return sorted(children)

    def move(self, source: str, destination: str) -> None:
        paths.validate_path(source)
        with self._lock:
            if source not in self._files:
                raise PathNotFoundError(path=source)
            if destination != source:
                self._check_storable(destination)
                entry = self._files.pop(source)
                self._files[destination] = (entry[0], time.time())

    def delete(self, path: str) -> None:
        paths.validate_path(path)
        with self._lock:
            doomed = [key for key in self._files if paths.is_under(key, path)]
            if not doomed:
                raise PathNotFoundError(path=path)
            for key in doomed:
                del self._files[key]


class _InMemoryWriter(FileWriter):
    def __init__(self, driver: InMemoryDriver, path: str, initial: bytes) -> None:
        self._driver = driver
        self._path = path
        self._buffer = io.BytesIO()
        self._buffer.write(initial)
        self._done = False

    def write(self, data: bytes) -> int:
        if self._done:
            raise StorageError("writer already committed, cancelled or closed", path=self._path)
        return self._buffer.write(data)

    @property
    def size(self) -> int:
        return self._buffer.tell()

    def commit(self) -> None:
        if self._done:
            raise StorageError("writer already committed, cancelled or closed", path=self._path)
        self._driver.put_content(self._path, self._buffer.getvalue())
        self._done = True

    def cancel(self) -> None:
        self._done = True
        self._buffer = io.BytesIO()

    def close(self) -> None:
        if not self._done:
            self.cancel()


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")[1:-1]
    return ["/" + "/".join(parts[: index + 1]) for index in range(len(parts))]
