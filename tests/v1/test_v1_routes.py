"""Every v1 route's success and error cases over real HTTP (file driver, waitress)."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from v1client import Image, V1Client


@pytest.fixture
def pushed(registry):
    image = Image.create(layer=bytes(range(256)) * 4096)  # 1 MiB, not a tar
    V1Client(registry.url).push("foo/bar", [image], {"latest": image.id})
    return image


def test_layer_ranges_through_waitress(registry, pushed):
    url = f"{registry.url}/v1/images/{pushed.id}/layer"
    size = len(pushed.layer)
    full = requests.get(url)
    assert full.status_code == 200 and full.content == pushed.layer
    assert full.headers["Content-Length"] == str(size)
    assert full.headers["Accept-Ranges"] == "bytes"
    cases = {
        "bytes=0-0": (0, 0),
        "bytes=100-199": (100, 199),
        "bytes=1000-": (1000, size - 1),
        "bytes=-10": (size - 10, size - 1),
        f"bytes=5-{size * 2}": (5, size - 1),
    }
    for header, (start, end) in cases.items():
        response = requests.get(url, headers={"Range": header})
        assert response.status_code == 206, header
        assert response.content == pushed.layer[start : end + 1], header
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    response = requests.get(url, headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert "error" in response.json()
    response = requests.head(url)
    assert response.status_code == 200 and response.headers["Content-Length"] == str(size)


def test_image_json_headers(registry, pushed):
    response = requests.get(f"{registry.url}/v1/images/{pushed.id}/json")
    assert response.content == pushed.json
    assert response.headers["X-Docker-Size"] == str(len(pushed.layer))
    assert response.headers["X-Docker-Checksum-Payload"] == pushed.payload_checksum()
    assert response.headers["X-Docker-Registry-Version"]
    assert response.headers["Content-Type"] == "application/json"
    response = requests.get(
        f"{registry.url}/v1/images/{pushed.id}/json",
        headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
    )
    assert response.status_code == 304
    ping = requests.get(f"{registry.url}/v1/_ping")
    assert ping.headers["X-Docker-Registry-Standalone"] == "True"


def test_bad_inputs_answer_json_errors(registry, pushed):
    url = registry.url
    cases = [
        ("PUT", f"/v1/images/{'a' * 16}/json", b"{not json", 400, "Invalid JSON"),
        (
            "PUT",
            f"/v1/images/{'a' * 16}/json",
            b'{"id": "' + b"b" * 16 + b'"}',
            400,
            "JSON data contains invalid id",
        ),
        (
            "PUT",
            f"/v1/images/{'a' * 16}/json",
            json.dumps({"id": "a" * 16, "parent": "c" * 16}).encode(),
            400,
            "Image depends on a non existing parent",
        ),
        ("GET", "/v1/images/ABCDEF0123456789/json", None, 404, "Invalid image ID"),
        ("GET", "/v1/images/..%2F..%2Fetc/json", None, 404, None),
        ("GET", "/v1/images/%00/layer", None, 404, None),
        ("PUT", f"/v1/images/{pushed.id}/checksum", None, 412, None),
        ("PUT", "/v1/repositories/foo/bar/tags/latest", b'"zzz"', 400, None),
        ("PUT", "/v1/repositories/foo/bar/tags/-bad", json.dumps(pushed.id).encode(), 400, None),
        ("GET", "/v1/repositories/foo/../etc/tags", None, None, None),
        ("GET", "/v1/repositories/foo/%2E%2E/tags", None, 400, "Invalid repository name"),
        ("GET", "/v1/repositories/foo%2Fbar/baz/tags", None, 404, "Repository not found"),
        ("GET", "/v1/repositories/foo/ba%00r/tags", None, 400, "Invalid repository name"),
        ("PUT", "/v1/repositories/foo/bar/properties", b"[]", 400, "Invalid data"),
        ("PUT", "/v1/repositories/foo/bar/", b"{", 400, "Error Decoding JSON"),
        ("GET", "/v1/repositories/foo/bar/tags/nope", None, 404, "Tag not found"),
        ("GET", "/v1/nothing", None, 404, None),
        ("POST", f"/v1/images/{pushed.id}/json", None, 405, None),
    ]
    for method, path, body, status, message in cases:
        response = requests.request(method, url + path, data=body)
        assert response.status_code < 500, (method, path, response.status_code)
        if status is not None:
            assert response.status_code == status, (method, path, response.text)
        assert "error" in response.json(), (method, path)
        if message:
            assert response.json()["error"] == message, (method, path)


def test_oversized_json_body(start_registry):
    registry = start_registry(max_json_body_size=1024)
    body = json.dumps({"id": "a" * 16, "pad": "x" * 5000})
    response = requests.put(f"{registry.url}/v1/images/{'a' * 16}/json", data=body)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    # chunked (no Content-Length) too
    response = requests.put(f"{registry.url}/v1/images/{'a' * 16}/json", data=iter([body.encode()]))
    assert response.status_code == 413


def test_disconnect_mid_layer_then_retry(registry):
    image = Image.create(layer=b"x" * 3_000_000)
    client = V1Client(registry.url)
    assert (
        requests.put(f"{registry.url}/v1/images/{image.id}/json", data=image.json).status_code
        == 200
    )
    host, port = urlsplit(registry.url).hostname, urlsplit(registry.url).port
    with socket.create_connection((host, port)) as sock:
        sock.sendall(
            f"PUT /v1/images/{image.id}/layer HTTP/1.1\r\nHost: {host}\r\n"
            "Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
        )
        chunk = b"y" * 1_000_000
        sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    time.sleep(0.3)
    assert not (registry.storage_path / "images" / image.id / "layer").exists()
    response = requests.get(f"{registry.url}/v1/images/{image.id}/layer")
    assert response.status_code == 400
    assert response.json() == {"error": "Image is being uploaded, retry later"}
    # the Docker client retries from PUT json
    assert client.push_image(image) is True
    assert requests.get(f"{registry.url}/v1/images/{image.id}/layer").content == image.layer


def test_checksum_mismatch_keeps_image_in_progress(registry):
    image = Image.create()
    requests.put(f"{registry.url}/v1/images/{image.id}/json", data=image.json)
    requests.put(f"{registry.url}/v1/images/{image.id}/layer", data=iter([image.layer]))
    response = requests.put(
        f"{registry.url}/v1/images/{image.id}/checksum",
        headers={"X-Docker-Checksum-Payload": "sha256:" + "0" * 64},
    )
    assert response.status_code == 400 and response.json() == {"error": "Checksum mismatch"}
    assert requests.get(f"{registry.url}/v1/images/{image.id}/json").status_code == 400
    digest = "sha256:" + hashlib.sha256(image.json + b"\n" + image.layer).hexdigest()
    response = requests.put(
        f"{registry.url}/v1/images/{image.id}/checksum",
        headers={"X-Docker-Checksum-Payload": digest},
    )
    assert response.status_code == 200


def test_checksum_of_a_complete_image_is_409(registry, pushed):
    """Spec R7 step 5: once the upload is complete, the checksum can no longer be set,
    not even to the right value (0.9.1; issue 15 §2)."""
    for checksum in (pushed.payload_checksum(), "sha256:" + "0" * 64):
        response = requests.put(
            f"{registry.url}/v1/images/{pushed.id}/checksum",
            headers={"X-Docker-Checksum-Payload": checksum},
        )
        assert response.status_code == 409, checksum
        assert response.json() == {"error": "Cannot set this image checksum"}
    assert requests.get(f"{registry.url}/v1/images/{pushed.id}/json").status_code == 200


def test_tags_and_repository_routes(registry, pushed):
    base = f"{registry.url}/v1/repositories/foo/bar"
    assert requests.get(f"{base}/tags").json() == {"latest": pushed.id}
    assert requests.get(f"{base}/tags/latest").json() == pushed.id
    assert requests.get(f"{base}/tags/latest/json").json()["os"] == "linux"
    assert requests.get(f"{base}/json").json()["docker_version"] == "1.3.2"
    assert requests.put(f"{base}/properties", json={"access": "private"}).status_code == 200
    assert requests.get(f"{base}/properties").json() == {"access": "private"}
    assert requests.delete(f"{base}/tags/latest").status_code == 200
    assert requests.delete(f"{base}/tags/latest").json() == {"error": "Tag not found: latest"}
    assert requests.delete(f"{base}/").status_code == 200
    assert requests.get(f"{base}/tags").status_code == 404
    # images are never deleted
    assert requests.get(f"{registry.url}/v1/images/{pushed.id}/json").status_code == 200


def test_index_users_routes(registry):
    assert requests.get(f"{registry.url}/v1/users/").json() == "OK"
    assert requests.post(f"{registry.url}/v1/users/", json={"username": "u"}).status_code == 201
    assert requests.put(f"{registry.url}/v1/users/u/", json={}).status_code == 204
    assert requests.put(f"{registry.url}/v1/repositories/foo/bar/auth").json() == "OK"


def test_nginx_x_accel_redirect(start_registry):
    registry = start_registry(nginx_x_accel_redirect="/internal")
    image = Image.create()
    V1Client(registry.url).push("foo/accel", [image], {"latest": image.id})
    response = requests.get(f"{registry.url}/v1/images/{image.id}/layer")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["X-Accel-Redirect"] == f"/internal/images/{image.id}/layer"
