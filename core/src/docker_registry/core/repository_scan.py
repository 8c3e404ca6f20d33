"""Every repository name in storage, v1 and v2, found by listing the two layouts.

Where repositories live (the layouts are :mod:`.v1.layout` and :mod:`.v2.layout`)::

    /repositories/<ns>/<quoted repo>/...            v1: "<ns>/<repo>", repo decoded twice
    /docker/registry/v2/repositories/<name>/        v2: <name> has one or more components
        ├── _manifests/...                          a repository is a directory holding
        ├── _layers/...                             _manifests; "_" directories are never
        └── _uploads/...                            entered

Used by the built-in ``storage`` search backend (each query) and by index plugins (their
initial fill and rebuilds). Listings that vanish or turn out to be files are skipped:
storage may change meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .storage import PathNotFoundError, Storage
from .v1 import layout as v1_layout
from .v2 import layout as v2_layout


def list_children(storage: Storage, path: str) -> list[str]:
    """The children of ``path``; none when it is absent, a file, or removed meanwhile.

    :raises StorageError: the backend failed (an outage is not an empty registry).
    """
    try:
        return storage.list(path)
    except PathNotFoundError:
        return []


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def v1_repositories(storage: Storage) -> Iterator[str]:
    """``<ns>/<repo>`` of every v1 repository directory."""
    for namespace_path in list_children(storage, v1_layout.repositories_path()):
        namespace = v1_layout.decode_component(_basename(namespace_path))
        for repository_path in list_children(storage, namespace_path):
            # NOTE: repository names are double-encoded on storage (spec §1.5).
            encoded = _basename(repository_path)
            repository = v1_layout.decode_component(v1_layout.decode_component(encoded))
            yield f"{namespace}/{repository}"


def v2_repositories(storage: Storage) -> Iterator[str]:
    """The name of every v2 repository (see :func:`.v2.layout.is_repository`)."""
    root = v2_layout.REPOSITORIES
    pending = [root]
    while pending:
        directory = pending.pop()
        children = list_children(storage, directory)
        names = {_basename(child) for child in children}
        if directory != root and v2_layout.is_repository(names):
            yield directory[len(root) + 1 :]
        subdirectories = [c for c in children if v2_layout.is_name_component(_basename(c))]
        pending.extend(sorted(subdirectories, reverse=True))


def all_repositories(storage: Storage, found: Callable[[int], None] | None = None) -> list[str]:
    """Every repository name in storage, v1 and v2, sorted and without duplicates.

    :param found: called with the running count while scanning (a progress display).
    """
    names: set[str] = set()
    for iterator in (v1_repositories(storage), v2_repositories(storage)):
        for name in iterator:
            names.add(name)
            if found is not None:
                found(len(names))
    return sorted(names)
