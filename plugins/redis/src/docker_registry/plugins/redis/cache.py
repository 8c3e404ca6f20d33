"""A Redis cache of small storage files, keyed like the seed's LRU layer.

Keys have no TTL: run Redis as an LRU store (``--maxmemory 64mb --maxmemory-policy
allkeys-lru``) and it evicts what is least used. One Redis may serve several registries:
keys carry the storage's identity::

    cache_path:<driver name>:<storage_path or "">/<path>
    e.g. cache_path:file:/var/lib/registry/images/<id>/json

Every call has a short connect and socket timeout and no retries, so a Redis that went
away costs one quick failure; the core's ``GuardedCache`` then logs a warning and serves
from storage for a few seconds before trying Redis again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from docker_registry.core.config import ConfigError

from .options import DEFAULT_TIMEOUT, section_value

__all__ = ["DEFAULT_TIMEOUT", "RedisCache", "create_client", "glob_escape", "namespace_for"]

log = logging.getLogger(__name__)

#: Keys unlinked per round trip when a directory is invalidated.
BATCH = 500

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """Escape Redis ``MATCH`` pattern metacharacters (``* ? [ ] \\``) in ``text``."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


class RedisCache:
    """The core's ``FileCache`` protocol on Redis: get, set, delete, delete_prefix.

    :param client: a connected ``redis.Redis`` (bytes responses).
    :param namespace: prefix of every key (``cache_path:<driver>:<storage_path>``).
    """

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    def key(self, path: str) -> str:
        """The Redis key of storage ``path``."""
        return f"{self.namespace}{path}"

    def get(self, path: str) -> bytes | None:
        value: Any = self.client.get(self.key(path))
        return bytes(value) if value is not None else None

    def set(self, path: str, content: bytes) -> None:
        self.client.set(self.key(path), content)

    def delete(self, path: str) -> None:
        self.client.unlink(self.key(path))

    def delete_prefix(self, directory: str) -> None:
        """Forget every path under ``directory`` (SCAN + UNLINK in batches)."""
        pattern = glob_escape(self.key(directory.rstrip("/") + "/")) + "*"
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=pattern, count=BATCH):
            batch.append(key)
            if len(batch) >= BATCH:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def create_client(
    section: Mapping[str, Any] | None,
    *,
    name: str = "cache_lru",
    socket_timeout: float | None = None,
) -> redis.Redis:
    """A Redis client for a config section: ``url``, or host/port/db/password.

    :param name: the section's key, for error messages (``cache_lru`` or ``cache``).
    :param socket_timeout: seconds to wait for an answer, instead of the section's
        ``timeout`` (a worker blocked on ``BRPOP`` waits longer than a cache lookup).
    :raises ConfigError: a malformed value (names the key).
    """
    section = section or {}
    timeout = section_value(name, "timeout", section)
    options: dict[str, Any] = {
        "socket_timeout": timeout if socket_timeout is None else socket_timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    url = section.get("url")
    if url:
        try:
            return redis.Redis.from_url(str(url), **options)
        except ValueError as exc:
            raise ConfigError(f"invalid Redis URL: {exc}", key=f"{name}.url") from None
    host = section_value(name, "host", section)
    if not host:
        raise ConfigError(f"set {name}.host or {name}.url", key=f"{name}.host")
    return redis.Redis(
        host=host,
        port=section_value(name, "port", section),
        db=section_value(name, "db", section),
        password=section_value(name, "password", section) or None,
        **options,
    )


def namespace_for(driver_name: str, storage_path: str | None) -> str:
    """The key prefix of one storage: ``cache_path:<driver>:<storage_path>``."""
    root = (storage_path or "").rstrip("/")
    return f"cache_path:{driver_name}:{root}"
