"""The v1 mirror as decorators of the v1 stores (as distribution's ``registry/proxy/``).

The v1 plugin hands the resources these in place of the local stores when
``mirroring.source`` is set; the resources are the plain ones. Each decorator answers
from the local store first, and asks :class:`.service.Mirror` only on a local miss of a
registry client's request (:func:`~docker_registry.core.mirroring.client_request`:
headers forwarded, index routes asked under the client's own path); what upstream sends
is stored where a push would have put it, then answered by the local store::

    MirroredImageStore.get_json          R3   json (+ _checksum), remembered X-Docker-Size
    MirroredImageStore.get_ancestry      R8   ancestry
    MirroredImageStore.find_layer        R5   HEAD: upstream's size, nothing stored;
                                              GET: streamed while stored (ingest_layer)
    MirroredTagStore.list_tags           R11  upstream tags when none are local (TTL cache)
    MirroredTagStore.get_tag             R12  upstream tag (TTL cache)
    MirroredTagStore.repository_json     R16  fetched and stored (Q9)
    MirroredIndexStore.get_images        R24  upstream image list (TTL cache)
    MirroredSearch.search                R27  local results merged with upstream's

A 4xx from upstream is the local 404; an upstream failure is a 502/504, except where a
stale copy may be answered (:class:`.store.MetadataCache`) and for search (local results
only). Every other method is the local store's
(:func:`~docker_registry.core.mirroring.forwards_to_local`).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ...inputs import parse_number
from ...mirroring import client_request, forwards_to_local
from ...storage import Storage
from ..errors import NotFound, NoUpstreamMetadata
from ..images import ImageStore, RemoteLayer
from ..index import IndexStore
from ..tags import TagStore
from .service import Mirror, merge_search
from .upstream import UpstreamMiss

#: Image ids whose upstream ``X-Docker-Size`` this process remembers (their layer is not
#: stored yet; clients size their download from it).
_ANNOUNCED_SIZES = 4096


@forwards_to_local(ImageStore)
class MirroredImageStore(ImageStore):
    """An :class:`ImageStore` that pulls image JSON, ancestry and layers through.

    :param local: the store of this registry's images.
    :param mirror: what to ask upstream, and how to store its answers.
    """

    def __init__(self, local: ImageStore, mirror: Mirror) -> None:
        self.local = local
        self.mirror = mirror
        self.storage: Storage = local.storage
        self._announced: dict[str, int] = {}
        self._announced_lock = threading.Lock()

    def get_json(self, image_id: str) -> bytes:
        client = client_request()
        try:
            return self.local.get_json(image_id)
        except NotFound as exc:
            if client is None:
                raise
            miss = exc
        try:
            headers = self.mirror.fetch_image_json(image_id, client.headers)
        except UpstreamMiss:
            raise miss from None
        size = parse_number((headers.get("X-Docker-Size") or "").strip())
        if size is not None:
            with self._announced_lock:
                if len(self._announced) >= _ANNOUNCED_SIZES:
                    self._announced.clear()
                self._announced[image_id] = size
        return self.local.get_json(image_id)

    def get_ancestry(self, image_id: str) -> bytes:
        client = client_request()
        try:
            return self.local.get_ancestry(image_id)
        except NotFound as exc:
            if client is None:
                raise
            miss = exc
        try:
            self.mirror.fetch_ancestry(image_id, client.headers)
        except UpstreamMiss:
            raise miss from None
        return self.local.get_ancestry(image_id)

    def announced_layer_size(self, image_id: str) -> int | None:
        """The stored layer's size, else the one upstream announced with the JSON."""
        size = self.local.announced_layer_size(image_id)
        if size is not None:
            return size
        with self._announced_lock:
            return self._announced.get(image_id)

    def find_layer(self, image_id: str, *, body: bool) -> int | RemoteLayer:
        """The stored layer's size, else upstream's layer: sized (``body=False``, nothing
        stored) or streamed while stored and verified (:meth:`ImageStore.ingest_layer`).

        :raises NotFound: neither here nor upstream.
        """
        client = client_request()
        try:
            return self.local.find_layer(image_id, body=body)
        except NotFound as exc:
            if client is None:
                raise
            miss = exc
        try:
            if not body:
                return RemoteLayer(self.mirror.layer_length(image_id, client.headers))
            tee = self.mirror.open_layer(image_id, client.headers)
        except UpstreamMiss:
            raise miss from None
        return RemoteLayer(tee.length, tee)


