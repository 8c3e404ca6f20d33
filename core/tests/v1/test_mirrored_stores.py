"""Unit tests of the v1 mirror's store decorators (:mod:`docker_registry.core.v1.mirror.
stores`): adopt on a local miss, TTL freshness, stale answers when upstream fails, layers
stored only when verified; a fake upstream (no HTTP) over ``inmemory`` storage."""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from docker_registry.core.mirroring import ClientRequest, MirrorConfig, StreamRejected, forwarding
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v1 import layout
from docker_registry.core.v1.checksums import payload_checksum
from docker_registry.core.v1.errors import BadGateway, NotFound, NoUpstreamMetadata
from docker_registry.core.v1.images import ImageStore, RemoteLayer
from docker_registry.core.v1.index import IndexStore
from docker_registry.core.v1.mirror.service import Mirror
from docker_registry.core.v1.mirror.stores import (
    MirroredImageStore,
    MirroredIndexStore,
    MirroredSearch,
    MirroredTagStore,
)
from docker_registry.core.v1.tags import TagStore
from docker_registry.testing.fake_upstream import FakeUpstream

SOURCE = "http://upstream.invalid"
ID = "a" * 64
PARENT = "b" * 64
JSON = json.dumps({"id": ID}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class LocalSearch:
    def __init__(self, results: list[dict]) -> None:
        self.results = results
        self.rebuilt = False

    def search(self, query: str, page: int, per_page: int | None) -> tuple[int, list[dict]]:
        return len(self.results), list(self.results)

    def rebuild(self) -> None:
        self.rebuilt = True


class Parts:
    def __init__(self) -> None:
        self.storage = Storage(InMemoryDriver())
        self.local_images = ImageStore(self.storage)
        self.upstream = FakeUpstream(SOURCE, BadGateway)
        self.clock = Clock()
        config = MirrorConfig(SOURCE, tags_cache_ttl=60, timeout=5)
        self.mirror = Mirror(config, self.local_images, self.upstream, self.clock)
        self.images = MirroredImageStore(self.local_images, self.mirror)
        self.tags = MirroredTagStore(TagStore(self.storage), self.mirror)
        self.index = MirroredIndexStore(IndexStore(self.storage), self.mirror)
        self.local_search = LocalSearch([{"name": "local/app", "description": "here"}])
        self.search = MirroredSearch(self.local_search, self.mirror)

    def serve_image(self, layer: bytes, *, size: str | None = None, checksum: bool = True) -> None:
        headers = {"X-Docker-Size": size if size is not None else str(len(layer))}
        if checksum:
            headers["X-Docker-Checksum-Payload"] = payload_checksum(JSON, layer)
        self.upstream.routes[f"/v1/images/{ID}/json"] = (JSON, headers)
        self.upstream.routes[f"/v1/images/{ID}/layer"] = (layer, {})

    def stored(self) -> set[str]:
        return set(self.storage.walk("/"))


@pytest.fixture
def parts() -> Parts:
    return Parts()


@pytest.fixture(autouse=True)
def client() -> Iterator[None]:
    """Each test serves a registry client's request (as the forwarding middleware does)."""
    with forwarding(ClientRequest({"Authorization": "Token signature=x"}, "/client/path")):
        yield


@pytest.mark.parametrize(
    ("decorator", "local"),
    [
        (MirroredImageStore, ImageStore),
        (MirroredTagStore, TagStore),
        (MirroredIndexStore, IndexStore),
    ],
)
def test_every_public_method_of_the_local_store_is_overridden(decorator, local) -> None:
    """See the same test in core/tests/v2/test_proxied_stores.py."""
    # NOTE: static methods hold no state: inherited as they are.
    public = {
        name
        for name, member in vars(local).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }
    assert public, "the local store has public methods"
    assert public <= set(vars(decorator)), sorted(public - set(vars(decorator)))


# -- images -----------------------------------------------------------------------------


def test_image_json_is_fetched_once_with_its_checksum_and_announced_size(parts: Parts) -> None:
    parts.serve_image(b"layer bytes")
    assert parts.images.get_json(ID) == JSON
    assert parts.images.get_json(ID) == JSON
    assert parts.upstream.requests() == [f"/v1/images/{ID}/json"]
    assert parts.upstream.seen[0][2]["Authorization"] == "Token signature=x"
    assert parts.local_images.checksums(ID) == [payload_checksum(JSON, b"layer bytes")]
    assert parts.local_images.layer_size(ID) is None
    assert parts.images.announced_layer_size(ID) == len(b"layer bytes")


@pytest.mark.parametrize("size", ["²", "9" * 5000, "-3", "1e3", ""])
def test_a_hostile_announced_size_is_ignored(parts: Parts, size: str) -> None:
    parts.serve_image(b"layer", size=size)
    assert parts.images.get_json(ID) == JSON
    assert parts.images.announced_layer_size(ID) is None


def test_an_upstream_miss_is_the_local_404_and_a_failure_a_502(parts: Parts) -> None:
    with pytest.raises(NotFound):
        parts.images.get_json(ID)
    with pytest.raises(NotFound):
        parts.images.get_ancestry(ID)
    parts.upstream.failures[f"/v1/images/{ID}/json"] = BadGateway("Mirror upstream is down")
    with pytest.raises(BadGateway):
        parts.images.get_json(ID)
    parts.upstream.routes[f"/v1/images/{ID}/ancestry"] = (b"<html>", {})
    with pytest.raises(BadGateway):
        parts.images.get_ancestry(ID)
    assert parts.stored() == set()


def test_ancestry_is_fetched_and_stored(parts: Parts) -> None:
    ancestry = json.dumps([ID, PARENT]).encode()
    parts.upstream.routes[f"/v1/images/{ID}/ancestry"] = (ancestry, {})
    assert parts.images.get_ancestry(ID) == ancestry
    assert parts.storage.get_content(layout.image_ancestry_path(ID)) == ancestry


def test_a_layer_head_asks_upstream_and_stores_nothing(parts: Parts) -> None:
    parts.serve_image(b"layer bytes")
    assert parts.images.find_layer(ID, body=False) == RemoteLayer(len(b"layer bytes"))
    assert parts.upstream.seen[0][0] == "HEAD"
    assert parts.stored() == set()


def test_a_layer_is_visible_only_once_complete_and_verified(parts: Parts) -> None:
    layer = bytes(range(256)) * 64
    parts.serve_image(layer)
    found = parts.images.find_layer(ID, body=True)
    assert isinstance(found, RemoteLayer) and found.body is not None
    assert found.size == len(layer)
    received = []
    for chunk in found.body:
        received.append(chunk)
        if sum(map(len, received)) < len(layer):
            assert parts.local_images.layer_size(ID) is None, "visible before complete"
    assert b"".join(received) == layer
    assert parts.images.find_layer(ID, body=True) == len(layer)
    assert parts.local_images.open_layer(ID).read() == layer


def test_a_layer_that_does_not_verify_is_dropped_with_its_json(parts: Parts) -> None:
    parts.serve_image(b"the real layer")
    parts.upstream.routes[f"/v1/images/{ID}/layer"] = (b"a forged layer", {})
    found = parts.images.find_layer(ID, body=True)
    assert isinstance(found, RemoteLayer) and found.body is not None
    with pytest.raises(StreamRejected):
        b"".join(found.body)
    assert parts.stored() == set()


def test_a_layer_without_upstream_checksum_gets_one_computed(parts: Parts) -> None:
    parts.serve_image(b"unsigned", checksum=False)
    found = parts.images.find_layer(ID, body=True)
    assert isinstance(found, RemoteLayer) and found.body is not None
    assert b"".join(found.body) == b"unsigned"
    assert parts.local_images.checksums(ID) == [payload_checksum(JSON, b"unsigned")]


def test_concurrent_layer_pulls_all_answer_it_and_store_it_whole(parts: Parts) -> None:
    layer = bytes(range(256)) * 4096
    parts.serve_image(layer)
    parts.upstream.piece = 64 * 1024
    parts.images.get_json(ID)
    results: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def pull() -> None:
        try:
            start.wait()
            with forwarding(ClientRequest({})):
                found = parts.images.find_layer(ID, body=True)
            if isinstance(found, RemoteLayer):
                assert found.body is not None
                results.append(b"".join(found.body))
            else:
                results.append(parts.local_images.open_layer(ID).read())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert results == [layer] * 5
    assert parts.local_images.open_layer(ID).read() == layer


def test_outside_a_client_request_only_local_content_is_answered(parts: Parts) -> None:
    parts.serve_image(b"layer")
    parts.upstream.routes["/client/path"] = (json.dumps({"latest": ID}).encode(), {})
    with forwarding(None):
        with pytest.raises(NotFound):
            parts.images.get_json(ID)
        with pytest.raises(NotFound):
            parts.images.find_layer(ID, body=True)
        with pytest.raises(NotFound):
            parts.tags.list_tags("acme", "app")
        assert parts.tags.repository_json("acme", "app") is None
        assert parts.search.search("app", 1, None)[0] == 1
    assert parts.upstream.seen == []


# -- tags, repository JSON, index, search ---------------------------------------------------


def test_upstream_tags_are_fresh_for_the_ttl_then_stale_when_upstream_fails(
    parts: Parts,
) -> None:
    parts.upstream.routes["/client/path"] = (json.dumps({"latest": ID}).encode(), {})
    assert parts.tags.list_tags("acme", "app") == {"latest": ID}
    parts.upstream.routes["/client/path"] = (json.dumps({"v2": ID}).encode(), {})
    assert parts.tags.list_tags("acme", "app") == {"latest": ID}  # fresh
    parts.clock.now += 61
    assert parts.tags.list_tags("acme", "app") == {"v2": ID}  # refreshed
    parts.clock.now += 61
    parts.upstream.failures["/client/path"] = BadGateway("Mirror upstream is down")
    assert parts.tags.list_tags("acme", "app") == {"v2": ID}  # stale
    del parts.upstream.failures["/client/path"]
    del parts.upstream.routes["/client/path"]
    with pytest.raises(NotFound):  # upstream forgot it: so does the cache
        parts.tags.list_tags("acme", "app")
    assert not parts.storage.exists(layout.mirror_tags_path("acme", "app"))


def test_local_tags_never_ask_upstream(parts: Parts) -> None:
    parts.local_images.put_json(ID, JSON)
    parts.tags.put_tag(
        "acme",
        "app",
        "latest",
        json.dumps(ID).encode(),
        user_agent=None,
        image_exists=lambda image: True,
    )
    assert parts.tags.list_tags("acme", "app") == {"latest": ID}
    assert parts.tags.get_tag("acme", "app", "latest") == ID
    assert parts.upstream.seen == []


def test_one_tag_and_a_missing_one(parts: Parts) -> None:
    parts.upstream.routes["/client/path"] = (json.dumps(ID).encode(), {})
    assert parts.tags.get_tag("acme", "app", "latest") == ID
    del parts.upstream.routes["/client/path"]
    parts.clock.now += 61
    with pytest.raises(NotFound):
        parts.tags.get_tag("acme", "app", "latest")


def test_repository_json_is_fetched_and_stored_else_no_metadata(parts: Parts) -> None:
    with pytest.raises(NoUpstreamMetadata):
        parts.tags.repository_json("acme", "app")
    body = json.dumps({"docker_version": "1.3.2"}).encode()
    parts.upstream.routes["/client/path"] = (body, {})
    assert parts.tags.repository_json("acme", "app") == body
    assert parts.storage.get_content(layout.repository_json_path("acme", "app")) == body


def test_index_images_come_from_upstream_when_none_are_here(parts: Parts) -> None:
    images = [{"id": ID, "checksum": "sha256:" + "0" * 64}]
    with pytest.raises(NotFound):
        parts.index.get_images("acme", "app")
    parts.upstream.routes["/client/path"] = (json.dumps(images).encode(), {})
    assert json.loads(parts.index.get_images("acme", "app")) == images


def test_search_merges_upstream_results_and_survives_its_failure(parts: Parts) -> None:
    remote: dict[str, Any] = {
        "num_results": 2,
        "results": [{"name": "local/app", "description": "upstream"}, {"name": "hub/app"}],
    }
    parts.upstream.routes["/client/path"] = (json.dumps(remote).encode(), {})
    assert parts.search.search("app", 1, None) == (
        2,
        [{"name": "local/app", "description": "upstream"}, {"name": "hub/app"}],
    )
    parts.upstream.failures["/client/path"] = BadGateway("Mirror upstream is down")
    assert parts.search.search("app", 1, None) == (1, parts.local_search.results)
    parts.search.rebuild()  # the backend's other methods stay reachable
    assert parts.local_search.rebuilt
