"""Which repositories hold each v1 image: the index that scopes v1 image ids.

v1 image routes (``/v1/images/<id>/...``) name no repository, so 0.9.1 served any image
to anyone allowed anything. With per-repository permissions that leaks images of
repositories a caller may not pull; this index says which repositories hold an image, so
that a read needs ``pull`` on one of them (:mod:`.image_access`).

An image is recorded for a repository when a tag of that repository is set to it (R13)
and when the repository's image list is written (R22, R23), together with its ancestry:
an image and its ancestors belong to the repository. Records are never removed (v1
never deletes images; a repository deleted and pushed again under the same name needs
the same permissions).

Storage (:func:`.layout.image_holder_path`): one file per (image, repository) pair, so
concurrent pushes of one image into different repositories never lose a record. Data
written before the index existed is scanned once (every repository's tags and image
list), under the coordinator's lock, then :func:`.layout.image_index_scanned_path`
marks the scan done.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable

from ..coordination import CoordinationError, Coordinator
from ..storage import PathNotFoundError, Storage
from . import layout
from .errors import NotFound
from .index import IndexStore
from .tags import TagStore

log = logging.getLogger(__name__)

#: The coordinator lock the one-time scan runs under.
SCAN_LOCK = "v1-image-index-scan"


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


class ImageIndex:
    """Records and answers which repositories hold an image.

    :param storage: the registry's storage.
    :param coordinator: serializes the one-time scan across processes (``None``: this
        process's threads only).
    """

    def __init__(self, storage: Storage, coordinator: Coordinator | None = None) -> None:
        self.storage = storage
        self.coordinator = coordinator
        self._scan_done = False
        self._scan_lock = threading.Lock()

    def holders(self, image_id: str) -> list[str]:
        """The canonical names (``<ns>/<repo>``) of the repositories holding ``image_id``.

        :raises StorageError: the backend failed (never read as "held by none").
        """
        self.ensure_scanned()
        names = []
        for namespace_path in self._children(layout.image_holders_path(image_id)):
            namespace = layout.decode_component(_basename(namespace_path))
            for holder in self._children(namespace_path):
                repository = layout.decode_component(_basename(holder))
                names.append(layout.display_name(namespace, repository))
        return names

    def record(
        self, namespace: str, repository: str, image_ids: Iterable[str], *, scan: bool = True
    ) -> None:
        """Record that ``<namespace>/<repository>`` (quoted repository) holds each of
        ``image_ids`` (valid ids only; callers expand the ancestry).

        :param scan: scan older data first (:meth:`ensure_scanned`), so that the index is
            complete from its first record on. Registries that do not read the index
            (``open`` and ``token`` backends) keep records without paying for the scan;
            it runs when a backend that reads the index first needs it.
        """
        if scan:
            self.ensure_scanned()
        self._write(namespace, repository, image_ids)

    def _write(self, namespace: str, repository: str, image_ids: Iterable[str]) -> None:
        name = layout.display_name(namespace, repository).encode()
        for image_id in dict.fromkeys(image_ids):
            if layout.is_image_id(image_id):
                self.storage.put_content(
                    layout.image_holder_path(image_id, namespace, repository), name
                )

    def ancestry(self, image_id: str) -> list[str]:
        """``image_id`` then its ancestors, as stored; ``[image_id]`` when the image has
        no readable ancestry (absent, or written by a client that stored none)."""
        try:
            value = json.loads(self.storage.get_content(layout.image_ancestry_path(image_id)))
        except (PathNotFoundError, ValueError, RecursionError):
            return [image_id]
        if not isinstance(value, list):
            return [image_id]
        found = [item for item in value if layout.is_image_id(item)]
        return list(dict.fromkeys([image_id, *found]))

    # -- the one-time scan of older data -------------------------------------------------

    def ensure_scanned(self) -> None:
        """Scan the repositories written before the index existed, once per storage."""
        if self._scan_done:
            return
        with self._scan_lock:
            if self._scan_done:
                return
            if not self.storage.exists(layout.image_index_scanned_path()):
                self._scan_under_lock()
            self._scan_done = True

    def _scan_under_lock(self) -> None:
        if self.coordinator is None:
            self._scan()
            return
        try:
            with self.coordinator.lock(SCAN_LOCK, wait=300.0):
                if not self.storage.exists(layout.image_index_scanned_path()):
                    self._scan()
        except CoordinationError as exc:
            # NOTE: records are idempotent; scanning without the lock only repeats work
            # another process may be doing, it cannot lose or corrupt anything.
            log.warning(
                "v1 image index: %s; scanning without the lock %r (repeats another "
                "process's scan at worst)",
                exc,
                SCAN_LOCK,
            )
            self._scan()

    def _scan(self) -> None:
        tags, lists = TagStore(self.storage), IndexStore(self.storage)
        repositories = images = 0
        for namespace_path in self._children(layout.repositories_path()):
            namespace = layout.decode_component(_basename(namespace_path))
            for repository_path in self._children(namespace_path):
                repository = layout.decode_component(_basename(repository_path))
                held = self._scan_repository(tags, lists, namespace, repository)
                self._write(namespace, repository, held)
                repositories += 1
                images += len(held)
        self.storage.put_content(layout.image_index_scanned_path(), b"true")
        log.info(
            "v1 image index: scanned %d repositories written before the index, %d "
            "(image, repository) records",
            repositories,
            images,
        )

    def _scan_repository(
        self, tags: TagStore, lists: IndexStore, namespace: str, repository: str
    ) -> list[str]:
        held: dict[str, None] = {}
        try:
            tagged = list(tags.list_tags(namespace, repository).values())
        except NotFound:
            tagged = []
        for image_id in tagged:
            if layout.is_image_id(image_id):
                held.update(dict.fromkeys(self.ancestry(image_id)))
        try:
            listed = json.loads(lists.get_images(namespace, repository))
        except (NotFound, ValueError, RecursionError):
            listed = []  # no image list, or not JSON: nothing listed
        for item in listed if isinstance(listed, list) else []:
            listed_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(listed_id, str) and layout.is_image_id(listed_id):
                held[listed_id] = None
        return list(held)

    def _children(self, path: str) -> list[str]:
        try:
            return self.storage.list(path)
        except PathNotFoundError:
            return []
