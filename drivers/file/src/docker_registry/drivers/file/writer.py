"""The file driver's writer: a temporary file in staging, renamed into place on commit."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from docker_registry.core.storage import FileWriter, StorageError

from .fsio import _MISSING, _O_CLOEXEC, _copy, _discard, _write_all

if TYPE_CHECKING:
    from .driver import FileDriver


class FileDriverWriter(FileWriter):
    """A write staged in a temporary file, renamed onto the path by :meth:`commit`.

    With ``append=True`` the current content is copied into the temporary file first
    (``copy_file_range``: in the kernel, a reflink on filesystems that support it).
    """

    def __init__(self, driver: FileDriver, path: str, local: str, *, append: bool) -> None:
        self._driver = driver
        self._path = path
        self._local = local
        self._descriptor, self._temp = driver._stage("writer", path)
        self._size = 0
        self._state = "open"
        if append:
            try:
                self._size = self._copy_existing()
            except BaseException:
                self.cancel()
                raise

    def _copy_existing(self) -> int:
        try:
            source = os.open(self._local, os.O_RDONLY | _O_CLOEXEC)
        except OSError as exc:
            if exc.errno in _MISSING:
                return 0  # appending to nothing starts an empty file
            raise self._driver._failure(exc, "writer", self._path, "open for append") from exc
        try:
            if stat.S_ISDIR(os.fstat(source).st_mode):
                return 0  # a directory holds no content; commit will refuse the path
            return _copy(source, self._descriptor)
        except OSError as exc:
            raise self._driver._failure(exc, "writer", self._path, "copy for append") from exc
        finally:
            os.close(source)

    def _check_open(self, action: str) -> None:
        if self._state != "open":
            raise StorageError(
                f"cannot {action}: the writer is already {self._state}",
                driver=self._driver.name,
                operation="writer",
                path=self._path,
            )

    def write(self, data: bytes) -> int:
        self._check_open("write")
        view = memoryview(data).cast("B")
        try:
            # PERF: unbuffered: callers write CHUNK_SIZE pieces, one syscall each.
            _write_all(self._descriptor, view)
        except OSError as exc:
            raise self._driver._failure(exc, "writer", self._path, f"write {self._temp}") from exc
        self._size += len(view)
        return len(view)

    @property
    def size(self) -> int:
        return self._size

    def commit(self) -> None:
        self._check_open("commit")
        # NOTE: whatever happens below, the descriptor is closed and the writer spent.
        self._state = "broken (its commit failed)"
        self._driver._publish(self._descriptor, self._temp, self._local, "commit", self._path)
        self._state = "committed"

    def cancel(self) -> None:
        if self._state != "open":
            return
        self._state = "cancelled"
        try:
            os.close(self._descriptor)
        finally:
            _discard(self._temp)

    def close(self) -> None:
        self.cancel()
