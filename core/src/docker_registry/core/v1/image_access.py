"""Who may read, write and claim a v1 image, from the repositories holding it.

The authorize step lets a v1 image route through when the caller may ``pull`` (reads)
or ``push`` (writes) *some* repository: the route names no repository. This module
narrows that with :class:`.image_index.ImageIndex`:

- read an image: ``pull`` on a repository holding it. An image no repository holds yet
  (mid-push, or never tagged) is read only with all access (its pusher's client gets a
  refusal on its existence check and pushes; a complete image then answers 409, which
  Docker 1.x reads as "already pushed"). With ``mirroring`` such images are the
  upstream's, cached here: readable as before.
- write an image (json, layer, checksum): ``push`` on a repository holding it, or on any
  repository while none holds it (a push in progress).
- claim images for a repository (a tag set to it, an image list naming it), and use an
  image as a parent: each image and its ancestors must be held by none yet or by a
  repository the caller may pull, so that no one gains an image by naming it.

Backends whose image ids are registry-wide by design (the v1 index ``token`` backend,
spec §1.6: ``image_ids_registry_wide``) and all-access grants skip every check.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..access.model import PULL, PUSH, Decision
from .image_index import ImageIndex
from .images import ImageStore


class ImageAccess:
    """The checks above, for one application.

    :param index: which repositories hold each image.
    :param images: the image store (does an image exist at all).
    :param registry_wide: the backend keeps image ids registry-wide: no checks.
    :param unrestricted: the backend allows everything (``open``): no checks.
    :param mirrored: ``mirroring`` is on: images no repository holds are the upstream's.
    """

    def __init__(
        self,
        index: ImageIndex,
        images: ImageStore,
        *,
        registry_wide: bool = False,
        unrestricted: bool = False,
        mirrored: bool = False,
    ) -> None:
        self.index = index
        self.images = images
        self.registry_wide = registry_wide
        self.unrestricted = unrestricted
        self.mirrored = mirrored

    @property
    def checking(self) -> bool:
        """True when this backend's callers are checked against the index at all."""
        return not (self.registry_wide or self.unrestricted)

    def _unchecked(self, decision: Decision) -> bool:
        return not self.checking or decision.all_access

    def readable(self, decision: Decision, image_id: str) -> bool:
        """May the caller read ``image_id``? An absent image is "readable": the route
        answers its own 404."""
        if self._unchecked(decision):
            return True
        holders = self.index.holders(image_id)
        if holders:
            return any(decision.may(name, PULL) for name in holders)
        return self.mirrored or not self.images.exists(image_id)

    def writable(self, decision: Decision, image_id: str) -> bool:
        """May the caller write ``image_id`` (the authorize step checked ``push`` on
        some repository)?"""
        if self._unchecked(decision):
            return True
        holders = self.index.holders(image_id)
        return not holders or any(decision.may(name, PUSH) for name in holders)

    def usable(self, decision: Decision, image_id: str) -> bool:
        """May the caller build on or claim ``image_id``: held by none yet, or by a
        repository the caller may pull?"""
        if self._unchecked(decision):
            return True
        holders = self.index.holders(image_id)
        return not holders or any(decision.may(name, PULL) for name in holders)

    def claim(
        self, decision: Decision, namespace: str, repository: str, image_ids: Iterable[str]
    ) -> list[str]:
        """Record ``image_ids`` and their ancestries for ``<namespace>/<repository>``
        unless one of them is not :meth:`usable`; images not stored (yet) are skipped
        (an image list sent before the push, R22).

        :returns: the ids refused (nothing was recorded then), ``[]`` on success.
        """
        wanted: dict[str, None] = {}
        for image_id in image_ids:
            if image_id in wanted or not self.images.exists(image_id):
                continue
            wanted.update(dict.fromkeys(self.index.ancestry(image_id)))
        refused = [image_id for image_id in wanted if not self.usable(decision, image_id)]
        if refused:
            return refused
        # NOTE: records are kept in every mode (a backend that reads them may be chosen
        # later); only a mode that reads them pays for scanning older data first.
        self.index.record(namespace, repository, wanted, scan=self.checking)
        return []
