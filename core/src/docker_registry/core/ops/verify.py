"""``docker-registry verify``: walk the whole storage, read-only, and report damage.

Damage is what a client would see as a broken registry or wrong bytes:

- a blob whose content does not hash to its digest;
- a v2 repository that links a manifest whose data is missing, a manifest that does not
  parse or whose config, layers or child manifests the repository does not hold, a tag that
  points at a manifest the repository does not hold;
- a v1 image marked complete with its json, ancestry or layer missing or unreadable, or whose
  layer no longer matches the payload checksum recorded when it was pushed; a v1 tag that
  points at an image (or an ancestor) that is missing or still being uploaded.

Uploads in progress or cut off are not damage (a v1 image still marked in progress, a v2
session, a blob link whose data never committed: no client was told it exists).
What changes while the walk runs (a tag deleted, a blob collected) is checked again before it
is reported, so a registry can be verified while it serves.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..storage import PathNotFoundError, Storage, list_children
from ..v1 import layout as v1_layout
from ..v1.checksums import PayloadHasher
from ..v1.errors import NotFound
from ..v1.tags import TagStore
from ..v1.tags import repository_names as v1_repositories
from ..v2 import layout as v2_layout
from ..v2.blobs import BlobStore
from ..v2.bridge import V1Bridge
from ..v2.digests import Digest, parse_digest
from ..v2.errors import BlobUnknown, DigestInvalid, ManifestInvalid, ManifestUnknown
from ..v2.manifests import ManifestStore, parse_manifest
from ..v2.tags import repository_names as v2_repositories
from .progress import Progress

#: Bytes read at once while hashing.
READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Damage:
    """One problem: ``what`` is wrong with ``where`` (a digest, ``repo:tag``, an image id)."""

    what: str
    where: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.what}: {self.where}" + (f": {self.detail}" if self.detail else "")


@dataclass
class VerifyReport:
    """What a walk checked and found."""

    damage: list[Damage] = field(default_factory=list)
    blobs: int = 0
    blob_bytes: int = 0
    repositories: int = 0
    manifests: int = 0
    tags: int = 0
    v1_images: int = 0
    v1_in_progress: int = 0
    v1_unverified: int = 0
    v1_tags: int = 0
    unbacked_links: int = 0

    def summary(self) -> str:
        return (
            f"{self.blobs} blobs ({self.blob_bytes / 2**20:.1f} MiB hashed), "
            f"{self.repositories} v2 repositories, {self.manifests} manifests, {self.tags} tags; "
            f"{self.v1_images} v1 images ({self.v1_in_progress} uploads in progress, "
            f"{self.v1_unverified} without a recorded checksum), {self.v1_tags} v1 tags; "
            f"{self.unbacked_links} blob links of unfinished uploads (gc removes them): "
            f"{len(self.damage)} problem(s)"
        )


class StorageVerifier:
    """One read-only walk of a registry's storage.

    :param progress: told of every item checked and every byte hashed.
    :param found: called with each problem as soon as it is certain.
    :param jobs: blobs read and hashed at once (object stores answer each read after a
        round trip; a local disk gains little above 2).
    """

    def __init__(
        self,
        storage: Storage,
        progress: Progress | None = None,
        found: Callable[[Damage], None] | None = None,
        jobs: int = 1,
    ) -> None:
        self.storage = storage
        self.jobs = jobs
        self.progress = progress
        self.found = found
        bridge = V1Bridge(storage)
        self.blobs = BlobStore(storage, bridge)
        self.manifests = ManifestStore(storage, self.blobs, None, tags_ttl=0)
        self.report = VerifyReport()
        self._complete_images: dict[str, bool] = {}

    def run(self) -> VerifyReport:
        """Check everything; the report lists the damage found.

        :raises StorageError: the backend failed (nothing is known after that point).
        """
        self._check_blobs()
        for name in v2_repositories(self.storage):
            self._check_repository(name)
        self._check_v1_images()
        self._check_v1_tags()
        return self.report

    def _damage(self, what: str, where: str, detail: str = "") -> None:
        damage = Damage(what, where, detail)
        self.report.damage.append(damage)
        if self.found is not None:
            self.found(damage)

    def _tick(self, size: int = 0) -> None:
        if self.progress is not None:
            self.progress.update(1, size)

    def _hash(self, path: str, hasher: Any) -> int:
        """Feed the content at ``path`` to ``hasher``; return its size."""
        size = 0
        with self.storage.reader(path) as stream:
            while chunk := stream.read(READ_SIZE):
                hasher.update(chunk)
                size += len(chunk)
        return size

    # -- v2 -------------------------------------------------------------------------------

    def _blob_files(self) -> Iterator[tuple[str, Digest]]:
        """Each blob's data path and digest (damage for a name that is not a digest)."""
        try:
            files = self.storage.walk(v2_layout.BLOBS)
        except PathNotFoundError:
            return
        for info in files:
            parsed = v2_layout.blob_of_data_path(info.path)
            if parsed is None:
                continue
            try:
                digest = parse_digest(f"{parsed[0]}:{parsed[1]}")
            except DigestInvalid:
                self._damage("blob under a name that is not a digest", info.path)
                continue
            yield info.path, digest

    def _check_blobs(self) -> None:
        for digest, hashed in self._hashed(self._blob_files()):
            if hashed is None:
                continue  # collected meanwhile
            size, hex_digest = hashed
            self.report.blobs += 1
            self.report.blob_bytes += size
            self._tick(size)
            if hex_digest != digest.hex:
                self._damage(
                    "blob content does not match its digest",
                    str(digest),
                    f"{size} bytes hash to {digest.algorithm}:{hex_digest}; delete the "
                    "blob's data and push the image again",
                )

    def _hashed(
        self, blobs: Iterator[tuple[str, Digest]]
    ) -> Iterator[tuple[Digest, tuple[int, str] | None]]:
        """``(digest, (size, hex digest of the content))`` of each blob in order, ``jobs``
        read at once (``None``: removed meanwhile)."""

        def hash_one(path: str, digest: Digest) -> tuple[int, str] | None:
            hasher = digest.hasher()
            try:
                size = self._hash(path, hasher)
            except PathNotFoundError:
                return None
            return size, hasher.hexdigest()

        if self.jobs <= 1:
            for path, digest in blobs:
                yield digest, hash_one(path, digest)
            return
        with ThreadPoolExecutor(self.jobs, thread_name_prefix="verify") as pool:
            window: deque[tuple[Digest, Future[tuple[int, str] | None]]] = deque()
            for path, digest in blobs:
                window.append((digest, pool.submit(hash_one, path, digest)))
                if len(window) >= 2 * self.jobs:
                    digest_done, future = window.popleft()
                    yield digest_done, future.result()
            while window:
                digest_done, future = window.popleft()
                yield digest_done, future.result()

    def _linked_digests(self, folder: str) -> Iterator[Digest]:
        """The digests of ``<folder>/<algorithm>/<hex>/link`` entries."""
        for algorithm_folder in list_children(self.storage, folder):
            algorithm = v2_layout.basename(algorithm_folder)
            for digest_folder in list_children(self.storage, algorithm_folder):
                try:
                    yield parse_digest(f"{algorithm}:{v2_layout.basename(digest_folder)}")
                except DigestInvalid:
                    continue  # not ours to judge: no client can name it

    def _check_repository(self, name: str) -> None:
        self.report.repositories += 1
        for digest in self._linked_digests(v2_layout.layers_dir(name)):
            self._tick()
            # NOTE: an upload links its blob while the data commits (in parallel): one cut
            # off in between leaves a link without data. No client was told the blob
            # exists and no manifest can name it (a manifest PUT needs the data), so it is a
            # leftover for gc, not damage; a manifest that names a lost blob is reported below.
            if not self.blobs.exists(digest):
                self.report.unbacked_links += 1
        for digest in self._linked_digests(v2_layout.revisions_dir(name)):
            self._tick()
            self._check_manifest(name, digest)
        for tag in self.manifests.tags(name):
            self._tick()
            self._check_tag(name, tag)

    def _check_manifest(self, name: str, digest: Digest) -> None:
        self.report.manifests += 1
        try:
            data = self.storage.get_content(v2_layout.blob_data(digest.algorithm, digest.hex))
        except PathNotFoundError:
            if self.manifests.exists(name, digest):
                self._damage("manifest data is missing", f"{name}@{digest}", "push the image again")
            return
        try:
            manifest = parse_manifest(data)
        except ManifestInvalid as exc:
            self._damage("manifest does not parse", f"{name}@{digest}", str(exc))
            return
        for blob in manifest.blobs:
            try:
                self.blobs.stat(name, blob)
            except BlobUnknown:
                if self.manifests.exists(name, digest):
                    self._damage(
                        "manifest refers to a blob the repository does not hold",
                        f"{name}@{digest}",
                        f"blob {blob}",
                    )
        for child in manifest.children:
            if not self.manifests.exists(name, child) and self.manifests.exists(name, digest):
                self._damage(
                    "index refers to a manifest the repository does not hold",
                    f"{name}@{digest}",
                    f"manifest {child}",
                )

    def _check_tag(self, name: str, tag: str) -> None:
        self.report.tags += 1
        try:
            digest = self.manifests.resolve(name, tag)
        except (ManifestUnknown, DigestInvalid):
            if self.storage.exists(v2_layout.tag_current_link(name, tag)):
                self._damage("tag link is unreadable", f"{name}:{tag}", "push the tag again")
            return
        if not self.manifests.exists(name, digest) and self._still_points(name, tag, digest):
            self._damage(
                "tag points at a manifest the repository does not hold",
                f"{name}:{tag}",
                f"manifest {digest}",
            )

    def _still_points(self, name: str, tag: str, digest: Digest) -> bool:
        try:
            return self.manifests.resolve(name, tag) == digest
        except (ManifestUnknown, DigestInvalid):
            return False

    # -- v1 -------------------------------------------------------------------------------

    def _check_v1_images(self) -> None:
        for folder in list_children(self.storage, v1_layout.images_dir()):
            image_id = v1_layout.decode_component(v2_layout.basename(folder))
            if not v1_layout.is_image_id(image_id):
                continue
            self._tick()
            self._complete(image_id)

    def _complete(self, image_id: str) -> bool:
        """Whether the image is complete and sound, checked once (a tag set during the walk
        may name an image pushed after the images were walked)."""
        complete = self._complete_images.get(image_id)
        if complete is None:
            self.report.v1_images += 1
            complete = self._complete_images[image_id] = self._check_v1_image(image_id)
        return complete

    def _check_v1_image(self, image_id: str) -> bool:
        """Whether the image is complete and sound (in progress: ``False``, no damage)."""
        if self.storage.exists(v1_layout.image_mark_path(image_id)):
            self.report.v1_in_progress += 1
            return False
        try:
            json_data = self.storage.get_content(v1_layout.image_json_path(image_id))
            ancestry = json.loads(self.storage.get_content(v1_layout.image_ancestry_path(image_id)))
            described = json.loads(json_data)
        except PathNotFoundError:
            if self.storage.exists(v1_layout.image_path(image_id)):
                self._damage("v1 image is half written", image_id, "no json or ancestry")
            return False
        except ValueError as exc:
            self._damage("v1 image json or ancestry does not parse", image_id, str(exc))
            return False
        if not isinstance(described, dict) or described.get("id") != image_id:
            self._damage("v1 image json names another id", image_id)
            return False
        if not isinstance(ancestry, list) or ancestry[:1] != [image_id]:
            self._damage("v1 image ancestry does not start with the image", image_id)
            return False
        return self._check_v1_layer(image_id, json_data)

    def _check_v1_layer(self, image_id: str, json_data: bytes) -> bool:
        hasher = PayloadHasher(json_data)
        try:
            size = self._hash(v1_layout.image_layer_path(image_id), hasher)
        except PathNotFoundError:
            self._damage("v1 image is half written", image_id, "its layer is missing")
            return False
        if self.progress is not None:
            self.progress.update(0, size)
        try:
            recorded = json.loads(self.storage.get_content(v1_layout.image_checksum_path(image_id)))
        except PathNotFoundError:
            self.report.v1_unverified += 1
            return True
        except ValueError:
            recorded = []
        if hasher.checksum() not in (recorded if isinstance(recorded, list) else []):
            self._damage(
                "v1 layer does not match the checksum recorded at push",
                image_id,
                f"{size} bytes give {hasher.checksum()}; push the image again",
            )
            return False
        return True

    def _check_v1_tags(self) -> None:
        tags = TagStore(self.storage)
        for full_name in v1_repositories(self.storage):
            namespace, _, repository = full_name.partition("/")
            try:
                listed = tags.list_tags(namespace, repository)
            except NotFound:
                continue  # emptied or removed meanwhile
            for tag, image_id in listed.items():
                self._tick()
                self.report.v1_tags += 1
                self._check_v1_tag(f"{full_name}:{tag}", image_id)

    def _check_v1_tag(self, where: str, image_id: str) -> None:
        if not v1_layout.is_image_id(image_id) or not self._complete(image_id):
            self._damage("v1 tag points at an image that is missing or incomplete", where, image_id)
            return
        try:
            ancestry = json.loads(self.storage.get_content(v1_layout.image_ancestry_path(image_id)))
        except (PathNotFoundError, ValueError):
            return  # reported with the image
        for ancestor in ancestry[1:]:
            if not v1_layout.is_image_id(ancestor) or not self._complete(ancestor):
                self._damage(
                    "v1 tag's image has an ancestor that is missing or incomplete",
                    where,
                    f"{image_id} -> {ancestor}",
                )
