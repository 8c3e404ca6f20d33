"""Image routes R3-R10 through falcon.testing on the inmemory driver."""

from __future__ import annotations

import json
import threading

from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver


def test_upload_sequence_like_the_seed(v1):
    image_id = v1.new_id()
    body, response = v1.put_json(image_id)
    assert response.status_code == 200 and response.text == "true"
    response = v1.client.simulate_get(f"/v1/images/{image_id}/json")
    assert response.status_code == 400
    assert response.json == {"error": "Image is being uploaded, retry later"}
    layer = v1.make_tar({"a": b"hello"})
    assert v1.client.simulate_put(f"/v1/images/{image_id}/layer", body=layer).status_code == 200
    checksum = v1.payload(body, layer)
    response = v1.client.simulate_put(
        f"/v1/images/{image_id}/checksum", headers={"X-Docker-Checksum-Payload": checksum}
    )
    assert response.status_code == 200
    response = v1.client.simulate_put(
        f"/v1/images/{image_id}/checksum", headers={"X-Docker-Checksum-Payload": "sha256:0"}
    )
    assert response.status_code == 409
    assert response.json == {"error": "Cannot set this image checksum"}
    response = v1.client.simulate_put(
        "/v1/images/zzzz/checksum", headers={"X-Docker-Checksum-Payload": checksum}
    )
    assert response.status_code == 404
    response = v1.client.simulate_get(f"/v1/images/{image_id}/json")
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["X-Docker-Size"] == str(len(layer))
    assert response.headers["X-Docker-Checksum-Payload"] == checksum
    assert response.headers["Cache-Control"] == "public, max-age=31536000"
    assert response.headers["Last-Modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert response.headers["Expires"].endswith(" GMT")
    response = v1.client.simulate_get(f"/v1/images/{image_id}/layer")
    assert response.status_code == 200
    assert response.content == layer
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_ancestry_and_parents(v1):
    parent, _, _ = v1.upload()
    child, _, _ = v1.upload(parent=parent)
    response = v1.client.simulate_get(f"/v1/images/{child}/ancestry")
    assert response.json == [child, parent]
    _, response = v1.put_json(v1.new_id(), parent="f" * 16)
    assert response.status_code == 400
    assert response.json == {"error": "Image depends on a non existing parent"}
    _, response = v1.put_json(v1.new_id(), parent="../../etc")
    assert response.json == {"error": "Image depends on a non existing parent"}


def test_put_json_errors(v1):
    image_id = v1.new_id()
    url = f"/v1/images/{image_id}/json"
    for body in (b"", b"not json", b"[]", b"{}", b'"x"', b"\xff\xfe", b"[" * 100000):
        response = v1.client.simulate_put(url, body=body)
        assert response.status_code == 400, body[:10]
        assert response.json == {"error": "Invalid JSON"}
    response = v1.client.simulate_put(url, body=b'{"a": 1}')
    assert response.json == {"error": "Missing key `id' in JSON"}
    response = v1.client.simulate_put(url, body=b'{"id": "0000000000000000"}')
    assert response.json == {"error": "JSON data contains invalid id"}
    response = v1.client.simulate_put("/v1/images/NOTHEX/json", body=b'{"id": "NOTHEX"}')
    assert response.status_code == 404
    assert response.json == {"error": "Invalid image ID"}


def test_complete_image_conflicts(v1):
    image_id, body, layer = v1.upload()
    _, response = v1.put_json(image_id)
    assert response.status_code == 409
    assert response.json == {"error": "Image already exists"}
    response = v1.client.simulate_put(f"/v1/images/{image_id}/layer", body=b"other")
    assert response.status_code == 409
    # NOTE: identical bytes from a second pusher are accepted (idempotent).
    response = v1.client.simulate_put(f"/v1/images/{image_id}/layer", body=layer)
    assert response.status_code == 200
    # ... but the checksum of a complete image cannot be set again (spec R7 step 5).
    response = v1.client.simulate_put(
        f"/v1/images/{image_id}/checksum",
        headers={"X-Docker-Checksum-Payload": v1.payload(body, layer)},
    )
    assert response.status_code == 409
    assert response.json == {"error": "Cannot set this image checksum"}


def test_checksum_errors(v1):
    image_id = v1.new_id()
    url = f"/v1/images/{image_id}/checksum"
    response = v1.client.simulate_put(url)
    assert response.status_code == 412
    assert response.json["error"].startswith("X-Docker-Checksum-Payload not set.  If you")
    response = v1.client.simulate_put(url, headers={"X-Docker-Checksum-Payload": ""})
    assert response.json == {"error": "Missing Image's checksum"}
    response = v1.client.simulate_put(url, headers={"X-Docker-Checksum-Payload": "sha256:1"})
    assert response.status_code == 404
    v1.put_json(image_id)
    # NOTE: checksum before any layer: the seed answered 500 (#527).
    response = v1.client.simulate_put(url, headers={"X-Docker-Checksum-Payload": "sha256:1"})
    assert response.status_code == 400
    assert response.json == {"error": "Checksum mismatch"}
    v1.client.simulate_put(f"/v1/images/{image_id}/layer", body=b"layer")
    response = v1.client.simulate_put(url, headers={"X-Docker-Checksum-Payload": "sha256:1"})
    assert response.json == {"error": "Checksum mismatch"}
    assert v1.client.simulate_get(f"/v1/images/{image_id}/json").status_code == 400


def test_old_client_tarsum_checksum(v1):
    import io

    from docker_registry.core.v1.checksums import scan_layer

    image_id = v1.new_id()
    body, _ = v1.put_json(image_id)
    layer = v1.make_tar({"x": b"12345"})
    v1.client.simulate_put(f"/v1/images/{image_id}/layer", body=layer)
    tarsum = scan_layer(io.BytesIO(layer), body).tarsum
    response = v1.client.simulate_put(
        f"/v1/images/{image_id}/checksum", headers={"X-Docker-Checksum": tarsum}
    )
    assert response.status_code == 200


def test_retry_after_failed_push(v1):
    image_id = v1.new_id()
    v1.put_json(image_id)
    # the client died here; a retry re-puts the json with other content
    body, response = v1.put_json(image_id, comment="retry")
    assert response.status_code == 200
    layer = b"layer bytes"
    v1.client.simulate_put(f"/v1/images/{image_id}/layer", body=layer)
    response = v1.client.simulate_put(
        f"/v1/images/{image_id}/checksum",
        headers={"X-Docker-Checksum-Payload": v1.payload(body, layer)},
    )
    assert response.status_code == 200
    assert v1.client.simulate_get(f"/v1/images/{image_id}/json").content == body


def test_layer_put_errors(v1):
    response = v1.client.simulate_put(f"/v1/images/{v1.new_id()}/layer", body=b"x")
    assert response.status_code == 404
    assert response.json == {"error": "Image not found"}
    response = v1.client.simulate_put("/v1/images/xyz/layer", body=b"x")
    assert response.json == {"error": "Invalid image ID"}


def test_get_errors(v1):
    for suffix in ("json", "layer", "ancestry", "files"):
        response = v1.client.simulate_get(f"/v1/images/{v1.new_id()}/{suffix}")
        assert response.status_code == 404, suffix
        assert response.json == {"error": "Image not found"}
        assert response.headers["Cache-Control"] == "no-cache"
        response = v1.client.simulate_get(f"/v1/images/NOPE/{suffix}")
        assert response.status_code == 404
        assert response.json == {"error": "Invalid image ID"}


def test_if_modified_since(v1):
    image_id, _, _ = v1.upload()
    for suffix in ("json", "layer", "ancestry", "files"):
        response = v1.client.simulate_get(
            f"/v1/images/{image_id}/{suffix}", headers={"If-Modified-Since": "whatever"}
        )
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["Last-Modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    # before the existence check, as in the seed
    response = v1.client.simulate_get(
        f"/v1/images/{v1.new_id()}/json", headers={"If-Modified-Since": "x"}
    )
    assert response.status_code == 304


def test_ranges(v1):
    layer = bytes(range(256)) * 4
    image_id, _, _ = v1.upload(layer=layer)
    url = f"/v1/images/{image_id}/layer"

    def get(value):
        return v1.client.simulate_get(url, headers={"Range": value})

    response = get("bytes=10-19")
    assert response.status_code == 206
    assert response.content == layer[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(layer)}"
    assert response.headers["Content-Length"] == "10"
    response = get("bytes=5-5")
    assert response.status_code == 206 and response.content == layer[5:6]
    response = get("bytes=1000-")
    assert response.content == layer[1000:]
    assert response.headers["Content-Range"] == "bytes 1000-1023/1024"
    response = get("bytes=1000-5000")
    assert response.content == layer[1000:]
    response = get("bytes=-24")
    assert response.content == layer[-24:]
    response = get("bytes=1024-")
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */1024"
    assert "error" in response.json
    for ignored in ("items=1-2", "bytes=1-2,5-6", "bytes=abc"):
        response = get(ignored)
        assert response.status_code == 200 and response.content == layer, ignored
    # NOTE: an invalid range is refused (spec R5); every case of the grammar, over HTTP:
    # tests/v1/test_v1_layer_ranges.py.
    assert get("bytes=9-3").status_code == 416


def test_empty_layer(v1):
    image_id, _, _ = v1.upload(layer=b"")
    response = v1.client.simulate_get(f"/v1/images/{image_id}/layer")
    assert response.status_code == 200 and response.content == b""
    response = v1.client.simulate_get(f"/v1/images/{image_id}/layer", headers={"Range": "bytes=0-"})
    assert response.status_code == 416


def test_files_listing_and_cache(v1):
    image_id, _, _ = v1.upload(layer=v1.make_tar({"./etc/hosts": b"127.0.0.1"}))
    response = v1.client.simulate_get(f"/v1/images/{image_id}/files")
    assert response.status_code == 200
    assert response.json == [["/etc/hosts", "f", False, 9, 1400000000, 0o644, 0, 0]]
    assert v1.storage.exists(f"/images/{image_id}/_files")
    bad, _, _ = v1.upload(layer=b"garbage" * 200)
    response = v1.client.simulate_get(f"/v1/images/{bad}/files")
    assert response.status_code == 400
    assert response.json == {"error": "Layer format not supported"}


def test_diff(v1, make_app):
    image_id, _, _ = v1.upload()
    response = v1.client.simulate_get(f"/v1/images/{image_id}/diff")
    assert response.status_code == 400
    assert response.json == {"error": "Diff queue is disabled"}
    app = make_app(storage=v1.storage, cache={"host": "localhost"})
    assert app.client.simulate_get(f"/v1/images/{image_id}/diff").content == b""
    v1.storage.put_content(f"/images/{image_id}/_diff", b'{"changed": {}}')
    assert app.client.simulate_get(f"/v1/images/{image_id}/diff").json == {"changed": {}}


def test_json_body_limit(make_app):
    v1 = make_app(max_json_body_size=100)
    image_id = v1.new_id()
    body = json.dumps({"id": image_id, "pad": "x" * 200})
    response = v1.client.simulate_put(f"/v1/images/{image_id}/json", body=body)
    assert response.status_code == 413
    assert "too large" in response.json["error"]


class _RedirectDriver(InMemoryDriver):
    def redirect_url(self, path, method="GET"):
        return "https://cdn.example/" + path.lstrip("/")


def test_storage_redirect(make_app):
    v1 = make_app(storage=Storage(_RedirectDriver()), storage_redirect=True)
    image_id, _, _ = v1.upload()
    response = v1.client.simulate_get(f"/v1/images/{image_id}/layer")
    assert response.status_code == 302
    assert response.headers["Location"] == f"https://cdn.example/images/{image_id}/layer"


def test_concurrent_pushes_of_the_same_image(v1):
    image_id = v1.new_id()
    body = json.dumps({"id": image_id}).encode()
    layer = v1.make_tar({"big": b"z" * 300_000})
    checksum = v1.payload(body, layer)
    results = []

    def push():
        codes = []
        client = v1.client
        response = client.simulate_put(f"/v1/images/{image_id}/json", body=body)
        codes.append(response.status_code)
        if response.status_code == 409:
            results.append(codes)
            return
        codes.append(client.simulate_put(f"/v1/images/{image_id}/layer", body=layer).status_code)
        codes.append(
            client.simulate_put(
                f"/v1/images/{image_id}/checksum", headers={"X-Docker-Checksum-Payload": checksum}
            ).status_code
        )
        results.append(codes)

    threads = [threading.Thread(target=push) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(code in (200, 409) for codes in results for code in codes), results
    response = v1.client.simulate_get(f"/v1/images/{image_id}/layer")
    assert response.status_code == 200 and response.content == layer
    response = v1.client.simulate_get(f"/v1/images/{image_id}/json")
    assert response.headers["X-Docker-Checksum-Payload"] == checksum


def test_checksum_without_layer_is_refused(v1):
    image_id = v1.new_id()
    body, _ = v1.put_json(image_id)
    checksum = v1.payload(body, b"")
    # a _checksum that landed without its layer (crash between the two writes)
    v1.storage.put_content(f"/images/{image_id}/_checksum", json.dumps([checksum]).encode())
    response = v1.client.simulate_put(
        f"/v1/images/{image_id}/checksum", headers={"X-Docker-Checksum-Payload": checksum}
    )
    assert response.status_code == 400 and response.json == {"error": "Checksum mismatch"}


def test_broken_body_leaves_nothing_visible(v1):
    image_id = v1.new_id()
    v1.put_json(image_id)

    class Broken:
        def __init__(self):
            self.sent = 0

        def read(self, size=-1):
            if self.sent > 5_000_000:
                raise OSError("client went away")
            self.sent += 4 * 1024 * 1024
            return b"x" * (4 * 1024 * 1024)

        def readline(self, *args):
            return b""

        def readlines(self, *args):
            return []

        def __iter__(self):
            return iter(())

    response = v1.client.simulate_put(
        f"/v1/images/{image_id}/layer",
        headers={"Content-Length": str(64 * 1024 * 1024)},
        body=b"",
        extras={"wsgi.input": Broken()},
    )
    assert response.status_code == 400
    assert response.json["error"].startswith("Layer upload interrupted")
    assert not v1.storage.exists(f"/images/{image_id}/layer")
    assert v1.client.simulate_get(f"/v1/images/{image_id}/json").status_code == 400


def test_nginx_x_accel_redirect_follows_the_local_files_capability(make_app, tmp_path):
    """X-Accel-Redirect hands the layer to nginx, which reads the local file: offered for
    drivers declaring Capability.LOCAL_FILES whatever their name, never for the others."""
    from docker_registry.core.storage import Capability
    from docker_registry.drivers.file import FileDriver

    class LocalDisk(FileDriver):
        name = "localdisk"

    class FileNamedButRemote(FileDriver):
        name = "file"
        capabilities = frozenset[str]()

    assert Capability.LOCAL_FILES in LocalDisk.capabilities
    for driver_class, accelerated in ((LocalDisk, True), (FileNamedButRemote, False)):
        root = tmp_path / driver_class.__name__
        app = make_app(
            Storage(driver_class(storage_path=str(root))), nginx_x_accel_redirect="/internal"
        )
        image_id, _, layer = app.upload()
        response = app.client.simulate_get(f"/v1/images/{image_id}/layer")
        assert response.status_code == 200
        if accelerated:
            assert response.content == b""
            assert response.headers["X-Accel-Redirect"] == f"/internal/images/{image_id}/layer"
        else:
            assert "X-Accel-Redirect" not in response.headers
            assert response.content == layer
