"""What the v2 pages show, read through the core's v2 services (never storage paths).

Everything read here was pushed by someone else: every field of a manifest, an image
config or an annotation is checked for its type before use, and what cannot be read
(a config that is not JSON, a child manifest not in the repository) is shown as such
instead of failing the page. Long lists are cut at :data:`MAX_ENTRIES` with a count of
what was left out; config blobs over :data:`MAX_CONFIG_BYTES` are not read at all.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from docker_registry.core.inputs import loads_json
from docker_registry.core.storage import StorageError
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.digests import Digest, check_tag, is_digest, parse_digest
from docker_registry.core.v2.errors import V2Error
from docker_registry.core.v2.manifests import ManifestStore
from docker_registry.core.v2.mediatypes import INDEX_TYPES
from docker_registry.core.v2.referrers import ReferrerStore

log = logging.getLogger(__name__)

#: Image config media types whose config is an image's (created, env, history...).
IMAGE_CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
#: Largest config blob read for its summary; image configs are a few KiB.
MAX_CONFIG_BYTES = 1024 * 1024
#: Entries shown of any list (platforms, layers, history, env, labels, referrers).
MAX_ENTRIES = 200
#: Children of an index whose manifests are read for their size.
MAX_SIZED_CHILDREN = 64
#: Characters of a manifest's JSON shown on its page.
MAX_RAW_CHARS = 64 * 1024
#: The tags a manifest page checks for pointing at it.
MAX_TAGS_SCANNED = 1000


def _text(value: Any) -> str | None:
    """A string field, or None when it is missing or of another type."""
    return value if isinstance(value, str) else None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, (str, int, float))]
    return []


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): str(item) for key, item in value.items() if isinstance(item, (str, int))}


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def platform_text(platform: Any) -> str | None:
    """``os/architecture[/variant]`` of a platform object, None when it has none."""
    if not isinstance(platform, dict):
        return None
    parts = [_text(platform.get("os")), _text(platform.get("architecture"))]
    if not all(parts):
        return None
    variant = _text(platform.get("variant"))
    return "/".join([*(part for part in parts if part), *([variant] if variant else [])])


@dataclass
class Descriptor:
    """One descriptor of a manifest, as far as it could be read."""

    digest: str
    media_type: str | None
    size: int | None
    annotations: dict[str, str] = field(default_factory=dict)
    platform: str | None = None
    artifact_type: str | None = None
    valid_digest: bool = True

    @property
    def title(self) -> str | None:
        return self.annotations.get("org.opencontainers.image.title")


def _descriptor(entry: Any) -> Descriptor | None:
    if not isinstance(entry, dict):
        return None
    raw = entry.get("digest")
    digest = raw if isinstance(raw, str) else ""
    try:
        parse_digest(digest)
        valid = True
    except V2Error:
        valid = False
    return Descriptor(
        digest=digest,
        media_type=_text(entry.get("mediaType")),
        size=_size(entry.get("size")),
        annotations=_string_map(entry.get("annotations")),
        platform=platform_text(entry.get("platform")),
        artifact_type=_text(entry.get("artifactType")),
        valid_digest=valid,
    )


@dataclass
class HistoryEntry:
    created: str | None
    created_by: str | None
    comment: str | None
    empty_layer: bool


@dataclass
class ImageConfig:
    """The summary of an image config (OCI image-spec ``config.md``)."""

    created: str | None = None
    author: str | None = None
    platform: str | None = None
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    working_dir: str | None = None
    user: str | None = None
    env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    history_left_out: int = 0


def parse_image_config(data: bytes) -> ImageConfig | None:
    """The summary of config bytes, None when they are not a JSON object."""
    try:
        doc = loads_json(data)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    inner = _mapping(doc.get("config"))
    history_raw = _list(doc.get("history"))
    history = [
        HistoryEntry(
            created=_text(item.get("created")),
            created_by=_text(item.get("created_by")),
            comment=_text(item.get("comment")),
            empty_layer=item.get("empty_layer") is True,
        )
        for item in history_raw[:MAX_ENTRIES]
        if isinstance(item, dict)
    ]
    ports = inner.get("ExposedPorts")
    return ImageConfig(
        created=_text(doc.get("created")),
        author=_text(doc.get("author")),
        platform=platform_text(doc),
        entrypoint=_strings(inner.get("Entrypoint")),
        cmd=_strings(inner.get("Cmd")),
        working_dir=_text(inner.get("WorkingDir")),
        user=_text(inner.get("User")),
        env=_strings(inner.get("Env"))[:MAX_ENTRIES],
        labels=dict(list(_string_map(inner.get("Labels")).items())[:MAX_ENTRIES]),
        exposed_ports=sorted(str(port) for port in ports)[:MAX_ENTRIES]
        if isinstance(ports, dict)
        else [],
        history=history,
        history_left_out=max(0, len(history_raw) - MAX_ENTRIES),
    )


@dataclass
class TagRow:
    """One line of a repository's tag list."""

    tag: str
    digest: str | None = None
    media_type: str | None = None
    kind: str | None = None
    platforms: list[str] = field(default_factory=list)
    size: int | None = None
    pushed: float | None = None
    problem: str | None = None


