"""Notifications (issue 13 §5): the section, distribution's envelope, the on-disk queue,
delivery to a real HTTP receiver (``docker_registry.testing.webhook``) and requests that
never wait for it.

The live proofs (skopeo pushing, a registry restarted with events still queued) are in
``tests/test_notifications_live.py``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time

import falcon.testing
import pytest

from docker_registry.core import hookimpl
from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.hookspecs import Event
from docker_registry.core.ops.notifications.config import (
    EndpointSettings,
    notification_settings,
)
from docker_registry.core.ops.notifications.envelope import (
    BLOB_MEDIA_TYPE,
    V1_IMAGE_MEDIA_TYPE,
    to_events,
)
from docker_registry.core.ops.notifications.queue import DiskQueue, Slot
from docker_registry.core.ops.notifications.sender import Sender
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.testing.services import free_port
from docker_registry.testing.webhook import WebhookReceiver

SOURCE = {"addr": "registry-1:5000", "instanceID": "i-1"}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _settings(tmp_path, *endpoints, **section):
    return Settings.from_mapping(
        {
            "storage": "inmemory",
            "notifications": {
                "queue_path": str(tmp_path / "queue"),
                "endpoints": list(endpoints),
                **section,
            },
        }
    )


def _endpoint(url, **values):
    return {"name": "hook", "url": url, "backoff": 0.05, "max_backoff": 0.2, **values}


# -- the section -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "key", "message"),
    [
        ({"name": "a", "url": "ftp://x"}, "notifications.endpoints[0].url", "http(s) URL"),
        ({"name": "a b", "url": "http://x"}, "notifications.endpoints[0].name", "letters"),
        ({"name": "a", "url": "http://x", "urls": 1}, "notifications.endpoints[0]", "urls"),
        ({"name": "a", "url": "http://x", "actions": ["tag"]}, ".actions", "unknown action"),
        ({"name": "a", "url": "http://x", "timeout": "soon"}, ".timeout", "a number"),
        ({"name": "a", "url": "http://x", "headers": {"X": "a\nb"}}, ".headers", "one line"),
        ("http://x", "notifications.endpoints[0]", "mapping"),
    ],
)
def test_bad_endpoints_name_the_key(tmp_path, endpoint, key, message):
    with pytest.raises(ConfigError) as raised:
        notification_settings(_settings(tmp_path, endpoint))
    assert raised.value.key.endswith(key) and message in str(raised.value)


def test_duplicate_names_are_refused(tmp_path):
    with pytest.raises(ConfigError) as raised:
        notification_settings(
            _settings(tmp_path, {"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"})
        )
    assert raised.value.key == "notifications.endpoints[1].name"


def test_defaults_and_disabled_endpoints(tmp_path):
    assert notification_settings(Settings.from_mapping({})) is None
    assert (
        notification_settings(
            _settings(tmp_path, {"name": "a", "url": "http://x", "disabled": True})
        )
        is None
    )
    config = notification_settings(
        _settings(tmp_path, {"name": "a", "url": "http://x", "headers": {"A": ["1", "2"]}})
    )
    endpoint = config.endpoints[0]
    assert endpoint.timeout == 5 and endpoint.backoff == 1 and endpoint.retries is None
    assert endpoint.actions == {"push", "pull", "delete", "mount"}
    assert endpoint.headers == (("A", "1"), ("A", "2"))
    assert config.queue_max_events == 10000 and config.queue_path == str(tmp_path / "queue")


def test_config_show_masks_the_endpoints_credentials(tmp_path):
    settings = _settings(
        tmp_path,
        {
            "name": "a",
            "url": "https://user:pw@hooks.example.com/x",
            "headers": {"Authorization": ["Bearer s3cr3t"], "X-Api-Key": "k", "X-Team": "ops"},
        },
    )
    shown = settings.masked()["notifications"]["endpoints"][0]
    assert shown["headers"] == {"Authorization": "***", "X-Api-Key": "***", "X-Team": "ops"}
    assert shown["url"] == "https://user:***@hooks.example.com/x"


def test_credentials_in_the_url_become_a_basic_header_and_leave_the_url(tmp_path):
    config = notification_settings(
        _settings(tmp_path, {"name": "a", "url": "https://us%40er:p%3Aw@hooks.example.com:8443/x"})
    )
    endpoint = config.endpoints[0]
    assert endpoint.url == "https://hooks.example.com:8443/x"
    assert endpoint.headers == (("Authorization", "Basic dXNAZXI6cDp3"),)  # us@er:p:w


def test_default_queue_is_in_the_staging_directory(tmp_path):
    config = notification_settings(
        Settings.from_mapping({"notifications": {"endpoints": [{"name": "a", "url": "http://x"}]}}),
        str(tmp_path / ".registry-staging"),
    )
    assert config.queue_path == str(tmp_path / ".registry-staging" / "notifications")


def test_filters_by_action_and_media_type():
    endpoint = EndpointSettings(
        "a",
        "http://x",
        actions=frozenset({"push"}),
        ignored_media_types=frozenset({BLOB_MEDIA_TYPE}),
    )
    assert endpoint.wants({"action": "push", "target": {"mediaType": OCI_MANIFEST}})
    assert not endpoint.wants({"action": "pull", "target": {"mediaType": OCI_MANIFEST}})
    assert not endpoint.wants({"action": "push", "target": {"mediaType": BLOB_MEDIA_TYPE}})
    only = EndpointSettings("a", "http://x", media_types=frozenset({OCI_MANIFEST}))
    assert not only.wants({"action": "push", "target": {}})


# -- the envelope ------------------------------------------------------------------------


def test_manifest_push_is_one_event_per_tag():
    event = Event(
        "push",
        "team/app",
        "v2",
        tag="1.0",
        reference="sha256:" + "a" * 64,
        details={"mediaType": OCI_MANIFEST, "size": 708, "tags": ["1.0", "latest"]},
    )
    events = to_events(event, None, SOURCE, now=0.5)
    assert [e["target"]["tag"] for e in events] == ["1.0", "latest"]
    first = events[0]
    assert first["action"] == "push" and first["timestamp"] == "1970-01-01T00:00:00.500000Z"
    assert first["target"] == {
        "repository": "team/app",
        "mediaType": OCI_MANIFEST,
        "size": 708,
        "length": 708,
        "digest": "sha256:" + "a" * 64,
        "tag": "1.0",
    }
    assert first["source"] == SOURCE and first["request"] == {} and first["actor"] == {}
    assert len({e["id"] for e in events}) == 2


def test_blob_mount_and_v1_events():
    digest = "sha256:" + "b" * 64
    blob = to_events(
        Event("push", "a/b", "v2", reference=digest, details={"kind": "blob", "size": 3}),
        None,
        SOURCE,
    )
    assert blob[0]["target"]["mediaType"] == BLOB_MEDIA_TYPE and blob[0]["target"]["size"] == 3
    mount = to_events(
        Event("mount", "a/b", "v2", reference=digest, details={"kind": "blob", "from": "a/c"}),
        None,
        SOURCE,
    )
    assert mount[0]["action"] == "mount" and mount[0]["target"]["fromRepository"] == "a/c"
    v1 = to_events(Event("tag", "library/x", "v1", tag="t", reference="c" * 64), None, SOURCE)
    assert v1[0]["action"] == "push"
    assert v1[0]["target"] == {
        "mediaType": V1_IMAGE_MEDIA_TYPE,
        "repository": "library/x",
        "tag": "t",
        "imageID": "c" * 64,
    }
    assert to_events(Event("tag", "a/b", "v2", tag="t"), None, SOURCE) == []
    assert to_events(Event("push", "a/b", "v1", details={"images": []}), None, SOURCE) == []


# -- the queue ---------------------------------------------------------------------------


def test_queue_survives_reopening_and_drops_the_oldest_with_a_count(tmp_path, caplog):
    queue = DiskQueue(str(tmp_path / "q"), 3, "hook")
    for number in range(5):
        with caplog.at_level(logging.ERROR):
            queue.put({"n": number})
    assert [event["n"] for _, event in queue.peek(10)] == [2, 3, 4]
    assert queue.dropped == 2
    assert any("queue full" in r.getMessage() and "hook" in r.getMessage() for r in caplog.records)
    (tmp_path / "q" / ".00000000000000000009.json.part").write_bytes(b'{"half')
    again = DiskQueue(str(tmp_path / "q"), 3, "hook")
    assert [event["n"] for _, event in again.peek(10)] == [2, 3, 4]
    assert sorted(os.listdir(tmp_path / "q")) == [name for name, _ in again.peek(10)]
    again.put({"n": 5})
    assert [event["n"] for _, event in again.peek(10)] == [3, 4, 5]


def test_an_unreadable_event_is_removed_and_logged(tmp_path, caplog):
    queue = DiskQueue(str(tmp_path / "q"), 10, "hook")
    queue.put({"n": 1})
    queue.put({"n": 2})
    name = queue.peek(1)[0][0]
    (tmp_path / "q" / name).write_bytes(b"not json")
    with caplog.at_level(logging.ERROR):
        assert [event["n"] for _, event in queue.peek(10)] == [2]
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    assert len(queue) == 1


def test_slots_are_exclusive_and_free_slots_are_taken_over(tmp_path):
    root = str(tmp_path / "queue")
    first = Slot(root)
    first.queue("hook", 10).put({"n": 1})
    second = Slot(root)
    assert second.folder != first.folder
    assert len(second.queue("hook", 10)) == 0, "a held slot is not taken over"
    first.close()  # its process is gone
    adopted = second.queue("hook", 10)
    assert [event["n"] for _, event in adopted.peek(5)] == [1]
    assert os.listdir(os.path.join(first.folder, "hook")) == [], "kept exactly once"
    second.close()


# -- delivery ----------------------------------------------------------------------------


def test_sender_retries_a_failing_receiver_and_delivers_in_order(tmp_path):
    with WebhookReceiver(fail_first=3) as receiver:
        queue = DiskQueue(str(tmp_path / "q"), 100, "hook")
        endpoint = EndpointSettings(
            "hook",
            receiver.url,
            backoff=0.05,
            max_backoff=0.2,
            batch=2,
            headers=(("Authorization", "Bearer t0ken"),),
        )
        for number in range(5):
            queue.put({"n": number})
        sender = Sender(endpoint, queue)
        sender.start()
        try:
            events = receiver.wait_for(lambda e: len(e) >= 5, 15, "five events")
        finally:
            sender.stop()
        assert [event["n"] for event in events] == [0, 1, 2, 3, 4]
        assert receiver.refused == 3 and sender.failures == 3
        headers = receiver.deliveries[0]["headers"]
        assert headers["Content-Type"] == "application/vnd.docker.distribution.events.v1+json"
        assert headers["Authorization"] == "Bearer t0ken"
        assert all(len(d["envelope"]["events"]) <= 2 for d in receiver.deliveries)
        assert len(queue) == 0 and os.listdir(tmp_path / "q") == []


def test_retries_give_up_and_say_so(tmp_path, caplog):
    with WebhookReceiver(fail_first=100, fail_status=500) as receiver:
        queue = DiskQueue(str(tmp_path / "q"), 100, "hook")
        queue.put({"n": 1})
        sender = Sender(EndpointSettings("hook", receiver.url, backoff=0.01, retries=2), queue)
        with caplog.at_level(logging.WARNING):
            sender.start()
            deadline = time.monotonic() + 10
            while len(queue) and time.monotonic() < deadline:
                time.sleep(0.02)
            sender.stop()
    assert len(queue) == 0 and receiver.refused == 3
    assert any(
        "dropped 1 event(s) after 3 failed attempt(s): HTTP 500" in r.getMessage()
        for r in caplog.records
    )


class _Capture:
    """Keeps the registry's services (to stop the notifier at the end of a test)."""

    def __init__(self, services: dict) -> None:
        self.services = services

    @hookimpl
    def registry_startup(self, app, registry):
        self.services.update(registry.services)


