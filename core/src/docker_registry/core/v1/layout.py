"""The v1 storage layout: the only module that knows where v1 data lives in storage.

It reproduces docker-registry 0.9.1's tree and key encoding byte for byte (spec §4 and
§1.5), so that a 0.9.1 ``storage_path`` or bucket is served as it lies::

    /
    ├── images/<id>/
    │   ├── json           raw image JSON, exactly as uploaded
    │   ├── layer          layer bytes as uploaded (tar, possibly gz/xz)
    │   ├── ancestry       JSON list ["<id>", "<parent>", ...]
    │   ├── _checksum      JSON list ["sha256:<hex>"] (legacy: + tarsum, or a bare string)
    │   ├── _inprogress    "true" while an upload is running
    │   ├── _files         cached files listing (JSON list of 8-tuples)
    │   └── _diff          cached diff (written by a diff worker)
    └── repositories/<ns>/<repo>/
        ├── tag_<tag>      bare image id
        ├── tag<tag>_json  tag metadata (no "_" after "tag": the seed's spelling)
        ├── json           metadata of "latest"
        ├── _index_images  JSON list [{"id": ..., "checksum": ...}]
        ├── _private       empty flag file
        └── _images_list   ids the index allowed (token mode)
    _v1index/                             (which repositories hold each image)
        ├── images/<id>/<ns>/<repo>  one file per repository holding the image
        └── _scanned                 present once data older than the index was scanned
    _mirror/repositories/<ns>/<repo>/     (mirroring only: upstream answers with a TTL)
        ├── tags           the tag list, as {"fetched_at", "source", "value"}
        ├── tag_<tag>      one tag's image id, same envelope
        └── _index_images  the standalone index's image list, same envelope

Key encoding: every component (namespace, repository, tag, image id) is encoded with
:func:`encode_component` -- ``.``/``..`` become ``%2E``/``%2E%2E`` and the result is
quote_plus-encoded. The repository is *already* quote_plus-encoded once by name parsing
(:func:`parse_repository_name`), so it appears double-encoded on storage:
``foo%$_-test`` is stored as ``foo%2525%2524_-test``.

Every function here is pure (no I/O); the v1 services call them, and the v1 -> v2
bridge may read them to find v1 data.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

# NOTE: re-exported: the v1 modules read names and storage paths from their layout.
from ..names import MAX_COMPONENT as MAX_COMPONENT
from ..names import display_name as display_name
from ..names import encode_component as encode_component
from ..names import is_storable as is_storable
from ..names import parse_repository_name as parse_repository_name

IMAGES = "images"
REPOSITORIES = "repositories"
MIRROR = "_mirror"
IMAGE_INDEX = "_v1index"

#: A valid image id: 16 or 64 lower-case hex characters (spec §1.3).
IMAGE_ID = re.compile(r"^([a-f0-9]{16}|[a-f0-9]{64})$")

#: A valid tag name for ``PUT .../tags/<tag>`` (master's rule, spec §2.3 R13).
TAG_NAME = re.compile(r"^[\w][\w.-]{0,127}$")


def is_image_id(value: object) -> bool:
    """True when ``value`` is a string in the image id format (16 or 64 hex)."""
    return isinstance(value, str) and IMAGE_ID.match(value) is not None


def full_name(namespace: str, repository: str) -> str:
    """``<ns>/<quoted repo>``: the name token checks and events use."""
    return f"{namespace}/{repository}"


def decode_component(value: str) -> str:
    """Invert :func:`encode_component` (used to read tag names back from listings)."""
    return unquote_plus(value)


# -- images -----------------------------------------------------------------------------


def images_dir() -> str:
    """``/images``: the directory of every image."""
    return f"/{IMAGES}"


def image_path(image_id: str) -> str:
    """``/images/<id>``: the directory of one image."""
    return f"/{IMAGES}/{encode_component(image_id)}"


def image_json_path(image_id: str) -> str:
    """``/images/<id>/json``."""
    return image_path(image_id) + "/json"


def image_layer_path(image_id: str) -> str:
    """``/images/<id>/layer``."""
    return image_path(image_id) + "/layer"


def image_ancestry_path(image_id: str) -> str:
    """``/images/<id>/ancestry``."""
    return image_path(image_id) + "/ancestry"


def image_checksum_path(image_id: str) -> str:
    """``/images/<id>/_checksum``."""
    return image_path(image_id) + "/_checksum"


def image_mark_path(image_id: str) -> str:
    """``/images/<id>/_inprogress``: present while an upload is in progress."""
    return image_path(image_id) + "/_inprogress"


def image_files_path(image_id: str) -> str:
    """``/images/<id>/_files``: cached files listing."""
    return image_path(image_id) + "/_files"


def image_diff_path(image_id: str) -> str:
    """``/images/<id>/_diff``: cached diff against the ancestors."""
    return image_path(image_id) + "/_diff"


# -- repositories -------------------------------------------------------------------------


def repositories_path() -> str:
    """``/repositories``: the directory of all namespaces."""
    return f"/{REPOSITORIES}"


def namespace_path(namespace: str) -> str:
    """``/repositories/<ns>``."""
    return f"/{REPOSITORIES}/{encode_component(namespace)}"


def repository_path(namespace: str, repository: str) -> str:
    """``/repositories/<ns>/<repo>``: the directory of one repository."""
    return f"{namespace_path(namespace)}/{encode_component(repository)}"


def tag_path(namespace: str, repository: str, tag: str) -> str:
    """``/repositories/<ns>/<repo>/tag_<tag>``: holds the bare image id."""
    return f"{repository_path(namespace, repository)}/tag_{encode_component(tag)}"


def tag_json_path(namespace: str, repository: str, tag: str) -> str:
    """``/repositories/<ns>/<repo>/tag<tag>_json``: tag metadata."""
    return f"{repository_path(namespace, repository)}/tag{encode_component(tag)}_json"


def repository_json_path(namespace: str, repository: str) -> str:
    """``/repositories/<ns>/<repo>/json``: metadata of the ``latest`` tag."""
    return f"{repository_path(namespace, repository)}/json"


def index_images_path(namespace: str, repository: str) -> str:
    """``/repositories/<ns>/<repo>/_index_images``: the standalone index's image list."""
    return f"{repository_path(namespace, repository)}/_index_images"


