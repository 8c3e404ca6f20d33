"""Process bodies for testing a shared blob-descriptor cache across real processes.

A process started by ``multiprocessing`` (spawn) builds its own registry on a file storage
shared with the test, with the plugins installed (registry-plugin-redis answers the hook
``registry_shared_descriptors`` when ``coordination`` names Redis), asks for one blob and
reports what it found and how many times it asked the store.
"""

from __future__ import annotations

from typing import Any

from docker_registry.core.storage.driver import FileInfo


def open_registry(settings: dict[str, Any], capacity: int) -> Any:
    """A registry on the file storage ``settings["storage_path"]``, its driver counting
    ``stat`` calls (``registry.storage.driver.stats``)."""
    from docker_registry.core.config import Settings
    from docker_registry.core.coordination import create_coordinator
    from docker_registry.core.plugins import create_plugin_manager
    from docker_registry.core.registry import Registry
    from docker_registry.core.storage import Storage
    from docker_registry.core.v2.descriptors import use_descriptor_cache
    from docker_registry.drivers.file import FileDriver

    class CountingFileDriver(FileDriver):
        stats = 0

        def stat(self, path: str) -> FileInfo:
            self.stats += 1
            return super().stat(path)

    values = Settings.from_mapping(settings)
    storage = Storage(CountingFileDriver(storage_path=settings["storage_path"]))
    registry = Registry(settings=values, storage=storage, plugins=create_plugin_manager())
    registry.coordinator = create_coordinator(registry)
    use_descriptor_cache(registry, capacity)
    return registry


def stat_blob(settings: dict[str, Any], repository: str, digest: str, results: Any) -> None:
    """Put ``(size or None, store stats)`` of ``repository``'s blob ``digest``, asked by a
    process that never saw it, on ``results``."""
    from docker_registry.core.v2.blobs import BlobStore
    from docker_registry.core.v2.digests import parse_digest
    from docker_registry.core.v2.errors import BlobUnknown

    registry = open_registry(settings, 100)
    try:
        size: int | None = BlobStore(registry.storage).stat(repository, parse_digest(digest)).size
    except BlobUnknown:
        size = None
    results.put((size, registry.storage.driver.stats))
    registry.coordinator.close()
    registry.storage.close()
