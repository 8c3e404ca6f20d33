"""The v1 tag and repository service (spec §2.3, R11-R19).

Repositories are ``(namespace, repository)`` pairs as parsed by
:func:`.layout.parse_repository_name` (repository already quote_plus-encoded once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..storage import PathNotFoundError, Storage, list_children
from . import layout
from .errors import IMAGE_NOT_FOUND, INVALID_DATA, Invalid, NotFound

#: Tag metadata answered when none is stored (R15, R16).
DEFAULT_TAG_JSON: dict[str, Any] = {
    "arch": "amd64",
    "docker_go_version": None,
    "docker_version": None,
    "kernel": None,
    "last_update": None,
    "os": "linux",
}

INVALID_TAG = r"Invalid tag name (must match ^[\w][\w.-]{0,127}$)"

_UA_KEYS = {"docker": "docker_version", "go": "docker_go_version"}
_UA_LOWERED = {"arch", "kernel", "os"}


def tag_metadata(user_agent: str | None, now: float | None = None) -> dict[str, Any]:
    """Tag metadata from a Docker User-Agent (``docker/1.3 go/go1.3 os/linux ...``)."""
    data: dict[str, Any] = {"last_update": int(time.time() if now is None else now)}
    for pair in (user_agent or "").split():
        name, sep, value = pair.partition("/")
        if not sep:
            continue
        name = name.lower()
        if name in _UA_KEYS:
            data[_UA_KEYS[name]] = value
        elif name in _UA_LOWERED:
            data[name] = value.lower()
    return data


class TagStore:
    """Tags, tag metadata and repository properties in storage.

    :param storage: the registry's storage.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def _get(self, path: str) -> bytes | None:
        try:
            return self.storage.get_content(path)
        except PathNotFoundError:
            return None

    def _delete(self, path: str) -> bool:
        try:
            self.storage.delete(path)
        except PathNotFoundError:
            return False
        return True

    def exists(self, namespace: str, repository: str) -> bool:
        return self.storage.exists(layout.repository_path(namespace, repository))

    def list_tags(self, namespace: str, repository: str) -> dict[str, str]:
        """``{tag: image id}`` (R11). :raises NotFound: ``Repository not found``."""
        try:
            entries = self.storage.list(layout.repository_path(namespace, repository))
        except PathNotFoundError:
            raise NotFound("Repository not found") from None
        if not entries:
            raise NotFound("Repository not found")
        tags = {}
        prefix = layout.repository_path(namespace, repository) + "/tag_"
        for encoded in layout.tags_from_listing(entries):
            value = self._get(prefix + encoded)
            if value is not None:
                # NOTE: names come back storage-encoded, as the seed returned them.
                tags[encoded] = value.decode("utf-8", "replace").strip()
        return tags

    def get_tag(self, namespace: str, repository: str, tag: str) -> str:
        """The image id of a tag (R12). :raises NotFound: ``Tag not found``."""
        value = None
        if layout.is_storable(tag):
            value = self._get(layout.tag_path(namespace, repository, tag))
        if value is None:
            raise NotFound("Tag not found")
        return value.decode("utf-8", "replace").strip()

    def put_tag(
        self,
        namespace: str,
        repository: str,
        tag: str,
        body: bytes,
        *,
        user_agent: str | None,
        image_exists: Any,
        claim: Callable[[str], None] | None = None,
    ) -> str:
        """Point ``tag`` at the image named by the JSON string ``body`` (R13).

        :param image_exists: ``image_exists(id) -> bool`` (the image service).
        :param claim: ``claim(id)``: record the image as held by the repository before
            the tag is visible, or raise to refuse (:mod:`.image_access`).
        :returns: the image id.
        """
        if not layout.TAG_NAME.match(tag):
            raise Invalid(INVALID_TAG)
        try:
            image_id = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise Invalid(INVALID_DATA) from None
        if not isinstance(image_id, str) or not image_id:
            raise Invalid(INVALID_DATA)
        if not layout.is_image_id(image_id):
            raise Invalid("Invalid image ID")
        if not image_exists(image_id):
            raise NotFound(IMAGE_NOT_FOUND)
        if claim is not None:
            claim(image_id)
        self.storage.put_content(layout.tag_path(namespace, repository, tag), image_id.encode())
        metadata = json.dumps(tag_metadata(user_agent), sort_keys=True).encode()
        self.storage.put_content(layout.tag_json_path(namespace, repository, tag), metadata)
        if tag == "latest":
            self.storage.put_content(layout.repository_json_path(namespace, repository), metadata)
        return image_id

    def delete_tag(self, namespace: str, repository: str, tag: str) -> str:
        """Delete a tag and its metadata (R14); return the image it pointed at."""
        image_id = None
        if layout.is_storable(tag):
            image_id = self._get(layout.tag_path(namespace, repository, tag))
        if image_id is None:
            raise NotFound(f"Tag not found: {tag}")
        self._delete(layout.tag_path(namespace, repository, tag))
        self._delete(layout.tag_json_path(namespace, repository, tag))
        if tag == "latest":
            self._delete(layout.repository_json_path(namespace, repository))
        return image_id.decode("utf-8", "replace").strip()

    def tag_json(self, namespace: str, repository: str, tag: str) -> bytes | None:
        """Stored tag metadata (raw), ``None`` when absent (R15)."""
        if not layout.is_storable(tag):
            return None
        return self._get(layout.tag_json_path(namespace, repository, tag))

    def repository_json(self, namespace: str, repository: str) -> bytes | None:
        """Stored repository (``latest``) metadata, ``None`` when absent (R16)."""
        return self._get(layout.repository_json_path(namespace, repository))

    def is_private(self, namespace: str, repository: str) -> bool:
        return self.storage.exists(layout.private_flag_path(namespace, repository))

    def set_properties(self, namespace: str, repository: str, body: bytes) -> None:
        """``{"access": "private"|"public"}`` (R18). :raises Invalid: ``Invalid data``."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise Invalid(INVALID_DATA) from None
        if not isinstance(data, dict) or not data or "access" not in data:
            raise Invalid(INVALID_DATA)
        if data["access"] == "private":
            self.storage.put_content(layout.private_flag_path(namespace, repository), b"")
        elif data["access"] == "public":
            self._delete(layout.private_flag_path(namespace, repository))

    def delete_repository(self, namespace: str, repository: str) -> list[tuple[str, str]]:
        """Delete every tag, then the repository directory (R19).

        :returns: the deleted ``(tag, image id)`` pairs.
        :raises NotFound: ``Repository not found``.
        """
        tags = self.list_tags(namespace, repository)
        deleted = []
        for encoded, image_id in tags.items():
            tag = layout.decode_component(encoded)
            self._delete(layout.tag_path(namespace, repository, tag))
            self._delete(layout.tag_json_path(namespace, repository, tag))
            deleted.append((tag, image_id))
        self._delete(layout.repository_path(namespace, repository))
        return deleted


def repository_names(storage: Storage) -> Iterator[str]:
    """``<ns>/<repo>`` of every v1 repository directory (storage may change meanwhile:
    what vanishes is skipped)."""
    for namespace_path in list_children(storage, layout.repositories_path()):
        namespace = layout.decode_component(namespace_path.rstrip("/").rsplit("/", 1)[-1])
        for repository_path in list_children(storage, namespace_path):
            # NOTE: repository names are double-encoded on storage (spec §1.5).
            encoded = repository_path.rstrip("/").rsplit("/", 1)[-1]
            repository = layout.decode_component(layout.decode_component(encoded))
            yield f"{namespace}/{repository}"
