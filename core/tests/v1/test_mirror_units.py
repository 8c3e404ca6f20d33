"""Unit tests of the mirror's parts: config, header forwarding, TTL cache, the stream tee
with the v1 payload checksum."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.mirroring import StreamRejected, StreamTee, content_length
from docker_registry.core.storage import PathNotFoundError, Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v1 import layout
from docker_registry.core.v1.checksums import PayloadHasher, payload_checksum
from docker_registry.core.v1.errors import BadGateway
from docker_registry.core.v1.mirror.service import merge_search, payload_checksums
from docker_registry.core.v1.mirror.store import MetadataCache
from docker_registry.core.v1.mirror.upstream import (
    DEFAULT_TAGS_CACHE_TTL,
    DEFAULT_TIMEOUT,
    MirrorConfig,
    UpstreamMiss,
    forward_headers,
)
from docker_registry.testing.services import free_port

ID = "a" * 64


def config(**mirroring: object) -> MirrorConfig | None:
    return MirrorConfig.from_settings(Settings.from_mapping({"mirroring": mirroring}))


def test_config_defaults_and_source_index() -> None:
    assert config() is None
    plain = config(source="http://hub:5000/")
    assert plain == MirrorConfig("http://hub:5000", None, DEFAULT_TAGS_CACHE_TTL, DEFAULT_TIMEOUT)
    assert plain.index == "http://hub:5000"
    both = config(source="https://r", source_index="https://i", tags_cache_ttl="60", timeout=2.5)
    assert (both.index, both.tags_cache_ttl, both.timeout) == ("https://i", 60.0, 2.5)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"source": "hub:5000"}, "mirroring.source"),
        ({"source": "http://h", "source_index": "ftp://i"}, "mirroring.source_index"),
        ({"source": "http://h", "tags_cache_ttl": -1}, "mirroring.tags_cache_ttl"),
        ({"source": "http://h", "timeout": 0}, "mirroring.timeout"),
        ({"source": "http://h", "timeout": "soon"}, "mirroring.timeout"),
    ],
)
def test_config_errors_name_the_key(values: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**values)
    assert caught.value.key == key


def test_forward_headers_keeps_authorization_and_drops_hop_and_range() -> None:
    forwarded = forward_headers(
        {
            "Host": "mirror:5000",
            "Authorization": "Token signature=x",
            "Cookie": "a=b",
            "Range": "bytes=10-",
            "If-Modified-Since": "x",
            "Connection": "keep-alive",
            "Accept-Encoding": "gzip",
            "User-Agent": "docker/1.3",
        }
    )
    assert forwarded == {
        "Authorization": "Token signature=x",
        "Cookie": "a=b",
        "User-Agent": "docker/1.3",
        "Accept-Encoding": "identity",
    }


def test_payload_checksums_keeps_valid_sha256_values() -> None:
    good = "sha256:" + "0" * 64
    assert payload_checksums({"X-Docker-Checksum-Payload": f"{good}, tarsum+sha256:1, x"}) == [good]
    assert payload_checksums({}) == []


def test_merge_search_replaces_same_names_and_recounts() -> None:
    local = {"num_results": 2, "query": "a", "results": [{"name": "x/a"}, {"name": "y/a"}]}
    remote = {"results": [{"name": "y/a", "description": "up"}, {"name": "z/a"}]}
    assert merge_search(local, remote) == {
        "num_results": 3,
        "query": "a",
        "results": [{"name": "x/a"}, {"name": "y/a", "description": "up"}, {"name": "z/a"}],
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def storage() -> Storage:
    return Storage(InMemoryDriver())


def test_metadata_cache_fresh_expired_stale_and_gone(storage: Storage) -> None:
    clock = Clock()
    cache = MetadataCache(storage, ttl=10, clock=clock)
    path = layout.mirror_tags_path("acme", "app")
    calls: list[str] = []

    def fetch(value):
        def run():
            calls.append("fetch")
            if isinstance(value, Exception):
                raise value
            return value

        return run

    assert cache.get(path, fetch({"latest": ID}), "http://up") == {"latest": ID}
    stored = json.loads(storage.get_content(path))
    assert stored == {"fetched_at": 1000.0, "source": "http://up", "value": {"latest": ID}}
    clock.now += 9
    assert cache.get(path, fetch({"other": ID}), "http://up") == {"latest": ID}
    assert calls == ["fetch"]
    clock.now += 2  # expired: refreshed
    assert cache.get(path, fetch({"v2": ID}), "http://up") == {"v2": ID}
    clock.now += 11  # expired, upstream down: the stale copy
    assert cache.get(path, fetch(BadGateway("down")), "http://up") == {"v2": ID}
    with pytest.raises(UpstreamMiss):  # upstream says it is gone: forgotten
        cache.get(path, fetch(UpstreamMiss(404)), "http://up")
    with pytest.raises(PathNotFoundError):
        storage.get_content(path)
    with pytest.raises(BadGateway):  # nothing cached, upstream down
        cache.get(path, fetch(BadGateway("down")), "http://up")


def make_tee(
    storage: Storage,
    chunks: Iterator[bytes] | list[bytes],
    *,
    expected: list[str],
    length: int | None,
    events: list[str],
) -> StreamTee:
    return StreamTee(
        iter(chunks),
        storage.writer(layout.image_layer_path(ID)),
        PayloadHasher(b"{}"),
        expected,
        length,
        lambda checksum: events.append(f"commit {checksum}"),
        lambda: events.append("mismatch"),
        lambda: events.append("closed"),
        "layer",
    )


def test_layer_tee_commits_a_complete_verified_layer(storage: Storage) -> None:
    events: list[str] = []
    checksum = payload_checksum(b"{}", b"abcdef")
    tee = make_tee(storage, [b"ab", b"cd", b"ef"], expected=[checksum], length=6, events=events)
    assert list(tee) == [b"ab", b"cd", b"ef"]
    tee.close()
    assert storage.get_content(layout.image_layer_path(ID)) == b"abcdef"
    assert events == [f"commit {checksum}", "closed"]


@pytest.mark.parametrize(
    ("chunks", "expected", "length", "event"),
    [
        ([b"ab", b"cd"], ["sha256:" + "0" * 64], 4, "mismatch"),  # wrong checksum
        ([b"ab", b"cd"], [], 6, None),  # truncated: fewer bytes than Content-Length
    ],
)
def test_layer_tee_holds_back_the_last_chunk_and_stores_nothing_when_bad(
    storage: Storage, chunks: list[bytes], expected: list[str], length: int, event: str | None
) -> None:
    events: list[str] = []
    tee = make_tee(storage, chunks, expected=expected, length=length, events=events)
    received = []
    with pytest.raises(StreamRejected):
        for chunk in tee:
            received.append(chunk)
    assert received == chunks[:-1]
    tee.close()
    assert not storage.exists(layout.image_layer_path(ID))
    assert events == ([event] if event else []) + ["closed"]


def test_layer_tee_read_error_and_early_close_store_nothing(storage: Storage) -> None:
    def broken() -> Iterator[bytes]:
        yield b"ab"
        yield b"cd"
        raise ConnectionResetError("peer reset")

    events: list[str] = []
    tee = make_tee(storage, broken(), expected=[], length=None, events=events)
    with pytest.raises(StreamRejected, match="broke off"):
        list(tee)
    assert not storage.exists(layout.image_layer_path(ID))

    tee = make_tee(storage, [b"ab", b"cd", b"ef"], expected=[], length=None, events=events)
    assert next(tee) == b"ab"
    tee.close()  # the client went away
    assert not storage.exists(layout.image_layer_path(ID))


def test_mirrored_routes_answer_502_naming_a_dead_upstream(make_app) -> None:
    source = f"http://127.0.0.1:{free_port()}"
    v1 = make_app(mirroring={"source": source, "timeout": 2})
    response = v1.client.simulate_get(f"/v1/images/{ID}/json")
    assert response.status_code == 502
    assert response.json == {
        "error": f"Mirror upstream {source} is unreachable: connection refused "
        f"(GET /v1/images/{ID}/json)"
    }
    # checks before the mirror keep their answers; local data is served without upstream
    assert v1.client.simulate_get("/v1/images/xyz/json").json == {"error": "Invalid image ID"}
    image_id, body, layer = v1.upload()
    assert v1.client.simulate_get(f"/v1/images/{image_id}/json").content == body
    assert v1.client.simulate_get(f"/v1/images/{image_id}/layer").content == layer


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1234", 1234), (" 7 ", 7), (None, None), ("9" * 5000, None), ("\u00b2", None), ("-1", None)],
)
def test_an_upstreams_content_length_is_read_safely(value, expected):
    """A hostile upstream's header never becomes a 500 in the mirror or the proxy."""
    headers = {} if value is None else {"Content-Length": value}
    assert content_length(headers) == expected
