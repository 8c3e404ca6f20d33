"""What a garbage collection (:mod:`.gc`) reads: every blob, every repository's links, the
v1 images and the v1 -> v2 bridge, each listed through the storage contract (``walk``,
``list``, ``get_content``), so that it works on every driver.

The scan only reads; :mod:`.gc_mark` decides what is reachable and :mod:`.gc_sweep`
removes the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ..storage import PathNotFoundError, Storage, list_children
from ..v1 import layout as v1_layout
from ..v1.tags import repository_names as v1_repositories
from ..v2 import layout
from ..v2.tags import repository_names as v2_repository_names

#: Called with (phase, done, total or None) while a scan runs.
Progress = Callable[[str, int, int | None], None]


def _no_progress(phase: str, done: int, total: int | None) -> None:
    return None


@dataclass(frozen=True)
class Stored:
    """A file found by the scan: where it is, its size and when it last changed."""

    path: str
    size: int
    mtime: float | None


@dataclass
class RepositoryLinks:
    """The links of one v2 repository.

    :param layers: blob digest -> its ``_layers`` link.
    :param revisions: manifest digest -> its revision link.
    :param tags: tag -> (digest it points at, the ``current`` link).
    :param referrers: subject digest -> {referrer digest -> its link}.
    :param uploads: upload session folder -> its files.
    """

    name: str
    layers: dict[str, Stored] = field(default_factory=dict)
    revisions: dict[str, Stored] = field(default_factory=dict)
    tags: dict[str, tuple[str, Stored]] = field(default_factory=dict)
    referrers: dict[str, dict[str, Stored]] = field(default_factory=dict)
    uploads: dict[str, list[Stored]] = field(default_factory=dict)
    #: the folder to delete for each link above, by its file path.
    folders: dict[str, str] = field(default_factory=dict)


@dataclass
class V1Repository:
    """A v1 repository's roots: the images its tags and its index name."""

    name: str
    roots: set[str] = field(default_factory=set)


def scan_blobs(storage: Storage, progress: Progress = _no_progress) -> dict[str, Stored]:
    """Every blob's data in ``blobs/``, by digest."""
    blobs: dict[str, Stored] = {}
    for info in _walk(storage, layout.BLOBS):
        parsed = layout.parse_blob_data(info.path)
        if parsed is not None:
            blobs[f"{parsed[0]}:{parsed[1]}"] = Stored(info.path, info.size, info.mtime)
            if len(blobs) % 1000 == 0:
                progress("blobs", len(blobs), None)
    progress("blobs", len(blobs), len(blobs))
    return blobs


def scan_quarantine(storage: Storage) -> dict[str, Stored]:
    """Blobs a garbage collection parked and did not settle (it was interrupted)."""
    found: dict[str, Stored] = {}
    for info in _walk(storage, layout.QUARANTINE):
        parsed = layout.parse_blob_data(info.path)
        if parsed is not None:
            found[f"{parsed[0]}:{parsed[1]}"] = Stored(info.path, info.size, info.mtime)
    return found


def repository_names(storage: Storage) -> list[str]:
    """Every v2 repository folder's name, sorted; one without manifests yet counts too
    (its links and uploads belong to a push in progress)."""
    return sorted(v2_repository_names(storage, holds=layout.holds_repository_data))


def scan_repository(storage: Storage, name: str) -> RepositoryLinks:
    """Every link and upload session of repository ``name`` (one walk of its folder)."""
    links = RepositoryLinks(name)
    for info in _walk(storage, layout.repository(name)):
        entry = layout.parse_repository_file(info.path)
        if entry is None or entry.repository != name:
            continue  # a nested repository's file: scanned with that repository
        stored = Stored(info.path, info.size, info.mtime)
        links.folders[info.path] = entry.folder
        if entry.kind == "layer":
            links.layers[entry.digest] = stored
        elif entry.kind == "revision":
            links.revisions[entry.digest] = stored
        elif entry.kind == "tag":
            target = _read_link(storage, info.path)
            if target is not None:
                links.tags[entry.tag] = (target, stored)
        elif entry.kind == "referrer":
            links.referrers.setdefault(entry.subject, {})[entry.digest] = stored
        elif entry.kind == "upload":
            links.uploads.setdefault(entry.folder, []).append(stored)
    return links


