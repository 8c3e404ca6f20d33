"""The ``redis`` coordination backend on a real redis-server: locks between processes of
"different hosts" (separate coordinators, separate connections), expiry of a dead
holder's lock, renewal of a long holder's, job turns, and tag caches invalidated across
two registry applications sharing one storage."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid

import falcon.testing
import pytest

from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.coordination import EVERY_KEY, CoordinationError, LockTimeout
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.plugins.redis.coordination import RedisCoordinator
from docker_registry.testing.cli import modules_of_an_app
from docker_registry.testing.coordination import count_under_lock

INDEX = "application/vnd.oci.image.index.v1+json"


REDIS = "docker_registry.plugins.redis.coordination:RedisCoordinator.from_section"


def coordinator(url: str, namespace: str, lock_ttl: float = 60.0) -> RedisCoordinator:
    return RedisCoordinator.from_section({"url": url}, namespace, lock_ttl)


def test_the_lock_excludes_other_processes(redis_url, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    namespace = f"test-{uuid.uuid4().hex}:"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=count_under_lock,
            args=(REDIS, ({"url": redis_url}, namespace), str(counter), 30),
        )
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert counter.read_text() == "90"


def test_a_dead_holders_lock_expires_and_a_long_holder_keeps_it(redis_url):
    namespace = f"test-{uuid.uuid4().hex}:"
    first = coordinator(redis_url, namespace, lock_ttl=1.0)
    second = coordinator(redis_url, namespace, lock_ttl=1.0)
    # A long holder renews: after 2.5 TTLs the lock is still its own.
    with first.lock("image"):
        time.sleep(2.5)
        with pytest.raises(LockTimeout), second.lock("image", wait=0.3):
            pass
    # A holder that died (its key left behind without renewal) frees it after the TTL.
    first.client.set(f"{namespace}lock:image", "dead holder", px=1000)
    started = time.monotonic()
    with second.lock("image", wait=5):
        waited = time.monotonic() - started
    assert 0.5 < waited < 3
    # Only the holder deletes its lock: the key is gone after a normal release.
    assert first.client.get(f"{namespace}lock:image") is None


def test_a_lock_without_redis_is_an_error_not_a_pass(own_redis):
    server = own_redis()
    here = coordinator(server.url, "test:")
    server.stop()
    with pytest.raises(CoordinationError, match="Redis failed"), here.lock("image", wait=1):
        pass
    assert here.take_turn("purge", 60) is False  # a job skips its turn, no error


def test_one_coordinator_takes_a_turn_per_period(redis_url):
    namespace = f"test-{uuid.uuid4().hex}:"
    hosts = [coordinator(redis_url, namespace) for _ in range(4)]
    assert sorted(host.take_turn("purge", 1.0) for host in hosts) == [False, False, False, True]
    time.sleep(1.2)
    assert sum(host.take_turn("purge", 1.0) for host in hosts) == 1


def test_announcements_reach_the_other_coordinators(redis_url):
    namespace = f"test-{uuid.uuid4().hex}:"
    speaker, hearer = coordinator(redis_url, namespace), coordinator(redis_url, namespace)
    heard: list[str] = []
    arrived = threading.Event()
    hearer.listen("v2-tags", lambda key: (heard.append(key), key != EVERY_KEY and arrived.set()))
    deadline = time.monotonic() + 10
    # NOTE: the subscriber connects in the background; announce until it hears one.
    while not arrived.is_set() and time.monotonic() < deadline:
        speaker.announce("v2-tags", "team/app")
        arrived.wait(0.2)
    hearer.close()
    # NOTE: EVERY_KEY is what a fresh subscription hears first (see the next test).
    assert set(heard) - {EVERY_KEY} == {"team/app"}


def test_a_subscriber_that_lost_redis_tells_its_listeners_to_forget_everything(own_redis):
    # Pub/sub keeps nothing for an absent subscriber: what was announced while the
    # subscriber's connection was down is lost, so after it subscribes again its caches
    # must drop everything (EVERY_KEY), or they would serve a moved tag until its TTL.
    server = own_redis()
    namespace = f"test-{uuid.uuid4().hex}:"
    speaker, hearer = coordinator(server.url, namespace), coordinator(server.url, namespace)
    heard: list[str] = []
    changed = threading.Condition()

    def forget(key: str) -> None:
        with changed:
            heard.append(key)
            changed.notify_all()

    hearer.listen("v2-tags", forget)
    with changed:
        assert changed.wait_for(lambda: EVERY_KEY in heard, 10), "first subscription"
        del heard[:]
    # NOTE: the subscriber's connection is cut by the server, as a restart or a network
    # failure would; an announcement in between reaches nobody.
    speaker.client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    speaker.announce("v2-tags", "team/app")
    with changed:
        assert changed.wait_for(lambda: EVERY_KEY in heard, 15), heard
    deadline = time.monotonic() + 10
    with changed:
        while "team/app" not in heard and time.monotonic() < deadline:
            speaker.announce("v2-tags", "team/app")
            changed.wait(0.2)
    hearer.close()
    assert "team/app" in heard, "announcements reach it again after the reconnect"


def test_tag_caches_follow_a_tag_moved_by_another_host(redis_url):
    # Two applications on one storage (two hosts), tag caches of 60 s: without the
    # announcement the second would serve the old target for a minute.
    storage = Storage(InMemoryDriver())
    settings = Settings.from_mapping(
        {
            "storage": "inmemory",
            "storage_path": f"/{uuid.uuid4().hex}",
            "v2_tag_cache_ttl": 60,
            "coordination": {"backend": "redis", "url": redis_url},
        }
    )
    first = falcon.testing.TestClient(create_app(settings, storage=storage))
    second = falcon.testing.TestClient(create_app(settings, storage=storage))

    def push(client, annotation: str) -> str:
        body = f'{{"schemaVersion": 2, "mediaType": "{INDEX}", "manifests": [], '
        body += f'"annotations": {{"v": "{annotation}"}}}}'
        answer = client.simulate_put(
            "/v2/team/app/manifests/latest", body=body, headers={"Content-Type": INDEX}
        )
        assert answer.status_code == 201, answer.text
        return answer.headers["Docker-Content-Digest"]

    def served(client) -> str:
        return client.simulate_get(
            "/v2/team/app/manifests/latest", headers={"Accept": INDEX}
        ).headers["Docker-Content-Digest"]

    one = push(first, "one")
    assert served(second) == one  # cached by the second host now
    # NOTE: the second host's subscriber connects in the background: the same push is
    # repeated (announced again) until it has heard one.
    two = push(first, "two")
    deadline = time.monotonic() + 10
    while served(second) != two and time.monotonic() < deadline:
        time.sleep(0.1)
        push(first, "two")
    assert served(second) == two


def test_a_bad_lock_ttl_names_its_key(redis_url):
    settings = Settings.from_mapping(
        {
            "storage": "inmemory",
            "coordination": {"backend": "redis", "url": redis_url, "lock_ttl": 0},
        }
    )
    with pytest.raises(ConfigError, match=r"coordination\.lock_ttl"):
        create_app(settings, storage=Storage(InMemoryDriver()))


def test_a_redis_backend_without_a_server_names_the_key():
    settings = Settings.from_mapping({"storage": "inmemory", "coordination": {"backend": "redis"}})
    with pytest.raises(ConfigError, match=r"coordination\.url"):
        create_app(settings, storage=Storage(InMemoryDriver()))


def test_redis_is_imported_only_where_a_redis_backend_is_configured():
    # PERF: redis-py costs ~5 MiB in every worker of a registry that has the plugin
    # installed but uses neither its cache nor its coordination.
    assert "redis" not in modules_of_an_app({"storage": "inmemory"})
