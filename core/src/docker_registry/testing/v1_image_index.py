"""Process bodies for testing the v1 image index across real processes (see
:mod:`docker_registry.core.v1.image_index`): each builds its own index on a shared file
storage and a shared ``local`` coordinator directory, as ``serve --workers N`` does."""

from __future__ import annotations

import time
from typing import Any

from docker_registry.core.coordination import LocalCoordinator
from docker_registry.core.storage import Storage
from docker_registry.core.v1.image_index import ImageIndex

#: Seconds each scan takes at least (longer than the processes take to start).
SLOW_SCAN = 3.0


class _CountingIndex(ImageIndex):
    """An index that tells whether this process ran the one-time scan, and scans slowly
    enough that processes started together all arrive while it runs."""

    scans = 0

    def _scan(self) -> None:
        self.scans += 1
        time.sleep(SLOW_SCAN)
        super()._scan()


def _index(storage_path: str, lock_directory: str) -> _CountingIndex:
    from docker_registry.drivers.file import FileDriver

    storage = Storage(FileDriver(storage_path=storage_path))
    return _CountingIndex(storage, LocalCoordinator("v1-image-index-test", lock_directory))


def first_read(storage_path: str, lock_directory: str, image_id: str, results: Any) -> None:
    """Ask who holds ``image_id`` (the first read scans older data) and put
    ``(scans run by this process, holders)`` on ``results``."""
    index = _index(storage_path, lock_directory)
    holders = sorted(index.holders(image_id))
    results.put((index.scans, holders))


def record_many(
    storage_path: str, lock_directory: str, namespace: str, repository: str, ids: list[str]
) -> None:
    """Record each of ``ids`` as held by ``<namespace>/<repository>``, one at a time."""
    index = _index(storage_path, lock_directory)
    for image_id in ids:
        index.record(namespace, repository, [image_id])
