"""Content-addressed data is immutable: no client, racing or replaying, corrupts a blob.

Each test attacks a live server (file storage) the way a hostile client holding an
upload URL would, then checks every blob the registry serves against its digest.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import requests
from v1client import Image, V1Client
from v2support import (
    DOCKER_MANIFEST,
    Client,
    digest,
    image_config,
    image_manifest,
    layer_tar,
    start_ours,
    with_digest,
)

#: Below the server's in-memory body limit (512 KiB) and above it (a spool file).
SMALL, LARGE = 64 * 1024, 600 * 1024


def start_session(client: Client, repo: str) -> str:
    response = client.http.post(f"{client.url}/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return client.absolute(response.headers["Location"])


def race_patches(location: str, bodies: list[bytes], start: int = 0) -> list[int]:
    """PATCH every body at the same offset of one session at once; return the statuses."""
    barrier = threading.Barrier(len(bodies))

    def patch(body: bytes) -> int:
        session = requests.Session()
        barrier.wait()
        response = session.patch(
            location,
            data=body,
            headers={"Content-Range": f"{start}-{start + len(body) - 1}"},
        )
        return response.status_code

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(patch, bodies))


def served_blobs_match_their_digests(url: str, storage_path: Path) -> int:
    """Hash every blob file in storage and fetch it over HTTP; return how many."""
    checked = 0
    for data_file in (storage_path / "docker/registry/v2/blobs/sha256").glob("*/*/data"):
        expected = data_file.parent.name
        assert hashlib.sha256(data_file.read_bytes()).hexdigest() == expected, data_file
        checked += 1
    return checked


def test_racing_patches_never_publish_foreign_bytes(ours):
    """The issue's attack, 200 times: two PATCHes of the same length at one offset (the
    victim's bytes and garbage), then PUT with the victim's digest. Whatever answers,
    the blob served under that digest is the victim's, in the repository that already
    held it and in the attacker's."""
    client = Client(ours.url)
    rng = random.Random(11)
    published = 0
    for attempt in range(200):
        size = LARGE if attempt % 4 == 0 else SMALL
        victim = rng.randbytes(size)
        garbage = b"X" * size
        victim_digest = digest(victim)
        if attempt % 2 == 0:
            # the blob already exists in another repository: it must never change
            client.push_blob("victim/app", victim)
        location = start_session(client, "attacker/app")
        statuses = race_patches(location, [victim, garbage] if attempt % 3 else [garbage, victim])
        assert sorted(statuses) in ([202, 202], [202, 416]), statuses
        done = client.http.put(with_digest(location, victim_digest))
        assert done.status_code in (201, 400), done.text
        if done.status_code == 400:
            assert done.json()["errors"][0]["code"] == "DIGEST_INVALID"
            continue
        published += 1
        got = client.http.get(f"{ours.url}/v2/attacker/app/blobs/{victim_digest}")
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == victim_digest[7:], attempt
        if attempt % 2 == 0:
            again = client.http.get(f"{ours.url}/v2/victim/app/blobs/{victim_digest}")
            assert again.content == victim, attempt
    assert published > 0  # the race is won by the victim's bytes some of the time
    assert served_blobs_match_their_digests(ours.url, ours.storage_path) > 0


