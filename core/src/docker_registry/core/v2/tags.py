"""Tag listing and the repository catalog, with the spec's ``n``/``last`` pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..storage import Storage, list_children
from . import layout

if TYPE_CHECKING:
    from .bridge import V1Bridge

#: Largest page served when the client asks for more (or for none).
MAX_PAGE = 10000


def paginate(items: list[str], n: int | None, last: str | None) -> tuple[list[str], bool]:
    """The page of sorted ``items`` after ``last``, at most ``n`` long.

    :returns: the page, and whether more items follow it.
    """
    if last:
        items = [item for item in items if item > last]
    limit = MAX_PAGE if n is None else min(n, MAX_PAGE)
    return items[:limit], len(items) > limit


class Catalog:
    """Repository names found under ``repositories/``, as the Go registry finds them, and
    the tagged v1 repositories the bridge serves.

    :param storage: the registry's storage.
    :param bridge: lists v1 repositories (``None``: v2 only).
    """

    def __init__(self, storage: Storage, bridge: V1Bridge | None = None) -> None:
        self.storage = storage
        self.bridge = bridge

    def repositories(self) -> list[str]:
        """Every repository name, in lexical order."""
        names = set(repository_names(self.storage))
        if self.bridge is not None:
            names.update(self.bridge.repositories())
        return sorted(names)


def repository_names(
    storage: Storage, holds: Callable[[Iterable[str]], bool] = layout.is_repository
) -> Iterator[str]:
    """The name of every v2 repository folder whose children's names ``holds`` accepts
    (default :func:`.layout.is_repository`: it has manifests)."""
    root = layout.REPOSITORIES
    pending = [root]
    while pending:
        directory = pending.pop()
        children = list_children(storage, directory)
        names = {layout.basename(child) for child in children}
        if directory != root and holds(names):
            yield directory[len(root) + 1 :]
        subdirectories = [c for c in children if layout.is_name_component(layout.basename(c))]
        pending.extend(sorted(subdirectories, reverse=True))


def has_manifests(storage: Storage, name: str) -> bool:
    """True while repository ``name`` still holds a manifest revision or a tag."""
    revisions = [
        digest
        for algorithm in list_children(storage, layout.revisions_dir(name))
        for digest in list_children(storage, algorithm)
    ]
    return bool(revisions or list_children(storage, layout.tags_dir(name)))
