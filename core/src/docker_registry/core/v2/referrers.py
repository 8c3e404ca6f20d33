"""Referrers (OCI 1.1): manifests whose ``subject`` names another manifest.

When a manifest with a ``subject`` is pushed its digest is linked under
``_referrers/sha256/<subject hex>/sha256/<hex>/link``; the referrers API reads those
links and answers an image index of descriptors.
"""

from __future__ import annotations

import json
from typing import Any

from ..storage import PathNotFoundError, Storage
from . import layout
from .digests import Digest, parse_digest
from .errors import V2Error
from .manifests import Manifest, ManifestStore, parse_manifest
from .mediatypes import OCI_INDEX


class ReferrerStore:
    """Record and list referrers.

    :param storage: the registry's storage.
    :param manifests: to read the referring manifests.
    """

    def __init__(self, storage: Storage, manifests: ManifestStore) -> None:
        self.storage = storage
        self.manifests = manifests

    def add(self, name: str, manifest: Manifest) -> None:
        """Record ``manifest`` as a referrer of its subject."""
        subject = manifest.subject
        if subject is None:
            return
        digest = manifest.digest
        self.storage.put_content(
            layout.referrer_link(
                name, subject.algorithm, subject.hex, digest.algorithm, digest.hex
            ),
            str(digest).encode(),
        )

    def index(self, name: str, subject: Digest, artifact_type: str | None = None) -> bytes:
        """The referrers of ``subject`` as an OCI image index (JSON bytes)."""
        descriptors: list[dict[str, Any]] = []
        for digest in self._referrer_digests(name, subject):
            if not self.manifests.exists(name, digest):
                continue  # deleted since: its link is stale
            try:
                data, _media_type, _ = self.manifests.get(name, str(digest))
                manifest = parse_manifest(data)
            except Exception:  # noqa: BLE001 - a broken referrer is skipped, not fatal
                continue
            if artifact_type and manifest.artifact_type != artifact_type:
                continue
            entry: dict[str, Any] = {
                "mediaType": manifest.media_type,
                "digest": str(digest),
                "size": len(data),
            }
            if manifest.artifact_type:
                entry["artifactType"] = manifest.artifact_type
            if manifest.annotations:
                entry["annotations"] = manifest.annotations
            descriptors.append(entry)
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
        return json.dumps(body, separators=(",", ":")).encode()

    def _referrer_digests(self, name: str, subject: Digest) -> list[Digest]:
        base = layout.referrers_dir(name, subject.algorithm, subject.hex)
        digests = []
        try:
            algorithms = self.storage.list(base)
        except PathNotFoundError:
            return []
        for algorithm_dir in algorithms:
            algorithm = layout.basename(algorithm_dir)
            for entry in self.storage.list(algorithm_dir):
                try:
                    digests.append(parse_digest(f"{algorithm}:{layout.basename(entry)}"))
                except V2Error:
                    continue
        return sorted(digests, key=str)
