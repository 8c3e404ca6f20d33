"""Typed storage errors: every one names the driver, the operation and the path."""

from __future__ import annotations


class StorageError(Exception):
    """A storage operation failed.

    The message reads ``[<driver>] <operation> <path>: <detail>`` so that an operator sees
    which backend, which call and which key failed without a traceback.

    :param detail: what went wrong, in words an operator can act on.
    :param driver: the driver's entry-point name (``file``, ``s3``...).
    :param operation: the driver method that failed (``put_content``, ``move``...).
    :param path: the storage path the operation was working on.
    """

    def __init__(
        self,
        detail: str = "",
        *,
        driver: str | None = None,
        operation: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.driver = driver
        self.operation = operation
        self.path = path

    def __str__(self) -> str:
        where = " ".join(part for part in (self.operation, self.path) if part)
        prefix = f"[{self.driver}] " if self.driver else ""
        if where:
            return f"{prefix}{where}: {self.detail}" if self.detail else f"{prefix}{where}"
        return f"{prefix}{self.detail}"

    def with_context(
        self, *, driver: str | None = None, operation: str | None = None, path: str | None = None
    ) -> StorageError:
        """Fill in whatever context the raiser did not know, and return self."""
        self.driver = self.driver or driver
        self.operation = self.operation or operation
        self.path = self.path or path
        return self


class PathNotFoundError(StorageError):
    """Nothing is stored at the path (neither a file nor a directory)."""

    def __init__(self, detail: str = "path not found", **context: str | None) -> None:
        super().__init__(detail, **context)


class InvalidPathError(StorageError):
    """The path is not a valid storage path or escapes the driver's root."""


class StorageFullError(StorageError):
    """The backend has no room left for this write: a full disk, a used-up quota, a bucket
    at its size limit.

    Nothing of the failed write may stay behind (no partial file, no temporary file),
    and what was stored before must stay readable. The core answers ``507 Insufficient
    Storage``; the write succeeds again, with no restart, once room is made. The detail
    should name the place that is full (a directory, a bucket) so that an operator knows
    what to free or grow.
    """


class InvalidOffsetError(StorageError):
    """A read or append offset is negative or does not line up with the stored data."""


class UnsupportedMethodError(StorageError):
    """The driver does not implement this operation (for example ``redirect_url``)."""
