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
only). Every other method is the local store's.

NOTE: the store decorators subclass the local stores for their type only and share none
of their state: every public method is overridden (a test checks that none is inherited).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ...bodies import RequestBody
from ...inputs import parse_number
from ...mirroring import StreamTee, client_request
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

    # -- the local store's answers ----------------------------------------------------

    @staticmethod
    def check_id(image_id: str) -> None:
        ImageStore.check_id(image_id)

    def in_progress(self, image_id: str) -> bool:
        return self.local.in_progress(image_id)

    def check_not_in_progress(self, image_id: str) -> None:
        self.local.check_not_in_progress(image_id)

    def exists(self, image_id: str) -> bool:
        return self.local.exists(image_id)

    def layer_size(self, image_id: str) -> int | None:
        return self.local.layer_size(image_id)

    def checksums(self, image_id: str) -> list[str]:
        return self.local.checksums(image_id)

    def ingest_layer(
        self,
        image_id: str,
        chunks: Iterator[bytes],
        length: int | None,
        expected: list[str],
        *,
        close: Callable[[], None],
        label: str,
    ) -> StreamTee:
        return self.local.ingest_layer(image_id, chunks, length, expected, close=close, label=label)

    def open_layer(self, image_id: str, offset: int = 0) -> BinaryIO:
        return self.local.open_layer(image_id, offset)

    def redirect_url(self, image_id: str) -> str | None:
        return self.local.redirect_url(image_id)

    def layer_storage_path(self, image_id: str) -> str:
        return self.local.layer_storage_path(image_id)

    def files(self, image_id: str) -> bytes:
        return self.local.files(image_id)

    def tarsum(self, image_id: str) -> str:
        return self.local.tarsum(image_id)

    def diff(self, image_id: str) -> bytes | None:
        return self.local.diff(image_id)

    def put_diff(self, image_id: str, data: bytes) -> None:
        self.local.put_diff(image_id, data)

    def put_json(
        self,
        image_id: str,
        body: bytes,
        *,
        parent_allowed: Callable[[str], bool] = lambda parent: True,
        image_allowed: Callable[[str], bool] = lambda image: True,
    ) -> dict[str, Any]:
        return self.local.put_json(
            image_id, body, parent_allowed=parent_allowed, image_allowed=image_allowed
        )

    def put_layer(self, image_id: str, body: RequestBody) -> str:
        return self.local.put_layer(image_id, body)

    def put_checksum(self, image_id: str, payload: str | None, tarsum: str | None) -> None:
        self.local.put_checksum(image_id, payload, tarsum)


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

    # -- the local store's answers ----------------------------------------------------

    def exists(self, namespace: str, repository: str) -> bool:
        return self.local.exists(namespace, repository)

    def put_tag(
        self,
        namespace: str,
        repository: str,
        tag: str,
        body: bytes,
        *,
        user_agent: str | None,
        image_exists: Any,
    ) -> str:
        return self.local.put_tag(
            namespace, repository, tag, body, user_agent=user_agent, image_exists=image_exists
        )

    def delete_tag(self, namespace: str, repository: str, tag: str) -> str:
        return self.local.delete_tag(namespace, repository, tag)

    def tag_json(self, namespace: str, repository: str, tag: str) -> bytes | None:
        return self.local.tag_json(namespace, repository, tag)

    def is_private(self, namespace: str, repository: str) -> bool:
        return self.local.is_private(namespace, repository)

    def set_properties(self, namespace: str, repository: str, body: bytes) -> None:
        self.local.set_properties(namespace, repository, body)

    def delete_repository(self, namespace: str, repository: str) -> list[tuple[str, str]]:
        return self.local.delete_repository(namespace, repository)


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

    def put_images(self, namespace: str, repository: str, body: bytes) -> tuple[bool, list]:
        return self.local.put_images(namespace, repository, body)


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