def test_many_clients_racing_on_shared_sessions(ours):
    """32 clients, 8 sessions of 4: the clients of a session PATCH chunks of the same
    sizes (their own random bytes) at the same offsets, then finish with their own
    digest. Any may fail; every blob served hashes to its digest."""
    client = Client(ours.url)
    sessions = [start_session(client, f"crowd/s{index}") for index in range(8)]
    outcomes: list[tuple[str, int]] = []
    lock = threading.Lock()

    def push(worker: int) -> None:
        sizes = random.Random(worker % 8)
        rng = random.Random(worker)
        location = sessions[worker % 8]
        http = requests.Session()
        content = b""
        for _ in range(3):
            chunk = rng.randbytes(sizes.choice((1024, 40_000, SMALL, LARGE)))
            response = http.patch(
                location,
                data=chunk,
                headers={"Content-Range": f"{len(content)}-{len(content) + len(chunk) - 1}"},
            )
            assert response.status_code in (202, 404, 416), response.text
            if response.status_code != 202:
                break
            content += chunk
        done = http.put(with_digest(location, digest(content)))
        assert done.status_code in (201, 400, 404, 416), done.text
        with lock:
            outcomes.append((digest(content), done.status_code))

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(push, range(32)))
    assert len(outcomes) == 32
    served = 0
    for index in range(8):
        for value, _ in outcomes:
            response = requests.get(f"{ours.url}/v2/crowd/s{index}/blobs/{value}")
            if response.status_code == 200:
                assert digest(response.content) == value
                served += 1
    assert served >= sum(status == 201 for _, status in outcomes) > 0
    assert served_blobs_match_their_digests(ours.url, ours.storage_path) > 0


def test_an_existing_blob_is_never_rewritten(ours):
    """A second upload of a digest (monolithic, chunked, single request) drops its bytes:
    the stored file is the first one, untouched."""
    client = Client(ours.url)
    data = os.urandom(LARGE)
    value = client.push_blob("first/app", data)
    stored = ours.storage_path / "docker/registry/v2/blobs/sha256" / value[7:9] / value[7:] / "data"
    before = stored.stat()
    client.push_blob("second/app", data)
    location = start_session(client, "third/app")
    assert client.http.patch(location, data=data[:1000]).status_code == 202
    response = client.http.patch(
        client.absolute(client.http.get(location).headers["Location"]),
        data=data[1000:],
        headers={"Content-Range": f"1000-{len(data) - 1}"},
    )
    assert response.status_code == 202
    done = client.http.put(with_digest(client.absolute(response.headers["Location"]), value))
    assert done.status_code == 201, done.text
    single = client.http.post(f"{ours.url}/v2/fourth/app/blobs/uploads/?digest={value}", data=data)
    assert single.status_code == 201
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    for repo in ("first/app", "second/app", "third/app", "fourth/app"):
        assert client.http.get(f"{ours.url}/v2/{repo}/blobs/{value}").content == data
    assert not list((ours.storage_path / ".registry-staging").glob("*"))


