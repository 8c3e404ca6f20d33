"""The Storage wrapper's cache: read-through, write-through, invalidation, degradation."""

from __future__ import annotations

import logging

import pytest

from docker_registry.core.storage import PathNotFoundError, Storage
from docker_registry.core.storage.inmemory import InMemoryDriver


class CountingDriver(InMemoryDriver):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_content(self, path: str) -> bytes:
        self.reads += 1
        return super().get_content(path)


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, path):
        return self.data.get(path)

    def set(self, path, content):
        self.data[path] = content

    def delete(self, path):
        self.data.pop(path, None)

    def delete_prefix(self, directory):
        for key in [key for key in self.data if key.startswith(directory + "/")]:
            del self.data[key]


class BrokenCache(DictCache):
    def get(self, path):
        raise ConnectionError("redis went away")

    set = delete = delete_prefix = get  # type: ignore[assignment]


@pytest.fixture
def driver():
    return CountingDriver()


@pytest.fixture
def cache():
    return DictCache()


def test_cold_read_hits_storage_and_warm_read_does_not(driver, cache):
    driver.put_content("/images/a/json", b"{}")
    storage = Storage(driver, cache)
    assert storage.get_content("/images/a/json") == b"{}"
    assert driver.reads == 1
    assert storage.get_content("/images/a/json") == b"{}"
    assert driver.reads == 1


def test_put_content_writes_storage_and_cache(driver, cache):
    storage = Storage(driver, cache)
    storage.put_content("/a", b"one")
    storage.put_content("/a", b"one")
    assert driver.get_content("/a") == b"one"
    assert cache.data["/a"] == b"one"
    assert storage.get_content("/a") == b"one"
    assert driver.reads == 1  # the direct check above, not the cached read


def test_put_content_writes_storage_even_when_cache_has_same_value(driver, cache):
    storage = Storage(driver, cache)
    storage.put_content("/a", b"same")
    driver.delete("/a")
    storage.put_content("/a", b"same")
    assert driver.get_content("/a") == b"same"


def test_writer_commit_invalidates(driver, cache):
    storage = Storage(driver, cache)
    storage.put_content("/a", b"old")
    with storage.writer("/a") as writer:
        writer.write(b"new")
        writer.commit()
    assert "/a" not in cache.data
    assert storage.get_content("/a") == b"new"


def test_deleting_a_directory_forgets_its_children(driver, cache):
    storage = Storage(driver, cache)
    storage.put_content("/repositories/ns/r/_index_images", b"[]")
    storage.put_content("/repositories/ns/rr/_index_images", b"[1]")
    storage.get_content("/repositories/ns/r/_index_images")
    storage.delete("/repositories/ns/r")
    with pytest.raises(PathNotFoundError):
        storage.get_content("/repositories/ns/r/_index_images")
    assert cache.data["/repositories/ns/rr/_index_images"] == b"[1]"


def test_move_invalidates_both_ends(driver, cache):
    storage = Storage(driver, cache)
    storage.put_content("/src", b"s")
    storage.put_content("/dst", b"d")
    storage.move("/src", "/dst")
    assert storage.get_content("/dst") == b"s"
    with pytest.raises(PathNotFoundError):
        storage.get_content("/src")


def test_large_files_are_not_cached(driver, cache):
    storage = Storage(driver, cache)
    storage.put_content("/big", b"x" * (512 * 1024 + 1))
    assert "/big" not in cache.data


def test_broken_cache_degrades_to_storage_with_one_warning(driver, caplog):
    storage = Storage(driver, BrokenCache())
    with caplog.at_level(logging.WARNING):
        storage.put_content("/a", b"v")
        assert storage.get_content("/a") == b"v"
        assert storage.get_content("/a") == b"v"
    assert driver.reads == 2
    warnings = [r for r in caplog.records if "redis went away" in r.getMessage()]
    assert len(warnings) == 1
    assert "serving from storage without the cache" in warnings[0].getMessage()
