"""The mirror service: what to ask upstream on a local miss, what to keep (spec §6.6).

It knows no HTTP framework: resources hand it the client's request headers (forwarded
upstream, ``Authorization`` included) and the upstream path, and get values back or one
of the upstream errors of :mod:`.upstream`.

==========================================  ===============  ===========================
route (GET, on a local 404)                 upstream         kept
==========================================  ===============  ===========================
``/v1/images/<id>/json``                    ``source``       json (+ ``_checksum``)
``/v1/images/<id>/ancestry``                ``source``       ancestry
``/v1/images/<id>/layer``                   ``source``       layer, verified (ingest_layer)
``/v1/repositories/<repo>/json``            ``source``       repository json (Q9)
``/v1/repositories/<repo>/images``          ``source_index`` TTL cache
``/v1/repositories/<repo>/tags[/<tag>]``    ``source_index`` TTL cache (Q10)
``/v1/search``                              ``source_index`` no; results merged
==========================================  ===============  ===========================
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from ...mirroring import StreamTee, content_length
from .. import layout
from ..errors import BadGateway, GatewayTimeout, NotFound
from ..images import ImageStore
from .store import MetadataCache, MirrorStore
from .upstream import MirrorConfig, Upstream, UpstreamMiss

log = logging.getLogger(__name__)

_PAYLOAD_CHECKSUM = re.compile(r"^sha256:[0-9a-f]{64}$")


def payload_checksums(headers: Mapping[str, str]) -> list[str]:
    """Valid ``X-Docker-Checksum-Payload`` values of an upstream answer (repeated
    headers arrive joined with ``,``)."""
    raw = headers.get("X-Docker-Checksum-Payload") or ""
    return [item.strip() for item in raw.split(",") if _PAYLOAD_CHECKSUM.match(item.strip())]


def is_image_json(image_id: str) -> Callable[[Any], bool]:
    """Validator: a JSON object whose ``id`` is ``image_id``."""
    return lambda value: isinstance(value, dict) and value.get("id") == image_id


def is_ancestry(image_id: str) -> Callable[[Any], bool]:
    """Validator: a list of image ids starting with ``image_id``."""
    return lambda value: (
        isinstance(value, list)
        and bool(value)
        and value[0] == image_id
        and all(layout.is_image_id(item) for item in value)
    )


def is_tag_map(value: Any) -> bool:
    """Validator: ``{tag: image id}``."""
    return isinstance(value, dict) and all(
        isinstance(key, str) and layout.is_image_id(item) for key, item in value.items()
    )


def is_image_list(value: Any) -> bool:
    """Validator: an index image list ``[{"id": ..., "checksum"?: ...}]``."""
    return isinstance(value, list) and all(
        isinstance(item, dict)
        and layout.is_image_id(item.get("id"))
        and isinstance(item.get("checksum", ""), str)
        for item in value
    )


def is_search_answer(value: Any) -> bool:
    """Validator: an R27 body with a list of ``{"name": ...}`` results."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("results"), list)
        and all(isinstance(item, dict) and "name" in item for item in value["results"])
    )


