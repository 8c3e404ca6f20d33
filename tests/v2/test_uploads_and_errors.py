"""Upload sessions across processes, interrupted uploads, purge, limits and bad input."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid

import pytest
from v2support import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Client,
    digest,
    start_ours,
    with_digest,
)


def codes(response) -> list[str]:
    return [entry["code"] for entry in response.json()["errors"]]


def test_upload_continues_on_another_process(tmp_path):
    storage = tmp_path / "shared"
    one = start_ours(tmp_path / "one", storage_path=storage)
    two = start_ours(tmp_path / "two", storage_path=storage)
    try:
        a, b = Client(one.url), Client(two.url)
        data = os.urandom(3 * 1024 * 1024)
        parts = [data[: 1 << 20], data[1 << 20 : 2 << 20], data[2 << 20 :]]
        start = a.http.post(f"{one.url}/v2/scale/out/blobs/uploads/")
        path = start.headers["Location"]
        offset = 0
        for index, part in enumerate(parts[:2]):
            server = (two, one)[index % 2]
            client = (b, a)[index % 2]
            response = client.http.patch(
                server.url + path,
                data=part,
                headers={"Content-Range": f"{offset}-{offset + len(part) - 1}"},
            )
            assert response.status_code == 202, response.text
            offset += len(part)
            path = response.headers["Location"]
        assert b.http.get(two.url + path).headers["Range"] == f"0-{offset - 1}"
        done = b.http.put(with_digest(two.url + path, digest(data)), data=parts[2])
        assert done.status_code == 201, done.text
        assert a.http.get(f"{one.url}/v2/scale/out/blobs/{digest(data)}").content == data
    finally:
        one.process.stop()
        two.process.stop()


def test_disconnect_mid_patch_resumes_from_last_offset(ours):
    client = Client(ours.url)
    first = os.urandom(100_000)
    rest = os.urandom(200_000)
    start = client.http.post(f"{ours.url}/v2/resume/me/blobs/uploads/")
    path = start.headers["Location"]
    assert client.http.patch(ours.url + path, data=first).status_code == 202
    # A PATCH that promises 200 000 bytes, sends half, and hangs up.
    host, port = ours.host.split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: {ours.host}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(rest)}\r\n"
            f"Content-Range: {len(first)}-{len(first) + len(rest) - 1}\r\n\r\n".encode()
        )
        sock.sendall(rest[:100_000])
    time.sleep(0.5)
    status = client.http.get(ours.url + path)
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(first) - 1}"
    response = client.http.patch(
        ours.url + path,
        data=rest,
        headers={"Content-Range": f"{len(first)}-{len(first) + len(rest) - 1}"},
    )
    assert response.status_code == 202
    done = client.http.put(with_digest(ours.url + path, digest(first + rest)))
    assert done.status_code == 201


def test_stale_uploads_are_purged(start_registry):
    registry = start_registry(upload_purge_age=1, upload_purge_interval=1)
    client = Client(registry.url)
    start = client.http.post(f"{registry.url}/v2/purge/me/blobs/uploads/")
    location = registry.url + start.headers["Location"]
    deadline = time.monotonic() + 15
    while client.http.get(location).status_code != 404:
        assert time.monotonic() < deadline, "the stale upload was not purged"
        time.sleep(0.5)


def test_delete_disabled_by_default(registry):
    client = Client(registry.url)
    image = client.push_image("no/delete", "v1")
    for url in (
        f"/v2/no/delete/manifests/{image['digest']}",
        "/v2/no/delete/manifests/v1",
        f"/v2/no/delete/blobs/{digest(image['layer'])}",
    ):
        response = client.http.delete(registry.url + url)
        assert response.status_code == 405
        assert codes(response) == ["UNSUPPORTED"]
    assert client.http.get(f"{registry.url}/v2/no/delete/manifests/v1").status_code == 200


def test_oversized_manifest(start_registry):
    registry = start_registry(max_manifest_size=2048)
    client = Client(registry.url)
    image = client.push_image("small/manifests", "v1")
    padded = json.loads(image["manifest"])
    padded["annotations"] = {"padding": "x" * 4096}
    response = client.push_manifest("small/manifests", "big", json.dumps(padded).encode())
    assert response.status_code == 413
    assert codes(response) == ["MANIFEST_INVALID"]


def test_wrong_digest_stores_nothing(ours):
    client = Client(ours.url)
    wrong = digest(b"something else")
    response = client.http.post(
        f"{ours.url}/v2/bad/digest/blobs/uploads/?digest={wrong}", data=b"content"
    )
    assert response.status_code == 400
    assert codes(response) == ["DIGEST_INVALID"]
    blobs = ours.storage_path / "docker/registry/v2/blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))


def test_tag_query_on_put_by_digest(ours):
    client = Client(ours.url)
    image = client.push_image("multi/tag", "first")
    response = client.http.put(
        f"{ours.url}/v2/multi/tag/manifests/{image['digest']}?tag=second&tag=third",
        data=image["manifest"],
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201
    tags = client.http.get(f"{ours.url}/v2/multi/tag/tags/list").json()["tags"]
    assert tags == ["first", "second", "third"]


def test_deleting_manifest_removes_its_tags(ours):
    client = Client(ours.url)
    image = client.push_image("del/tags", "one")
    client.push_manifest("del/tags", "two", image["manifest"])
    other = client.push_image("del/tags", "keep", seed="other")
    assert client.http.delete(f"{ours.url}/v2/del/tags/manifests/{image['digest']}").ok
    assert client.http.get(f"{ours.url}/v2/del/tags/tags/list").json()["tags"] == ["keep"]
    assert client.http.get(f"{ours.url}/v2/del/tags/manifests/keep").content == other["manifest"]


@pytest.mark.parametrize(
    "method,path,headers,body,status,code",
    [
        ("GET", "/v2/a/blobs/sha256:1234", {}, b"", 400, "DIGEST_INVALID"),
        ("GET", "/v2/a/blobs/md5:" + "0" * 32, {}, b"", 400, "DIGEST_INVALID"),
        (
            "PUT",
            "/v2/a/blobs/uploads/" + str(uuid.uuid4()) + "?digest=" + digest(b""),
            {},
            b"",
            404,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        ("PATCH", "/v2/a/blobs/uploads/not-a-uuid", {}, b"x", 404, "BLOB_UPLOAD_UNKNOWN"),
        ("PATCH", "/v2/a/blobs/uploads/../../../etc", {}, b"x", 404, None),
        (
            "PUT",
            "/v2/a/manifests/v1",
            {"Content-Type": OCI_MANIFEST},
            b"\xff\xfe",
            400,
            "MANIFEST_INVALID",
        ),
        (
            "PUT",
            "/v2/a/manifests/v1",
            {"Content-Type": DOCKER_MANIFEST},
            b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","config":{},'
            b'"layers":[]}',
            400,
            "MANIFEST_INVALID",
        ),
        (
            "PUT",
            "/v2/a/manifests/v1",
            {"Content-Type": OCI_MANIFEST},
            b'{"schemaVersion":1,"name":"a","tag":"v1","fsLayers":[]}',
            400,
            "MANIFEST_INVALID",
        ),
        ("PUT", "/v2/a/manifests/bad:tag!", {"Content-Type": OCI_MANIFEST}, b"{}", 400, None),
        (
            "PUT",
            "/v2/a/manifests/v1",
            {"Content-Type": OCI_INDEX},
            b'{"schemaVersion":2,"mediaType":"' + OCI_INDEX.encode() + b'","manifests":[{'
            b'"mediaType":"'
            + OCI_MANIFEST.encode()
            + b'","digest":"'
            + digest(b"x").encode()
            + b'","size":1}]}',
            400,
            "MANIFEST_BLOB_UNKNOWN",
        ),
        ("GET", "/v2/a/tags/list?n=-1", {}, b"", 400, "PAGINATION_NUMBER_INVALID"),
        ("GET", "/v2/_catalog?n=abc", {}, b"", 400, "PAGINATION_NUMBER_INVALID"),
        ("POST", "/v2/a/blobs/uploads/?mount=nonsense&from=b", {}, b"", 400, "DIGEST_INVALID"),
        (
            "POST",
            "/v2/a/blobs/uploads/?mount=" + digest(b"m") + "&from=B..",
            {},
            b"",
            400,
            "NAME_INVALID",
        ),
        ("GET", "/v2/a/referrers/nonsense", {}, b"", 400, "DIGEST_INVALID"),
        ("POST", "/v2/a/manifests/v1", {}, b"", 405, "UNSUPPORTED"),
        ("GET", "/v2/a/nothing/here", {}, b"", 404, "NOT_FOUND"),
    ],
)
def test_bad_input_is_a_client_error(ours, method, path, headers, body, status, code):
    client = Client(ours.url)
    response = client.http.request(method, ours.url + path, headers=headers, data=body)
    assert response.status_code == status, response.text
    if code:
        assert codes(response) == [code]


def test_range_errors(ours):
    client = Client(ours.url)
    data = b"0123456789"
    client.push_blob("ranges/r", data)
    url = f"{ours.url}/v2/ranges/r/blobs/{digest(data)}"
    assert client.http.get(url, headers={"Range": "bytes=20-30"}).status_code == 416
    assert client.http.get(url, headers={"Range": "bytes=-3"}).content == b"789"
    assert client.http.get(url, headers={"Range": "bytes=5-"}).content == b"56789"
    start = client.http.post(f"{ours.url}/v2/ranges/r/blobs/uploads/")
    location = ours.url + start.headers["Location"]
    mismatch = client.http.patch(location, data=b"abc", headers={"Content-Range": "0-9"})
    assert mismatch.status_code == 416
    assert mismatch.headers["Range"] == "0-0"


@pytest.mark.slow
def test_large_transfers_stay_small_in_memory(ours, tmp_path):
    """256 MiB monolithic and chunked uploads and a download; peak RSS under 150 MiB."""
    client = Client(ours.url)
    size = 256 * 1024 * 1024
    block = os.urandom(1 << 20)
    hasher = hashlib.sha256()
    for _ in range(size // len(block)):
        hasher.update(block)
    big = "sha256:" + hasher.hexdigest()

    source = tmp_path / "big.bin"
    with source.open("wb") as stream:
        for _ in range(size // len(block)):
            stream.write(block)

    start = client.http.post(f"{ours.url}/v2/big/blob/blobs/uploads/")
    with source.open("rb") as stream:
        done = client.http.put(with_digest(ours.url + start.headers["Location"], big), data=stream)
    assert done.status_code == 201, done.text
    start = client.http.post(f"{ours.url}/v2/big/chunked/blobs/uploads/")
    path = start.headers["Location"]
    chunk = 64 * len(block)
    for offset in range(0, size, chunk):
        response = client.http.patch(
            ours.url + path,
            data=block * 64,
            headers={"Content-Range": f"{offset}-{offset + chunk - 1}"},
        )
        assert response.status_code == 202
        path = response.headers["Location"]
    assert client.http.put(with_digest(ours.url + path, big)).status_code == 201
    received = hashlib.sha256()
    with client.http.get(f"{ours.url}/v2/big/chunked/blobs/{big}", stream=True) as response:
        for piece in response.iter_content(1 << 20):
            received.update(piece)
    assert "sha256:" + received.hexdigest() == big
    status = open(f"/proc/{ours.process.pid}/status").read()  # noqa: SIM115
    peak_kib = int(
        next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
    )
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB"


def test_retag_on_one_process_shows_on_another_within_the_ttl(tmp_path):
    storage = tmp_path / "shared"
    one = start_ours(tmp_path / "one", storage_path=storage)
    two = start_ours(tmp_path / "two", storage_path=storage, v2_tag_cache_ttl=1)
    try:
        a, b = Client(one.url), Client(two.url)
        first = a.push_image("ttl/app", "t", seed="first")
        url = f"{two.url}/v2/ttl/app/manifests/t"
        assert b.http.get(url).headers["Docker-Content-Digest"] == first["digest"]
        assert b.http.get(f"{two.url}/v2/ttl/app/tags/list").json()["tags"] == ["t"]
        second = a.push_image("ttl/app", "t", seed="second")
        a.push_manifest("ttl/app", "u", second["manifest"])
        time.sleep(1.2)
        assert b.http.get(url).headers["Docker-Content-Digest"] == second["digest"]
        assert b.http.get(f"{two.url}/v2/ttl/app/tags/list").json()["tags"] == ["t", "u"]
    finally:
        one.process.stop()
        two.process.stop()


def spooled_leftovers(server) -> list[str]:
    staging = server.storage_path / ".registry-staging"
    return sorted(path.name for path in staging.glob("*.body")) if staging.exists() else []


def wait_no_spooled_leftovers(server, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while spooled_leftovers(server):
        assert time.monotonic() < deadline, f"spool files left: {spooled_leftovers(server)}"
        time.sleep(0.2)


def test_large_bodies_are_adopted_from_the_spool(ours):
    """Bodies above the in-memory limit are received into the storage's staging
    directory and renamed into place: content intact, nothing left behind."""
    client = Client(ours.url)
    data = os.urandom(3 * 1024 * 1024 + 5)
    start = client.http.post(f"{ours.url}/v2/spool/mono/blobs/uploads/")
    location = with_digest(ours.url + start.headers["Location"], digest(data))
    done = client.http.put(location, data=data)
    assert done.status_code == 201, done.text
    chunked = client.http.post(f"{ours.url}/v2/spool/chunks/blobs/uploads/")
    path = chunked.headers["Location"]
    for offset in (0, 1024 * 1024, 2 * 1024 * 1024):
        part = data[offset : offset + 1024 * 1024] if offset < 2 * 1024 * 1024 else data[offset:]
        response = client.http.patch(
            ours.url + path,
            data=part,
            headers={"Content-Range": f"{offset}-{offset + len(part) - 1}"},
        )
        assert response.status_code == 202, response.text
        path = response.headers["Location"]
    assert client.http.put(with_digest(ours.url + path, digest(data))).status_code == 201
    for name in ("mono", "chunks"):
        fetched = client.http.get(f"{ours.url}/v2/spool/{name}/blobs/{digest(data)}")
        assert hashlib.sha256(fetched.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert spooled_leftovers(ours) == []


def test_large_body_with_a_wrong_digest_stores_nothing(ours):
    client = Client(ours.url)
    data = os.urandom(2 * 1024 * 1024)
    wrong = digest(b"something else")
    start = client.http.post(f"{ours.url}/v2/spool/wrong/blobs/uploads/")
    response = client.http.put(with_digest(ours.url + start.headers["Location"], wrong), data=data)
    assert response.status_code == 400
    assert codes(response) == ["DIGEST_INVALID"]
    for candidate in (wrong, digest(data)):
        head = client.http.head(f"{ours.url}/v2/spool/wrong/blobs/{candidate}")
        assert head.status_code == 404
    assert not list((ours.storage_path / "docker/registry/v2/blobs").rglob("data"))
    assert spooled_leftovers(ours) == []


def test_large_body_cut_off_midway_leaves_no_spool_file(ours):
    client = Client(ours.url)
    start = client.http.post(f"{ours.url}/v2/spool/cut/blobs/uploads/")
    path = start.headers["Location"]
    declared = 4 * 1024 * 1024
    host, port = ours.host.split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: {ours.host}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n".encode()
        )
        sock.sendall(os.urandom(declared // 2))
        deadline = time.monotonic() + 10
        while not spooled_leftovers(ours):  # the server is receiving into its spool
            assert time.monotonic() < deadline, "the body never reached the spool"
            time.sleep(0.05)
    wait_no_spooled_leftovers(ours)
    status = client.http.get(ours.url + path)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-0"
