"""Every storage path of the v2 API: the CNCF distribution layout, and nothing else builds them.

The tree is the Go registry's (``registry/storage/paths.go``), so a ``rootdirectory``
written by it is served as it lies, and the other way round::

    /docker/registry/v2/
    ├── blobs/sha256/<first 2 hex>/<hex>/data         content, shared by all repositories
    └── repositories/<name>/                          <name> may hold several components
        ├── _layers/sha256/<hex>/link                 "sha256:<hex>": blob is in this repo
        ├── _manifests/
        │   ├── revisions/sha256/<hex>/link           manifest is in this repo
        │   └── tags/<tag>/
        │       ├── current/link                      digest the tag points at now
        │       └── index/sha256/<hex>/link           every digest the tag ever pointed at
        ├── _uploads/<uuid>/
        │   ├── startedat                             RFC 3339 start time
        │   ├── data                                  (Go registry only: its appended bytes)
        │   ├── chunks/<start>-<end>.<token>          ours: one file per accepted PATCH
        │   └── cancelled | finished                  ours: the session's URL is dead
        └── _referrers/sha256/<subject hex>/sha256/<hex>/link
                                                      ours: OCI 1.1 referrers index

    /docker/registry/v2/_v1bridge/                    ours: v1 images seen through v2
        ├── images/<v1 id>/layer.json                 {"digest", "size", "diff_id"}
        └── layers/sha256/<hex>/image                 v1 id whose layer has this digest

    /docker/registry/v2/_upload_secret                ours: key signing upload URLs

``_referrers``, ``_uploads/<uuid>/chunks``, ``_v1bridge`` and ``_upload_secret`` are
additions the Go registry ignores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Root of the v2 tree inside the storage.
ROOT = "/docker/registry/v2"
BLOBS = f"{ROOT}/blobs"
REPOSITORIES = f"{ROOT}/repositories"


def upload_secret() -> str:
    """Key signing upload state tokens when ``upload_secret`` is not configured (ours)."""
    return f"{ROOT}/_upload_secret"


#: Width of the zero-padded offsets in chunk file names, so that names sort by offset.
OFFSET_WIDTH = 20
_CHUNK_NAME = re.compile(r"(\d{1,20})-(\d{1,20})(?:\.([0-9a-f]{1,64}))?", re.ASCII)


def blob_data(algorithm: str, hex_digest: str) -> str:
    """Path of a blob's content: ``blobs/<alg>/<2 hex>/<hex>/data``."""
    return f"{BLOBS}/{algorithm}/{hex_digest[:2]}/{hex_digest}/data"


def blob_of_data_path(path: str) -> tuple[str, str] | None:
    """``(algorithm, hex)`` of a path :func:`blob_data` makes; ``None`` for any other path."""
    parts = path[len(BLOBS) + 1 :].split("/") if path.startswith(BLOBS + "/") else []
    if len(parts) != 4 or parts[3] != "data" or parts[1] != parts[2][:2]:
        return None
    return parts[0], parts[2]


def repository(name: str) -> str:
    """Directory of a repository."""
    return f"{REPOSITORIES}/{name}"


def layer_link(name: str, algorithm: str, hex_digest: str) -> str:
    """Link file saying a blob belongs to repository ``name``."""
    return f"{REPOSITORIES}/{name}/_layers/{algorithm}/{hex_digest}/link"


def layers_dir(name: str) -> str:
    """Folder of a repository's blob links: ``<algorithm>/<hex>/link`` below it."""
    return f"{REPOSITORIES}/{name}/_layers"


def layer_link_dir(name: str, algorithm: str, hex_digest: str) -> str:
    """Directory of a repository's blob link (deleted as a whole)."""
    return f"{REPOSITORIES}/{name}/_layers/{algorithm}/{hex_digest}"


def revision_link(name: str, algorithm: str, hex_digest: str) -> str:
    """Link file saying a manifest belongs to repository ``name``."""
    return f"{REPOSITORIES}/{name}/_manifests/revisions/{algorithm}/{hex_digest}/link"


def revisions_dir(name: str) -> str:
    """Folder of a repository's manifest links: ``<algorithm>/<hex>/link`` below it."""
    return f"{REPOSITORIES}/{name}/_manifests/revisions"


def revision_dir(name: str, algorithm: str, hex_digest: str) -> str:
    """Directory of a manifest revision link (deleted as a whole)."""
    return f"{REPOSITORIES}/{name}/_manifests/revisions/{algorithm}/{hex_digest}"


def tags_dir(name: str) -> str:
    """Directory whose children are the repository's tags."""
    return f"{REPOSITORIES}/{name}/_manifests/tags"


def tag_dir(name: str, tag: str) -> str:
    """Directory of one tag."""
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}"


def tag_current_link(name: str, tag: str) -> str:
    """Link file holding the digest a tag points at."""
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}/current/link"


def tag_index_link(name: str, tag: str, algorithm: str, hex_digest: str) -> str:
    """History entry: the tag pointed at this digest at some point."""
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}/index/{algorithm}/{hex_digest}/link"


