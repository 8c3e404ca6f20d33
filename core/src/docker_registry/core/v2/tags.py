"""Tag listing and the repository catalog, with the spec's ``n``/``last`` pagination."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..repository_scan import v2_repositories
from ..storage import Storage

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
        names = set(v2_repositories(self.storage))
        if self.bridge is not None:
            names.update(self.bridge.repositories())
        return sorted(names)
