"""The core's front door to a driver: path checks and operator-readable errors.

Services talk to :class:`Storage`, never to a driver directly. It refuses invalid paths
before the driver sees them, and turns any failure into a typed
:class:`~.errors.StorageError` that names the driver, the operation and the path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar

from . import paths
from .driver import FileInfo, FileWriter, StorageDriver
from .errors import PathNotFoundError, StorageError

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")


class Storage:
    """Validating, error-annotating wrapper around one :class:`StorageDriver`.

    :param driver: the configured driver instance.
    """

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    @property
    def name(self) -> str:
        return self.driver.name

    @property
    def capabilities(self) -> frozenset[str]:
        return self.driver.capabilities

    def _call(
        self, operation: str, path: str, call: Callable[[], _Result], *, allow_root: bool = False
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
        return self._call("get_content", path, lambda: self.driver.get_content(path))

    def put_content(self, path: str, data: bytes) -> None:
        self._call("put_content", path, lambda: self.driver.put_content(path, data))

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return self._call("reader", path, lambda: self.driver.reader(path, offset))

    def writer(self, path: str, append: bool = False) -> FileWriter:
        return self._call("writer", path, lambda: self.driver.writer(path, append))

    def stat(self, path: str) -> FileInfo:
        return self._call("stat", path, lambda: self.driver.stat(path), allow_root=True)

    def list(self, path: str) -> list[str]:
        return self._call("list", path, lambda: self.driver.list(path), allow_root=True)

    def walk(self, path: str) -> Iterator[FileInfo]:
        return self._call("walk", path, lambda: iter(list(self.driver.walk(path))), allow_root=True)

    def move(self, source: str, destination: str) -> None:
        def move() -> None:
            paths.validate_path(destination)
            self.driver.move(source, destination)

        self._call("move", source, move)

    def delete(self, path: str) -> None:
        self._call("delete", path, lambda: self.driver.delete(path))

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return self._call("redirect_url", path, lambda: self.driver.redirect_url(path, method))

    def exists(self, path: str) -> bool:
        """True when a file or directory is at ``path``."""
        try:
            self.stat(path)
        except PathNotFoundError:
            return False
        return True

    def close(self) -> None:
        self.driver.close()
