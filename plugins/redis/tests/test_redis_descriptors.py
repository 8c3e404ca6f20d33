"""The blob-descriptor cache across processes and hosts (a real redis-server): removals
reach the other hosts' memory through pub/sub, and the descriptors themselves are shared
in Redis, so that a process that never saw a blob asks the store nothing for it."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import threading
import time
import uuid
from typing import Any

import falcon.testing
import pytest
import redis

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.coordination import create_coordinator
from docker_registry.core.plugins import create_plugin_manager
from docker_registry.core.registry import Registry
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.descriptors import use_descriptor_cache
from docker_registry.core.v2.digests import parse_digest
from docker_registry.core.v2.errors import BlobUnknown
from docker_registry.plugins.redis import registry_shared_descriptors
from docker_registry.plugins.redis.descriptors import RedisDescriptors
from docker_registry.testing.descriptors import open_registry, stat_blob

DIGEST = parse_digest("sha256:" + "ef" * 32)
DATA = layout.blob_data(DIGEST.algorithm, DIGEST.hex)


class CountingDriver(InMemoryDriver):
    """The inmemory driver, counting ``stat`` calls; ``pause`` holds a stat of blob data
    after the store answered, until ``resume`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.stats = 0
        self.pause: threading.Event | None = None
        self.resume = threading.Event()

    def stat(self, path: str):
        self.stats += 1
        info = super().stat(path)
        if self.pause is not None and path == DATA:
            self.pause.set()
            self.resume.wait(10)
        return info


def settings_for(redis_url: str, storage_path: str, directory: Any, **coordination: Any):
    return Settings.from_mapping(
        {
            "storage_path": storage_path,
            "coordination": {
                "backend": "redis",
                "url": redis_url,
                "directory": str(directory),
                **coordination,
            },
        }
    )


def host(driver, settings, capacity: int = 100) -> Registry:
    """One host's registry process on ``driver``: the plugins installed, the coordinator
    that ``settings`` names, its own coordination directory (no shared generation file)."""
    registry = Registry(settings=settings, storage=Storage(driver), plugins=create_plugin_manager())
    registry.coordinator = create_coordinator(registry)
    use_descriptor_cache(registry, capacity)
    return registry


@pytest.fixture
def hosts(redis_url, tmp_path):
    """``hosts(driver, capacity=100, url=None)``: registries on one storage path, each
    its own host; closed after the test."""
    storage_path = f"/shared-{uuid.uuid4().hex[:10]}"
    made: list[Registry] = []

    def make(driver, capacity: int = 100, url: str | None = None, **coordination: Any):
        directory = tmp_path / f"host-{len(made)}"
        settings = settings_for(url or redis_url, storage_path, directory, **coordination)
        made.append(host(driver, settings, capacity))
        return made[-1]

    yield make
    for registry in made:
        registry.coordinator.close()
        registry.storage.close()


def namespace_of(registry: Registry) -> str:
    """The prefix of ``registry``'s descriptor keys in Redis."""
    cache = registry.storage.descriptors
    assert cache is not None and cache.shared is not None
    shared = cache.shared.shared
    assert isinstance(shared, RedisDescriptors)
    return shared.namespace


def push(registry: Registry, content: bytes = b"layer") -> BlobStore:
    registry.storage.put_content(DATA, content)
    blobs = BlobStore(registry.storage)
    blobs.link("app", DIGEST)
    return blobs


def test_hook_registry_shared_descriptors(redis_url, tmp_path):
    settings = settings_for(redis_url, "/hook", tmp_path)
    registry = Registry(
        settings=settings, storage=Storage(InMemoryDriver()), plugins=create_plugin_manager()
    )
    registry.coordinator = create_coordinator(registry)
    try:
        shared = registry.plugins.hook.registry_shared_descriptors(registry=registry)
        assert isinstance(shared, RedisDescriptors)
        assert shared.namespace == "coordination:inmemory:/hook:descriptors:"
        assert shared.ttl_ms == 600_000
        # descriptor_ttl 0 shares nothing; the local backend has no Redis to share through
        registry.settings = settings_for(redis_url, "/hook", tmp_path, descriptor_ttl=0)
        assert registry_shared_descriptors(registry) is None
    finally:
        registry.coordinator.close()
    local = Registry(
        settings=Settings.from_mapping({"coordination": {"directory": str(tmp_path)}}),
        storage=Storage(InMemoryDriver()),
        plugins=create_plugin_manager(),
    )
    local.coordinator = create_coordinator(local)
    assert local.plugins.hook.registry_shared_descriptors(registry=local) is None


def test_a_process_that_never_saw_a_blob_asks_redis_not_the_store(hosts, redis_url):
    driver = CountingDriver()
    first = hosts(driver)
    push(first)
    assert BlobStore(first.storage).stat("app", DIGEST).size == 5
    assert driver.stats == 2  # the link and the data, asked of the store once
    cold = hosts(driver)
    for _ in range(3):
        assert BlobStore(cold.storage).stat("app", DIGEST).size == 5
    assert driver.stats == 2  # the cold host was answered by Redis, then by its memory
    client = redis.Redis.from_url(redis_url)
    keys = client.keys(namespace_of(first) + "*:*")
    assert len(keys) == 2
    assert all(0 < client.pttl(key) <= 600_000 for key in keys)  # entries expire


def test_a_removal_is_seen_by_every_process_the_moment_it_is_answered(hosts):
    driver = CountingDriver()
    remover = hosts(driver)
    blobs = push(remover)
    # NOTE: capacity 0: the reader keeps nothing in memory and asks Redis every time,
    # so that what it answers right after the removal is what Redis holds.
    readers = [BlobStore(hosts(driver, capacity=0).storage) for _ in range(2)]
    for reader in readers:
        assert reader.stat("app", DIGEST).size == 5
    asked = driver.stats
    readers[0].stat("app", DIGEST)
    assert driver.stats == asked  # answered by Redis
    blobs.unlink("app", DIGEST)
    for reader in readers:
        with pytest.raises(BlobUnknown):
            reader.stat("app", DIGEST)


def test_an_unlink_on_one_host_reaches_the_other_hosts_memory(hosts):
    driver = InMemoryDriver()
    first, second = hosts(driver), hosts(driver)
    here, there = push(first), BlobStore(second.storage)
    assert there.stat("app", DIGEST).size == 5
    # NOTE: the subscriber connects in the background; remove and re-link until one
    # announcement was heard (each unlink announces once).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        here.unlink("app", DIGEST)
        heard = time.monotonic() + 0.5
        while time.monotonic() < heard:
            try:
                there.stat("app", DIGEST)
            except BlobUnknown:
                return
            time.sleep(0.02)
        here.link("app", DIGEST)
        there.stat("app", DIGEST)  # cached again
    pytest.fail("the other host's cache still answers for an unlinked blob")


def test_a_stat_that_read_the_store_before_a_removal_cannot_bring_it_back(hosts):
    driver = CountingDriver()
    remover, racer = hosts(driver), hosts(driver, capacity=0)
    push(remover)
    driver.pause = threading.Event()
    answers: list[Any] = []
    # the racer asks Redis (nothing), then the store, which answers "5 bytes"...
    thread = threading.Thread(
        target=lambda: answers.append(BlobStore(racer.storage).stat("app", DIGEST).size)
    )
    thread.start()
    assert driver.pause.wait(10)
    driver.pause = None
    # ...and before it stores that answer, the blob's data is removed (as by GC).
    remover.storage.delete(DATA)
    driver.resume.set()
    thread.join(10)
    assert answers == [5]  # the racer's request overlapped the removal: its answer stands
    late = BlobStore(hosts(driver, capacity=0).storage)
    with pytest.raises(BlobUnknown):
        late.stat("app", DIGEST)
    with pytest.raises(BlobUnknown):
        BlobStore(racer.storage).stat("app", DIGEST)


def test_concurrent_stats_never_outlive_the_removals_they_race(hosts):
    """Readers hammer one blob while it is removed and pushed again; right after each
    removal is answered, a process that asks Redis must not find it."""

    class SlowStore(InMemoryDriver):
        def stat(self, path: str):
            info = super().stat(path)
            time.sleep(0.001)  # an object store's round trip: a window for the race
            return info

    driver = SlowStore()
    remover = hosts(driver)
    readers = [BlobStore(hosts(driver, capacity=0).storage) for _ in range(3)]
    checker = BlobStore(hosts(driver, capacity=0).storage)
    stop = threading.Event()
    failures: list[BaseException] = []

    def read(reader: BlobStore) -> None:
        while not stop.is_set():
            try:
                reader.exists(DIGEST)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
                return

    threads = [threading.Thread(target=read, args=(reader,)) for reader in readers]
    for thread in threads:
        thread.start()
    try:
        resurrected = 0
        for _ in range(60):
            push(remover)
            time.sleep(0.003)
            remover.storage.delete(DATA)
            if checker.exists(DIGEST):
                resurrected += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert not failures
    assert resurrected == 0


def test_redis_down_mid_run_degrades_to_the_store(own_redis, hosts, caplog):
    server = own_redis()
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    driver = CountingDriver()
    first = hosts(driver, url=server.url, timeout=0.2)
    blobs = push(first)
    cold = hosts(driver, capacity=0, url=server.url, timeout=0.2)
    reader = BlobStore(cold.storage)
    assert reader.stat("app", DIGEST).size == 5
    assert cold.storage.descriptors is not None and cold.storage.descriptors.shared is not None
    cold.storage.descriptors.shared.retry_after = 0.3
    server.stop()
    asked = driver.stats
    with caplog.at_level(logging.WARNING, "docker_registry.core.storage.descriptors"):
        for _ in range(5):
            assert reader.stat("app", DIGEST).size == 5  # the store answers
            time.sleep(0.1)
    assert driver.stats >= asked + 10  # link and data, every time
    warnings = [r for r in caplog.records if "shared descriptor cache" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "retrying every" in warnings[0].getMessage()
    blobs.unlink("app", DIGEST)  # a removal while Redis is away does not fail either
    with pytest.raises(BlobUnknown):
        reader.stat("app", DIGEST)
    blobs.link("app", DIGEST)
    own_redis(port=port)  # back, empty
    time.sleep(0.4)
    assert reader.stat("app", DIGEST).size == 5  # asks Redis (empty), then the store
    asked = driver.stats
    assert reader.stat("app", DIGEST).size == 5
    assert driver.stats == asked  # shared again


def test_a_separate_process_is_answered_from_redis(redis_url, tmp_path):
    """Real processes on one file storage: the second never asks the store for the blob
    the first looked up, and sees its removal."""
    settings = {
        "storage_path": str(tmp_path / "storage"),
        "coordination": {
            "backend": "redis",
            "url": redis_url,
            "directory": str(tmp_path / "host"),
        },
    }
    registry = open_registry(settings, 100)
    context = multiprocessing.get_context("spawn")
    try:
        blobs = push(registry)
        assert blobs.stat("app", DIGEST).size == 5
        results = context.Queue()

        def in_another_process() -> tuple[int | None, int]:
            process = context.Process(
                target=stat_blob, args=(settings, "app", str(DIGEST), results)
            )
            process.start()
            answer = results.get(timeout=60)
            process.join(30)
            assert process.exitcode == 0
            return answer

        assert in_another_process() == (5, 0)  # size 5, no store stat
        blobs.unlink("app", DIGEST)
        size, asked = in_another_process()
        assert size is None and asked > 0  # the store said the link is gone
    finally:
        registry.coordinator.close()
        registry.storage.close()


def test_a_lost_generation_key_never_revives_old_entries(hosts, redis_url):
    driver = CountingDriver()
    first = hosts(driver)
    push(first)
    BlobStore(first.storage).stat("app", DIGEST)
    client = redis.Redis.from_url(redis_url)
    generation_key = namespace_of(first) + "generation"
    old = client.get(generation_key)
    client.delete(generation_key)  # evicted by allkeys-lru, or Redis restarted half-way
    asked = driver.stats
    BlobStore(hosts(driver, capacity=0).storage).stat("app", DIGEST)
    assert driver.stats == asked + 2  # a fresh generation: the store was asked
    assert client.get(generation_key) not in (None, old)


def test_a_malformed_entry_is_a_miss(hosts, redis_url):
    driver = CountingDriver()
    first = hosts(driver)
    push(first)
    BlobStore(first.storage).stat("app", DIGEST)
    client = redis.Redis.from_url(redis_url)
    (key,) = client.keys(namespace_of(first) + "*:*/data")
    for garbage in (b"not a size", b"", b"\xff\xfe 12", b"-", b"-5 1.0", b"5 x"):
        client.set(key, garbage)
        asked = driver.stats
        assert BlobStore(hosts(driver, capacity=0).storage).stat("app", DIGEST).size == 5
        assert driver.stats == asked + 1  # the data asked of the store, the link of Redis


def test_two_applications_share_descriptors_through_the_v2_api(redis_url, tmp_path):
    driver = CountingDriver()
    storage_path = f"/apps-{uuid.uuid4().hex[:10]}"
    clients = []
    for name in ("a", "b"):
        settings = settings_for(redis_url, storage_path, tmp_path / name)
        app = create_app(settings, storage=Storage(driver))
        clients.append(falcon.testing.TestClient(app))
    first, second = clients
    body = b"layer"
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    pushed = first.simulate_post(f"/v2/app/blobs/uploads/?digest={digest}", body=body)
    assert pushed.status_code == 201, pushed.text
    assert first.simulate_head(f"/v2/app/blobs/{digest}").status_code == 200
    asked = driver.stats
    answer = second.simulate_head(f"/v2/app/blobs/{digest}")
    assert answer.status_code == 200 and answer.headers["Content-Length"] == "5"
    assert driver.stats == asked  # the second application asked Redis, not the store
