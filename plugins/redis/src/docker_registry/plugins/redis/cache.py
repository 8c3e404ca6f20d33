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

log = logging.getLogger(__name__)

#: Seconds to wait for a connection or an answer: a cache must never slow requests down.
DEFAULT_TIMEOUT = 0.5
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


def _int(section: Mapping[str, Any], name: str, default: int, prefix: str = "cache_lru") -> int:
    value = section.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected an integer, got {value!r}", key=f"{prefix}.{name}") from None


def _float(
    section: Mapping[str, Any], name: str, default: float, prefix: str = "cache_lru"
) -> float:
    value = section.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0:
        raise ConfigError(
            f"expected a positive number of seconds, got {value!r}", key=f"{prefix}.{name}"
        )
    return number


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
    timeout = _float(section, "timeout", DEFAULT_TIMEOUT, name)
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
    if not section.get("host"):
        raise ConfigError(f"set {name}.host or {name}.url", key=f"{name}.host")
    password = section.get("password")
    return redis.Redis(
        host=str(section["host"]),
        port=_int(section, "port", 6379, name),
        db=_int(section, "db", 0, name),
        password=str(password) if password else None,
        **options,
    )


def namespace_for(driver_name: str, storage_path: str | None) -> str:
    """The key prefix of one storage: ``cache_path:<driver>:<storage_path>``."""
    root = (storage_path or "").rstrip("/")
    return f"cache_path:{driver_name}:{root}"
