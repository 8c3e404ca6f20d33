"""The ``redis`` coordination backend: several registry hosts on one storage.

Configured by the ``coordination`` section::

    coordination:
      backend: redis
      url: redis://127.0.0.1:6379/0      # or host/port/db/password
      timeout: 0.5                        # seconds, connect and socket
      lock_ttl: 60                        # seconds a dead holder keeps a lock

- Locks are keys ``SET NX PX`` with a random token, renewed every third of ``lock_ttl``
  while held (a long layer upload keeps its lock) and deleted only by their holder (a
  compare-and-delete script). A holder that dies frees the lock after ``lock_ttl``.
- A job's turn is a key ``SET NX PX period``: whoever sets it runs the job this period.
- Announcements are ``PUBLISH`` on ``<namespace>:<topic>``; each process has one
  subscriber thread that calls its listeners, and reconnects when Redis comes back.
  Pub/sub keeps nothing for an absent subscriber: after each (re)subscription the
  listeners of the channel hear :data:`~docker_registry.core.coordination.EVERY_KEY`
  (forget everything), so no announcement sent while disconnected is lost.

Keys and channels carry the storage's identity (``coordination:<driver>:<storage_path>``),
so one Redis may serve several registries. What it does not give: fencing. A holder
stalled for longer than ``lock_ttl`` (its renewals failing) may overlap the next one;
the v1 writes under the lock verify what they find, and the lock's TTL is far above a
request's time on a healthy host.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import redis

from docker_registry.core.config import ConfigError
from docker_registry.core.coordination import (
    DEFAULT_LOCK_TTL,
    DEFAULT_LOCK_WAIT,
    EVERY_KEY,
    CoordinationError,
    LockTimeout,
    coordination_section,
)

from .cache import create_client
from .options import LOCK_TTL

if TYPE_CHECKING:
    from docker_registry.core.registry import Registry

log = logging.getLogger(__name__)

#: Deletes the lock only when the caller still holds it (its token is the value).
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
#: Extends the lock only when the caller still holds it.
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


class RedisCoordinator:
    """The core's ``Coordinator`` protocol on Redis (see the module's docstring).

    :param client: commands (short timeouts).
    :param listener: the subscriber's connection (it blocks; no socket timeout).
    :param namespace: prefix of every key and channel.
    :param lock_ttl: seconds a lock outlives a holder that stopped renewing it.
    """

    def __init__(
        self,
        client: redis.Redis,
        listener: redis.Redis,
        namespace: str,
        lock_ttl: float = DEFAULT_LOCK_TTL,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.lock_ttl = lock_ttl
        self._listener_client = listener
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        self._listeners_lock = threading.Lock()
        self._pubsub: Any = None
        self._subscriber: threading.Thread | None = None
        self._closed = threading.Event()

    @classmethod
    def from_registry(cls, registry: Registry) -> RedisCoordinator:
        """The backend for ``registry``'s ``coordination`` section.

        :raises ConfigError: the section is malformed.
        """
        section = coordination_section(registry.settings.get("coordination"))
        if not (section.get("url") or section.get("host")):
            raise ConfigError(
                "the redis backend needs the server: set coordination.url "
                "(redis://host:6379/0) or coordination.host",
                key="coordination.url",
            )
        root = (registry.settings.storage_path or "").rstrip("/")
        namespace = f"coordination:{registry.storage.name}:{root}:"
        return cls.from_section(section, namespace, _lock_ttl(section))

    @classmethod
    def from_section(
        cls, section: Mapping[str, Any], namespace: str, lock_ttl: float = DEFAULT_LOCK_TTL
    ) -> RedisCoordinator:
        """A coordinator on the server that ``section`` (``url`` or ``host``...) names."""
        client = create_client(section, name="coordination")
        listener = create_client(section, name="coordination", socket_timeout=None)
        return cls(client, listener, namespace, lock_ttl)

    # -- locks ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str, wait: float = DEFAULT_LOCK_WAIT) -> Iterator[None]:
        key = f"{self.namespace}lock:{name}"
        token = secrets.token_hex(16)
        ttl_ms = int(self.lock_ttl * 1000)
        deadline = time.monotonic() + wait
        delay = 0.005
        while True:
            try:
                if self.client.set(key, token, nx=True, px=ttl_ms):
                    break
            except redis.RedisError as exc:
                raise CoordinationError(f"lock {name!r}: Redis failed ({exc})") from None
            if time.monotonic() >= deadline:
                raise LockTimeout(name, wait)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew,
            args=(key, token, ttl_ms, stop),
            name="redis-lock-renew",
            daemon=True,
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                self.client.eval(_RELEASE, 1, key, token)
            except redis.RedisError as exc:
                log.warning(
                    "releasing lock %r failed (%s); it expires in %.0f s", name, exc, self.lock_ttl
                )

    def _renew(self, key: str, token: str, ttl_ms: int, stop: threading.Event) -> None:
        while not stop.wait(self.lock_ttl / 3):
            try:
                if not self.client.eval(_RENEW, 1, key, token, ttl_ms):
                    log.error("lock %s was lost (expired while held): writes may overlap", key)
                    return
            except redis.RedisError as exc:
                log.warning("renewing lock %s failed (%s); retrying", key, exc)

    # -- turns ----------------------------------------------------------------------------

    def take_turn(self, job: str, period: float) -> bool:
        try:
            taken = self.client.set(
                f"{self.namespace}turn:{job}",
                secrets.token_hex(8),
                nx=True,
                px=max(int(period * 1000), 1),
            )
        except redis.RedisError as exc:
            log.warning("job %s skipped this period: Redis failed (%s)", job, exc)
            return False
        return bool(taken)

    # -- invalidation ---------------------------------------------------------------------

    def announce(self, topic: str, key: str) -> None:
        try:
            self.client.publish(f"{self.namespace}{topic}", key)
        except redis.RedisError as exc:
            log.warning(
                "announcing %s %s to other processes failed (%s); their caches expire by TTL",
                topic,
                key,
                exc,
            )

    def listen(self, topic: str, forget: Callable[[str], None]) -> None:
        with self._listeners_lock:
            self._listeners.setdefault(f"{self.namespace}{topic}", []).append(forget)
            if self._subscriber is None:
                self._subscriber = threading.Thread(
                    target=self._subscribe_forever, name="redis-coordination", daemon=True
                )
                self._subscriber.start()

    def _subscribe_forever(self) -> None:
        delay = 0.1
        while not self._closed.is_set():
            try:
                pubsub = self._listener_client.pubsub(ignore_subscribe_messages=True)
                with self._listeners_lock:
                    channels = list(self._listeners)
                pubsub.subscribe(*channels)
                self._pubsub = pubsub
                self._missed(channels)
                delay = 0.1
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message)
                    with self._listeners_lock:
                        subscribed = {_text(channel) for channel in pubsub.channels}
                        missing = [c for c in self._listeners if c not in subscribed]
                    if missing:
                        pubsub.subscribe(*missing)
                        self._missed(missing)
            except (redis.RedisError, OSError) as exc:
                if self._closed.is_set():
                    return
                log.warning("coordination subscriber lost Redis (%s); reconnecting", exc)
                self._closed.wait(delay)
                delay = min(delay * 2, 5.0)

    def _missed(self, channels: list[str]) -> None:
        """Tell the listeners of ``channels`` that announcements may have been missed
        (sent before this subscription, or while Redis was away)."""
        for channel in channels:
            self._dispatch({"channel": channel, "data": EVERY_KEY})

    def _dispatch(self, message: Mapping[str, Any]) -> None:
        channel, key = _text(message["channel"]), _text(message["data"])
        with self._listeners_lock:
            listeners = list(self._listeners.get(channel, ()))
        for forget in listeners:
            try:
                forget(key)
            except Exception:
                log.exception("a cache listener failed for %s %s", channel, key)

    def close(self) -> None:
        self._closed.set()
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _lock_ttl(section: Mapping[str, Any]) -> float:
    ttl: float = LOCK_TTL.value_of(section.get("lock_ttl"))
    return ttl
