"""A cache of what storage says of files that never change once written (descriptors).

A content-addressed blob's data, and the link saying that a repository holds a digest,
keep their size for as long as they exist: the only change they see is removal. The
:class:`~.wrapper.Storage` wrapper answers ``stat`` of such files (which paths they are,
the layout decides) from a bounded in-process LRU instead of asking the store, as the Go
registry's blob-descriptor cache does; a blob ``HEAD`` then costs no store request.

Removal is what must never be missed. Every delete and move-away of a path that may hold
descriptors (the layout decides again) goes through :meth:`DescriptorCache.forget`, which
empties this process's cache and bumps a :class:`HostGeneration`: a counter in a file of
the coordination directory that every process of the host maps (``serve --workers``, a
``docker-registry gc`` run next to them). A process that sees the counter move empties
its own cache before its next answer. Processes of other hosts learn it through the
coordinator (``coordination: {backend: redis}``: Redis pub/sub). Removals are rare
(blob and manifest deletes, garbage collection), so one forgets everything rather than
tracking which entry depended on which path.

A read of a cached blob that finds nothing (a removal no announcement reached) drops the
entry as well (:meth:`DescriptorCache.vanished`), so the client gets a 404, never stale
bytes.

A second tier, shared by every process on the storage (:class:`SharedDescriptors`, hook
``registry_shared_descriptors``; registry-plugin-redis offers one), answers what this
process has not seen yet, so that a cold worker or a new host asks the store nothing for
a blob another process already looked up::

    stat(path) ──► this process's LRU ──► shared tier ──► the store
                   (hit: done)            (hit: kept      (kept in both tiers,
                                           in the LRU)     under the generation
                                                           read before asking)

The shared tier keeps entries under a *generation* that every removal replaces before it
is answered, and an entry is only ever stored under the generation read *before* the
store was asked. A stat that read the store before a removal therefore stores its answer
under a generation nobody reads any more: a removal, once acknowledged, is never undone.
The order of :meth:`DescriptorCache.forget` is what keeps the in-process tiers right too:
the shared generation moves first, then this process's LRU, the host's counter and the
other hosts' announcement, so that nothing fetched from the old generation outlives them.
A shared tier that fails is skipped for a few seconds (one warning, one line when it
answers again); a removal it could not record is recorded before this process asks it
anything again, and its entries expire after their time to live in any case.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .driver import FileInfo

log = logging.getLogger(__name__)

#: Entries kept by default (a few hundred bytes each).
DEFAULT_CAPACITY = 10000
#: Coordinator topic of descriptor removals (the key says nothing: everything is dropped).
TOPIC = "descriptors"
#: The generation file's name inside the coordination directory.
GENERATION_FILE = "descriptors.generation"

#: Seconds the shared tier is skipped after it failed.
SHARED_RETRY_AFTER = 5.0

_COUNTER = struct.Struct("<Q")


class SharedDescriptors(Protocol):
    """A descriptor tier every process on one storage shares (hook
    ``registry_shared_descriptors``); its methods may raise, the core guards them.

    Entries are kept per *generation*, an opaque value that :meth:`invalidate` replaces
    by one never used before.
    """

    def lookup(self, path: str) -> tuple[str, FileInfo | None]:
        """The current generation and, read at the same instant (atomically), the entry
        of ``path`` under it (``None``: none)."""
        ...

    def remember(self, path: str, info: FileInfo, generation: str) -> None:
        """Keep ``info`` under ``generation`` (which may be past already: then no
        :meth:`lookup` may ever answer it)."""
        ...

    def discard(self, path: str) -> None:
        """Drop ``path``'s entry of the current generation (a read found nothing there)."""
        ...

    def invalidate(self) -> None:
        """Start a new generation: no later :meth:`lookup` answers an entry kept before."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Stamp:
    """What a process knew before asking storage (see :meth:`DescriptorCache.remember`).

    :param seen: the host's removal counter.
    :param epoch: this process's removals.
    :param generation: the shared tier's generation, when it was asked and had nothing.
    """

    seen: int
    epoch: int
    generation: str | None = None


class GuardedShared:
    """Calls a :class:`SharedDescriptors`, turning its failures into misses.

    After a failure the tier is skipped for ``retry_after`` seconds, with one warning per
    outage. A failed :meth:`invalidate` is owed: it is retried before the tier is asked
    anything again, so this process never reads a generation it knows to be past.
    """

    def __init__(self, shared: SharedDescriptors, retry_after: float = SHARED_RETRY_AFTER):
        self.shared = shared
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down = False
        # NOTE: a count, not a flag: a removal failing while an owed one is being settled
        # stays owed.
        self._failed_removals = 0
        self._settled_removals = 0

    def lookup(self, path: str) -> tuple[str | None, FileInfo | None]:
        """``(generation, entry)``, or ``(None, None)`` when the tier cannot answer."""
        if not self._usable():
            return None, None
        try:
            generation, info = self.shared.lookup(path)
        except Exception as exc:  # noqa: BLE001 - a cache must never fail a request
            self._failed("lookup", path, exc)
            return None, None
        self._answered()
        return generation, info

    def remember(self, path: str, info: FileInfo, generation: str) -> None:
        if time.monotonic() < self._down_until:
            return
        try:
            self.shared.remember(path, info, generation)
        except Exception as exc:  # noqa: BLE001
            self._failed("remember", path, exc)

    def discard(self, path: str) -> None:
        if time.monotonic() < self._down_until:
            return
        try:
            self.shared.discard(path)
        except Exception as exc:  # noqa: BLE001
            self._failed("discard", path, exc)

    def invalidate(self, path: str) -> None:
        """Start a new generation (tried even while the tier is skipped: a stale entry
        is worse than a slow removal), unless one is owed already and the tier is
        skipped: then this removal is owed too, and one new generation settles both."""
        if self.owes_removal and time.monotonic() < self._down_until:
            # PERF: a garbage collection removing thousands of blobs while Redis hangs
            # would otherwise wait for a timeout at each.
            with self._lock:
                self._failed_removals += 1
            return
        try:
            self.shared.invalidate()
        except Exception as exc:  # noqa: BLE001
            with self._lock:
                self._failed_removals += 1
            self._failed("invalidate after removing", path, exc)
            return
        self._answered()

    @property
    def owes_removal(self) -> bool:
        return self._failed_removals != self._settled_removals

    def close(self) -> None:
        """Record what is owed (a last try), then close the tier."""
        if self.owes_removal:
            self._down_until = 0.0
            if not self._usable():
                log.error(
                    "shared descriptor cache: %d removal(s) could not be recorded; other "
                    "processes may answer for the removed blobs until their entries "
                    "expire (the shared tier's time to live)",
                    self._failed_removals - self._settled_removals,
                )
        self.shared.close()

    def settle(self) -> None:
        """Retry the removals this process could not record (at most once per
        ``retry_after``); cheap when none is owed."""
        if self.owes_removal and time.monotonic() >= self._down_until:
            self._usable()

    def _usable(self) -> bool:
        if time.monotonic() < self._down_until:
            return False
        if not self.owes_removal:
            return True
        owed = self._failed_removals
        try:
            self.shared.invalidate()
        except Exception as exc:  # noqa: BLE001
            self._failed("invalidate (owed since a removal)", "-", exc)
            return False
        with self._lock:
            self._settled_removals = max(self._settled_removals, owed)
        log.info("shared descriptor cache: the removal(s) it missed while down are recorded")
        return not self.owes_removal

    def _failed(self, operation: str, path: str, exc: Exception) -> None:
        with self._lock:
            first = not self._down
            self._down = True
            self._down_until = time.monotonic() + self.retry_after
        if first:
            log.warning(
                "shared descriptor cache: %s %s failed (%s: %s); blob sizes and links are "
                "asked of storage (and of this process's memory) until it answers again, "
                "retrying every %.0f s",
                operation,
                path,
                type(exc).__name__,
                exc,
                self.retry_after,
            )

    def _answered(self) -> None:
        if not self._down:
            return
        with self._lock:
            recovered = self._down
            self._down = False
        if recovered:
            log.info("shared descriptor cache answers again")


class HostGeneration:
    """A counter every process of the host sees move at once (a shared memory map).

    :param path: the counter's file (created if missing); every process sharing the
        storage on this host must name the same one.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(descriptor).st_size < _COUNTER.size:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                try:
                    if os.fstat(descriptor).st_size < _COUNTER.size:
                        os.pwrite(descriptor, bytes(_COUNTER.size), 0)
                finally:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
            self._map = mmap.mmap(descriptor, _COUNTER.size, mmap.MAP_SHARED)
        except BaseException:
            os.close(descriptor)
            raise
        self._descriptor = descriptor

    def current(self) -> int:
        """The counter now (a read of shared memory, no system call)."""
        return int(_COUNTER.unpack_from(self._map, 0)[0])

    def bump(self) -> None:
        """Move the counter (under the file's lock: two bumps never make one)."""
        fcntl.flock(self._descriptor, fcntl.LOCK_EX)
        try:
            _COUNTER.pack_into(self._map, 0, (self.current() + 1) % (1 << 64))
        finally:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._descriptor)


