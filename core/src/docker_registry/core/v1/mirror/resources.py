"""Mirrored v1 resources: the plain ones, asking the :class:`.service.Mirror` on a miss.

Each subclass runs the local handler first (auth, id format, in-progress, 304 and the
private gate keep their order, spec §6.6 "generic wrapper"); only a local 404 other
than ``Invalid image ID`` goes upstream. What was stored is then served by the local
handler itself, so mirrored and pushed images answer alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import falcon

from ...access.listing import filter_search_results
from ...access.middleware import decision_of
from ...hookspecs import Event
from ...meta import set_json
from .. import layout
from ..errors import INVALID_IMAGE_ID, NotFound
from ..resources.common import V1Services, authorize, set_cache_headers, set_raw_json
from ..resources.images import ImageAncestryResource, ImageJsonResource, ImageLayerResource
from ..resources.index import IndexHandlers, SearchResource
from ..resources.repositories import RepositoriesSink, _metadata
from ..tags import DEFAULT_TAG_JSON
from .service import Mirror, merge_search
from .store import LayerTee
from .upstream import UpstreamMiss

_Fetched = TypeVar("_Fetched")

_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def upstream_path(req: falcon.Request) -> str:
    """The request's path and query as sent upstream (the client's own spelling)."""
    path = quote(req.path, safe=_PATH_SAFE)
    return f"{path}?{req.query_string}" if req.query_string else path


def _mirror(services: V1Services) -> Mirror:
    mirror = services.mirror
    assert mirror is not None, "mirrored resources are mounted only with a mirror"
    return mirror


def _local_miss(exc: NotFound) -> bool:
    """A 404 the mirror may answer (not a malformed id)."""
    return exc.message != INVALID_IMAGE_ID


def _local_or_upstream(
    local: Callable[[], None], fetch: Callable[[], _Fetched]
) -> tuple[bool, _Fetched | None]:
    """Run the local handler; on a local miss, ``fetch()`` from upstream instead.

    :returns: ``(True, None)`` when served locally, else ``(False, fetch())``.
    :raises NotFound: the local 404, when upstream does not have it either.
    """
    try:
        local()
        return True, None
    except NotFound as exc:
        if not _local_miss(exc):
            raise
        error = exc
    try:
        return False, fetch()
    except UpstreamMiss:
        raise error from None


class MirroredImageJsonResource(ImageJsonResource):
    """R3 with mirroring: fetch and store the image JSON on a local miss."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        local = super().on_get
        served, headers = _local_or_upstream(
            lambda: local(req, resp, image_id),
            lambda: _mirror(self.services).fetch_image_json(image_id, req.headers),
        )
        if served:
            return
        local(req, resp, image_id)
        size = (headers or {}).get("X-Docker-Size")
        if resp.get_header("X-Docker-Size") is None and size and size.strip().isdigit():
            # NOTE: the layer is not here yet; the client sizes its download from this.
            resp.set_header("X-Docker-Size", size.strip())

    on_head = on_get


