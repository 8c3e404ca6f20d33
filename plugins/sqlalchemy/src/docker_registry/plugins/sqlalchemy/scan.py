"""Find every repository in storage, v1 and v2, for the index's initial fill and rebuilds.

The scan itself is the core's (:mod:`docker_registry.core.repository_scan`, also behind the
built-in ``storage`` search backend); this module adds what only the index needs.
"""

from __future__ import annotations

from docker_registry.core.repository_scan import (
    all_repositories,
    list_children,
    v1_repositories,
    v2_repositories,
)
from docker_registry.core.storage import Storage
from docker_registry.core.v2 import layout as v2_layout

__all__ = ["all_repositories", "v1_repositories", "v2_has_manifests", "v2_repositories"]


def v2_has_manifests(storage: Storage, name: str) -> bool:
    """True while repository ``name`` still holds a manifest revision or a tag."""
    base = f"{v2_layout.repository(name)}/_manifests"
    revisions = [
        digest
        for algorithm in list_children(storage, f"{base}/revisions")
        for digest in list_children(storage, algorithm)
    ]
    return bool(revisions or list_children(storage, f"{base}/tags"))
