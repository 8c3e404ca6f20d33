"""The v2 blob-descriptor cache of a registry's storage (see
:mod:`docker_registry.core.storage.descriptors`): which paths it keeps, where the host's
removal counter lives, and how other hosts hear of removals."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ..coordination import EVERY_KEY, host_directory
from ..storage.descriptors import GENERATION_FILE, TOPIC, DescriptorCache, HostGeneration
from . import layout

if TYPE_CHECKING:
    from ..registry import Registry

log = logging.getLogger(__name__)


def use_descriptor_cache(
    registry: Registry, capacity: int, *, ask_shared: bool = True
) -> DescriptorCache:
    """Answer ``stat`` of blob data and repository links of ``registry.storage`` from
    memory, ``capacity`` entries at most (``0``: none), then from the tier a plugin
    shares between processes (hook ``registry_shared_descriptors``) if one does.

    :param ask_shared: ``False``: only tell the other processes of this one's removals,
        as a garbage collection does (with ``capacity`` 0).
    """
    storage = registry.storage
    if storage.descriptors is not None:
        return storage.descriptors
    shared = registry.plugins.hook.registry_shared_descriptors(registry=registry)
    coordinator = registry.coordinator
    generation = HostGeneration(os.path.join(host_directory(registry), GENERATION_FILE))

    def announce() -> None:
        if coordinator is None:
            return
        try:
            coordinator.announce(TOPIC, EVERY_KEY)
        except Exception:
            log.warning(
                "could not announce a blob or link removal to the other hosts: their "
                "descriptor caches may answer for it until they restart (or set "
                "descriptor_cache_size: 0)",
                exc_info=True,
            )

    cache = DescriptorCache(
        cacheable=layout.is_descriptor,
        affects=layout.may_hold_descriptors,
        generation=generation,
        capacity=capacity,
        announce=announce,
        shared=shared,
        ask_shared=ask_shared,
    )
    if coordinator is not None and capacity > 0:
        coordinator.listen(TOPIC, lambda _key: cache.clear())
    storage.use_descriptors(cache)
    return cache