class MirroredImageAncestryResource(ImageAncestryResource):
    """R8 with mirroring: fetch and store the ancestry on a local miss."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        local = super().on_get
        served, _ = _local_or_upstream(
            lambda: local(req, resp, image_id),
            lambda: _mirror(self.services).fetch_ancestry(image_id, req.headers),
        )
        if not served:
            local(req, resp, image_id)

    on_head = on_get


class MirroredImageLayerResource(ImageLayerResource):
    """R5 with mirroring: stream the upstream layer to the client and into storage.

    A ``Range`` on a miss is answered ``200`` with the whole layer (RFC 7233 allows
    it): the cache needs every byte. ``HEAD`` on a miss asks upstream and stores nothing.
    """

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        mirror = _mirror(self.services)
        local = super().on_get

        def fetch() -> tuple[int | None, LayerTee | None]:
            if req.method == "HEAD":
                return mirror.layer_length(image_id, req.headers), None
            tee = mirror.open_layer(image_id, req.headers)
            return tee.length, tee

        served, fetched = _local_or_upstream(lambda: local(req, resp, image_id), fetch)
        if served or fetched is None:
            return
        length, tee = fetched
        resp.status = falcon.HTTP_200
        resp.content_type = "application/octet-stream"
        resp.set_header("Accept-Ranges", "bytes")
        set_cache_headers(resp)
        if length is not None:
            resp.content_length = length
        if tee is not None:
            resp.stream = tee

    on_head = on_get


class MirroredSearchResource(SearchResource):
    """R27 with mirroring: local results merged with upstream's (always, as the seed)."""

    def __init__(self, services: V1Services) -> None:
        super().__init__(services)
        self.services = services

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        super().on_get(req, resp)
        remote = _mirror(self.services).search(upstream_path(req), req.headers)
        if remote is not None:
            # NOTE: upstream's results are filtered like local ones: the caller pulls
            # them through this registry.
            remote = {
                **remote,
                "results": filter_search_results(decision_of(req), remote["results"]),
            }
            set_json(resp, merge_search(json.loads(resp.data or b"{}"), remote))

    on_head = on_get


class MirroredIndexHandlers(IndexHandlers):
    """R24 with mirroring: the upstream image list (TTL-cached) on a local miss."""

    def get_images(self, req, resp, namespace: str, repository: str) -> None:
        local = super().get_images
        served, images = _local_or_upstream(
            lambda: local(req, resp, namespace, repository),
            lambda: _mirror(self.services).index_images(
                namespace, repository, upstream_path(req), req.headers
            ),
        )
        if served:
            return
        set_raw_json(resp, json.dumps(images).encode())
        self._token_headers(req, resp, namespace, repository, "read")
        self.services.registry.emit(
            Event(kind="pull", repository=layout.display_name(namespace, repository), api="v1")
        )


class MirroredRepositoriesSink(RepositoriesSink):
    """R11, R12, R16 (and R24 through :class:`MirroredIndexHandlers`) with mirroring.

    A repository with no local tags (absent, or holding only a mirrored ``json``) asks
    upstream; one with local tags never does, as in the seed.
    """

    index_handlers = MirroredIndexHandlers

    def list_tags(self, req, resp, namespace: str, repository: str) -> None:
        authorize(self.services, req, namespace, repository)
        error: NotFound | None = None
        try:
            tags = self.tags.list_tags(namespace, repository)
        except NotFound as exc:
            tags, error = {}, exc
        if not tags:
            try:
                tags = _mirror(self.services).tags(
                    namespace, repository, upstream_path(req), req.headers
                )
            except UpstreamMiss:
                if error is not None:
                    raise error from None
        set_json(resp, tags)

    def get_tag(self, req, resp, namespace: str, repository: str, tag: str) -> None:
        authorize(self.services, req, namespace, repository)
        try:
            image_id: Any = self.tags.get_tag(namespace, repository, tag)
        except NotFound as exc:
            try:
                image_id = _mirror(self.services).tag(
                    namespace, repository, tag, upstream_path(req), req.headers
                )
            except UpstreamMiss:
                raise exc from None
        set_json(resp, image_id)

    def get_repository_json(self, req, resp, namespace: str, repository: str) -> None:
        authorize(self.services, req, namespace, repository)
        stored = self.tags.repository_json(namespace, repository)
        if stored is None:
            try:
                stored = _mirror(self.services).repository_json(
                    namespace, repository, upstream_path(req), req.headers
                )
            except UpstreamMiss:
                # NOTE: the seed's mirror-mode answer: 404 with the default body.
                set_json(resp, DEFAULT_TAG_JSON, 404)
                return
        _metadata(resp, stored)


#: Route suffix -> mirrored image resource class, for the v1 plugin.
IMAGE_RESOURCES: dict[str, type] = {
    "json": MirroredImageJsonResource,
    "layer": MirroredImageLayerResource,
    "ancestry": MirroredImageAncestryResource,
}
