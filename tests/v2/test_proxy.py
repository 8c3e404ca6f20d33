"""Proxy mode (``mirroring.source``): a pull-through cache of an upstream v2 registry.

The upstream is a second ``docker-registry serve`` (images pushed with the v2 test
client) or :class:`StubUpstream`, a tiny ``http.server`` serving wrong content.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from v2support import OCI_INDEX, OCI_MANIFEST, Client, digest

TIMEOUT = 10
ACCEPT = {"Accept": OCI_MANIFEST}


def proxy_of(start_registry, source: str, **mirroring: object):
    return start_registry(mirroring={"source": source, "timeout": TIMEOUT, **mirroring})


def blob_data(storage_path: Path, value: str) -> Path:
    hex_digest = value.split(":", 1)[1]
    return storage_path / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"


def stored_blobs(storage_path: Path) -> set[str]:
    root = storage_path / "docker/registry/v2/blobs"
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def download(url: str) -> bytes:
    with requests.get(url, timeout=TIMEOUT, stream=True) as response:
        assert response.status_code == 200, response.text
        return response.content


def test_pull_through_by_tag_and_digest_then_local_when_upstream_stops(start_registry) -> None:
    upstream = start_registry()
    parts = Client(upstream.url).push_image("acme/app", "v1", seed="proxy")
    proxy = proxy_of(start_registry, upstream.url, tags_cache_ttl=1)
    base = f"{proxy.url}/v2/acme/app"

    # HEAD of a blob asks upstream and stores nothing
    layer_digest = digest(parts["layer"])
    head = requests.head(f"{base}/blobs/{layer_digest}", timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(parts["layer"]))
    assert head.headers["Docker-Content-Digest"] == layer_digest
    assert not blob_data(proxy.storage_path, layer_digest).exists()

    by_tag = requests.get(f"{base}/manifests/v1", headers=ACCEPT, timeout=TIMEOUT)
    assert by_tag.status_code == 200, by_tag.text
    assert by_tag.content == parts["manifest"]
    assert by_tag.headers["Docker-Content-Digest"] == parts["digest"]
    assert by_tag.headers["Content-Type"] == OCI_MANIFEST
    by_digest = requests.get(f"{base}/manifests/{parts['digest']}", headers=ACCEPT, timeout=10)
    assert by_digest.status_code == 200
    assert by_digest.content == parts["manifest"]
    for blob in (parts["config"], parts["layer"]):
        response = requests.get(f"{base}/blobs/{digest(blob)}", timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.content == blob
        assert response.headers["Docker-Content-Digest"] == digest(blob)
        assert hashlib.sha256(response.content).hexdigest() == digest(blob).split(":")[1]
        assert blob_data(proxy.storage_path, digest(blob)).read_bytes() == blob
    assert blob_data(proxy.storage_path, parts["digest"]).read_bytes() == parts["manifest"]
    tag_link = proxy.storage_path / "docker/registry/v2/repositories/acme/app/_manifests/tags"
    assert (tag_link / "v1/current/link").read_text() == parts["digest"]

    # unknown upstream too: the local 404s
    missing = requests.get(f"{base}/manifests/nope", headers=ACCEPT, timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    gone = requests.get(f"{base}/blobs/sha256:{'0' * 64}", timeout=TIMEOUT)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "BLOB_UNKNOWN"

    # the tag moves upstream: seen after tags_cache_ttl
    moved = Client(upstream.url).push_image("acme/app", "v1", seed="moved")
    time.sleep(1.2)
    again = requests.get(f"{base}/manifests/v1", headers=ACCEPT, timeout=TIMEOUT)
    assert again.headers["Docker-Content-Digest"] == moved["digest"]
    assert again.content == moved["manifest"]

    upstream.process.stop()
    time.sleep(1.2)  # the tag is stale again: upstream is asked, fails, local answers
    stale = requests.get(f"{base}/manifests/v1", headers=ACCEPT, timeout=TIMEOUT)
    assert stale.status_code == 200
    assert stale.content == moved["manifest"]
    head = requests.head(f"{base}/manifests/v1", headers=ACCEPT, timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == moved["digest"]
    local = requests.get(f"{base}/manifests/{parts['digest']}", headers=ACCEPT, timeout=10)
    assert local.content == parts["manifest"]
    for blob in (parts["config"], parts["layer"]):
        assert download(f"{base}/blobs/{digest(blob)}") == blob
    assert requests.head(f"{base}/blobs/{layer_digest}", timeout=TIMEOUT).status_code == 200

    # never fetched and upstream down: a clear 502
    down = requests.get(f"{base}/blobs/{digest(moved['layer'])}", timeout=TIMEOUT)
    assert down.status_code == 502
    assert down.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert upstream.url in down.json()["errors"][0]["message"]


def test_index_tag_is_cached_as_the_index_and_negotiated_per_client(start_registry) -> None:
    upstream = start_registry()
    client = Client(upstream.url)
    child = client.push_image("acme/multi", "amd64", seed="multi")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child["digest"],
                    "size": len(child["manifest"]),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    ).encode()
    assert client.push_manifest("acme/multi", "latest", index, OCI_INDEX).status_code == 201
    proxy = proxy_of(start_registry, upstream.url)
    url = f"{proxy.url}/v2/acme/multi/manifests/latest"

    # a client without index support first: it gets the platform's manifest...
    only_images = requests.get(url, headers=ACCEPT, timeout=TIMEOUT)
    assert only_images.status_code == 200, only_images.text
    assert only_images.content == child["manifest"]
    # ...but the tag stays the index, for the next client
    tags = proxy.storage_path / "docker/registry/v2/repositories/acme/multi/_manifests/tags"
    assert (tags / "latest/current/link").read_text() == digest(index)
    both = requests.get(url, headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"}, timeout=10)
    assert both.content == index
    assert both.headers["Content-Type"] == OCI_INDEX
    upstream.process.stop()
    assert requests.get(url, headers=ACCEPT, timeout=TIMEOUT).content == child["manifest"]


class StubUpstream:
    """Serves fixed answers by path on loopback; anything else is a 404."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, dict[str, str]]] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, body: bool) -> None:
                found = stub.routes.get(self.path)
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    if body:
                        self.wfile.write(b"{}")
                    return
                data, headers = found
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[StubUpstream]:
    server = StubUpstream()
    yield server
    server.close()


