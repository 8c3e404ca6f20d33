"""ManifestStore: parse, validate, store and find manifests of the four v2 media types.

Manifests are stored as the exact bytes the client pushed, as a blob under ``blobs/``,
linked into the repository by ``_manifests/revisions``; tags point at revisions. The
digest is the sha256 of those bytes, never of a re-serialisation.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..coordination import EVERY_KEY
from ..inputs import loads_json
from ..storage import PathNotFoundError, Storage
from . import layout
from .blobs import BlobStore
from .digests import Digest, check_tag, digest_of, is_digest, parse_digest
from .errors import DigestInvalid, ManifestBlobUnknown, ManifestInvalid, ManifestUnknown
from .mediatypes import (
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)

if TYPE_CHECKING:
    from ..coordination import Coordinator
    from .bridge import V1Bridge


#: The coordination topic announcing that a repository's tags changed (key: its name).
TAGS_TOPIC = "v2-tags"
#: Bytes of manifests this process keeps in memory (they never change once stored).
CACHE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    """What the registry needs to know about a pushed manifest.

    :param media_type: one of :data:`MANIFEST_TYPES`.
    :param digest: sha256 of the raw bytes.
    :param data: the raw bytes as pushed.
    :param blobs: config and layer digests the repository must hold.
    :param children: manifests an index refers to.
    :param subject: the ``subject`` descriptor's digest (OCI 1.1 referrers), if any.
    :param artifact_type: ``artifactType``, or the config media type of an image.
    :param annotations: the manifest's annotations.
    """

    media_type: str
    digest: Digest
    data: bytes
    blobs: tuple[Digest, ...] = ()
    children: tuple[Digest, ...] = ()
    subject: Digest | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def parse_manifest(data: bytes, content_type: str | None = None) -> Manifest:
    """Parse and validate manifest bytes.

    :param content_type: the request's ``Content-Type``; must agree with ``mediaType``.
    :raises ManifestInvalid: not JSON, not schema 2, or a malformed descriptor.
    """
    try:
        doc = loads_json(data)
    except ValueError as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    declared = doc.get("mediaType")
    content_type = (content_type or "").split(";", 1)[0].strip() or None
    if content_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or doc.get("schemaVersion") == 1:
        raise ManifestInvalid("Docker schema 1 manifests are not supported")
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    if declared and content_type in MANIFEST_TYPES and declared != content_type:
        raise ManifestInvalid(f"mediaType {declared} does not match Content-Type {content_type}")
    media_type = declared or (content_type if content_type in MANIFEST_TYPES else None)
    if media_type is None:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {media_type}")
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType must be a string")
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ManifestInvalid("annotations must be an object")
    if media_type in INDEX_TYPES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise ManifestInvalid("an index needs a 'manifests' list")
        children = tuple(_descriptor(entry, "manifests[]") for entry in entries)
        return Manifest(
            media_type, digest_of(data), data, (), children, subject, artifact_type, annotations
        )
    config = doc.get("config")
    layers = doc.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise ManifestInvalid("an image manifest needs a 'config' object and a 'layers' list")
    blobs = [_descriptor(config, "config")]
    for entry in layers:
        digest = _descriptor(entry, "layers[]")
        # NOTE: foreign (non-distributable) layers live elsewhere, named by their URLs.
        if not entry.get("urls"):
            blobs.append(digest)
    if artifact_type is None:
        artifact_type = config.get("mediaType")
    return Manifest(
        media_type, digest_of(data), data, tuple(blobs), (), subject, artifact_type, annotations
    )


def media_type_of(data: bytes) -> str:
    """The media type of stored manifest bytes (from ``mediaType`` or the structure)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return OCI_MANIFEST
    declared = doc.get("mediaType") if isinstance(doc, dict) else None
    if isinstance(declared, str) and declared:
        return declared
    return OCI_INDEX if isinstance(doc, dict) and "manifests" in doc else OCI_MANIFEST


def _descriptor(entry: Any, where: str) -> Digest:
    if not isinstance(entry, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    size = entry.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}: size must be a non-negative integer")
    if not isinstance(entry.get("mediaType", ""), str):
        raise ManifestInvalid(f"{where}: mediaType must be a string")
    try:
        return parse_digest(entry.get("digest"))
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}: {exc.description}") from None