def test_manifest_blob_cannot_be_poisoned_and_repush_is_harmless(ours):
    """Manifests are blobs too: an upload racing garbage under a manifest's digest
    cannot change what the tag serves, and pushing the manifest again changes nothing."""
    client = Client(ours.url)
    layer = layer_tar({"a.txt": b"victim layer\n"})
    config = image_config([layer])
    client.push_blob("victim/img", layer)
    client.push_blob("victim/img", config)
    manifest = image_manifest(config, [layer])
    assert client.push_manifest("victim/img", "latest", manifest).status_code == 201
    manifest_digest = digest(manifest)
    for attempt in range(20):
        location = start_session(client, "attacker/img")
        garbage = b"{" + b"X" * (len(manifest) - 1)
        race_patches(location, [garbage, manifest] if attempt % 2 else [manifest, garbage])
        client.http.put(with_digest(location, manifest_digest))
    stored = ours.storage_path / "docker/registry/v2/blobs/sha256"
    assert (stored / manifest_digest[7:9] / manifest_digest[7:] / "data").read_bytes() == manifest
    served = client.http.get(
        f"{ours.url}/v2/victim/img/manifests/latest",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert served.content == manifest
    assert served.headers["Docker-Content-Digest"] == manifest_digest
    assert client.push_manifest("victim/img", "latest", manifest).status_code == 201
    again = client.http.get(
        f"{ours.url}/v2/victim/img/manifests/{manifest_digest}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert again.content == manifest
    assert served_blobs_match_their_digests(ours.url, ours.storage_path) >= 3


# -- sessions are bound to their token and end -----------------------------------------


def upload_error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["code"]


def test_a_finished_session_is_gone(ours):
    client = Client(ours.url)
    for body_in_put in (True, False):
        data = os.urandom(2000)
        location = start_session(client, "ended/app")
        if not body_in_put:
            response = client.http.patch(location, data=data)
            assert response.status_code == 202
            location = client.absolute(response.headers["Location"])
        done = client.http.put(
            with_digest(location, digest(data)), data=data if body_in_put else b""
        )
        assert done.status_code == 201, done.text
        unknown = (404, "BLOB_UPLOAD_UNKNOWN")
        assert upload_error(client.http.patch(location, data=b"more")) == unknown
        assert (
            upload_error(client.http.put(with_digest(location, digest(b"x")), data=b"x")) == unknown
        )
        assert (
            upload_error(client.http.put(with_digest(location, digest(data)), data=data)) == unknown
        )
        assert upload_error(client.http.get(location)) == unknown
        assert upload_error(client.http.delete(location)) == unknown
        assert client.http.get(f"{ours.url}/v2/ended/app/blobs/{digest(data)}").content == data


def test_every_request_needs_the_sessions_state_token(ours):
    """Once a session holds data, a missing or altered ``_state`` is still refused."""
    client = Client(ours.url)
    location = start_session(client, "bound/app")
    response = client.http.patch(location, data=b"first bytes")
    assert response.status_code == 202
    location = client.absolute(response.headers["Location"])
    path, _, query = location.partition("?")
    state = dict(part.split("=", 1) for part in query.split("&"))["_state"]
    forged = state[:-1] + ("0" if state[-1] != "0" else "1")
    unknown = (404, "BLOB_UPLOAD_UNKNOWN")
    for url in (path, f"{path}?_state={forged}", f"{path}?_state="):
        assert upload_error(client.http.get(url)) == unknown, url
        assert upload_error(client.http.patch(url, data=b"more")) == unknown, url
        assert upload_error(client.http.put(with_digest(url, digest(b"first bytes")))) == unknown
        assert upload_error(client.http.delete(url)) == unknown, url
    assert client.http.get(location).headers["Range"] == "0-10"
    done = client.http.put(with_digest(location, digest(b"first bytes")))
    assert done.status_code == 201


def test_upload_secret_is_private_and_state_stays_out_of_the_log(tmp_path):
    server = start_ours(tmp_path, loglevel="info")
    try:
        client = Client(server.url)
        location = start_session(client, "quiet/app")
        mac = unquote(location.partition("_state=")[2]).partition(".")[2]
        assert client.http.patch(location, data=b"abc").status_code == 202
        secret = server.storage_path / "docker/registry/v2/_upload_secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        log = server.process.log_tail(500)
        assert "PATCH /v2/quiet/app/blobs/uploads/" in log
        assert "_state=***" in log
        assert mac and mac not in log
    finally:
        server.process.stop()


def test_a_complete_v1_layer_is_never_replaced(ours):
    """v1 layers are content too: once an image is complete, a layer PUT with other bytes
    is refused and the stored layer (and its v2 view) stays; the same bytes are accepted."""

    image = Image.create(layer=layer_tar({"kept.txt": b"the first layer\n"}))
    V1Client(ours.url).push("legacy/kept", [image], {"latest": image.id})
    url = f"{ours.url}/v1/images/{image.id}/layer"
    stored = ours.storage_path / "images" / image.id / "layer"
    before = stored.stat()
    other = requests.put(url, data=layer_tar({"evil.txt": b"replaced\n"}))
    assert other.status_code == 409, other.text
    assert "error" in other.json()
    same = requests.put(url, data=image.layer)
    assert same.status_code == 200, same.text
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert requests.get(url).content == image.layer
    bridged = requests.get(
        f"{ours.url}/v2/legacy/kept/manifests/latest", headers={"Accept": DOCKER_MANIFEST}
    )
    assert bridged.status_code == 200, bridged.text
    (layer,) = bridged.json()["layers"]
    blob = requests.get(f"{ours.url}/v2/legacy/kept/blobs/{layer['digest']}")
    assert blob.content == image.layer
