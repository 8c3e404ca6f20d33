"""Listings of a storage that may change under the reader."""

from __future__ import annotations

from .errors import PathNotFoundError
from .wrapper import Storage


def list_children(storage: Storage, path: str) -> list[str]:
    """The children of ``path``; none when it is absent, a file, or removed meanwhile.

    :raises StorageError: the backend failed (an outage is not an empty listing).
    """
    try:
        return storage.list(path)
    except PathNotFoundError:
        return []