def test_wrong_content_upstream_is_an_error_and_nothing_is_stored(
    start_registry, stub: StubUpstream
) -> None:
    right = b"r" * 3_000_000
    wrong = b"w" * 3_000_000
    small_right, small_wrong = b"right", b"wrong"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST}).encode()
    stub.routes[f"/v2/acme/bad/blobs/{digest(right)}"] = (wrong, {})
    stub.routes[f"/v2/acme/bad/blobs/{digest(small_right)}"] = (small_wrong, {})
    fake = digest(b"another manifest")
    stub.routes[f"/v2/acme/bad/manifests/{fake}"] = (manifest, {"Content-Type": OCI_MANIFEST})
    stub.routes["/v2/acme/bad/manifests/latest"] = (
        manifest,
        {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": fake},
    )
    proxy = proxy_of(start_registry, stub.url)
    base = f"{proxy.url}/v2/acme/bad"

    # a big blob: the client gets all but the last piece, then the connection is cut
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        download(f"{base}/blobs/{digest(right)}")
    # a small one: verified before the answer starts
    response = requests.get(f"{base}/blobs/{digest(small_right)}", timeout=TIMEOUT)
    assert response.status_code == 502
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert small_wrong not in response.content
    for reference in (fake, "latest"):
        answer = requests.get(f"{base}/manifests/{reference}", headers=ACCEPT, timeout=TIMEOUT)
        assert answer.status_code == 502, answer.text
        assert answer.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert stored_blobs(proxy.storage_path) == set()
    assert not (proxy.storage_path / "docker/registry/v2/repositories/acme/bad").exists()

    # upstream fixed: the same URL now caches
    stub.routes[f"/v2/acme/bad/blobs/{digest(right)}"] = (right, {})
    assert download(f"{base}/blobs/{digest(right)}") == right
    assert blob_data(proxy.storage_path, digest(right)).read_bytes() == right


@pytest.mark.slow
def test_skopeo_copies_through_the_proxy(start_registry, tmp_path) -> None:
    upstream = start_registry()
    parts = Client(upstream.url).push_image("acme/tool", "v2", docker=True, seed="skopeo")
    proxy = proxy_of(start_registry, upstream.url)
    out = tmp_path / "out"
    done = subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            f"docker://{proxy.host}/acme/tool:v2",
            f"dir:{out}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert (out / "manifest.json").read_bytes() == parts["manifest"]
    for blob in (parts["config"], parts["layer"]):
        assert (out / digest(blob).split(":")[1]).read_bytes() == blob
        assert blob_data(proxy.storage_path, digest(blob)).read_bytes() == blob
    assert blob_data(proxy.storage_path, parts["digest"]).read_bytes() == parts["manifest"]
