"""Mark: what a garbage collection keeps.

Roots, per v2 repository: every manifest it holds a revision of (or, with
``delete_untagged``, the manifests its tags point at and the revisions younger than the
grace period). From each kept manifest: its own blob, its config and layers, the children
of an index, and the referrers whose subject is kept (OCI 1.1), repeated until nothing
new is found. v1 images are kept when a tag or the repository's ``_index_images`` names
them, with their whole ancestry, and when a kept v2 manifest serves their layer through
the v1 -> v2 bridge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..storage import Storage
from ..v2.errors import V2Error
from ..v2.manifests import Manifest, parse_manifest
from . import gc_scan
from .gc_scan import RepositoryLinks


@dataclass
class Marks:
    """What is reachable.

    :param blobs: digests of blobs to keep (manifests, configs, layers).
    :param manifests: repository -> manifest digests it keeps.
    :param v1_images: v1 image ids to keep.
    """

    blobs: set[str] = field(default_factory=set)
    manifests: dict[str, set[str]] = field(default_factory=dict)
    v1_images: set[str] = field(default_factory=set)


class ManifestReader:
    """Reads and parses manifests once per collection, whatever repository names them."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._parsed: dict[str, Manifest | None] = {}

    def get(self, digest: str) -> Manifest | None:
        """The parsed manifest; ``None`` when its data is missing or not a manifest."""
        if digest not in self._parsed:
            data = gc_scan.read_blob(self.storage, digest)
            manifest = None
            if data is not None:
                try:
                    manifest = parse_manifest(data)
                except V2Error:
                    manifest = None  # a plain blob, or a manifest we cannot read: kept as is
            self._parsed[digest] = manifest
        return self._parsed[digest]


def mark_repository(
    links: RepositoryLinks,
    reader: ManifestReader,
    marks: Marks,
    *,
    delete_untagged: bool,
    cutoff: float,
) -> None:
    """Add what repository ``links.name`` keeps to ``marks``.

    :param cutoff: links written after this time (seconds since the epoch) are roots
        whatever their tags say: a push may still be on its way.
    """
    if delete_untagged:
        roots = {digest for digest, _ in links.tags.values()}
        roots.update(d for d, link in links.revisions.items() if _young(link.mtime, cutoff))
    else:
        roots = set(links.revisions)
    kept = marks.manifests.setdefault(links.name, set())
    pending = list(roots - kept)
    while pending:
        digest = pending.pop()
        if digest in kept:
            continue
        kept.add(digest)
        marks.blobs.add(digest)
        manifest = reader.get(digest)
        if manifest is not None:
            marks.blobs.update(str(blob) for blob in manifest.blobs)
            pending.extend(str(child) for child in manifest.children)
        pending.extend(links.referrers.get(digest, {}))
    # NOTE: blobs linked after the cutoff belong to a push in progress (its manifest may
    # arrive after this scan): they stay whatever references them.
    marks.blobs.update(d for d, link in links.layers.items() if _young(link.mtime, cutoff))


def mark_v1(storage: Storage, repositories: Iterable[gc_scan.V1Repository], marks: Marks) -> None:
    """Add the v1 images reachable from tags and index lists, ancestry included."""
    for repository in repositories:
        for root in repository.roots:
            if root not in marks.v1_images:
                marks.v1_images.update(gc_scan.v1_ancestry(storage, root))


def mark_bridged(storage: Storage, marks: Marks, blob_digests: set[str]) -> None:
    """Keep the v1 images whose layers kept v2 manifests serve through the bridge."""
    for digest in marks.blobs - blob_digests:
        image_id = gc_scan.bridged_image(storage, digest)
        if image_id is not None:
            marks.v1_images.add(image_id)


def _young(mtime: float | None, cutoff: float) -> bool:
    # NOTE: a driver that cannot tell when a file changed gets the benefit of the doubt.
    return mtime is None or mtime >= cutoff
