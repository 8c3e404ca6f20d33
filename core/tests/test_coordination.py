"""The local coordination backend: locks and job turns across real processes of one host,
invalidations, and what the v1 and v2 services make of them."""

from __future__ import annotations

import multiprocessing
import threading

import falcon.testing
import pytest

from docker_registry.core import hookimpl
from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.coordination import EVERY_KEY, LocalCoordinator, LockTimeout
from docker_registry.core.hookspecs import CoordinationBackendSpec
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v1.errors import Busy
from docker_registry.core.v1.images import ImageStore
from docker_registry.testing.coordination import count_under_lock, read_upload_secret, take_turn

IMAGE = "a" * 64


LOCAL = "docker_registry.core.coordination:LocalCoordinator"


def test_the_lock_excludes_other_processes(tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=count_under_lock,
            args=(LOCAL, ("test", str(tmp_path / "locks")), str(counter), 40),
        )
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert counter.read_text() == "120"


def test_the_lock_excludes_other_threads_and_times_out(tmp_path):
    coordinator = LocalCoordinator("test", str(tmp_path))
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with coordinator.lock("image"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    with pytest.raises(LockTimeout, match="'image' still taken"), coordinator.lock("image", 0.2):
        pass
    with coordinator.lock("another", wait=0.2):
        pass  # other names are free
    release.set()
    holder.join()
    with coordinator.lock("image", wait=1):
        pass


def test_one_process_takes_a_turn_per_period(tmp_path):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=take_turn, args=(LOCAL, ("test", str(tmp_path)), results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    turns = sorted(results.get(timeout=5) for _ in workers)
    assert turns == [False, False, False, True]
    assert LocalCoordinator("test", str(tmp_path)).take_turn("purge", 0) is True
    assert LocalCoordinator("test", str(tmp_path)).take_turn("other job", 60) is True


def test_announcements_reach_every_listener_of_the_topic(tmp_path):
    coordinator = LocalCoordinator("test", str(tmp_path))
    heard: list[tuple[str, str]] = []
    coordinator.listen("v2-tags", lambda key: heard.append(("a", key)))
    coordinator.listen("v2-tags", lambda key: heard.append(("b", key)))
    coordinator.listen("other", lambda key: heard.append(("c", key)))
    coordinator.announce("v2-tags", "library/app")
    assert heard == [("a", "library/app"), ("b", "library/app")]


def test_a_v1_image_lock_held_too_long_is_a_clear_busy_error(tmp_path):
    class Impatient(LocalCoordinator):
        def lock(self, name, wait=30.0):
            return super().lock(name, wait=0.1)

    coordinator = Impatient("test", str(tmp_path))
    images = ImageStore(Storage(InMemoryDriver()), coordinator)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with coordinator.lock(f"v1-image:{IMAGE}"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        with pytest.raises(Busy) as raised, images._locked(IMAGE):
            pass
    finally:
        release.set()
        holder.join()
    assert raised.value.status == 503 and raised.value.headers == {"Retry-After": "5"}
    with images._locked(IMAGE):
        pass


def _app(tmp_path, extra=(), **values):
    settings = Settings.from_mapping({"storage": "inmemory", **values})
    return create_app(settings, storage=Storage(InMemoryDriver()), extra_plugins=list(extra))


def test_hook_registry_coordination_backends(tmp_path):
    created = []

    class Recording(LocalCoordinator):
        @classmethod
        def from_registry(cls, registry):
            coordinator = cls("test", str(tmp_path))
            created.append(coordinator)
            return coordinator

    class Plugin:
        @hookimpl
        def registry_coordination_backends(self):
            yield CoordinationBackendSpec("recording", Recording.from_registry, "test")

    app = _app(tmp_path, [Plugin()], coordination={"backend": "recording"})
    client = falcon.testing.TestClient(app)
    manifest = (
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", '
        b'"manifests": []}'
    )
    heard: list[str] = []
    created[0].listen("v2-tags", heard.append)
    answer = client.simulate_put(
        "/v2/team/app/manifests/latest",
        body=manifest,
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    assert answer.status_code == 201, answer.text
    assert heard == ["team/app"], "a tag write is announced to the other processes"


def test_an_unknown_coordination_backend_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as raised:
        _app(tmp_path, coordination={"backend": "nosuch"})
    message = str(raised.value)
    assert "coordination.backend" in message and "local" in message
    assert "registry-plugin-redis" in message


def test_the_coordination_section_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="coordination"):
        _app(tmp_path, coordination="redis")


def test_processes_starting_at_once_agree_on_the_upload_secret(tmp_path):
    """``serve --workers`` on empty storage: each worker makes its v2 app at the same time;
    all must sign upload URLs with one key (else an upload hopping between them fails)."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(6), context.Queue()
    workers = [
        context.Process(
            target=read_upload_secret,
            args=(LOCAL, ("test", str(tmp_path / "locks")), str(tmp_path / "data"), start, results),
        )
        for _ in range(6)
    ]
    for worker in workers:
        worker.start()
    secrets_seen = {results.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(secrets_seen) == 1


def test_every_key_makes_the_tag_caches_forget_every_repository(tmp_path):
    # A backend that may have missed announcements (Redis came back) sends EVERY_KEY:
    # a tag moved by another host meanwhile must show at once, not after the TTL.
    index = "application/vnd.oci.image.index.v1+json"
    coordinators: list[LocalCoordinator] = []

    class Separate(LocalCoordinator):
        """One per application: announcements never cross (two hosts, no backend)."""

        @classmethod
        def from_registry(cls, registry):
            coordinators.append(cls("test", str(tmp_path / str(len(coordinators)))))
            return coordinators[-1]

    class Plugin:
        @hookimpl
        def registry_coordination_backends(self):
            yield CoordinationBackendSpec("separate", Separate.from_registry, "test")

    storage = Storage(InMemoryDriver())
    settings = Settings.from_mapping(
        {"storage": "inmemory", "v2_tag_cache_ttl": 600, "coordination": {"backend": "separate"}}
    )
    here, elsewhere = (
        falcon.testing.TestClient(create_app(settings, storage=storage, extra_plugins=[Plugin()]))
        for _ in range(2)
    )

    def push(client, name: str, annotation: str) -> str:
        body = f'{{"schemaVersion": 2, "mediaType": "{index}", "manifests": [], '
        body += f'"annotations": {{"v": "{annotation}"}}}}'
        answer = client.simulate_put(
            f"/v2/{name}/manifests/latest", body=body, headers={"Content-Type": index}
        )
        assert answer.status_code == 201, answer.text
        return answer.headers["Docker-Content-Digest"]

    def served_here() -> dict[str, str]:
        return {
            name: here.simulate_get(
                f"/v2/{name}/manifests/latest", headers={"Accept": index}
            ).headers["Docker-Content-Digest"]
            for name in ("team/app", "team/db")
        }

    first = {name: push(here, name, "1") for name in ("team/app", "team/db")}
    assert served_here() == first
    moved = {name: push(elsewhere, name, "2") for name in first}
    assert served_here() == first, "cached here, and the move was not announced here"
    coordinators[0].announce("v2-tags", EVERY_KEY)
    assert served_here() == moved
