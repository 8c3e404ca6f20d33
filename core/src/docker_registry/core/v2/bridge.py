"""The v1 -> v2 bridge: images pushed over v1 pulled over v2, without copying layers.

A v2 pull of ``<name>:<tag>`` that has no v2 tag looks for the v1 tag (``<name>`` maps
to the v1 ``<namespace>/<repository>``, ``library/`` for one component). The image's
ancestry gives the layers (base first); each v1 ``layer`` file is hashed once (its
sha256 and the sha256 of its uncompressed tar, the diff id) and the facts are kept in
``_v1bridge/``. From them the bridge derives, deterministically:

- a Docker image config: the v1 JSON's ``config``, ``created``, ``architecture``... plus
  ``rootfs.diff_ids`` and ``history``;
- a Docker schema 2 manifest naming the config and the layers by digest.

Config and manifest are stored as ordinary v2 blobs and revisions (so a pull by digest
works), the repository links the layers, and a layer blob is served straight from the
v1 ``images/<id>/layer`` file through ``_v1bridge/layers/...``: nothing is copied.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from typing import Any

from ..storage import CHUNK_SIZE, PathNotFoundError, Storage
from ..v1 import layout as v1_layout
from . import layout
from .digests import Digest, digest_of, is_valid_name, parse_digest
from .mediatypes import DOCKER_MANIFEST

log = logging.getLogger(__name__)

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
#: v1 JSON fields carried over into the image config as they are.
_CONFIG_FIELDS = (
    "architecture",
    "os",
    "created",
    "author",
    "config",
    "container_config",
    "docker_version",
    "comment",
    "variant",
    "os.version",
)


class V1Bridge:
    """Answer v2 manifest and blob requests from v1 data.

    :param storage: the registry's storage (v1 and v2 trees live side by side).
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def manifest(self, name: str, tag: str) -> tuple[bytes, Digest] | None:
        """The schema 2 manifest of v1 ``name:tag``, stored as a v2 revision; or ``None``.

        :returns: ``None`` when no such v1 tag (or a complete image) exists.
        """
        namespace, repository = v1_layout.parse_repository_name(name)
        try:
            image_id = (
                self.storage.get_content(v1_layout.tag_path(namespace, repository, tag))
                .decode("ascii")
                .strip()
            )
            ancestry = json.loads(self.storage.get_content(v1_layout.image_ancestry_path(image_id)))
            top_json = json.loads(self.storage.get_content(v1_layout.image_json_path(image_id)))
        except (PathNotFoundError, UnicodeDecodeError, ValueError):
            return None
        if not v1_layout.is_image_id(image_id) or not isinstance(ancestry, list):
            return None
        layers = []
        history = []
        for ancestor in reversed(ancestry):
            if not v1_layout.is_image_id(ancestor):
                return None
            if self.storage.exists(v1_layout.image_mark_path(ancestor)):
                return None  # still being pushed over v1
            facts = self._layer_facts(ancestor)
            if facts is None:
                return None
            layers.append(facts)
            history.append(self._history(ancestor))
        config = {key: top_json[key] for key in _CONFIG_FIELDS if key in top_json}
        config.setdefault("architecture", "amd64")
        config.setdefault("os", "linux")
        config["rootfs"] = {"type": "layers", "diff_ids": [f["diff_id"] for f in layers]}
        config["history"] = history
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        config_digest = digest_of(config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG,
                "digest": str(config_digest),
                "size": len(config_bytes),
            },
            "layers": [
                {"mediaType": f["media_type"], "digest": f["digest"], "size": f["size"]}
                for f in layers
            ],
        }
        data = json.dumps(manifest, indent=3).encode()
        digest = digest_of(data)
        self._store(name, config_bytes, config_digest, data, digest, layers)
        return data, digest

    def tags(self, name: str) -> list[str]:
        """The v1 tags of ``name`` (empty when it has no v1 repository)."""
        namespace, repository = v1_layout.parse_repository_name(name)
        try:
            entries = self.storage.list(v1_layout.repository_path(namespace, repository))
        except PathNotFoundError:
            return []
        return [v1_layout.decode_component(tag) for tag in v1_layout.tags_from_listing(entries)]

    def repositories(self) -> list[str]:
        """v2 names (``<namespace>/<repository>``) of the v1 repositories that have a tag
        and a name the v2 grammar accepts."""
        names = []
        for namespace_dir in self._children(v1_layout.repositories_path()):
            namespace = v1_layout.decode_component(layout.basename(namespace_dir))
            for repository_dir in self._children(namespace_dir):
                if not v1_layout.tags_from_listing(self._children(repository_dir)):
                    continue
                repository = layout.basename(repository_dir)
                name = v1_layout.display_name(namespace, repository)
                # NOTE: the name must lead back to the same v1 folder, or tags/list and
                # manifests would not find it.
                if is_valid_name(name) and v1_layout.parse_repository_name(name) == (
                    namespace,
                    repository,
                ):
                    names.append(name)
        return names

    def _children(self, path: str) -> list[str]:
        try:
            return self.storage.list(path)
        except PathNotFoundError:
            return []

    def layer_image(self, digest: Digest) -> str | None:
        """The v1 layer path holding the blob ``digest``, or ``None``."""
        try:
            image_id = (
                self.storage.get_content(layout.bridge_layer(digest.algorithm, digest.hex))
                .decode("ascii")
                .strip()
            )
        except (PathNotFoundError, UnicodeDecodeError):
            return None
        return v1_layout.image_layer_path(image_id) if v1_layout.is_image_id(image_id) else None

    # -- internals -------------------------------------------------------------------

    def _layer_facts(self, image_id: str) -> dict[str, Any] | None:
        """Digest, size, diff id and media type of an image's layer (computed once)."""
        cached = layout.bridge_image(image_id)
        try:
            return json.loads(self.storage.get_content(cached))
        except (PathNotFoundError, ValueError):
            pass
        try:
            stream = self.storage.reader(v1_layout.image_layer_path(image_id))
        except PathNotFoundError:
            return None
        with stream:
            facts = _hash_layer(stream)
        self.storage.put_content(cached, json.dumps(facts).encode())
        blob = parse_digest(facts["digest"])
        self.storage.put_content(layout.bridge_layer(blob.algorithm, blob.hex), image_id.encode())
        return facts

    def _history(self, image_id: str) -> dict[str, Any]:
        try:
            doc = json.loads(self.storage.get_content(v1_layout.image_json_path(image_id)))
        except (PathNotFoundError, ValueError):
            return {}
        entry: dict[str, Any] = {}
        if isinstance(doc, dict):
            if "created" in doc:
                entry["created"] = doc["created"]
            command = (doc.get("container_config") or {}).get("Cmd")
            if command:
                entry["created_by"] = " ".join(str(part) for part in command)
        return entry

    def _store(
        self,
        name: str,
        config: bytes,
        config_digest: Digest,
        manifest: bytes,
        digest: Digest,
        layers: list[dict[str, Any]],
    ) -> None:
        """Publish config and manifest as v2 content and link everything into ``name``."""
        for data, blob in ((config, config_digest), (manifest, digest)):
            path = layout.blob_data(blob.algorithm, blob.hex)
            if not self.storage.exists(path):
                self.storage.put_content(path, data)
        links = [layout.layer_link(name, config_digest.algorithm, config_digest.hex)]
        for facts in layers:
            blob = parse_digest(facts["digest"])
            links.append(layout.layer_link(name, blob.algorithm, blob.hex))
        links.append(layout.revision_link(name, digest.algorithm, digest.hex))
        for link in links:
            if not self.storage.exists(link):
                target = link.split("/")[-3:-1]
                self.storage.put_content(link, f"{target[0]}:{target[1]}".encode())


def _hash_layer(stream) -> dict[str, Any]:
    """sha256 and size of the layer bytes, and sha256 of the uncompressed tar."""
    blob = hashlib.sha256()
    diff = hashlib.sha256()
    size = 0
    decompressor = None
    media_type = DOCKER_LAYER_TAR
    first = True
    while chunk := stream.read(CHUNK_SIZE):
        if first:
            first = False
            # NOTE: Docker 1.x pushed gzip layers; plain tar is served as the tar type.
            if chunk[:2] == b"\x1f\x8b":
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                media_type = DOCKER_LAYER
        blob.update(chunk)
        size += len(chunk)
        diff.update(decompressor.decompress(chunk) if decompressor is not None else chunk)
    if decompressor is not None:
        diff.update(decompressor.flush())
    return {
        "digest": f"sha256:{blob.hexdigest()}",
        "size": size,
        "diff_id": f"sha256:{diff.hexdigest()}",
        "media_type": media_type,
    }
