"""Every repository name in storage, v1 and v2, for tools that hold a storage and no
running registry (index rebuilds, ``verify``). A running registry answers the same through
:meth:`.registry.Registry.repositories`, from the names each API registers.

Where repositories live is each API's business (:func:`.v1.tags.repository_names`,
:func:`.v2.tags.repository_names`). Listings that vanish or turn out to be files are
skipped: storage may change meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from .registry import merge_names
from .storage import Storage
from .v1.tags import repository_names as v1_repositories
from .v2.tags import has_manifests as v2_has_manifests
from .v2.tags import repository_names as v2_repositories

__all__ = ["all_repositories", "v1_repositories", "v2_has_manifests", "v2_repositories"]


def all_repositories(storage: Storage, found: Callable[[int], None] | None = None) -> list[str]:
    """Every repository name in storage, v1 and v2, sorted and without duplicates.

    :param found: called with the running count while scanning (a progress display).
    """
    return merge_names([v1_repositories(storage), v2_repositories(storage)], found)