def merge_search(local: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    """The seed's merge: an upstream result replaces the local one of the same name, the
    others are appended; ``num_results`` is recounted."""
    results = list(local.get("results") or [])
    position = {item.get("name"): index for index, item in enumerate(results)}
    for item in upstream["results"]:
        if item["name"] in position:
            results[position[item["name"]]] = item
        else:
            position[item["name"]] = len(results)
            results.append(item)
    return {**local, "results": results, "num_results": len(results)}


class Mirror:
    """Pull-through cache of an upstream v1 registry.

    :param config: the ``mirroring`` section.
    :param images: the image service (local reads).
    :param upstream: the HTTP client (tests may pass another).
    :param clock: wall-clock seconds for the tag cache.
    """

    def __init__(
        self,
        config: MirrorConfig,
        images: ImageStore,
        upstream: Upstream | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.images = images
        self.upstream = upstream or Upstream(config)
        self.store = MirrorStore(images.storage)
        self.cache = MetadataCache(images.storage, config.tags_cache_ttl, clock)

    @classmethod
    def from_settings(cls, settings: Any, images: ImageStore) -> Mirror | None:
        """The mirror when ``mirroring.source`` is set, else ``None``."""
        config = MirrorConfig.from_settings(settings)
        return None if config is None else cls(config, images)

    # -- images (source) --------------------------------------------------------------------

    def fetch_image_json(self, image_id: str, headers: Mapping[str, str]) -> Mapping[str, str]:
        """Fetch and store an image JSON; return upstream's headers (``X-Docker-Size``)."""
        answer = self.upstream.get_json(
            self.config.source,
            f"/v1/images/{image_id}/json",
            headers,
            is_image_json(image_id),
            f"the JSON of image {image_id}",
        )
        self.store.save_image_json(image_id, answer.raw, payload_checksums(answer.headers))
        return answer.headers

    def fetch_ancestry(self, image_id: str, headers: Mapping[str, str]) -> None:
        """Fetch and store an image's ancestry."""
        answer = self.upstream.get_json(
            self.config.source,
            f"/v1/images/{image_id}/ancestry",
            headers,
            is_ancestry(image_id),
            f"the ancestry of image {image_id}",
        )
        self.store.save_ancestry(image_id, answer.raw)

    def layer_length(self, image_id: str, headers: Mapping[str, str]) -> int | None:
        """Upstream's layer size without fetching it (``HEAD``); nothing is stored."""
        response = self.upstream.open(
            self.config.source, f"/v1/images/{image_id}/layer", headers, method="HEAD"
        )
        response.close()
        return content_length(response.headers)

    def open_layer(self, image_id: str, headers: Mapping[str, str]) -> StreamTee:
        """Start streaming a layer from upstream into storage
        (:meth:`~..images.ImageStore.ingest_layer`: stored only whole and verified).

        The image JSON is needed for the payload checksum: it is fetched first when it
        is not stored yet. On a checksum mismatch the json and ``_checksum`` are dropped
        too, so that a later pull fetches all three afresh.
        """
        try:
            self.images.get_json(image_id)
        except NotFound:
            self.fetch_image_json(image_id, headers)
        expected = [item for item in self.images.checksums(image_id) if item.startswith("sha256:")]
        response = self.upstream.open(self.config.source, f"/v1/images/{image_id}/layer", headers)
        return self.images.ingest_layer(
            image_id,
            self.upstream.layer_chunks(response),
            content_length(response.headers),
            expected,
            close=response.close,
            label=f"layer {image_id} from {self.config.source}",
        )

    # -- repositories ---------------------------------------------------------------------------

    def repository_json(
        self, namespace: str, repository: str, path: str, headers: Mapping[str, str]
    ) -> bytes:
        """Fetch and store a repository JSON at ``repositories/<ns>/<repo>/json`` (Q9)."""
        answer = self.upstream.get_json(
            self.config.source, path, headers, lambda v: isinstance(v, dict), "a JSON object"
        )
        self.store.save_repository_json(namespace, repository, answer.raw)
        return answer.raw

    def _index_value(
        self, path: str, headers: Mapping[str, str], validate: Callable[[Any], bool], what: str
    ) -> Callable[[], Any]:
        return lambda: (
            self.upstream.get_json(self.config.index, path, headers, validate, what).value
        )

    def tags(
        self, namespace: str, repository: str, path: str, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """The upstream tag list, cached for ``tags_cache_ttl``."""
        return self.cache.get(
            layout.mirror_tags_path(namespace, repository),
            self._index_value(path, headers, is_tag_map, "a tag list"),
            self.config.index,
        )

    def tag(
        self, namespace: str, repository: str, tag: str, path: str, headers: Mapping[str, str]
    ) -> str:
        """One upstream tag's image id, cached for ``tags_cache_ttl``."""
        fetch = self._index_value(path, headers, layout.is_image_id, "an image id")
        if not layout.is_storable(tag):
            return fetch()
        return self.cache.get(
            layout.mirror_tag_path(namespace, repository, tag), fetch, self.config.index
        )

    def index_images(
        self, namespace: str, repository: str, path: str, headers: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The upstream index image list, cached for ``tags_cache_ttl``."""
        return self.cache.get(
            layout.mirror_index_images_path(namespace, repository),
            self._index_value(path, headers, is_image_list, "an image list"),
            self.config.index,
        )

    def search(self, path: str, headers: Mapping[str, str]) -> dict[str, Any] | None:
        """Upstream search results, ``None`` when upstream fails (local results only)."""
        try:
            return self.upstream.get_json(
                self.config.index, path, headers, is_search_answer, "search results"
            ).value
        except UpstreamMiss as exc:
            log.info("mirror: upstream search answered %s", exc.status)
        except (BadGateway, GatewayTimeout) as exc:
            log.warning("mirror: %s; local search results only", exc.message)
        return None
