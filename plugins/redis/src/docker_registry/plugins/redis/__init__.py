"""registry-plugin-redis: the seed's Redis uses: the LRU cache of small storage files, and
the v1 diff queue with its worker.

Enabled by the seed's ``cache_lru`` section (the core picks ``redis`` when
``cache_lru.host`` or ``cache_lru.url`` is set, or with ``cache_backend: redis``)::

    cache_lru:
      host: 127.0.0.1        # or url: redis://:password@127.0.0.1:6379/0
      port: 6379
      db: 0
      password: ~
      timeout: 0.5           # seconds, connect and socket

The core reads small files (``get_content``) through the cache, writes through it and
invalidates paths, and whole directories, on writes, moves and deletes. A Redis that is
down at start-up or goes away later is logged and bypassed: the registry keeps serving
from storage.

The ``coordination`` section with ``backend: redis`` coordinates several hosts sharing
one storage (locks, turns at periodic jobs, cache invalidation): see :mod:`.coordination`.
It also shares the blob-descriptor cache between every process on the storage (hook
``registry_shared_descriptors``, key ``coordination.descriptor_ttl``): see
:mod:`.descriptors`.

The seed's ``cache`` section (``host``, ``port``, ``db``, ``password``) turns on the v1
diff queue (hook ``registry_diff_queue``): image ids are pushed onto the Redis list
``diff-worker`` and ``docker-registry diff-worker`` (hook ``registry_commands``) computes
and stores their ``_diff``. See :mod:`.diff_queue` and :mod:`.diff_worker`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from docker_registry.core.hookspecs import CacheBackendSpec, CoordinationBackendSpec, hookimpl

from .options import registry_options as registry_options  # the hook, re-exported

if TYPE_CHECKING:
    from docker_registry.core.registry import Registry

    from .cache import RedisCache
    from .coordination import RedisCoordinator
    from .descriptors import RedisDescriptors
    from .diff_queue import RedisDiffQueue

log = logging.getLogger(__name__)


def create_cache(registry: Registry) -> RedisCache:
    """The ``redis`` cache backend for ``registry``'s storage (checked, never fatal).

    :raises ConfigError: the ``cache_lru`` section is malformed.
    """
    import redis

    from .cache import RedisCache, create_client, namespace_for

    client = create_client(registry.settings.get("cache_lru"))
    cache = RedisCache(client, namespace_for(registry.storage.name, registry.settings.storage_path))
    try:
        client.ping()
    except redis.RedisError as exc:
        log.warning(
            "Redis LRU cache %s does not answer (%s: %s); serving from storage until it does",
            client.get_connection_kwargs().get("host", "?"),
            type(exc).__name__,
            exc,
        )
    return cache


@hookimpl
def registry_cache_backends() -> Iterable[CacheBackendSpec]:
    yield CacheBackendSpec("redis", create_cache, "Redis LRU cache of small files (cache_lru)")


def create_coordinator(registry: Registry) -> RedisCoordinator:
    """The ``redis`` coordination backend for ``registry`` (see :mod:`.coordination`)."""
    # PERF: redis-py (~5 MiB per process) only where a Redis backend is configured.
    from .coordination import RedisCoordinator

    return RedisCoordinator.from_registry(registry)


@hookimpl
def registry_coordination_backends() -> Iterable[CoordinationBackendSpec]:
    yield CoordinationBackendSpec(
        "redis",
        create_coordinator,
        "several hosts on one storage: Redis locks, job turns and pub/sub invalidation",
    )


@hookimpl
def registry_shared_descriptors(registry: Registry) -> RedisDescriptors | None:
    """Blob sizes and links in the ``redis`` coordinator's Redis, unless
    ``coordination.descriptor_ttl`` is 0 (another backend: ``None``)."""
    from docker_registry.core.coordination import coordination_section

    section = coordination_section(registry.settings.get("coordination"))
    if section.get("backend") != "redis":
        return None
    from .coordination import RedisCoordinator
    from .descriptors import RedisDescriptors
    from .options import DESCRIPTOR_TTL

    coordinator = registry.coordinator
    if not isinstance(coordinator, RedisCoordinator):
        return None
    ttl: float = DESCRIPTOR_TTL.value_of(section.get("descriptor_ttl"))
    if ttl <= 0:
        return None
    return RedisDescriptors(coordinator.client, f"{coordinator.namespace}descriptors:", ttl)


@hookimpl
def registry_diff_queue(registry: Registry) -> RedisDiffQueue | None:
    """The Redis list ``diff-worker`` of the ``cache`` section (the core asks only when
    ``cache.host`` is set).

    :raises ConfigError: the ``cache`` section is malformed.
    """
    from .cache import create_client
    from .diff_queue import RedisDiffQueue

    return RedisDiffQueue(create_client(registry.settings.get("cache"), name="cache"))


@hookimpl
def registry_commands(commands: argparse._SubParsersAction) -> None:
    """``docker-registry diff-worker``."""
    from .diff_worker import add_diff_worker_command

    add_diff_worker_command(commands)
