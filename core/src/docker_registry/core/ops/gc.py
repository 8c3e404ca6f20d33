"""Garbage collection that is safe while the registry serves: ``docker-registry gc``.

One collection, under the coordinator's ``gc`` lock (one at a time across processes and
hosts):

1. **Recover.** Blobs a collection that was interrupted left in quarantine go back.
2. **Mark** (:mod:`.gc_mark`) from the repositories' links as they are now.
3. **Quarantine** every blob that is unreachable and older than the grace period: its data
   moves aside, where clients no longer see it.
4. **Settle.** The repositories are scanned and marked again. A manifest that was pushed
   between the first mark and the quarantine is seen now, and the blobs it names go back.
   A push whose manifest arrives after the quarantine is refused by the manifest store,
   which checks its blobs again once its revision link is written
   (:meth:`.ManifestStore.put`), so an acknowledged manifest never names a deleted blob.
5. **Sweep** (:mod:`.gc_sweep`): delete what is still in quarantine, untagged manifests
   (``delete_untagged``), links whose data is gone, expired upload sessions, v1 images no
   tag or index reaches, and bridge entries of deleted v1 images.

Anything written less than ``grace`` seconds before the collection started is kept: an
upload whose manifest has not arrived yet, a blob just mounted into a repository, a v1
image being pushed.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..storage import Storage
from . import gc_scan, gc_sweep
from .gc_history import record_run
from .gc_mark import ManifestReader, Marks, mark_bridged, mark_repository, mark_v1
from .gc_scan import RepositoryLinks, Stored
from .progress import progress

log = logging.getLogger(__name__)

#: Default grace period: anything younger is kept.
DEFAULT_GRACE = 3600.0
#: Name of the coordinator lock that keeps collections from overlapping.
LOCK_NAME = "gc"


@dataclass(frozen=True)
class GcOptions:
    """How one collection runs.

    :param dry_run: report what would be removed; change nothing.
    :param delete_untagged: also remove manifests no tag reaches (and what only they use).
    :param grace: seconds; anything written since ``now - grace`` is kept.
    :param upload_max_age: seconds after which an untouched upload session is expired
        (the ``upload_purge_age`` setting; 0 keeps every session).
    :param jobs: storage changes made at once (each waits on the disk's fsync or on a
        round trip to the object store; the scan itself is sequential).
    """

    dry_run: bool = False
    delete_untagged: bool = False
    grace: float = DEFAULT_GRACE
    upload_max_age: float = 7 * 24 * 3600.0
    jobs: int = 8


@dataclass
class GcReport:
    """What a collection removed (or, in a dry run, would remove)."""

    dry_run: bool = False
    blobs: int = 0
    manifests: int = 0
    links: int = 0
    uploads: int = 0
    v1_images: int = 0
    bridge_entries: int = 0
    restored: int = 0
    bytes_freed: int = 0
    seconds: float = 0.0
    #: one line per removal ("blob sha256:... 1234 bytes"), in a dry run only.
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        return (
            f"gc {'dry run ' if self.dry_run else ''}done in {self.seconds:.1f} s: "
            f"{self.blobs} blobs, {self.manifests} untagged manifests, {self.links} links, "
            f"{self.uploads} upload sessions, {self.v1_images} v1 images, "
            f"{self.bridge_entries} bridge entries; {verb} {self.bytes_freed} bytes"
            + (
                f"; {self.restored} blobs put back (pushed during the collection)"
                if self.restored
                else ""
            )
        )


Progress = Callable[[str, int, int | None], None]


class ProgressDisplay:
    """A bar per phase on a terminal, plain periodic lines otherwise (:mod:`.progress`)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._phase = ""
        self._done = 0
        self._current: Any = None

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if phase != self._phase or done < self._done:
            self.close()
            self._current = progress(f"gc: {phase}", "items", self.stream)
            self._phase, self._done = phase, 0
        self._current.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


def _no_progress(phase: str, done: int, total: int | None) -> None:
    return None


