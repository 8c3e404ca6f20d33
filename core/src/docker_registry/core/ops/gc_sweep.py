"""Sweep: the storage changes of a garbage collection, each one tolerant of a registry
that keeps serving (a path already gone is not an error; nothing is deleted that a
request recreated meanwhile).
"""

from __future__ import annotations

import contextlib

from ..storage import PathNotFoundError, Storage
from ..v1 import layout as v1_layout
from ..v2 import layout


def _split(digest: str) -> tuple[str, str]:
    algorithm, _, hex_digest = digest.partition(":")
    return algorithm, hex_digest


def quarantine(storage: Storage, digest: str) -> bool:
    """Move a blob's data aside (invisible to clients, restorable); False if already gone."""
    algorithm, hex_digest = _split(digest)
    try:
        storage.move(
            layout.blob_data(algorithm, hex_digest), layout.quarantined_blob(algorithm, hex_digest)
        )
    except PathNotFoundError:
        return False
    return True


def restore(storage: Storage, digest: str) -> None:
    """Put a quarantined blob back (unless a new upload published it meanwhile)."""
    algorithm, hex_digest = _split(digest)
    if storage.exists(layout.blob_data(algorithm, hex_digest)):
        drop_quarantined(storage, digest)
        return
    with contextlib.suppress(PathNotFoundError):
        storage.move(
            layout.quarantined_blob(algorithm, hex_digest), layout.blob_data(algorithm, hex_digest)
        )
    with contextlib.suppress(PathNotFoundError):
        storage.delete(layout.quarantined_blob_dir(algorithm, hex_digest))


def drop_quarantined(storage: Storage, digest: str) -> None:
    """Delete a quarantined blob for good."""
    with contextlib.suppress(PathNotFoundError):
        storage.delete(layout.quarantined_blob_dir(*_split(digest)))
    # NOTE: the blob's emptied folder stays: removing it could race an upload that is
    # publishing the same digest into it right now.


def blob_present(storage: Storage, digest: str) -> bool:
    """True when the blob's data is in ``blobs/`` or served from a v1 layer by the bridge."""
    algorithm, hex_digest = _split(digest)
    if storage.exists(layout.blob_data(algorithm, hex_digest)):
        return True
    try:
        image_id = storage.get_content(layout.bridge_layer(algorithm, hex_digest)).decode()
    except (PathNotFoundError, UnicodeDecodeError):
        return False
    return v1_layout.is_image_id(image_id.strip()) and storage.exists(
        v1_layout.image_layer_path(image_id.strip())
    )


def delete_folder(storage: Storage, folder: str) -> bool:
    """Delete a link's or a session's folder; False when it was already gone."""
    try:
        storage.delete(folder)
    except PathNotFoundError:
        return False
    return True


def delete_v1_image(storage: Storage, image_id: str) -> bool:
    """Delete a v1 image's folder and what the bridge knows about it."""
    removed = delete_folder(storage, v1_layout.image_path(image_id))
    delete_folder(storage, layout.bridge_image_dir(image_id))
    return removed


def delete_bridge_layer(storage: Storage, digest: str) -> bool:
    """Forget a bridged layer whose v1 image is gone."""
    return delete_folder(storage, layout.bridge_layer_dir(*_split(digest)))
