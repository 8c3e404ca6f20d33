"""The seed's v1 diff queue on Redis: the list ``diff-worker`` (spec R7 step 8, R10).

Image ids are pushed JSON-encoded with ``LPUSH`` and the list is trimmed to its newest
1024 entries (``LTRIM``), as the seed's capped collection did; workers pop from the other
end. A worker computing an image holds ``diff-worker-lock:locks:<id>`` (``SET NX EX``), so
two workers never compute the same diff at once. The list and lock names are the seed's,
unprefixed: a seed worker and ours can share a Redis.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

log = logging.getLogger(__name__)

#: The Redis list of queued image ids.
QUEUE_KEY = "diff-worker"
#: Entries kept; older ones are dropped (their diff is queued again when asked for).
CAPACITY = 1024
#: Prefix of the per-image lock a worker holds while it computes.
LOCK_PREFIX = "diff-worker-lock:locks:"
#: Seconds a lock outlives a worker that died holding it.
LOCK_SECONDS = 600


def describe(client: redis.Redis) -> str:
    """``host:port/db`` of ``client``, for log lines."""
    kwargs: dict[str, Any] = client.get_connection_kwargs()
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


class RedisDiffQueue:
    """The core's ``DiffQueue``: ``enqueue`` pushes onto the capped list; never raises.

    :param client: a Redis client with short timeouts (a request waits for it).
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def enqueue(self, image_id: str) -> None:
        try:
            pipe = self.client.pipeline()
            pipe.lpush(QUEUE_KEY, json.dumps(image_id))
            pipe.ltrim(QUEUE_KEY, 0, CAPACITY - 1)
            pipe.execute()
        except redis.RedisError as exc:
            # NOTE: the seed only logged too; the image's diff is queued again when a
            # client asks for it (GET .../diff).
            log.warning(
                "diff queue: image %s not queued, Redis %s does not answer (%s: %s)",
                image_id,
                describe(self.client),
                type(exc).__name__,
                exc,
            )

    def pop(self, block_seconds: float | None) -> bytes | None:
        """The oldest entry, waiting up to ``block_seconds`` (``None``: do not wait)."""
        if block_seconds is None:
            value: Any = self.client.rpop(QUEUE_KEY)
            return bytes(value) if value is not None else None
        popped: Any = self.client.brpop([QUEUE_KEY], timeout=block_seconds)
        return bytes(popped[1]) if popped else None

    def lock(self, image_id: str) -> bool:
        """Take the image's lock; ``False`` when another worker holds it."""
        return bool(self.client.set(LOCK_PREFIX + image_id, b"1", nx=True, ex=LOCK_SECONDS))

    def unlock(self, image_id: str) -> None:
        self.client.delete(LOCK_PREFIX + image_id)