def private_flag_path(namespace: str, repository: str) -> str:
    """``/repositories/<ns>/<repo>/_private``: present when the repository is private."""
    return f"{repository_path(namespace, repository)}/_private"


def images_list_path(namespace: str, repository: str) -> str:
    """``/repositories/<ns>/<repo>/_images_list``: ids the index allowed (token mode)."""
    return f"{repository_path(namespace, repository)}/_images_list"


# -- image -> repositories index (not in 0.9.1: image ids were registry-wide) -----------


def image_index_path() -> str:
    """``/_v1index``: which repositories hold each image (see :mod:`.image_index`)."""
    return f"/{IMAGE_INDEX}"


def image_holders_path(image_id: str) -> str:
    """``/_v1index/images/<id>``: one entry per repository holding the image."""
    return f"{image_index_path()}/{IMAGES}/{encode_component(image_id)}"


def image_holder_path(image_id: str, namespace: str, repository: str) -> str:
    """``/_v1index/images/<id>/<ns>/<repo>``: ``<ns>/<repo>`` holds the image.

    One file per (image, repository) pair, encoded as the repository directory is, so
    that two pushes recording the same image in different repositories write different
    files and neither loses the other's record.
    """
    return (
        f"{image_holders_path(image_id)}/{encode_component(namespace)}"
        f"/{encode_component(repository)}"
    )


def image_index_scanned_path() -> str:
    """``/_v1index/_scanned``: the repositories written before the index existed were
    scanned into it."""
    return f"{image_index_path()}/_scanned"


# -- mirror cache (not in 0.9.1: it kept these in Redis) -----------------------------------


def mirror_repository_path(namespace: str, repository: str) -> str:
    """``/_mirror/repositories/<ns>/<repo>``: cached upstream answers of one repository.

    Kept apart from ``/repositories`` so that a cached tag list never makes a repository
    look local (which would stop the mirror from asking upstream) nor shows in search.
    """
    return f"/{MIRROR}/{REPOSITORIES}/{encode_component(namespace)}/{encode_component(repository)}"


def mirror_tags_path(namespace: str, repository: str) -> str:
    """``/_mirror/repositories/<ns>/<repo>/tags``: the upstream tag list."""
    return mirror_repository_path(namespace, repository) + "/tags"


def mirror_tag_path(namespace: str, repository: str, tag: str) -> str:
    """``/_mirror/repositories/<ns>/<repo>/tag_<tag>``: one upstream tag."""
    return f"{mirror_repository_path(namespace, repository)}/tag_{encode_component(tag)}"


def mirror_index_images_path(namespace: str, repository: str) -> str:
    """``/_mirror/repositories/<ns>/<repo>/_index_images``: the upstream image list."""
    return mirror_repository_path(namespace, repository) + "/_index_images"


def tags_from_listing(entries: list[str]) -> list[str]:
    """The storage-encoded tag names found in a repository directory listing.

    A file ``tag_<x>`` is a tag, except the metadata file of a tag whose name starts with
    ``_``: tag ``_v`` has ``tag__v`` and its metadata ``tag_v_json``, which the seed also
    listed as a phantom tag ``v_json`` (quirk Q8). An entry ``tag_<y>_json`` is dropped
    when ``tag__<y>`` is listed too.

    :param entries: full paths or bare names of the directory's children.
    """
    names = {entry.rsplit("/", 1)[-1] for entry in entries}
    tags = []
    for name in sorted(names):
        if not name.startswith("tag_"):
            continue
        rest = name[len("tag_") :]
        if rest.endswith("_json") and f"tag__{rest[: -len('_json')]}" in names:
            continue
        tags.append(rest)
    return tags


def images_path() -> str:
    """``/images``: the directory of every image."""
    return f"/{IMAGES}"


def image_id_of(image_dir: str) -> str:
    """The image id of an ``/images/<id>`` path found by listing :func:`images_path`."""
    return decode_component(image_dir.rstrip("/").rsplit("/", 1)[-1])
