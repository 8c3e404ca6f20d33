"""The Redis cache behind the core's Storage, against a real redis-server."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import falcon.testing
import pytest
import redis

from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.storage import Storage
from docker_registry.plugins.redis import create_cache
from docker_registry.plugins.redis.cache import (
    RedisCache,
    create_client,
    glob_escape,
    namespace_for,
)
from docker_registry.testing.services import free_port

JSON = "/images/abc/json"


def host_port(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    return {"host": parts.hostname, "port": parts.port, "db": (parts.path.strip("/") or 0)}


def redis_cache(storage: Storage) -> RedisCache:
    assert storage.cache is not None
    cache = storage.cache.cache
    assert isinstance(cache, RedisCache)
    return cache


def test_cold_read_hits_storage_warm_read_does_not(redis_url, make_storage) -> None:
    storage, _ = make_storage(host_port(redis_url))
    storage.driver.put_content(JSON, b'{"id": "abc"}')  # behind the cache's back
    assert storage.get_content(JSON) == b'{"id": "abc"}'
    assert storage.driver.reads == {JSON: 1}
    for _ in range(5):
        assert storage.get_content(JSON) == b'{"id": "abc"}'
    assert storage.driver.reads == {JSON: 1}


def test_keys_are_namespaced_like_the_seed(redis_url, make_storage) -> None:
    storage, _ = make_storage({"url": redis_url})
    storage.put_content(JSON, b"content")
    cache = redis_cache(storage)
    assert cache.namespace.startswith("cache_path:inmemory:/test-")
    client = redis.Redis.from_url(redis_url)
    assert client.get(f"{cache.namespace}{JSON}") == b"content"
    assert cache.key(JSON) == f"{cache.namespace}{JSON}"
    assert namespace_for("file", "/var/lib/registry/") == "cache_path:file:/var/lib/registry"
    assert namespace_for("s3", None) == "cache_path:s3:"


def test_writes_are_written_through(redis_url, make_storage) -> None:
    storage, _ = make_storage(host_port(redis_url))
    storage.put_content(JSON, b"one")
    storage.put_content(JSON, b"two")
    assert storage.get_content(JSON) == b"two"
    assert storage.driver.reads == {}
    assert storage.driver.get_content(JSON) == b"two"  # storage was written both times


def test_deletes_invalidate_the_file_and_everything_under_a_directory(
    redis_url, make_storage
) -> None:
    storage, _ = make_storage(host_port(redis_url))
    paths = [
        "/repositories/ns/repo/tag_latest",
        "/repositories/ns/repo/_index_images",
        "/repositories/ns/repo/deeper/file",
        "/repositories/ns/repo-other/tag_latest",
        "/repositories/ns/repo2/tag_latest",
    ]
    for path in paths:
        storage.put_content(path, path.encode())
    storage.delete("/repositories/ns/repo")
    cache = redis_cache(storage)
    assert [cache.get(path) for path in paths] == [
        None,
        None,
        None,
        *(p.encode() for p in paths[3:]),
    ]
    storage.delete("/repositories/ns/repo2/tag_latest")
    assert cache.get("/repositories/ns/repo2/tag_latest") is None
    assert cache.get("/repositories/ns/repo-other/tag_latest") is not None


def test_prefix_delete_treats_glob_characters_literally(redis_url, make_storage) -> None:
    storage, _ = make_storage(host_port(redis_url))
    odd = "/repositories/ns/a[b]*?x"
    storage.put_content(f"{odd}/tag_latest", b"odd")
    storage.put_content("/repositories/ns/abx/tag_latest", b"plain")
    storage.put_content("/repositories/ns/a[b]Zx/tag_latest", b"near")
    storage.delete(odd)
    cache = redis_cache(storage)
    assert cache.get(f"{odd}/tag_latest") is None
    assert cache.get("/repositories/ns/abx/tag_latest") == b"plain"
    assert cache.get("/repositories/ns/a[b]Zx/tag_latest") == b"near"
    assert glob_escape("a[b]*?\\") == "a\\[b\\]\\*\\?\\\\"


def test_prefix_delete_works_in_batches(redis_url, make_storage) -> None:
    storage, _ = make_storage(host_port(redis_url))
    cache = redis_cache(storage)
    for number in range(1200):
        cache.set(f"/big/dir/f{number}", b"x")
    cache.set("/big/dirt", b"sibling")
    cache.delete_prefix("/big/dir")
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=glob_escape(cache.key("/big/dir/")) + "*")) == []
    assert cache.get("/big/dirt") == b"sibling"


def test_moves_and_writer_commits_invalidate(redis_url, make_storage) -> None:
    storage, _ = make_storage(host_port(redis_url))
    storage.put_content("/a/source", b"source")
    storage.put_content("/a/destination", b"old")
    storage.move("/a/source", "/a/destination")
    assert storage.get_content("/a/destination") == b"source"
    writer = storage.writer("/a/destination")
    writer.write(b"new")
    writer.commit()
    assert storage.get_content("/a/destination") == b"new"
    assert storage.driver.reads["/a/destination"] == 2  # re-read after each change


def test_redis_going_away_degrades_to_storage_reads(own_redis, make_storage, caplog) -> None:
    server = own_redis()
    port = int(urlsplit(server.url).port or 0)
    storage, _ = make_storage({"host": "127.0.0.1", "port": port})
    storage.put_content(JSON, b"v1")
    assert storage.get_content(JSON) == b"v1"
    assert storage.driver.reads == {}
    assert storage.cache is not None
    storage.cache.retry_after = 0.3  # the core's guard: seconds without Redis after a failure
    server.stop()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert storage.get_content(JSON) == b"v1"
        storage.put_content(JSON, b"v2")
        assert storage.get_content(JSON) == b"v2"
        storage.delete(JSON)
    assert time.monotonic() - started < 3
    assert storage.driver.reads == {JSON: 2}
    assert any("cache get failed" in record.message for record in caplog.records)

    own_redis(port=port)  # Redis is back (empty): caching resumes
    time.sleep(0.4)
    storage.put_content(JSON, b"v3")
    assert storage.get_content(JSON) == b"v3"
    assert storage.driver.reads == {JSON: 2}


def test_unreachable_redis_at_start_up_is_a_warning(make_storage, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        storage, app = make_storage({"host": "127.0.0.1", "port": free_port()})
    assert any("does not answer" in record.message for record in caplog.records)
    storage.put_content(JSON, b"still works")
    assert storage.get_content(JSON) == b"still works"
    assert falcon.testing.TestClient(app).simulate_get("/_ping").status_code == 200


def test_lru_eviction_keeps_the_registry_correct(own_redis, make_storage) -> None:
    server = own_redis(maxmemory="4mb")
    storage, _ = make_storage({"url": server.url})
    blobs = {f"/images/{number:03d}/json": bytes([number % 256]) * 200_000 for number in range(60)}
    for path, content in blobs.items():
        storage.put_content(path, content)  # 12 MB through a 4 MB cache
    for path, content in blobs.items():
        assert storage.get_content(path) == content
    client = redis.Redis.from_url(server.url)
    assert int(client.info("stats")["evicted_keys"]) > 0
    assert client.dbsize() < len(blobs)
    assert 0 < storage.driver.total_reads <= len(blobs)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        create_client({"host": "127.0.0.1", "port": "sixty"})
    assert caught.value.key == "cache_lru.port"
    with pytest.raises(ConfigError) as caught:
        create_client({"host": "127.0.0.1", "timeout": "-1"})
    assert caught.value.key == "cache_lru.timeout"
    with pytest.raises(ConfigError) as caught:
        create_client({"url": "http://not-redis"})
    assert caught.value.key == "cache_lru.url"
    with pytest.raises(ConfigError) as caught:
        create_client({})
    assert caught.value.key == "cache_lru.host"


def test_client_has_short_timeouts_and_no_retries() -> None:
    client = create_client({"host": "127.0.0.1", "port": 6399, "password": "pw", "db": "3"})
    options = client.get_connection_kwargs()
    assert options["socket_timeout"] == 0.5
    assert options["socket_connect_timeout"] == 0.5
    assert options["db"] == 3 and options["password"] == "pw"
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert time.monotonic() - started < 2


def test_hook_registry_cache_backends(redis_url, make_storage) -> None:
    from docker_registry.core.app import configured_cache_backend
    from docker_registry.core.plugins import create_plugin_manager
    from docker_registry.core.registry import Registry
    from docker_registry.core.storage.inmemory import InMemoryDriver

    settings = Settings.from_mapping({"cache_lru": {"url": redis_url}})
    assert configured_cache_backend(settings) == "redis"
    registry = Registry(settings, Storage(InMemoryDriver()), create_plugin_manager())
    spec = registry.cache_backends()["redis"]
    assert spec.factory is create_cache
    assert isinstance(spec.factory(registry), RedisCache)
    storage, _ = make_storage({"url": redis_url})
    assert isinstance(redis_cache(storage), RedisCache)