@forwards_to_local(TagStore)
class MirroredTagStore(TagStore):
    """A :class:`TagStore` that pulls tag lists, tags and repository JSON through. A
    repository with no local tags (absent, or holding only a mirrored ``json``) asks
    upstream; one with local tags never does, as in the seed.

    :param local: the store of this registry's tags.
    :param mirror: what to ask upstream.
    """

    def __init__(self, local: TagStore, mirror: Mirror) -> None:
        self.local = local
        self.mirror = mirror
        self.storage: Storage = local.storage

    def list_tags(self, namespace: str, repository: str) -> dict[str, str]:
        client = client_request()
        if client is None:
            return self.local.list_tags(namespace, repository)
        miss: NotFound | None = None
        try:
            tags = self.local.list_tags(namespace, repository)
        except NotFound as exc:
            tags, miss = {}, exc
        if tags:
            return tags
        try:
            return self.mirror.tags(namespace, repository, client.path, client.headers)
        except UpstreamMiss:
            if miss is not None:
                raise miss from None
            return tags

    def get_tag(self, namespace: str, repository: str, tag: str) -> str:
        client = client_request()
        try:
            return self.local.get_tag(namespace, repository, tag)
        except NotFound as exc:
            if client is None:
                raise
            miss = exc
        try:
            return self.mirror.tag(namespace, repository, tag, client.path, client.headers)
        except UpstreamMiss:
            raise miss from None

    def repository_json(self, namespace: str, repository: str) -> bytes | None:
        """The stored repository JSON, else upstream's (stored, Q9).

        :raises NoUpstreamMetadata: upstream has none either.
        """
        stored = self.local.repository_json(namespace, repository)
        client = client_request()
        if stored is not None or client is None:
            return stored
        try:
            return self.mirror.repository_json(namespace, repository, client.path, client.headers)
        except UpstreamMiss:
            raise NoUpstreamMetadata("Repository not found") from None


@forwards_to_local(IndexStore)
class MirroredIndexStore(IndexStore):
    """An :class:`IndexStore` whose image lists (R24) come from upstream (TTL-cached) when
    the repository has none here.

    :param local: the store of this registry's index.
    :param mirror: what to ask upstream.
    """

    def __init__(self, local: IndexStore, mirror: Mirror) -> None:
        self.local = local
        self.mirror = mirror
        self.storage: Storage = local.storage

    def get_images(self, namespace: str, repository: str) -> bytes:
        client = client_request()
        try:
            return self.local.get_images(namespace, repository)
        except NotFound as exc:
            if client is None:
                raise
            miss = exc
        try:
            images = self.mirror.index_images(namespace, repository, client.path, client.headers)
        except UpstreamMiss:
            raise miss from None
        return json.dumps(images).encode()


class MirroredSearch:
    """A search backend whose results (R27) are merged with upstream's, always, as the
    seed's mirror did: an upstream result replaces the local one of the same name, the
    others are appended. Upstream failing leaves the local results.

    :param local: the configured search backend (``None``: no local results).
    :param mirror: what to ask upstream.
    """

    def __init__(self, local: Any, mirror: Mirror) -> None:
        self.local = local
        self.mirror = mirror

    def search(self, query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]:
        total, results = (0, []) if self.local is None else self.local.search(query, page, per_page)
        client = client_request()
        if client is None:
            return total, results
        remote = self.mirror.search(client.path, client.headers)
        if remote is None:
            return total, results
        merged = merge_search({"results": results}, remote)["results"]
        return len(merged), merged

    def __getattr__(self, name: str) -> Any:
        # NOTE: index plugins' backends offer more than search (fill, rebuild...).
        return getattr(self.local, name)
