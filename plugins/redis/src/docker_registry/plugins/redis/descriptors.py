"""The blob-descriptor cache every process on one storage shares, in Redis.

With ``coordination: {backend: redis}`` a process that has not seen a blob yet (a cold
worker, a new host) asks Redis for its size before asking the store, and leaves what the
store said there for the others (the core's :mod:`~docker_registry.core.storage.descriptors`
decides when). Keys, under the coordinator's namespace of the storage::

    coordination:<driver>:<storage_path>:descriptors:generation      -> a random token
    coordination:<driver>:<storage_path>:descriptors:<token>:<path>  -> "<size> <mtime>"

Every removal replaces the token by a new random one (``SET``), so that no later lookup
reads an entry kept before it: an entry is only ever written under the token that its
writer read, in the same round trip as its lookup, *before* it asked the store. A stat
that raced a removal thus writes under a dead token; it cannot bring the removed blob
back. Tokens are random rather than counted so that a token key that Redis evicted
(``allkeys-lru``) or lost in a restart starts a generation nobody used, never an old one.
Entries expire after ``coordination.descriptor_ttl`` seconds, which also bounds what a
removal that could not reach Redis leaves behind.
"""

from __future__ import annotations

import secrets
from typing import Any

import redis

from docker_registry.core.storage.driver import FileInfo

#: Reads the generation (starting one when there is none) and the entry under it, at once.
_LOOKUP = """
local generation = redis.call('get', KEYS[1])
if not generation then
  generation = ARGV[1]
  redis.call('set', KEYS[1], generation)
end
local entry = redis.call('get', ARGV[2] .. generation .. ':' .. ARGV[3])
if entry then return {generation, entry} end
return {generation}
"""
#: Drops a path's entry of the current generation.
_DISCARD = """
local generation = redis.call('get', KEYS[1])
if generation then redis.call('unlink', ARGV[1] .. generation .. ':' .. ARGV[2]) end
return 0
"""


class RedisDescriptors:
    """The core's ``SharedDescriptors`` protocol on Redis (see the module's docstring).

    :param client: commands (short timeouts, no retries).
    :param namespace: prefix of the keys (the coordinator's, then ``descriptors:``).
    :param ttl: seconds an entry lives.
    """

    def __init__(self, client: redis.Redis, namespace: str, ttl: float) -> None:
        self.client = client
        self.namespace = namespace
        self.ttl_ms = max(int(ttl * 1000), 1)
        self.generation_key = f"{namespace}generation"
        self._lookup = client.register_script(_LOOKUP)
        self._discard = client.register_script(_DISCARD)

    def lookup(self, path: str) -> tuple[str, FileInfo | None]:
        answer: Any = self._lookup(
            keys=[self.generation_key], args=[secrets.token_hex(8), self.namespace, path]
        )
        generation = _text(answer[0])
        if len(answer) < 2:
            return generation, None
        return generation, _decode(path, answer[1])

    def remember(self, path: str, info: FileInfo, generation: str) -> None:
        mtime = "" if info.mtime is None else repr(info.mtime)
        self.client.set(
            f"{self.namespace}{generation}:{path}", f"{info.size} {mtime}", px=self.ttl_ms
        )

    def discard(self, path: str) -> None:
        self._discard(keys=[self.generation_key], args=[self.namespace, path])

    def invalidate(self) -> None:
        self.client.set(self.generation_key, secrets.token_hex(8))

    def close(self) -> None:
        """Nothing of its own: the client belongs to the coordinator."""


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _decode(path: str, value: Any) -> FileInfo | None:
    try:
        size, _, mtime = _text(value).partition(" ")
        info = FileInfo(path, int(size), float(mtime) if mtime else None, False)
    except ValueError:
        return None  # NOTE: not ours (another writer under our prefix): ask the store
    return info if info.size >= 0 else None
