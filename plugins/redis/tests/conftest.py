"""Fixtures: a real redis-server for the session, servers of a test's own, a counting driver.

``REGISTRY_TEST_REDIS_URL`` (``redis://host:port/db``) reuses a running Redis for the
shared fixture; tests that stop their server or need a small ``maxmemory`` always start
their own. Every test gets its own ``storage_path``, hence its own key namespace.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.testing.servers import start_redis
from docker_registry.testing.services import ServiceProcess, service_url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of the session's Redis."""
    with service_url("REGISTRY_TEST_REDIS_URL", start_redis) as url:
        yield url


@pytest.fixture
def own_redis() -> Iterator[Callable[..., ServiceProcess]]:
    """``own_redis(maxmemory=..., port=...)`` starts servers stopped after the test."""
    started: list[ServiceProcess] = []

    def start(**options: Any) -> ServiceProcess:
        started.append(start_redis(**options))
        return started[-1]

    yield start
    for process in started:
        process.stop()


class CountingDriver(InMemoryDriver):
    """The inmemory driver, counting ``get_content`` calls per path."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[str, int] = {}

    def get_content(self, path: str) -> bytes:
        self.reads[path] = self.reads.get(path, 0) + 1
        return super().get_content(path)

    @property
    def total_reads(self) -> int:
        return sum(self.reads.values())


def cached_storage(cache_lru: dict[str, Any] | None, **values: Any) -> tuple[Storage, Any]:
    """Storage on a :class:`CountingDriver`, with the cache the app configures.

    :returns: the storage and the application built on it.
    """
    storage = Storage(CountingDriver())
    settings = {"storage_path": f"/test-{uuid.uuid4().hex[:10]}", **values}
    if cache_lru is not None:
        settings["cache_lru"] = cache_lru
    app = create_app(Settings.from_mapping(settings), storage=storage)
    storage.driver.reads.clear()  # start-up reads (the v2 upload secret) are not counted
    return storage, app


@pytest.fixture
def make_storage() -> Callable[..., tuple[Storage, Any]]:
    """``make_storage(cache_lru, **settings) -> (storage, app)``."""
    return cached_storage
