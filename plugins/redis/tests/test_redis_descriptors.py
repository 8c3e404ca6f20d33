"""The blob-descriptor cache across hosts: a removal on one host reaches the other hosts'
caches through the Redis coordinator (a real redis-server)."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.descriptors import use_descriptor_cache
from docker_registry.core.v2.digests import parse_digest
from docker_registry.core.v2.errors import BlobUnknown
from docker_registry.plugins.redis.coordination import RedisCoordinator

DIGEST = parse_digest("sha256:" + "ef" * 32)


class Settings(dict):
    storage_path = "/shared"


def host(driver, redis_url, namespace, directory):
    """One host's registry: its own coordination directory (no shared generation file)."""
    storage = Storage(driver)
    registry = SimpleNamespace(
        storage=storage,
        settings=Settings(coordination={"directory": str(directory)}),
        coordinator=RedisCoordinator.from_section({"url": redis_url}, namespace, 60.0),
    )
    use_descriptor_cache(registry, 100)
    return registry


def test_an_unlink_on_one_host_reaches_the_other_hosts_cache(redis_url, tmp_path):
    driver = InMemoryDriver()
    namespace = f"test-{uuid.uuid4().hex}:"
    first = host(driver, redis_url, namespace, tmp_path / "host-a")
    second = host(driver, redis_url, namespace, tmp_path / "host-b")
    here, there = BlobStore(first.storage), BlobStore(second.storage)
    first.storage.put_content(layout.blob_data(DIGEST.algorithm, DIGEST.hex), b"layer")
    here.link("app", DIGEST)
    assert there.stat("app", DIGEST).size == 5
    try:
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
    finally:
        for registry in (first, second):
            registry.coordinator.close()
            registry.storage.close()


def test_without_a_shared_backend_the_cache_still_answers_from_memory(redis_url, tmp_path):
    driver = InMemoryDriver()
    registry = host(driver, redis_url, f"test-{uuid.uuid4().hex}:", tmp_path / "host")
    blobs = BlobStore(registry.storage)
    registry.storage.put_content(layout.blob_data(DIGEST.algorithm, DIGEST.hex), b"layer")
    blobs.link("app", DIGEST)
    blobs.stat("app", DIGEST)
    driver.delete(layout.layer_link_dir("app", DIGEST.algorithm, DIGEST.hex))
    # a removal nobody announced: the cache still answers (the read-failure rule covers GET)
    assert blobs.stat("app", DIGEST).size == 5
    registry.coordinator.close()
    registry.storage.close()
