"""What processes sharing one storage agree on: locks, who runs a periodic job, and which
cached facts another process just changed.

Everything the registry stores lives in storage; these three are the only things that
need the processes to talk. The ``coordination`` section picks the backend:

- ``local`` (default): the processes of one host (``serve --workers N``). Locks are
  ``flock`` on files of a local directory, so that every worker of the host takes the
  same lock; periodic jobs run in the process that takes the job's lock file first in
  each period; invalidations reach this process only (other workers' caches expire by
  their TTL).
- ``redis`` (registry-plugin-redis): several hosts. Locks and job leases are Redis keys
  with an expiry; invalidations are Redis pub/sub messages.

A backend is a plugin (hook ``registry_coordination_backends``) returning an object with
the :class:`Coordinator` methods.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .config import ConfigError

if TYPE_CHECKING:
    from .registry import Registry

log = logging.getLogger(__name__)

#: Seconds a lock is held at most by default (a holder that dies frees it by then).
DEFAULT_LOCK_TTL = 60.0
#: Seconds to wait for a lock before giving up.
DEFAULT_LOCK_WAIT = 30.0
#: The key of an announcement that anything cached in its topic may have changed (no
#: repository name or digest can be it): a listener forgets everything of the topic.
EVERY_KEY = "*"


class CoordinationError(Exception):
    """A lock could not be taken: held too long, or the backend is unreachable."""


class LockTimeout(CoordinationError):
    """A lock stayed taken for longer than the caller may wait."""

    def __init__(self, name: str, waited: float) -> None:
        super().__init__(f"lock {name!r} still taken after {waited:.0f} s")
        self.name = name


class Coordinator(Protocol):
    """The coordination every backend gives."""

    def lock(
        self, name: str, wait: float = DEFAULT_LOCK_WAIT
    ) -> contextlib.AbstractContextManager[None]:
        """Hold ``name`` exclusively across every process of the backend's scope.

        :raises LockTimeout: still taken after ``wait`` seconds.
        :raises CoordinationError: the backend cannot be reached (never a silent pass:
            the caller fails rather than writes unprotected).
        """

    def take_turn(self, job: str, period: float) -> bool:
        """True for exactly one process per ``period`` seconds: that one runs ``job``."""

    def announce(self, topic: str, key: str) -> None:
        """Tell every process that what it caches about ``key`` in ``topic`` changed."""

    def listen(self, topic: str, forget: Callable[[str], None]) -> None:
        """Call ``forget(key)`` for each announcement of ``topic`` (this process's too).

        ``key`` is :data:`EVERY_KEY` when the backend may have missed announcements (its
        connection was lost, or it only just subscribed): forget everything of ``topic``.
        """

    def close(self) -> None:
        """Stop listening; release connections."""


class LocalCoordinator:
    """Coordination of the processes of one host (see the module's docstring).

    :param directory: where the lock files are; every process of the host sharing the
        storage must name the same one (default: derived from ``scope`` in the system
        temp directory).
    :param scope: what the processes share (the storage's identity).
    """

    def __init__(self, scope: str, directory: str | None = None) -> None:
        if directory is None:
            directory = default_directory(scope)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.directory = directory
        self._threads: dict[str, threading.Lock] = {}
        self._threads_lock = threading.Lock()
        self._listeners: dict[str, list[Callable[[str], None]]] = {}

    @classmethod
    def from_registry(cls, registry: Registry) -> LocalCoordinator:
        """The ``local`` backend: ``coordination.directory``, else one per storage."""
        return cls(_scope(registry), host_directory(registry))

    def _file(self, name: str) -> str:
        return os.path.join(self.directory, hashlib.sha256(name.encode()).hexdigest()[:32])

    def _thread_lock(self, name: str) -> threading.Lock:
        with self._threads_lock:
            if len(self._threads) > 4096:
                self._threads = {key: held for key, held in self._threads.items() if held.locked()}
            return self._threads.setdefault(name, threading.Lock())

    @contextlib.contextmanager
    def lock(self, name: str, wait: float = DEFAULT_LOCK_WAIT) -> Iterator[None]:
        # NOTE: flock excludes other processes, not other threads of this one (they
        # share the open file's lock): a thread lock comes first.
        thread_lock = self._thread_lock(name)
        if not thread_lock.acquire(timeout=wait):
            raise LockTimeout(name, wait)
        try:
            descriptor = os.open(self._file(name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                _flock(descriptor, name, wait)
                yield
            finally:
                os.close(descriptor)  # releases the flock
        finally:
            thread_lock.release()

    def take_turn(self, job: str, period: float) -> bool:
        path = self._file(f"turn:{job}")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # another worker is running it right now
            last = os.fstat(descriptor)
            now = time.time()
            if last.st_size and now - last.st_mtime < period:
                return False
            os.pwrite(descriptor, f"{now:.3f}".encode().ljust(32), 0)
            return True
        finally:
            os.close(descriptor)

    def announce(self, topic: str, key: str) -> None:
        for forget in self._listeners.get(topic, ()):
            forget(key)

    def listen(self, topic: str, forget: Callable[[str], None]) -> None:
        self._listeners.setdefault(topic, []).append(forget)

    def close(self) -> None:
        self._listeners.clear()


def _scope(registry: Registry) -> str:
    return f"{registry.storage.name}:{registry.settings.storage_path or ''}"


def default_directory(scope: str) -> str:
    """The host's directory of the processes sharing storage ``scope`` (system temp)."""
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"docker-registry-locks-{digest}")


def host_directory(registry: Registry) -> str:
    """Where this host's processes of ``registry``'s storage keep what they share
    (``coordination.directory``, else one per storage); created if missing."""
    section = coordination_section(registry.settings.get("coordination"))
    configured = section.get("directory")
    directory = str(configured) if configured else default_directory(_scope(registry))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return directory


def _flock(descriptor: int, name: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    delay = 0.001
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeout(name, wait) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def coordination_section(value: Any) -> dict[str, Any]:
    """The ``coordination`` section as a mapping (absent: the ``local`` backend).

    :raises ConfigError: not a mapping.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            "must be a mapping such as {backend: redis, url: redis://host:6379/0}",
            key="coordination",
        )
    return value


def create_coordinator(registry: Registry) -> Coordinator:
    """The coordinator ``coordination.backend`` names (default ``local``).

    :raises ConfigError: no installed plugin offers that backend.
    """
    section = coordination_section(registry.settings.get("coordination"))
    name = str(section.get("backend") or "local")
    offered = registry.coordination_backends()
    spec = offered.get(name)
    if spec is None:
        raise ConfigError(
            f"no coordination backend named '{name}' is installed (installed: "
            f"{', '.join(sorted(offered)) or 'none'}); for Redis, 'pip install "
            "registry-plugin-redis'",
            key="coordination.backend",
        )
    coordinator: Coordinator = spec.factory(registry)
    return coordinator