def uploads_dir(name: str) -> str:
    """Directory of a repository's uploads in progress."""
    return f"{REPOSITORIES}/{name}/_uploads"


def upload_dir(name: str, upload_id: str) -> str:
    """Directory of one upload session."""
    return f"{REPOSITORIES}/{name}/_uploads/{upload_id}"


def upload_started_at(name: str, upload_id: str) -> str:
    """File holding an upload's start time (RFC 3339)."""
    return f"{REPOSITORIES}/{name}/_uploads/{upload_id}/startedat"


def upload_data(name: str, upload_id: str) -> str:
    """The Go registry's single data file of an upload (read when found)."""
    return f"{REPOSITORIES}/{name}/_uploads/{upload_id}/data"


def upload_chunks_dir(name: str, upload_id: str) -> str:
    """Directory of an upload's committed chunks."""
    return f"{REPOSITORIES}/{name}/_uploads/{upload_id}/chunks"


def upload_chunk(name: str, upload_id: str, start: int, end: int, token: str = "") -> str:
    """One chunk holding bytes ``[start, end)`` of the upload, written by one request.

    ``token`` names the request that wrote it (each request writes its own file, so a
    chunk never changes once it exists); names sort by offset, then by token.
    """
    suffix = f".{token}" if token else ""
    return (
        f"{REPOSITORIES}/{name}/_uploads/{upload_id}/chunks/"
        f"{start:0{OFFSET_WIDTH}d}-{end:0{OFFSET_WIDTH}d}{suffix}"
    )


def parse_chunk_name(filename: str) -> tuple[int, int, str] | None:
    """``(start, end, token)`` of a chunk file name, or ``None`` for anything else.

    Names without a token (written before tokens existed) have the token ``""``.
    """
    match = _CHUNK_NAME.fullmatch(filename)
    if match is None:
        return None
    return int(match[1]), int(match[2]), match[3] or ""


def referrers_dir(name: str, algorithm: str, subject_hex: str) -> str:
    """Directory listing the manifests whose ``subject`` is the given digest."""
    return f"{REPOSITORIES}/{name}/_referrers/{algorithm}/{subject_hex}"


def referrer_link(
    name: str, algorithm: str, subject_hex: str, referrer_alg: str, referrer_hex: str
) -> str:
    """Link file: manifest ``referrer`` names ``subject`` as its subject."""
    return (
        f"{REPOSITORIES}/{name}/_referrers/{algorithm}/{subject_hex}/"
        f"{referrer_alg}/{referrer_hex}/link"
    )


# -- what listed names mean (callers list folders; only this module knows the names) -------


def is_repository(child_names: Iterable[str]) -> bool:
    """A folder is a repository when it holds ``_manifests`` (as the Go registry decides)."""
    return "_manifests" in child_names


def is_name_component(child_name: str) -> bool:
    """A child of a repository folder that may start a longer repository name (the
    registry's own ``_layers``, ``_manifests``, ``_uploads``... never do)."""
    return not child_name.startswith("_")


def is_uploads_folder(child_name: str) -> bool:
    """The folder of a repository's upload sessions."""
    return child_name == "_uploads"


#: Marks that end an upload session: its URL answers BLOB_UPLOAD_UNKNOWN until purged.
UPLOAD_CANCELLED = "cancelled"
UPLOAD_FINISHED = "finished"


def upload_mark(name: str, upload_id: str, mark: str) -> str:
    """The empty file saying the session was cancelled or finished."""
    return f"{upload_dir(name, upload_id)}/{mark}"


@dataclass(frozen=True)
class UploadFolder:
    """What the listing of one upload session's folder says.

    :param closed: :data:`UPLOAD_CANCELLED` or :data:`UPLOAD_FINISHED`, else ``None``.
    :param has_data: the Go registry's single data file is there.
    :param has_chunks: our chunk folder is there.
    """

    closed: str | None
    has_data: bool
    has_chunks: bool

    @classmethod
    def from_listing(cls, entries: Iterable[str]) -> UploadFolder:
        names = {basename(entry) for entry in entries}
        closed = next((m for m in (UPLOAD_CANCELLED, UPLOAD_FINISHED) if m in names), None)
        return cls(closed, "data" in names, "chunks" in names)


def basename(path: str) -> str:
    """Last component of a storage path."""
    return path.rsplit("/", 1)[-1]


# -- v1 -> v2 bridge (ours; ignored by the Go registry) ------------------------------------

#: Root of the bridge's index: what a v1 image looks like to v2.
BRIDGE = f"{ROOT}/_v1bridge"


def bridge_image(image_id: str) -> str:
    """JSON facts about a v1 image's layer: its digest, size and diff id."""
    return f"{BRIDGE}/images/{image_id}/layer.json"


def bridge_layer(algorithm: str, hex_digest: str) -> str:
    """The v1 image id whose ``layer`` file has this digest (served without copying)."""
    return f"{BRIDGE}/layers/{algorithm}/{hex_digest}/image"