def _push_blob(client, name: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    answer = client.simulate_post(
        f"/v2/{name}/blobs/uploads/", query_string=f"digest={digest}", body=data
    )
    assert answer.status_code == 201, answer.text
    return digest


def test_a_dead_endpoint_neither_slows_requests_nor_grows_memory(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/events"
    settings = _settings(tmp_path, _endpoint(dead, timeout=0.5), queue_max_events=20)
    services: dict = {}
    app = create_app(
        settings, storage=Storage(InMemoryDriver()), extra_plugins=[_Capture(services)]
    )
    client = falcon.testing.TestClient(app)
    started = time.monotonic()
    try:
        for number in range(60):
            _push_blob(client, "team/app", b"blob %d" % number)
    finally:
        services["notifications"].stop()
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"60 pushes took {elapsed:.1f} s with a dead endpoint"
    folders = [p for p in (tmp_path / "queue").rglob("*.json")]
    assert len(folders) == 20, "the queue is bounded (queue_max_events)"


def test_concurrent_pushes_are_each_delivered_once(tmp_path):
    with WebhookReceiver(fail_first=2) as receiver:
        settings = _settings(tmp_path, _endpoint(receiver.url, actions=["push"]))
        services: dict = {}
        app = create_app(
            settings, storage=Storage(InMemoryDriver()), extra_plugins=[_Capture(services)]
        )
        client = falcon.testing.TestClient(app)
        pushed: list[str] = []
        lock = threading.Lock()

        def push(worker: int) -> None:
            for number in range(10):
                digest = _push_blob(client, f"team/w{worker}", b"w%d-%d" % (worker, number))
                with lock:
                    pushed.append(digest)

        threads = [threading.Thread(target=push, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            events = receiver.wait_for(lambda e: len(e) >= 80, 30, "80 push events")
            time.sleep(0.3)
            events = receiver.events
        finally:
            services["notifications"].stop()
    assert sorted(e["target"]["digest"] for e in events) == sorted(pushed)
    assert len({e["id"] for e in events}) == 80


def test_hostile_repository_names_and_agents_stay_valid_json(tmp_path):
    with WebhookReceiver() as receiver:
        settings = _settings(tmp_path, _endpoint(receiver.url))
        services: dict = {}
        app = create_app(
            settings, storage=Storage(InMemoryDriver()), extra_plugins=[_Capture(services)]
        )
        client = falcon.testing.TestClient(app)
        answer = client.simulate_post(
            "/v2/team/app/blobs/uploads/",
            query_string="digest=sha256:" + "0" * 64,
            body=b"x",
            headers={"User-Agent": 'evil"\\\u2028agent'},
        )
        assert answer.status_code == 400  # a wrong digest: nothing stored, nothing sent
        digest = _push_blob(client, "team/app", b"y")
        client.simulate_get(f"/v2/team/app/blobs/{digest}", headers={"User-Agent": 'evil"\\agent'})
        try:
            events = receiver.wait_for(lambda e: len(e) >= 2, 15, "push and pull")
        finally:
            services["notifications"].stop()
    assert [e["action"] for e in events] == ["push", "pull"]
    assert events[1]["request"]["useragent"] == 'evil"\\agent'
    assert events[1]["request"]["method"] == "GET"
    assert events[1]["target"]["url"].endswith(f"/v2/team/app/blobs/{digest}")
    assert events[1]["request"]["id"]


# -- metrics and stopping ----------------------------------------------------------------


class _KeepRegistry:
    """Keeps the registry the application was built with."""

    registry = None

    @hookimpl
    def registry_startup(self, app, registry):
        self.registry = registry


def _metric(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if match and match[1] == name:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
            if all(found.get(key) == value for key, value in labels.items()):
                total += float(match[3])
    return total


def _metered_app(tmp_path, *endpoints, **section):
    settings = Settings.from_mapping(
        {
            "storage": "inmemory",
            "metrics": {"enabled": True},
            "notifications": {
                "queue_path": str(tmp_path / "queue"),
                "endpoints": list(endpoints),
                **section,
            },
        }
    )
    kept = _KeepRegistry()
    app = create_app(settings, storage=Storage(InMemoryDriver()), extra_plugins=[kept])
    return falcon.testing.TestClient(app), kept


def test_deliveries_and_failures_are_metrics(tmp_path):
    with WebhookReceiver(fail_first=2) as receiver:
        client, kept = _metered_app(tmp_path, _endpoint(receiver.url, name="metered", batch=1))
        try:
            for number in range(5):
                _push_blob(client, "team/app", b"metered %d" % number)
            receiver.wait_for(lambda e: len(e) >= 5, 15, "five events")
            deadline = time.monotonic() + 10
            while True:
                text = client.simulate_get("/metrics").text
                if _metric(text, "registry_notifications_queued_events", endpoint="metered") == 0:
                    break
                assert time.monotonic() < deadline, text
                time.sleep(0.05)
        finally:
            kept.registry.stop()
    events = "registry_notifications_events_total"
    assert _metric(text, events, endpoint="metered", outcome="delivered") == 5
    assert _metric(text, events, endpoint="metered", outcome="failed") == 2
    assert _metric(text, events, endpoint="metered", outcome="overflowed") == 0
    assert "team/app" not in text


def test_stopping_the_registry_ends_the_senders_and_keeps_the_queue(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/events"
    client, kept = _metered_app(
        tmp_path, _endpoint(dead, name="unheard", timeout=0.2), queue_max_events=3
    )
    for number in range(5):
        _push_blob(client, "team/app", b"kept for later %d" % number)
    text = client.simulate_get("/metrics").text
    senders = kept.registry.services["notifications"].senders
    assert all(sender._thread.is_alive() for sender in senders)
    kept.registry.stop()
    assert not any(sender._thread.is_alive() for sender in senders)
    # the queue keeps the newest 3 of 5 for the next start
    assert len(list((tmp_path / "queue").rglob("*.json"))) == 3
    events = "registry_notifications_events_total"
    assert _metric(text, events, endpoint="unheard", outcome="overflowed") == 2
    assert _metric(text, events, endpoint="unheard", outcome="delivered") == 0
    assert _metric(text, "registry_notifications_queued_events", endpoint="unheard") == 3
    kept.registry.stop()  # a second stop has nothing left to do
