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
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable

from .driver import FileInfo

#: Entries kept by default (a few hundred bytes each).
DEFAULT_CAPACITY = 10000
#: Coordinator topic of descriptor removals (the key says nothing: everything is dropped).
TOPIC = "descriptors"
#: The generation file's name inside the coordination directory.
GENERATION_FILE = "descriptors.generation"

_COUNTER = struct.Struct("<Q")


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
    """A bounded LRU of :class:`FileInfo` of files that only ever disappear.

    :param cacheable: whether a path's ``stat`` may be kept (blob data, repository links).
    :param affects: whether removing a path (a file or a whole directory) may remove a
        cacheable one.
    :param generation: the host's counter of removals (``None``: this process only).
    :param capacity: entries kept; ``0`` caches nothing, removals are still announced
        (a garbage collection's process caches nothing but must tell the servers).
    :param announce: tells the other hosts' processes of a removal (the coordinator).
    """

    def __init__(
        self,
        *,
        cacheable: Callable[[str], bool],
        affects: Callable[[str], bool],
        generation: HostGeneration | None = None,
        capacity: int = DEFAULT_CAPACITY,
        announce: Callable[[], None] | None = None,
    ) -> None:
        self.cacheable = cacheable
        self.affects = affects
        self.generation = generation
        self.capacity = capacity
        self._announce = announce
        self._entries: OrderedDict[str, FileInfo] = OrderedDict()
        self._lock = threading.Lock()
        # NOTE: bumped by every removal this process sees, so that a stat read before a
        # removal is never remembered after it (see stamp()).
        self._epoch = 0
        self._seen = generation.current() if generation is not None else 0

    def __len__(self) -> int:
        return len(self._entries)

    def stamp(self) -> tuple[int, int]:
        """Taken before asking storage; :meth:`remember` drops answers older than a removal."""
        self._follow_host()
        return self._seen, self._epoch

    def lookup(self, path: str) -> FileInfo | None:
        """The cached ``stat`` of ``path``, or ``None``."""
        if self.capacity <= 0:
            return None
        self._follow_host()
        with self._lock:
            info = self._entries.get(path)
            if info is not None:
                self._entries.move_to_end(path)
            return info

    def remember(self, path: str, info: FileInfo, stamp: tuple[int, int]) -> None:
        """Keep ``info`` (a file, read after ``stamp`` was taken) unless a removal came
        in between."""
        if self.capacity <= 0 or info.is_dir:
            return
        self._follow_host()
        with self._lock:
            if stamp != (self._seen, self._epoch):
                return
            self._entries[path] = info
            self._entries.move_to_end(path)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def forget(self, path: str) -> None:
        """``path`` (a file or a directory) was removed or moved away: if it may have held
        descriptors, every process drops what it cached."""
        if not self.affects(path):
            return
        self.clear()
        if self.generation is not None:
            self.generation.bump()
        if self._announce is not None:
            self._announce()

    def vanished(self, path: str) -> None:
        """A read found no file where a cached entry said one was: drop the entry."""
        with self._lock:
            self._epoch += 1
            self._entries.pop(path, None)

    def clear(self) -> None:
        """Drop every entry of this process (another host announced a removal)."""
        with self._lock:
            self._epoch += 1
            self._entries.clear()

    def close(self) -> None:
        if self.generation is not None:
            self.generation.close()

    def _follow_host(self) -> None:
        if self.generation is None:
            return
        current = self.generation.current()
        if current != self._seen:
            with self._lock:
                self._epoch += 1
                self._entries.clear()
                self._seen = current