@dataclass
class Referrer:
    digest: str
    media_type: str | None
    size: int | None
    annotations: dict[str, str]

    @property
    def created(self) -> str | None:
        return self.annotations.get("org.opencontainers.image.created")


@dataclass
class ManifestPage:
    """Everything the manifest page shows."""

    name: str
    reference: str
    digest: str
    media_type: str
    kind: str
    size: int
    artifact_type: str | None = None
    subject: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    children: list[Descriptor] = field(default_factory=list)
    children_left_out: int = 0
    config: Descriptor | None = None
    image_config: ImageConfig | None = None
    config_note: str | None = None
    layers: list[Descriptor] = field(default_factory=list)
    layers_left_out: int = 0
    total_size: int | None = None
    tags: list[str] = field(default_factory=list)
    referrers: dict[str, list[Referrer]] = field(default_factory=dict)
    raw: str = ""
    raw_cut: bool = False
    problem: str | None = None


class Content:
    """The v2 read model of the pages.

    :param manifests: a manifest store without the v1 bridge: the v2 pages show what
        was pushed over v2 (v1 repositories have pages of their own), and reading a page
        never derives v2 data from v1 images.
    :param blobs: the API's blob store (config blobs).
    :param referrers: the referrers service.
    """

    def __init__(self, manifests: ManifestStore, blobs: BlobStore, referrers: ReferrerStore):
        self.manifests = manifests
        self.blobs = blobs
        self.referrers = referrers

    # -- repository -----------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        return self.manifests.repository_exists(name)

    def tags(self, name: str) -> list[str]:
        return self.manifests.tags(name)

    def tag_row(self, name: str, tag: str) -> TagRow:
        """One tag with what it points at; a tag that cannot be read says why."""
        row = TagRow(tag=tag, pushed=self.manifests.tag_written_at(name, tag))
        try:
            check_tag(tag)
            data, media_type, digest = self.manifests.get(name, tag)
        except V2Error as exc:
            row.problem = exc.description or str(exc)
            return row
        row.digest, row.media_type = str(digest), media_type
        doc = _json_object(data)
        if doc is None:
            row.problem = "the manifest is not a JSON object"
            return row
        row.kind = _kind(media_type, doc)
        if row.kind == "index":
            children = [d for d in map(_descriptor, _list(doc.get("manifests"))) if d]
            row.platforms = sorted({d.platform for d in children if d.platform})
            row.size = self._index_size(name, children)
        else:
            row.size = _image_size(doc)
            config = _descriptor(doc.get("config"))
            if row.kind == "image" and config is not None:
                summary, _ = self._config(name, config)
                if summary is not None and summary.platform:
                    row.platforms = [summary.platform]
        return row

    # -- one manifest ---------------------------------------------------------------------

    def manifest(self, name: str, reference: str) -> ManifestPage:
        """The manifest page of a tag or digest.

        :raises V2Error: unknown tag or digest, invalid reference.
        """
        if not is_digest(reference):
            check_tag(reference)
        data, media_type, digest = self.manifests.get(name, reference)
        text = data.decode("utf-8", "replace")
        page = ManifestPage(
            name=name,
            reference=reference,
            digest=str(digest),
            media_type=media_type,
            kind="image",
            size=len(data),
            raw=_pretty(text)[:MAX_RAW_CHARS],
            raw_cut=len(text) > MAX_RAW_CHARS,
        )
        doc = _json_object(data)
        if doc is None:
            page.problem = "the manifest is not a JSON object"
            return page
        page.kind = _kind(media_type, doc)
        page.artifact_type = _text(doc.get("artifactType"))
        page.annotations = _string_map(doc.get("annotations"))
        subject = _descriptor(doc.get("subject"))
        page.subject = subject.digest if subject and subject.valid_digest else None
        if page.kind == "index":
            entries = _list(doc.get("manifests"))
            page.children = [d for d in map(_descriptor, entries[:MAX_ENTRIES]) if d]
            page.children_left_out = max(0, len(entries) - MAX_ENTRIES)
            page.total_size = self._index_size(name, page.children)
        else:
            page.config = _descriptor(doc.get("config"))
            if page.artifact_type is None and page.config is not None:
                page.artifact_type = (
                    page.config.media_type
                    if page.config.media_type not in IMAGE_CONFIG_TYPES
                    else None
                )
            entries = _list(doc.get("layers"))
            page.layers = [d for d in map(_descriptor, entries[:MAX_ENTRIES]) if d]
            page.layers_left_out = max(0, len(entries) - MAX_ENTRIES)
            page.total_size = _image_size(doc)
            if page.config is not None and page.kind == "image":
                page.image_config, page.config_note = self._config(name, page.config)
        page.tags = self._tags_of(name, digest)
        page.referrers = self.referrers_of(name, digest)
        return page

    def referrers_of(self, name: str, digest: Digest) -> dict[str, list[Referrer]]:
        """Referrers of a manifest, by artifact type (``""``: none given)."""
        try:
            index = json.loads(self.referrers.index(name, digest))
        except (ValueError, V2Error):
            return {}
        grouped: dict[str, list[Referrer]] = {}
        for entry in _list(index.get("manifests"))[:MAX_ENTRIES]:
            found = _descriptor(entry)
            if found is None:
                continue
            grouped.setdefault(found.artifact_type or "", []).append(
                Referrer(found.digest, found.media_type, found.size, found.annotations)
            )
        return dict(sorted(grouped.items()))

    # -- internals ------------------------------------------------------------------------

    def _config(self, name: str, config: Descriptor) -> tuple[ImageConfig | None, str | None]:
        """The config's summary, or why there is none."""
        if config.media_type not in IMAGE_CONFIG_TYPES or not config.valid_digest:
            return None, None
        if config.size is not None and config.size > MAX_CONFIG_BYTES:
            return None, f"the config is {config.size} bytes; only configs up to 1 MiB are read"
        try:
            stream, size = self.blobs.open(name, parse_digest(config.digest))
        except V2Error:
            return None, "the config blob is not in this repository"
        try:
            with stream:
                data = stream.read(MAX_CONFIG_BYTES + 1)
        except StorageError as exc:
            log.warning("reading config %s of %s failed: %s", config.digest, name, exc)
            return None, "the config blob could not be read"
        if len(data) > MAX_CONFIG_BYTES:
            return None, f"the config is {size} bytes; only configs up to 1 MiB are read"
        summary = parse_image_config(data)
        return summary, None if summary is not None else "the config is not a JSON object"

    def _index_size(self, name: str, children: list[Descriptor]) -> int | None:
        """Bytes of every platform's image (config + layers), None when unknown."""
        total = 0
        for child in children[:MAX_SIZED_CHILDREN]:
            if not child.valid_digest:
                return None
            try:
                data, _, _ = self.manifests.get(name, child.digest)
            except V2Error:
                return None
            doc = _json_object(data)
            size = _image_size(doc) if doc is not None else None
            if size is None:
                return None
            total += size
        return total if len(children) <= MAX_SIZED_CHILDREN else None

    def _tags_of(self, name: str, digest: Digest) -> list[str]:
        found = []
        for tag in self.manifests.tags(name)[:MAX_TAGS_SCANNED]:
            try:
                if self.manifests.resolve(name, tag) == digest:
                    found.append(tag)
            except V2Error:
                continue
        return found


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        doc = loads_json(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _kind(media_type: str, doc: dict[str, Any]) -> str:
    """``index``, ``image`` or ``artifact``."""
    if media_type in INDEX_TYPES or "manifests" in doc:
        return "index"
    config = _mapping(doc.get("config"))
    if doc.get("artifactType") or _text(config.get("mediaType")) not in IMAGE_CONFIG_TYPES:
        return "artifact"
    return "image"


def _image_size(doc: dict[str, Any]) -> int | None:
    """Config plus layers, from the manifest's own descriptors."""
    parts = [doc.get("config"), *_list(doc.get("layers"))]
    sizes = [_size(part.get("size")) if isinstance(part, dict) else None for part in parts]
    if any(size is None for size in sizes):
        return None
    return sum(size for size in sizes if size is not None)


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text
