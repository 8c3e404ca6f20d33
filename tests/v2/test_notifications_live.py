"""Notifications from a live server (issue 13 §5): skopeo pushes and pulls and the envelope
arrives as distribution sends it; a receiver that refuses deliveries, and a registry
restarted in between, still get exactly the pushed digests."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from v2support import digest, start_ours, write_oci_layout

from docker_registry.testing.webhook import WebhookReceiver

pytestmark = pytest.mark.slow

PASSWORD = "writer pw"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ENVELOPE = "application/vnd.docker.distribution.events.v1+json"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _skopeo(*args: str) -> None:
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is missing: apt-get install -y skopeo")
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr


def _notifications(url: str, **endpoint) -> dict:
    return {
        "source_addr": "registry-test:5000",
        "endpoints": [{"name": "hook", "url": url, "backoff": 0.1, "max_backoff": 0.3, **endpoint}],
    }


def test_skopeo_push_pull_mount_delete_arrive_in_distributions_envelope(tmp_path):
    if shutil.which("htpasswd") is None:
        pytest.fail("htpasswd is missing: apt-get install -y apache2-utils")
    users = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-cbB", str(users), "writer", PASSWORD], check=True)
    access = [
        {"accounts": ["writer"], "repositories": ["team/**"], "actions": ["pull", "push", "delete"]}
    ]
    parts = write_oci_layout(tmp_path / "layout", "v1", {"etc/motd": b"notified\n" * 50})
    layer, config, manifest = (digest(parts[k]) for k in ("layer", "config", "manifest"))
    with WebhookReceiver() as receiver:
        server = start_ours(
            tmp_path / "ours",
            auth_backend="htpasswd",
            htpasswd={"path": str(users), "realm": "hooks", "access": access},
            notifications=_notifications(receiver.url),
        )
        try:
            creds = f"writer:{PASSWORD}"
            remote = f"docker://{server.host}/team/app:1.0"
            _skopeo(
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                creds,
                f"oci:{tmp_path / 'layout'}:v1",
                remote,
            )
            pushes = receiver.wait_for(
                lambda events: any(e["target"].get("tag") == "1.0" for e in events), 30, "push"
            )
            _skopeo(
                "copy",
                "--src-tls-verify=false",
                "--src-creds",
                creds,
                remote,
                f"oci:{tmp_path / 'pulled'}:v1",
            )
            auth = ("writer", PASSWORD)
            mounted = requests.post(
                f"{server.url}/v2/team/other/blobs/uploads/",
                params={"mount": layer, "from": "team/app"},
                auth=auth,
                timeout=10,
            )
            assert mounted.status_code == 201, mounted.text
            deleted = requests.delete(
                f"{server.url}/v2/team/app/manifests/{manifest}", auth=auth, timeout=10
            )
            assert deleted.status_code == 202, deleted.text
            events = receiver.wait_for(
                lambda events: any(e["action"] == "delete" for e in events), 30, "delete"
            )
        finally:
            server.process.stop()

    assert all(d["headers"]["Content-Type"] == ENVELOPE for d in receiver.deliveries)
    for event in events:
        assert UUID.match(event["id"]) and TIMESTAMP.match(event["timestamp"])
        assert event["source"]["addr"] == "registry-test:5000" and event["source"]["instanceID"]
        assert event["request"]["addr"] == "127.0.0.1"
        assert event["request"]["host"] == server.host and len(event["request"]["id"]) == 32
    pushed = [e for e in pushes if e["action"] == "push"]
    by_digest = {e["target"]["digest"]: e for e in pushed}
    assert set(by_digest) == {layer, config, manifest}
    top = by_digest[manifest]
    assert top["target"] == {
        "mediaType": OCI_MANIFEST,
        "size": len(parts["manifest"]),
        "length": len(parts["manifest"]),
        "digest": manifest,
        "repository": "team/app",
        "url": f"{server.url}/v2/team/app/manifests/{manifest}",
        "tag": "1.0",
    }
    assert top["request"]["method"] == "PUT"
    assert top["request"]["useragent"].startswith("skopeo")
    assert top["actor"] == {"name": "writer"}
    assert by_digest[layer]["target"]["mediaType"] == "application/octet-stream"
    assert by_digest[layer]["target"]["size"] == len(parts["layer"])
    assert by_digest[layer]["target"]["url"] == f"{server.url}/v2/team/app/blobs/{layer}"

    pulls = [e for e in events if e["action"] == "pull"]
    manifest_pulls = [e for e in pulls if e["target"]["digest"] == manifest]
    assert manifest_pulls and manifest_pulls[0]["target"]["tag"] == "1.0"
    assert manifest_pulls[0]["request"]["method"] == "GET"
    assert {layer, config} <= {e["target"]["digest"] for e in pulls}
    mount = next(e for e in events if e["action"] == "mount")
    assert mount["target"]["repository"] == "team/other"
    assert mount["target"]["fromRepository"] == "team/app" and mount["target"]["digest"] == layer
    delete = next(e for e in events if e["action"] == "delete")
    assert delete["target"]["digest"] == manifest and delete["target"]["repository"] == "team/app"


def _queued(storage_path: Path) -> list[Path]:
    return sorted((storage_path / ".registry-staging" / "notifications").rglob("*.json"))


def test_undelivered_events_survive_a_restart_and_arrive_exactly_once(tmp_path):
    images = {}
    for name in ("one", "two"):
        parts = write_oci_layout(tmp_path / name, "v1", {"motd": f"image {name}\n".encode()})
        images[name] = {digest(parts[k]) for k in ("layer", "config", "manifest")}
    expected = sorted(images["one"] | images["two"])
    storage_path = tmp_path / "data"
    with WebhookReceiver(fail_first=10**9) as receiver:  # refuses until told otherwise
        notifications = _notifications(receiver.url, actions=["push"])
        first = start_ours(tmp_path / "first", storage_path, notifications=notifications)
        try:
            for name in images:
                _skopeo(
                    "copy",
                    "--dest-tls-verify=false",
                    f"oci:{tmp_path / name}:v1",
                    f"docker://{first.host}/team/{name}:1",
                )
            receiver.wait_for(lambda _: receiver.refused >= 2, 30, "refused deliveries")
        finally:
            first.process.stop()
        # the default queue folder: in the file storage's staging directory
        assert len(_queued(storage_path)) == len(expected)
        assert receiver.events == []

        receiver.fail_first = receiver.refused + 3  # three more failures after the restart
        refused_before = receiver.refused
        second = start_ours(tmp_path / "second", storage_path, notifications=notifications)
        try:
            events = receiver.wait_for(lambda e: len(e) >= len(expected), 30, "every event")
            receiver.wait_for(lambda _: not _queued(storage_path), 10, "an empty queue")
        finally:
            second.process.stop()
    assert receiver.refused == refused_before + 3
    assert sorted(e["target"]["digest"] for e in events) == expected, "exactly the pushed digests"
    assert {e["target"]["repository"] for e in events} == {"team/one", "team/two"}
    assert len({e["id"] for e in events}) == len(events)


def test_workers_each_take_a_slot_and_all_events_arrive(tmp_path):
    from registry_process import start_registry_process

    storage_path = tmp_path / "data"
    with WebhookReceiver() as receiver:
        process, port = start_registry_process(
            tmp_path,
            {
                "storage": "file",
                "storage_path": str(storage_path),
                "loglevel": "warning",
                "notifications": _notifications(receiver.url, actions=["push"]),
            },
            workers=2,
        )
        pushed = []
        queues = storage_path / ".registry-staging" / "notifications"
        try:
            # the second worker may still be starting when the first one answers
            deadline = time.monotonic() + 30
            while not (queues / "slot-1").exists():
                assert time.monotonic() < deadline, "the second worker never took a slot"
                time.sleep(0.05)
            with requests.Session() as session:
                for number in range(20):
                    data = b"blob %d" % number
                    pushed.append(digest(data))
                    answer = session.post(
                        f"http://127.0.0.1:{port}/v2/team/app/blobs/uploads/",
                        params={"digest": pushed[-1]},
                        data=data,
                        timeout=10,
                    )
                    assert answer.status_code == 201, answer.text
            events = receiver.wait_for(lambda e: len(e) >= len(pushed), 30, "every push")
        finally:
            process.stop()
    assert sorted(e["target"]["digest"] for e in events) == sorted(pushed)
    slots = {p.name for p in queues.iterdir()}
    assert {"slot-0", "slot-1"} <= slots
