"""What a v1 layer changed against its ancestry: the ``_diff`` of spec R10.

The seed computed it offline (``scripts/diff-worker.py``), and so do we: a queue plugin
(hook ``registry_diff_queue``) hands image ids to its worker, which calls
:func:`store_diff`. The algorithm is the seed's, quirks included::

    for each ancestor, nearest first:
        for each file of this layer not yet classified:
            marked deleted in this layer      -> deleted
            in the ancestor, marked deleted   -> created
            in the ancestor                   -> changed
    files never classified                    -> created

so a whiteout is ``deleted`` as soon as there is any ancestor, and a base image (no
ancestor) lists every file, whiteouts included, as ``created``. Each entry is this
layer's ``[type, deleted, size, mtime, mode, uid, gid]`` from its files listing (R9).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .images import ImageStore

#: A files listing as a map: path -> ``[type, deleted, size, mtime, mode, uid, gid]``.
FileInfo = dict[str, list[Any]]


def info_map(listing: Iterable[list[Any]]) -> FileInfo:
    """The files listing of R9 keyed by path (a later duplicate wins, as in the seed)."""
    return {entry[0]: list(entry[1:]) for entry in listing}


def classify(layer: FileInfo, ancestors: Iterable[FileInfo]) -> dict[str, FileInfo]:
    """``{"changed", "created", "deleted"}`` of ``layer`` given its ancestors' listings,
    nearest first."""
    pending = dict(layer)
    changed: FileInfo = {}
    created: FileInfo = {}
    deleted: FileInfo = {}
    for ancestor in ancestors:
        for path, info in list(pending.items()):
            if info[1]:
                deleted[path] = info
            elif path in ancestor:
                (created if ancestor[path][1] else changed)[path] = info
            else:
                continue
            del pending[path]
    created.update(pending)
    return {"changed": changed, "created": created, "deleted": deleted}


def compute_diff(images: ImageStore, image_id: str) -> bytes:
    """The ``_diff`` JSON of a complete image (its and its ancestors' files listings are
    computed and cached on the way).

    :raises NotFound: the image, an ancestor or a layer is missing.
    :raises Invalid: ``Layer format not supported``, or the image is being uploaded.
    """
    images.check_not_in_progress(image_id)
    ancestry = json.loads(images.get_ancestry(image_id))
    layer = info_map(json.loads(images.files(image_id)))
    ancestors = (info_map(json.loads(images.files(parent))) for parent in ancestry[1:])
    return json.dumps(classify(layer, ancestors), sort_keys=True).encode()


def store_diff(images: ImageStore, image_id: str) -> bytes:
    """Compute the ``_diff`` of ``image_id`` and store it at ``images/<id>/_diff``."""
    data = compute_diff(images, image_id)
    images.put_diff(image_id, data)
    return data
