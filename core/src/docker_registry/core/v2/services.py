"""The v2 services one application uses, as ``registry.services["v2"]``."""

from __future__ import annotations

from dataclasses import dataclass

from .blobs import BlobStore
from .manifests import ManifestStore
from .referrers import ReferrerStore
from .uploads import UploadStore


@dataclass(frozen=True)
class V2Services:
    """The v2 stores, built once per application by the v2 plugin.

    In proxy mode (``mirroring.source``), ``blobs`` and ``manifests`` are the
    pull-through decorators of :mod:`.proxy`, with the local stores' interface.

    :param blobs: blob bytes and their existence (v1 layers through the bridge).
    :param uploads: upload sessions and publishing of uploaded blobs.
    :param manifests: manifests, tags and their caches.
    :param referrers: the OCI referrers of a manifest.
    """

    blobs: BlobStore
    uploads: UploadStore
    manifests: ManifestStore
    referrers: ReferrerStore