class ManifestStore:
    """Store and find manifests and tags of repositories.

    :param storage: the registry's storage.
    :param blobs: to check that referenced blobs are in the repository.
    :param bridge: finds tags pushed over v1 (``None``: v2 tags only).
    :param tags_ttl: seconds a tag listing or a tag's target is reused (0: always read
        storage).
    :param coordinator: tells the other processes on this storage when a repository's
        tags change, so that they drop what they cached before the TTL ends.
    """

    def __init__(
        self,
        storage: Storage,
        blobs: BlobStore,
        bridge: V1Bridge | None = None,
        tags_ttl: float = 1.0,
        coordinator: Coordinator | None = None,
    ) -> None:
        self.storage = storage
        self.blobs = blobs
        self.bridge = bridge
        # PERF: tags/list is a hot path. A listing is reused for ``tags_ttl`` seconds by
        # this process and dropped as soon as a process changes a tag of the repository
        # and announces it; an announcement lost (no shared coordination backend, Redis
        # away) shows within the TTL.
        self.tags_ttl = tags_ttl
        self._tags: dict[str, tuple[float, list[str]]] = {}
        # PERF: the same TTL for what a tag points at (manifest GET by tag is the
        # hottest path); same rule: this process's own changes drop it at once.
        self._resolved: dict[str, dict[str, tuple[float, Digest]]] = {}
        self._cache: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        self.coordinator = coordinator
        if coordinator is not None and tags_ttl > 0:
            coordinator.listen(TAGS_TOPIC, self._forget_tags)

    def put(
        self,
        name: str,
        reference: str,
        data: bytes,
        content_type: str | None,
        tags: Iterable[str] = (),
        *,
        require_blobs: bool = True,
    ) -> Manifest:
        """Validate and store a manifest under a tag or its digest, plus extra ``tags``.

        :param require_blobs: check that referenced blobs and child manifests are in the
            repository (``False`` for the proxy: they are fetched when asked for).

        :raises ManifestInvalid: malformed.
        :raises DigestInvalid: ``reference`` is a digest that does not match the bytes.
        :raises ManifestBlobUnknown: a referenced blob or manifest is not in the repository.
        """
        manifest = parse_manifest(data, content_type)
        tag_names = list(tags)
        if is_digest(reference):
            wanted = parse_digest(reference)
            if wanted.algorithm != "sha256":
                raise DigestInvalid(f"manifests are addressed by sha256, not {wanted.algorithm}")
            if wanted != manifest.digest:
                raise DigestInvalid(
                    f"manifest digest is {manifest.digest}, not {reference}",
                    detail={"expected": reference, "actual": str(manifest.digest)},
                )
        else:
            tag_names.insert(0, reference)
        for tag in tag_names:
            check_tag(tag)
        for blob in manifest.blobs if require_blobs else ():
            if not self.blobs.linked(name, blob) or not self.blobs.exists(blob):
                raise ManifestBlobUnknown(
                    f"blob {blob} is not in repository {name}", detail={"digest": str(blob)}
                )
        for child in manifest.children if require_blobs else ():
            if not self.exists(name, child):
                raise ManifestBlobUnknown(
                    f"manifest {child} is not in repository {name}", detail={"digest": str(child)}
                )
        digest = manifest.digest
        blob_path = layout.blob_data(digest.algorithm, digest.hex)
        if not self.storage.exists(blob_path):
            self.storage.put_content(blob_path, data)
        self.storage.put_content(
            layout.revision_link(name, digest.algorithm, digest.hex), str(digest).encode()
        )
        if require_blobs:
            self._check_still_stored(name, manifest)
        for tag in tag_names:
            self.tag(name, tag, digest)
        self._remember(str(digest), data, manifest.media_type)
        return manifest

    def _check_still_stored(self, name: str, manifest: Manifest) -> None:
        """Check again, once the revision link is written, that what the manifest names
        is stored.

        NOTE: a garbage collection running meanwhile (ops/gc.py) may have quarantined a
        blob after the first check; it sees every revision link written before its
        quarantine and puts those blobs back, and this check refuses the push otherwise,
        so that an acknowledged manifest never names a deleted blob. The manifest's own
        blob, found stored before its revision link was written, is written again when
        a collection took it meanwhile (its bytes are at hand).
        """
        own = layout.blob_data(manifest.digest.algorithm, manifest.digest.hex)
        if not self.storage.exists(own, fresh=True):
            self.storage.put_content(own, manifest.data)
        for blob in manifest.blobs:
            if not self.blobs.exists(blob, fresh=True):
                raise ManifestBlobUnknown(
                    f"blob {blob} of repository {name} was removed by garbage collection "
                    "while the manifest was pushed; push the blob again",
                    detail={"digest": str(blob)},
                )
        for child in manifest.children:
            if not self.storage.exists(layout.blob_data(child.algorithm, child.hex), fresh=True):
                raise ManifestBlobUnknown(
                    f"manifest {child} of repository {name} was removed by garbage collection "
                    "while the index was pushed; push it again",
                    detail={"digest": str(child)},
                )

    def tag(self, name: str, tag: str, digest: Digest) -> None:
        """Point ``tag`` at ``digest`` (history entry first, then the current link)."""
        link = str(digest).encode()
        self._forget_tags(name)
        index = layout.tag_index_link(name, tag, digest.algorithm, digest.hex)
        self.storage.put_content(index, link)
        self.storage.put_content(layout.tag_current_link(name, tag), link)
        self._tags_changed(name)

    def tag_written_at(self, name: str, tag: str) -> float | None:
        """When tag ``tag`` was last pointed at a digest (its link's mtime), if known."""
        try:
            return self.storage.stat(layout.tag_current_link(name, tag)).mtime
        except PathNotFoundError:
            return None

    def resolve(self, name: str, reference: str) -> Digest:
        """The digest a tag or digest reference names in repository ``name``.

        :raises ManifestUnknown: no such tag or revision.
        """
        if is_digest(reference):
            digest = parse_digest(reference)
            if not self.exists(name, digest):
                raise ManifestUnknown(f"manifest {reference} is unknown to {name}")
            return digest
        check_tag(reference)
        now = time.monotonic()
        cached = self._resolved.get(name, {}).get(reference)
        if cached is not None and cached[0] > now:
            return cached[1]
        digest = self._read_tag(name, reference)
        if self.tags_ttl > 0:
            if len(self._resolved) > 10000:
                self._resolved.clear()
            self._resolved.setdefault(name, {})[reference] = (now + self.tags_ttl, digest)
        return digest

    def _read_tag(self, name: str, reference: str) -> Digest:
        """The digest tag ``reference`` points at, from storage (or the v1 bridge)."""
        try:
            link = self.storage.get_content(layout.tag_current_link(name, reference))
        except PathNotFoundError:
            bridged = self.bridge.manifest(name, reference) if self.bridge is not None else None
            if bridged is None:
                raise ManifestUnknown(f"tag {reference} is unknown to {name}") from None
            self._remember(str(bridged[1]), bridged[0], DOCKER_MANIFEST)
            return bridged[1]
        return parse_digest(link.decode("ascii", "replace").strip())

    def get(self, name: str, reference: str) -> tuple[bytes, str, Digest]:
        """Raw bytes, media type and digest of a manifest.

        :raises ManifestUnknown: no such tag or revision.
        """
        digest = self.resolve(name, reference)
        key = str(digest)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit[0], hit[1], digest
        try:
            data = self.storage.get_content(layout.blob_data(digest.algorithm, digest.hex))
        except PathNotFoundError:
            raise ManifestUnknown(f"manifest {digest} has no content") from None
        media_type = media_type_of(data)
        self._remember(key, data, media_type)
        return data, media_type, digest

    def exists(self, name: str, digest: Digest) -> bool:
        """True when repository ``name`` holds manifest ``digest``."""
        return self.storage.exists(layout.revision_link(name, digest.algorithm, digest.hex))

    def delete(self, name: str, reference: str) -> Digest:
        """Delete a tag, or a revision and every tag pointing at it.

        :raises ManifestUnknown: nothing to delete.
        """
        self._forget_tags(name)
        if not is_digest(reference):
            digest = self.resolve(name, reference)
            self.storage.delete(layout.tag_dir(name, reference))
            self._tags_changed(name)
            return digest
        digest = parse_digest(reference)
        try:
            self.storage.delete(layout.revision_dir(name, digest.algorithm, digest.hex))
        except PathNotFoundError:
            raise ManifestUnknown(f"manifest {reference} is unknown to {name}") from None
        for tag in self.tags(name):
            try:
                current = self.storage.get_content(layout.tag_current_link(name, tag))
            except PathNotFoundError:
                continue
            if current.decode("ascii", "replace").strip() == reference:
                self.storage.delete(layout.tag_dir(name, tag))
        self._tags_changed(name)
        return digest

    def repository_exists(self, name: str) -> bool:
        """True when anything at all is stored for repository ``name``."""
        return self.storage.exists(layout.repository(name))

    def tags(self, name: str) -> list[str]:
        """Every tag of the repository (v1 tags too), in lexical order; empty if unknown."""
        now = time.monotonic()
        cached = self._tags.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            found = {layout.basename(entry) for entry in self.storage.list(layout.tags_dir(name))}
        except PathNotFoundError:
            found = set()
        if self.bridge is not None:
            found.update(self.bridge.tags(name))
        tags = sorted(found)
        if self.tags_ttl > 0:
            if len(self._tags) > 10000:
                self._tags.clear()
            self._tags[name] = (now + self.tags_ttl, tags)
        return tags

    def _forget_tags(self, name: str) -> None:
        if name == EVERY_KEY:
            self._tags.clear()
            self._resolved.clear()
            return
        self._tags.pop(name, None)
        self._resolved.pop(name, None)

    def _tags_changed(self, name: str) -> None:
        self._forget_tags(name)
        if self.coordinator is not None and self.tags_ttl > 0:
            self.coordinator.announce(TAGS_TOPIC, name)

    def _remember(self, key: str, data: bytes, media_type: str) -> None:
        if len(data) > CACHE_BYTES // 16:
            return
        with self._lock:
            if key in self._cache:
                return
            self._cache[key] = (data, media_type)
            self._cache_bytes += len(data)
            while self._cache_bytes > CACHE_BYTES:
                _, (old, _type) = self._cache.popitem(last=False)
                self._cache_bytes -= len(old)
