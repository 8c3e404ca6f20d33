"""Where v1 images are queued for their diff (spec R7 step 8, R10), without a queue in core.

The seed pushed image ids onto a Redis list from the registry and computed diffs in a
separate worker. The core knows no Redis: a plugin offers the queue through the
``registry_diff_queue`` hook (``registry-plugin-redis`` does, with the ``cache``
section) and ships the worker. The seed's switch stays: ``cache.host`` set means "diffs
on"; without it ``GET .../diff`` answers ``400 Diff queue is disabled``.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class DiffQueue(Protocol):
    """A queue of image ids whose ``_diff`` a worker computes."""

    def enqueue(self, image_id: str) -> None:
        """Queue ``image_id``; log, never raise, when the queue cannot be reached."""


def diffs_enabled(settings: Any) -> bool:
    """The seed's switch: the Redis ``cache`` section names a host."""
    return bool(settings.get("cache.host"))


def create_diff_queue(registry: Any) -> DiffQueue | None:
    """The queue a plugin offers, or ``None`` (diffs off, or no plugin offers one)."""
    if not diffs_enabled(registry.settings):
        return None
    queue: DiffQueue | None = registry.plugins.hook.registry_diff_queue(registry=registry)
    if queue is None:
        log.warning(
            "cache.host is set, but no installed plugin queues v1 diffs (install "
            "registry-plugin-redis); GET /v1/images/<id>/diff answers an empty body until "
            "a _diff is stored"
        )
    return queue
