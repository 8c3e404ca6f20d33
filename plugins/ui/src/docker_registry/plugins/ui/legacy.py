"""What the v1 pages show, read through the core's v1 services (tags, images).

A v1 repository is ``<namespace>/<repository>`` as search shows it (the repository part
decoded). Image ids are registry-wide in v1; a page only shows an image that a tag of
the repository reaches through its ancestry, so that reading one repository never
shows another's images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from docker_registry.core.inputs import loads_json
from docker_registry.core.v1 import layout
from docker_registry.core.v1.errors import NotFound, V1Error
from docker_registry.core.v1.images import ImageStore
from docker_registry.core.v1.tags import TagStore

from .content import MAX_ENTRIES, _mapping, _string_map, _strings, _text

#: Images whose ancestry a repository page walks to decide what belongs to it.
MAX_ANCESTRY = 1000


@dataclass
class V1Tag:
    tag: str
    image_id: str
    last_update: float | None = None
    platform: str | None = None


@dataclass
class V1Image:
    """One v1 image's json summary and where it sits."""

    image_id: str
    parent: str | None = None
    created: str | None = None
    author: str | None = None
    comment: str | None = None
    cmd: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    platform: str | None = None
    layer_size: int | None = None
    ancestry: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    raw: str = ""
    problem: str | None = None


class Legacy:
    """The v1 read model.

    :param tags: the v1 tag service.
    :param images: the v1 image service.
    """

    def __init__(self, tags: TagStore, images: ImageStore) -> None:
        self.tag_store = tags
        self.images = images

    @staticmethod
    def split(name: str) -> tuple[str, str] | None:
        """``(namespace, quoted repository)`` of a v1 name, None when v1 refuses it."""
        if "/" not in name:
            return None
        namespace, quoted = layout.parse_repository_name(name)
        if not namespace or not layout.is_storable(namespace, quoted):
            return None
        return namespace, quoted

    def exists(self, name: str) -> bool:
        parts = self.split(name)
        return parts is not None and self.tag_store.exists(*parts)

    def tags(self, name: str) -> list[V1Tag]:
        """Every tag of the repository, by name.

        :raises V1Error: ``Repository not found``.
        """
        parts = self.split(name)
        if parts is None:
            raise NotFound("Repository not found")
        found = []
        for encoded, image_id in sorted(self.tag_store.list_tags(*parts).items()):
            tag = layout.decode_component(encoded)
            row = V1Tag(tag=tag, image_id=image_id)
            metadata = _object(self.tag_store.tag_json(*parts, tag))
            if metadata is not None:
                update = metadata.get("last_update")
                if isinstance(update, (int, float)) and not isinstance(update, bool):
                    row.last_update = float(update)
                os_name, arch = _text(metadata.get("os")), _text(metadata.get("arch"))
                row.platform = f"{os_name}/{arch}" if os_name and arch else None
            found.append(row)
        return found

    def describe(self, rows: list[V1Tag]) -> list[V1Tag]:
        """Fill in each row's platform from its image json (``os``/``architecture``),
        which describes the image; the tag's metadata describes the pushing client."""
        for row in rows:
            if not layout.is_image_id(row.image_id):
                continue
            try:
                doc = _object(self.images.get_json(row.image_id))
            except V1Error:
                continue
            if doc is not None:
                os_name, arch = _text(doc.get("os")), _text(doc.get("architecture"))
                if os_name and arch:
                    row.platform = f"{os_name}/{arch}"
        return rows

    def image(self, name: str, image_id: str) -> V1Image:
        """An image of the repository.

        :raises V1Error: the repository or the image is unknown, or no tag of the
            repository reaches the image.
        """
        if not layout.is_image_id(image_id):
            raise NotFound("Invalid image ID")
        tags = self.tags(name)
        reached: dict[str, None] = {}
        for tag in tags:
            for ancestor in self._ancestry(tag.image_id):
                reached.setdefault(ancestor)
                if len(reached) > MAX_ANCESTRY:
                    break
        if image_id not in reached:
            raise NotFound("Image not found in this repository")
        raw = self.images.get_json(image_id)
        image = V1Image(
            image_id=image_id,
            ancestry=self._ancestry(image_id),
            tags=[tag.tag for tag in tags if tag.image_id == image_id],
            layer_size=self.images.layer_size(image_id),
        )
        text = raw.decode("utf-8", "replace")
        image.raw = _pretty(text)
        doc = _object(raw)
        if doc is None:
            image.problem = "the image json is not a JSON object"
            return image
        config = _mapping(doc.get("config"))
        container = _mapping(doc.get("container_config"))
        image.parent = _text(doc.get("parent"))
        image.created = _text(doc.get("created"))
        image.author = _text(doc.get("author"))
        image.comment = _text(doc.get("comment"))
        image.cmd = _strings(config.get("Cmd")) or _strings(container.get("Cmd"))
        image.entrypoint = _strings(config.get("Entrypoint"))
        image.env = _strings(config.get("Env"))[:MAX_ENTRIES]
        image.labels = _string_map(config.get("Labels"))
        os_name, arch = _text(doc.get("os")), _text(doc.get("architecture"))
        image.platform = f"{os_name}/{arch}" if os_name and arch else None
        return image

    def _ancestry(self, image_id: str) -> list[str]:
        if not layout.is_image_id(image_id):
            return []
        try:
            doc = loads_json(self.images.get_ancestry(image_id))
        except (V1Error, ValueError):
            return [image_id]
        if not isinstance(doc, list):
            return [image_id]
        return [item for item in doc[:MAX_ANCESTRY] if layout.is_image_id(item)]


def _object(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        doc = loads_json(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)[:65536]
    except (ValueError, RecursionError):
        return text[:65536]
