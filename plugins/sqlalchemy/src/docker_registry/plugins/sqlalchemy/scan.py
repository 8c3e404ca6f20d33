"""Find every repository in storage, v1 and v2, for the index's initial fill and rebuilds.

Where repositories live (the layouts are the core's; see ``docker_registry.core.v1.layout``
and ``docker_registry.core.v2.layout``)::

    /repositories/<ns>/<quoted repo>/...            v1: "<ns>/<repo>", repo decoded twice
    /docker/registry/v2/repositories/<name>/        v2: <name> has one or more components
        ├── _manifests/...                          a repository is a directory holding
        ├── _layers/...                             _manifests; "_" directories are never
        └── _uploads/...                            entered

Listings that vanish or turn out to be files are skipped: storage may change meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from docker_registry.core.storage import Storage, StorageError
from docker_registry.core.v1 import layout as v1_layout
from docker_registry.core.v2 import layout as v2_layout


def _list(storage: Storage, path: str) -> list[str]:
    try:
        return storage.list(path)
    except StorageError:
        return []  # absent, a file, or removed meanwhile


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def v1_repositories(storage: Storage) -> Iterator[str]:
    """``<ns>/<repo>`` of every v1 repository directory."""
    for namespace_path in _list(storage, v1_layout.repositories_path()):
        namespace = v1_layout.decode_component(_basename(namespace_path))
        for repository_path in _list(storage, namespace_path):
            # NOTE: repository names are double-encoded on storage (spec §1.5).
            encoded = _basename(repository_path)
            repository = v1_layout.decode_component(v1_layout.decode_component(encoded))
            yield f"{namespace}/{repository}"


def v2_repositories(storage: Storage) -> Iterator[str]:
    """The name of every v2 repository (a directory holding ``_manifests``)."""
    root = v2_layout.REPOSITORIES
    pending = [root]
    while pending:
        directory = pending.pop()
        children = _list(storage, directory)
        names = {_basename(child) for child in children}
        if "_manifests" in names and directory != root:
            yield directory[len(root) + 1 :]
        subdirectories = [child for child in children if not _basename(child).startswith("_")]
        pending.extend(sorted(subdirectories, reverse=True))


def v2_has_manifests(storage: Storage, name: str) -> bool:
    """True while repository ``name`` still holds a manifest revision or a tag."""
    base = f"{v2_layout.repository(name)}/_manifests"
    revisions = [
        digest
        for algorithm in _list(storage, f"{base}/revisions")
        for digest in _list(storage, algorithm)
    ]
    return bool(revisions or _list(storage, f"{base}/tags"))


def all_repositories(storage: Storage, found: Callable[[int], None] | None = None) -> list[str]:
    """Every repository name in storage, v1 and v2, sorted and without duplicates.

    :param found: called with the running count while scanning (a progress display).
    """
    names: set[str] = set()
    for name in _chain(v1_repositories(storage), v2_repositories(storage)):
        names.add(name)
        if found is not None:
            found(len(names))
    return sorted(names)


def _chain(*iterators: Iterator[str]) -> Iterator[str]:
    for iterator in iterators:
        yield from iterator