class DescriptorCache:
    """A bounded LRU of :class:`FileInfo` of files that only ever disappear, in front of
    an optional :class:`SharedDescriptors` tier.

    :param cacheable: whether a path's ``stat`` may be kept (blob data, repository links).
    :param affects: whether removing a path (a file or a whole directory) may remove a
        cacheable one.
    :param generation: the host's counter of removals (``None``: this process only).
    :param capacity: entries kept; ``0`` caches nothing, removals are still announced
        (a garbage collection's process caches nothing but must tell the servers).
    :param announce: tells the other hosts' processes of a removal (the coordinator).
    :param shared: the tier every process on the storage shares (``None``: none).
    :param ask_shared: whether ``stat`` asks the shared tier (a garbage collection only
        tells it of removals).
    """

    def __init__(
        self,
        *,
        cacheable: Callable[[str], bool],
        affects: Callable[[str], bool],
        generation: HostGeneration | None = None,
        capacity: int = DEFAULT_CAPACITY,
        announce: Callable[[], None] | None = None,
        shared: SharedDescriptors | None = None,
        ask_shared: bool = True,
    ) -> None:
        self.cacheable = cacheable
        self.affects = affects
        self.generation = generation
        self.capacity = capacity
        self._announce = announce
        self.shared = GuardedShared(shared) if shared is not None else None
        self.ask_shared = ask_shared
        self._entries: OrderedDict[str, FileInfo] = OrderedDict()
        self._lock = threading.Lock()
        # NOTE: bumped by every removal this process sees, so that a stat read before a
        # removal is never remembered after it (see stamp()).
        self._epoch = 0
        self._seen = generation.current() if generation is not None else 0
        self._shared_seen: str | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def stamp(self) -> Stamp:
        """Taken before asking storage; :meth:`remember` drops answers older than a removal."""
        self._follow_host()
        return Stamp(self._seen, self._epoch)

    def lookup(self, path: str) -> FileInfo | None:
        """The ``stat`` of ``path`` this process keeps, or ``None``."""
        if self.capacity <= 0:
            return None
        self._follow_host()
        with self._lock:
            info = self._entries.get(path)
            if info is not None:
                self._entries.move_to_end(path)
            return info

    def find(self, path: str, *, fresh: bool = False) -> tuple[FileInfo | None, Stamp]:
        """The ``stat`` of ``path`` from this process, else from the shared tier; with
        ``None``, the stamp to :meth:`remember` the store's answer with.

        :param fresh: ask neither tier (the store's answer is still remembered).
        """
        if self.shared is not None:
            # NOTE: also on hits of this process's memory: the other processes may read
            # the generation a failed removal left until this one records it.
            self.shared.settle()
        if not fresh:
            info = self.lookup(path)
            if info is not None:
                return info, Stamp(self._seen, self._epoch)
        # NOTE: stamped before the shared tier is asked: an entry of a generation that a
        # removal ends meanwhile is then never kept here (see forget()).
        stamp = self.stamp()
        if fresh or self.shared is None or not self.ask_shared:
            return None, stamp
        generation, info = self.shared.lookup(path)
        if generation is None:
            return None, stamp
        self._follow_shared(generation)
        if info is not None:
            self._keep(path, info, stamp)
            return info, stamp
        return None, Stamp(stamp.seen, stamp.epoch, generation)

    def remember(self, path: str, info: FileInfo, stamp: Stamp) -> None:
        """Keep ``info`` (a file, read after ``stamp`` was taken) unless a removal came
        in between, and hand it to the shared tier under the generation ``stamp`` read."""
        if info.is_dir:
            return
        self._keep(path, info, stamp)
        if stamp.generation is not None and self.shared is not None:
            self.shared.remember(path, info, stamp.generation)

    def forget(self, path: str) -> None:
        """``path`` (a file or a directory) was removed or moved away: if it may have held
        descriptors, every process drops what it cached."""
        if not self.affects(path):
            return
        # NOTE: this order matters. The shared generation moves first: a process that
        # then drops its memory (this one, the host's others, other hosts on the
        # announcement) can only fetch entries of the new generation afterwards.
        if self.shared is not None:
            self.shared.invalidate(path)
        self.clear()
        if self.generation is not None:
            self.generation.bump()
        if self._announce is not None:
            self._announce()

    def vanished(self, path: str, stamp: Stamp | None = None) -> None:
        """A read or stat found no file at ``path``: drop its entries (``stamp``: the one
        the stat was made with; the shared tier is not asked again when it just said it
        had nothing)."""
        with self._lock:
            self._epoch += 1
            self._entries.pop(path, None)
        if self.shared is not None and (stamp is None or stamp.generation is None):
            self.shared.discard(path)

    def clear(self) -> None:
        """Drop every entry of this process (another host announced a removal)."""
        with self._lock:
            self._epoch += 1
            self._entries.clear()

    def close(self) -> None:
        if self.generation is not None:
            self.generation.close()
        if self.shared is not None:
            self.shared.close()

    def _keep(self, path: str, info: FileInfo, stamp: Stamp) -> None:
        if self.capacity <= 0:
            return
        self._follow_host()
        with self._lock:
            if (stamp.seen, stamp.epoch) != (self._seen, self._epoch):
                return
            self._entries[path] = info
            self._entries.move_to_end(path)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def _follow_host(self) -> None:
        if self.generation is None:
            return
        current = self.generation.current()
        if current != self._seen:
            with self._lock:
                self._epoch += 1
                self._entries.clear()
                self._seen = current

    def _follow_shared(self, generation: str) -> None:
        # NOTE: a removal whose announcement this process missed (its subscriber was
        # reconnecting) still shows as a new shared generation at its next miss.
        if generation == self._shared_seen:
            return
        with self._lock:
            first = self._shared_seen is None
            self._shared_seen = generation
            if first and not self._entries:
                return  # NOTE: nothing to doubt yet; keep the answer that brought it
            self._epoch += 1
            self._entries.clear()