def scan_v1_repositories(storage: Storage) -> list[V1Repository]:
    """Every v1 repository with the image ids its tags and ``_index_images`` name."""
    found = []
    for full in v1_repositories(storage):
        namespace, repository = v1_layout.parse_repository_name(full)
        repo = V1Repository(full)
        entries = list_children(storage, v1_layout.repository_path(namespace, repository))
        for encoded in v1_layout.tags_from_listing(entries):
            tag = v1_layout.decode_component(encoded)
            image_id = _read_text(storage, v1_layout.tag_path(namespace, repository, tag))
            if image_id is not None and v1_layout.is_image_id(image_id):
                repo.roots.add(image_id)
        index = _read_json(storage, v1_layout.index_images_path(namespace, repository))
        for item in index if isinstance(index, list) else ():
            image_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(image_id, str) and v1_layout.is_image_id(image_id):
                repo.roots.add(image_id)
        found.append(repo)
    return found


def v1_ancestry(storage: Storage, image_id: str) -> list[str]:
    """The image and its ancestors (from its ``ancestry`` file; the image alone if none)."""
    ancestry = _read_json(storage, v1_layout.image_ancestry_path(image_id))
    ids = [image_id]
    if isinstance(ancestry, list):
        ids.extend(a for a in ancestry if v1_layout.is_image_id(a) and a != image_id)
    return ids


def v1_image_ids(storage: Storage) -> list[str]:
    """The id of every folder under ``images/``."""
    return [
        v1_layout.image_id_of(path)
        for path in list_children(storage, v1_layout.images_path())
        if v1_layout.is_image_id(v1_layout.image_id_of(path))
    ]


def v1_image_files(storage: Storage, image_id: str) -> list[Stored]:
    """The files of one v1 image's folder."""
    return [
        Stored(info.path, info.size, info.mtime)
        for info in _walk(storage, v1_layout.image_path(image_id))
    ]


def bridge_entries(storage: Storage) -> list[tuple[str, str, str]]:
    """``(kind, key, path)`` of every bridge file: ``image``/v1 id, ``layer``/digest."""
    found = []
    for info in _walk(storage, layout.BRIDGE):
        parsed = layout.parse_bridge_file(info.path)
        if parsed is not None:
            found.append((parsed[0], parsed[1], info.path))
    return found


def bridged_image(storage: Storage, digest: str) -> str | None:
    """The v1 image whose layer the bridge serves as blob ``digest``, if any."""
    algorithm, _, hex_digest = digest.partition(":")
    image_id = _read_text(storage, layout.bridge_layer(algorithm, hex_digest))
    return image_id if image_id is not None and v1_layout.is_image_id(image_id) else None


def read_blob(storage: Storage, digest: str) -> bytes | None:
    """A blob's bytes (a manifest's), or ``None`` when it is gone.

    A blob in quarantine is read there: a manifest pushed while its own blob was parked
    must still have its config and layers marked when the collection settles.
    """
    algorithm, _, hex_digest = digest.partition(":")
    for path in (
        layout.blob_data(algorithm, hex_digest),
        layout.quarantined_blob(algorithm, hex_digest),
    ):
        try:
            return storage.get_content(path)
        except PathNotFoundError:
            continue
    return None


def _walk(storage: Storage, path: str):
    try:
        return storage.walk(path)
    except PathNotFoundError:
        return iter(())


def _read_text(storage: Storage, path: str) -> str | None:
    try:
        return storage.get_content(path).decode("ascii").strip()
    except (PathNotFoundError, UnicodeDecodeError):
        return None


def _read_link(storage: Storage, path: str) -> str | None:
    text = _read_text(storage, path)
    return text if text and ":" in text else None


def _read_json(storage: Storage, path: str) -> object:
    try:
        return json.loads(storage.get_content(path))
    except (PathNotFoundError, ValueError):
        return None