class Collection:
    """One garbage collection over ``storage`` (the caller holds the ``gc`` lock)."""

    def __init__(
        self, storage: Storage, options: GcOptions, progress: Progress = _no_progress
    ) -> None:
        self.storage = storage
        self.options = options
        self.progress = progress
        self.report = GcReport(dry_run=options.dry_run)
        self._report_lock = threading.Lock()

    def run(self, now: float | None = None) -> GcReport:
        started = time.monotonic()
        now = time.time() if now is None else now
        cutoff = now - self.options.grace
        if not self.options.dry_run:
            self._recover()
        # NOTE: blobs are listed before the mark, so that the quarantine follows the mark
        # at once: a manifest pushed in between has its blobs parked until the settle.
        blobs = gc_scan.scan_blobs(self.storage, self.progress)
        repositories, marks = self._mark(cutoff)
        mark_bridged(self.storage, marks, set(blobs))
        candidates = {
            digest: stored
            for digest, stored in blobs.items()
            if digest not in marks.blobs and not _young(stored.mtime, cutoff)
        }
        if self.options.dry_run:
            self._sweep(repositories, marks, candidates, set(blobs), now, cutoff)
        else:
            parked = self._quarantine(candidates)
            # NOTE: the second mark sees every manifest whose push was acknowledged
            # before the quarantine (see the module's docstring).
            repositories, marks = self._mark(cutoff)
            blobs_now = set(blobs)
            mark_bridged(self.storage, marks, blobs_now)
            back = [d for d in parked if d in marks.blobs]
            for digest, _ in self._each(lambda d: gc_sweep.restore(self.storage, d), back):
                del parked[digest]
                self.report.restored += 1
            self._sweep(repositories, marks, parked, blobs_now, now, cutoff)
        self.report.seconds = time.monotonic() - started
        return self.report

    # -- phases --------------------------------------------------------------------------

    def _recover(self) -> None:
        for digest in gc_scan.scan_quarantine(self.storage):
            log.warning("gc: putting back blob %s left in quarantine by an earlier run", digest)
            gc_sweep.restore(self.storage, digest)

    def _mark(self, cutoff: float) -> tuple[list[RepositoryLinks], Marks]:
        marks = Marks()
        reader = ManifestReader(self.storage)
        names = gc_scan.repository_names(self.storage)
        repositories = []
        for done, name in enumerate(names, 1):
            links = gc_scan.scan_repository(self.storage, name)
            mark_repository(
                links, reader, marks, delete_untagged=self.options.delete_untagged, cutoff=cutoff
            )
            repositories.append(links)
            self.progress("repositories", done, len(names))
        mark_v1(self.storage, gc_scan.scan_v1_repositories(self.storage), marks)
        return repositories, marks

    def _quarantine(self, candidates: dict[str, Stored]) -> dict[str, Stored]:
        parked = {}
        moved = self._each(lambda d: gc_sweep.quarantine(self.storage, d), sorted(candidates))
        for done, (digest, found) in enumerate(moved, 1):
            if found:
                parked[digest] = candidates[digest]
            self.progress("quarantine", done, len(candidates))
        return parked

    def _sweep(
        self,
        repositories: list[RepositoryLinks],
        marks: Marks,
        doomed: dict[str, Stored],
        blobs: set[str],
        now: float,
        cutoff: float,
    ) -> None:
        def drop(digest: str) -> None:
            if not self.options.dry_run:
                gc_sweep.drop_quarantined(self.storage, digest)

        for done, (digest, _) in enumerate(self._each(drop, sorted(doomed)), 1):
            self._removed("blob", digest, doomed[digest].size)
            self.progress("blobs removed", done, len(doomed))
        remaining = blobs - set(doomed)

        def sweep(links: RepositoryLinks) -> None:
            self._sweep_repository(links, marks, remaining, now, cutoff)

        for done, _ in enumerate(self._each(sweep, repositories), 1):
            self.progress("repositories swept", done, len(repositories))
        self._sweep_v1(marks, cutoff)

    def _sweep_repository(
        self, links: RepositoryLinks, marks: Marks, blobs: set[str], now: float, cutoff: float
    ) -> None:
        kept = marks.manifests.get(links.name, set())
        gone: set[str] = set()
        if self.options.delete_untagged:
            for digest, link in links.revisions.items():
                untagged = digest not in kept and not _young(link.mtime, cutoff)
                if untagged and self._remove(links.folders[link.path]):
                    self._removed(
                        "untagged manifest", f"{links.name}@{digest}", 0, kind="manifests"
                    )
                    gone.add(digest)
        for table in (links.layers, links.revisions):
            for digest, link in table.items():
                if digest in gone or _young(link.mtime, cutoff):
                    continue
                dangling = digest not in blobs and not self._present(digest)
                if dangling and self._remove(links.folders[link.path]):
                    self._removed("link", f"{links.name} -> {digest} (data gone)", 0, kind="links")
        for subject, referrers in links.referrers.items():
            for digest, link in referrers.items():
                dangling = digest in gone or digest not in links.revisions
                stale = dangling and not _young(link.mtime, cutoff)
                if stale and self._remove(links.folders[link.path]):
                    self._removed(
                        "link", f"{links.name} referrer {digest} of {subject}", 0, kind="links"
                    )
        max_age = self.options.upload_max_age
        for folder, files in links.uploads.items():
            newest = max((f.mtime or now for f in files), default=now)
            if max_age > 0 and now - newest > max_age:
                size = sum(f.size for f in files)
                if self._remove(folder):
                    self._removed("upload session", folder, size, kind="uploads")

    def _sweep_v1(self, marks: Marks, cutoff: float) -> None:
        removed: set[str] = set()
        for image_id in gc_scan.v1_image_ids(self.storage):
            if image_id in marks.v1_images:
                continue
            files = gc_scan.v1_image_files(self.storage, image_id)
            if any(_young(f.mtime, cutoff) for f in files):
                continue  # being pushed: its tag or index list comes last
            deleted = self.options.dry_run or gc_sweep.delete_v1_image(self.storage, image_id)
            if deleted:
                removed.add(image_id)
                self._removed("v1 image", image_id, sum(f.size for f in files), kind="v1_images")
        existing = set(gc_scan.v1_image_ids(self.storage)) - removed
        for kind, key, path in gc_scan.bridge_entries(self.storage):
            owner: str | None = key
            if kind == "layer":
                owner = gc_scan.bridged_image(self.storage, key)
            if owner in existing:
                continue
            if self._remove_bridge_entry(kind, key, path):
                self._removed("bridge entry", path, 0, kind="bridge_entries")

    # -- helpers -------------------------------------------------------------------------

    def _each(self, work: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """``(item, work(item))`` for each item, ``jobs`` at a time (in order when dry)."""
        items = list(items)
        if self.options.dry_run or self.options.jobs <= 1 or len(items) <= 1:
            for item in items:
                yield item, work(item)
            return
        with ThreadPoolExecutor(self.options.jobs, thread_name_prefix="gc") as pool:
            yield from zip(items, pool.map(work, items), strict=True)

    def _remove_bridge_entry(self, kind: str, key: str, path: str) -> bool:
        if self.options.dry_run:
            return True
        if kind == "image":
            return gc_sweep.delete_folder(self.storage, _parent(path))
        return gc_sweep.delete_bridge_layer(self.storage, key)

    def _present(self, digest: str) -> bool:
        # NOTE: asked again right before removing a link: a push may have put it back.
        return gc_sweep.blob_present(self.storage, digest)

    def _remove(self, folder: str) -> bool:
        return True if self.options.dry_run else gc_sweep.delete_folder(self.storage, folder)

    def _removed(self, what: str, name: str, size: int, kind: str = "blobs") -> None:
        with self._report_lock:
            setattr(self.report, kind, getattr(self.report, kind) + 1)
            self.report.bytes_freed += size
            if self.options.dry_run:
                self.report.lines.append(f"would remove {what} {name} ({size} bytes)")
        if not self.options.dry_run:
            log.info("gc: removed %s %s (%d bytes)", what, name, size)


def _young(mtime: float | None, cutoff: float) -> bool:
    return mtime is None or mtime >= cutoff


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0]


def collect_garbage(
    storage: Storage,
    options: GcOptions,
    progress: Progress = _no_progress,
    now: float | None = None,
) -> GcReport:
    """Run one collection without a lock (tests; the CLI uses :func:`run_gc`)."""
    return Collection(storage, options, progress).run(now)


def run_gc(
    registry: Any, options: GcOptions, progress: Progress = _no_progress, wait: float = 0.0
) -> GcReport:
    """One collection under the coordinator's ``gc`` lock.

    :raises LockTimeout: another collection holds the lock for longer than ``wait``.
    """
    with registry.coordinator.lock(LOCK_NAME, wait=wait):
        report = collect_garbage(registry.storage, options, progress)
        if not report.dry_run:
            record_run(
                registry.storage,
                end=time.time(),
                seconds=report.seconds,
                bytes_freed=report.bytes_freed,
                blobs=report.blobs,
            )
    return report
