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


def gc_history() -> str:
    """What garbage collections did: runs, bytes freed (ours; ``/metrics`` reads it)."""
    return f"{ROOT}/_gc_history"


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


def is_descriptor(path: str) -> bool:
    """Whether ``path`` never changes once written, only disappears: a blob's data, a
    repository's layer or revision link (their ``stat`` may be cached)."""
    if path.startswith(BLOBS + "/"):
        return blob_of_data_path(path) is not None
    found = parse_repository_file(path) if path.startswith(REPOSITORIES + "/") else None
    return found is not None and found.kind in ("layer", "revision")


def may_hold_descriptors(path: str) -> bool:
    """Whether removing ``path`` (a file or a directory) may remove a descriptor
    (:func:`is_descriptor`); upload sessions, tags and the quarantine hold none."""
    if path == "/" or path == ROOT or ROOT.startswith(path.rstrip("/") + "/"):
        return True
    if path == BLOBS or path.startswith(BLOBS + "/"):
        return True
    if not path.startswith(REPOSITORIES + "/"):
        return path == REPOSITORIES
    parts = path[len(REPOSITORIES) + 1 :].split("/")
    rest = next((parts[i:] for i, part in enumerate(parts) if not is_name_component(part)), [])
    return rest[:1] not in (["_uploads"], ["_referrers"]) and rest[:2] != ["_manifests", "tags"]


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


def holds_repository_data(child_names: Iterable[str]) -> bool:
    """A folder holds a repository's data when it has any of the registry's own folders
    (a push in progress has ``_layers`` or ``_uploads`` before its first ``_manifests``)."""
    return bool({"_manifests", "_layers", "_uploads", "_referrers"} & set(child_names))


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


# -- garbage collection (ours; see ops/gc.py) ----------------------------------------------

#: Where a garbage collection parks blobs it is about to delete, until it has checked
#: that no manifest pushed meanwhile names them (then they go back, else they are deleted).
QUARANTINE = f"{ROOT}/_gc_quarantine"


def quarantined_blob(algorithm: str, hex_digest: str) -> str:
    """Where a blob's data waits while a garbage collection settles."""
    return f"{QUARANTINE}/{algorithm}/{hex_digest}/data"


def quarantined_blob_dir(algorithm: str, hex_digest: str) -> str:
    """Directory of a quarantined blob (deleted as a whole)."""
    return f"{QUARANTINE}/{algorithm}/{hex_digest}"


def parse_blob_data(path: str) -> tuple[str, str] | None:
    """``(algorithm, hex)`` of a blob data path (in ``blobs/`` or in the quarantine)."""
    for root in (BLOBS, QUARANTINE):
        if path.startswith(root + "/"):
            parts = path[len(root) + 1 :].split("/")
            if parts[-1:] != ["data"]:
                return None
            if root == BLOBS and len(parts) == 4 and parts[2].startswith(parts[1]):
                return parts[0], parts[2]
            if root == QUARANTINE and len(parts) == 3:
                return parts[0], parts[1]
    return None


@dataclass(frozen=True)
class RepositoryFile:
    """What one file inside a repository folder is (a walk of ``repositories/``).

    :param repository: the repository's name.
    :param kind: ``layer``, ``revision``, ``tag``, ``tag_index``, ``upload`` or
        ``referrer`` (see the tree at the top of this module).
    :param digest: ``"<alg>:<hex>"`` the link's path names (a referrer's own digest);
        for ``upload``, the session id.
    :param tag: the tag of ``tag`` and ``tag_index`` files.
    :param subject: the subject digest of a ``referrer`` link.
    :param folder: what to delete to remove this entry as a whole.
    """

    repository: str
    kind: str
    digest: str = ""
    tag: str = ""
    subject: str = ""
    folder: str = ""


def parse_repository_file(path: str) -> RepositoryFile | None:
    """Classify a file path under ``repositories/``; ``None`` for anything unknown."""
    if not path.startswith(REPOSITORIES + "/"):
        return None
    parts = path[len(REPOSITORIES) + 1 :].split("/")
    split = next((i for i, part in enumerate(parts) if not is_name_component(part)), None)
    if split is None or split == 0:
        return None
    name, rest = "/".join(parts[:split]), parts[split:]
    base = f"{REPOSITORIES}/{name}"
    if rest[0] == "_layers" and len(rest) == 4 and rest[3] == "link":
        return RepositoryFile(
            name, "layer", f"{rest[1]}:{rest[2]}", folder=layer_link_dir(name, rest[1], rest[2])
        )
    if rest[:2] == ["_manifests", "revisions"] and len(rest) == 5 and rest[4] == "link":
        return RepositoryFile(
            name, "revision", f"{rest[2]}:{rest[3]}", folder=revision_dir(name, rest[2], rest[3])
        )
    if rest[:2] == ["_manifests", "tags"] and len(rest) == 5 and rest[3:] == ["current", "link"]:
        return RepositoryFile(name, "tag", tag=rest[2], folder=tag_dir(name, rest[2]))
    if rest[:2] == ["_manifests", "tags"] and len(rest) == 7 and rest[3] == "index":
        return RepositoryFile(
            name,
            "tag_index",
            f"{rest[4]}:{rest[5]}",
            tag=rest[2],
            folder=f"{tag_dir(name, rest[2])}/index/{rest[4]}/{rest[5]}",
        )
    if rest[0] == "_uploads" and len(rest) >= 3:
        return RepositoryFile(name, "upload", rest[1], folder=upload_dir(name, rest[1]))
    if rest[0] == "_referrers" and len(rest) == 6 and rest[5] == "link":
        return RepositoryFile(
            name,
            "referrer",
            f"{rest[3]}:{rest[4]}",
            subject=f"{rest[1]}:{rest[2]}",
            folder=f"{base}/_referrers/{rest[1]}/{rest[2]}/{rest[3]}/{rest[4]}",
        )
    return None


def parse_bridge_file(path: str) -> tuple[str, str] | None:
    """``("image", <v1 id>)`` or ``("layer", "<alg>:<hex>")`` of a file under the bridge."""
    if not path.startswith(BRIDGE + "/"):
        return None
    parts = path[len(BRIDGE) + 1 :].split("/")
    if parts[0] == "images" and len(parts) == 3:
        return "image", parts[1]
    if parts[0] == "layers" and len(parts) == 4:
        return "layer", f"{parts[1]}:{parts[2]}"
    return None


def bridge_image_dir(image_id: str) -> str:
    """Folder of a v1 image's bridge facts (deleted as a whole)."""
    return f"{BRIDGE}/images/{image_id}"


def bridge_layer_dir(algorithm: str, hex_digest: str) -> str:
    """Folder of a bridged layer's entry (deleted as a whole)."""
    return f"{BRIDGE}/layers/{algorithm}/{hex_digest}"
