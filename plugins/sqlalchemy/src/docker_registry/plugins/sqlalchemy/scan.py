"""Find every repository in storage, v1 and v2, for the index's initial fill and rebuilds.

The scan is the core's (:mod:`docker_registry.core.repository_scan`, the storage-only form of
``registry.repositories()``); the index also asks whether a v2 repository still holds a
manifest when one is deleted.
"""

from __future__ import annotations

from docker_registry.core.repository_scan import (
    all_repositories,
    v1_repositories,
    v2_has_manifests,
    v2_repositories,
)

__all__ = ["all_repositories", "v1_repositories", "v2_has_manifests", "v2_repositories"]
