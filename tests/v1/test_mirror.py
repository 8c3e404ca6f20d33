"""Mirroring (pull-through cache, spec §6.6) black-box: two live registries over HTTP.

The upstream is either a second ``docker-registry serve`` (real pushes with the v1 test
client) or :class:`FakeUpstream`, a tiny ``http.server`` that misbehaves on purpose
(garbage JSON, truncated layers, wrong checksums, 5xx, silence).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from v1client import Image, V1Client, random_id

TIMEOUT = 5


def stored_files(root: Path) -> set[str]:
    """Every v1 file under a registry's storage root, relative, staging area included
    (the v2 tree ``docker/`` holds an upload secret from start-up)."""
    if not root.exists():
        return set()
    found = {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}
    return {path for path in found if not path.startswith("docker/")}


def download(url: str) -> bytes:
    """GET a whole body (raises when the connection is cut short)."""
    return requests.get(url, timeout=TIMEOUT).content


@dataclass
class Answer:
    """What :class:`FakeUpstream` answers on one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] | None = None
    send_bytes: int | None = None  # cut the body after this many bytes (truncation)
    delay: float = 0.0  # wait before answering (timeouts)


class FakeUpstream:
    """An HTTP server answering ``routes[path]``; 404 for anything else."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.requests: list[tuple[str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append((self.path, self.headers.get("Authorization")))
                answer = fake.routes.get(self.path, Answer(404, b'{"error": "not here"}'))
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in (answer.headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                body = answer.body
                if answer.send_bytes is not None:
                    body = body[: answer.send_bytes]
                    self.close_connection = True
                self.wfile.write(body)
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def image(self, image: Image, *, checksum: str | None = None, **layer: object) -> None:
        """Serve ``image``'s json (with a payload checksum header) and layer."""
        headers = {
            "Content-Type": "application/json",
            "X-Docker-Checksum-Payload": checksum or image.payload_checksum(),
            "X-Docker-Size": str(len(image.layer or b"")),
        }
        self.routes[f"/v1/images/{image.id}/json"] = Answer(body=image.json, headers=headers)
        self.routes[f"/v1/images/{image.id}/ancestry"] = Answer(
            body=json.dumps([image.id]).encode()
        )
        self.routes[f"/v1/images/{image.id}/layer"] = Answer(
            body=image.layer or b"", headers={"Content-Type": "application/octet-stream"}, **layer
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    yield upstream
    upstream.close()


def mirror_of(start_registry, source: str, **mirroring: object):
    return start_registry(mirroring={"source": source, "timeout": TIMEOUT, **mirroring})


def test_pull_through_then_serve_the_local_copy_when_upstream_is_gone(start_registry) -> None:
    upstream = start_registry()
    base = Image.create(files={"etc/os-release": b"mirror"})
    child = Image.create(parent=base, files={"app/run.sh": b"#!/bin/sh\necho hi\n"})
    V1Client(upstream.url).push("acme/app", [base, child], {"latest": child.id})
    mirror = mirror_of(start_registry, upstream.url, tags_cache_ttl=1)
    assert requests.get(f"{mirror.url}/v1/_ping").headers["X-Docker-Registry-Standalone"] == (
        "mirror"
    )

    head = requests.head(f"{mirror.url}/v1/images/{base.id}/layer", timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(base.layer))
    assert not (mirror.storage_path / "images").exists()  # HEAD stores nothing

    pulled = V1Client(mirror.url).pull("acme/app")

    assert [(item["id"], item["json"], item["layer"]) for item in pulled] == [
        (base.id, base.json, base.layer),
        (child.id, child.json, child.layer),
    ]
    root = mirror.storage_path
    for image in (base, child):
        assert (root / "images" / image.id / "layer").read_bytes() == image.layer
        assert (root / "images" / image.id / "json").read_bytes() == image.json
        assert json.loads((root / "images" / image.id / "_checksum").read_text()) == [
            image.payload_checksum()
        ]
    assert json.loads((root / "images" / child.id / "ancestry").read_text()) == [child.id, base.id]
    cached = json.loads((root / "_mirror/repositories/acme/app/tags").read_text())
    assert cached["value"] == {"latest": child.id}
    assert cached["source"] == upstream.url
    assert not (root / "repositories").exists()  # tags are cached apart from local repos
    assert not list((root / ".registry-staging").glob("*"))

    # Q9: the repository json is fetched and stored at repositories/<ns>/<repo>/json.
    response = requests.get(f"{mirror.url}/v1/repositories/acme/app/json", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["docker_version"] == "1.3.2"
    assert json.loads((root / "repositories/acme/app/json").read_text()) == response.json()

    upstream.process.stop()
    time.sleep(1.2)  # the cached tags and image list are now stale: upstream is asked

    again = V1Client(mirror.url).pull("acme/app")

    assert [(item["id"], item["layer"]) for item in again] == [
        (base.id, base.layer),
        (child.id, child.layer),
    ]
    response = requests.get(f"{mirror.url}/v1/repositories/acme/app/tags", timeout=TIMEOUT)
    assert response.json() == {"latest": child.id}
    missing = requests.get(f"{mirror.url}/v1/images/{random_id()}/json", timeout=TIMEOUT)
    assert missing.status_code == 502
    assert upstream.url in missing.json()["error"]
    assert "unreachable" in missing.json()["error"]


def test_tags_are_cached_for_the_ttl_then_refreshed(start_registry) -> None:
    upstream = start_registry()
    client = V1Client(upstream.url)
    first = Image.create()
    client.push("acme/ttl", [first], {"latest": first.id})
    mirror = mirror_of(start_registry, upstream.url, tags_cache_ttl=2)
    tags_url = f"{mirror.url}/v1/repositories/acme/ttl/tags"
    tag_url = f"{tags_url}/latest"

    assert requests.get(tags_url, timeout=TIMEOUT).json() == {"latest": first.id}
    assert requests.get(tag_url, timeout=TIMEOUT).json() == first.id
    second = Image.create()
    client.push("acme/ttl", [second], {"latest": second.id})
    assert requests.get(f"{upstream.url}/v1/repositories/acme/ttl/tags").json() == {
        "latest": second.id
    }

    assert requests.get(tags_url, timeout=TIMEOUT).json() == {"latest": first.id}
    assert requests.get(tag_url, timeout=TIMEOUT).json() == first.id
    time.sleep(2.2)
    assert requests.get(tags_url, timeout=TIMEOUT).json() == {"latest": second.id}
    assert requests.get(tag_url, timeout=TIMEOUT).json() == second.id

    unknown = requests.get(f"{mirror.url}/v1/repositories/acme/nope/tags", timeout=TIMEOUT)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Repository not found"}


def test_index_routes_use_source_index_and_forward_authorization(
    start_registry, fake_upstream: FakeUpstream
) -> None:
    """Q10: tags come from ``source_index`` when it is set, not from ``source``."""
    image_id = random_id()
    fake_upstream.routes["/v1/repositories/acme/idx/tags"] = Answer(
        body=json.dumps({"v1": image_id}).encode()
    )
    source = start_registry()  # has no such repository
    mirror = mirror_of(start_registry, source.url, source_index=fake_upstream.url)

    response = requests.get(
        f"{mirror.url}/v1/repositories/acme/idx/tags",
        headers={"Authorization": "Token signature=abc"},
        timeout=TIMEOUT,
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"v1": image_id}
    assert ("/v1/repositories/acme/idx/tags", "Token signature=abc") in fake_upstream.requests


def test_garbage_json_is_a_502_and_nothing_is_cached(
    start_registry, fake_upstream: FakeUpstream
) -> None:
    image_id = random_id()
    fake_upstream.routes[f"/v1/images/{image_id}/json"] = Answer(body=b"<html>oops")
    fake_upstream.routes[f"/v1/images/{image_id}/ancestry"] = Answer(body=b'["0000"]')
    fake_upstream.routes["/v1/repositories/acme/bad/tags"] = Answer(body=b'{"latest": 42}')
    mirror = mirror_of(start_registry, fake_upstream.url)

    for path in (
        f"/v1/images/{image_id}/json",
        f"/v1/images/{image_id}/ancestry",
        f"/v1/images/{image_id}/layer",
        "/v1/repositories/acme/bad/tags",
    ):
        response = requests.get(mirror.url + path, timeout=TIMEOUT)
        assert response.status_code == 502, (path, response.text)
        assert fake_upstream.url in response.json()["error"]

    assert stored_files(mirror.storage_path) == set()


def test_truncated_layer_is_not_cached(start_registry, fake_upstream: FakeUpstream) -> None:
    image = Image.create(layer=bytes(range(256)) * 12000)  # ~3 MiB, several chunks
    fake_upstream.image(image, send_bytes=len(image.layer) // 2)
    mirror = mirror_of(start_registry, fake_upstream.url)
    response = requests.get(f"{mirror.url}/v1/images/{image.id}/json", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.content == image.json
    assert response.headers["X-Docker-Size"] == str(len(image.layer))  # upstream's
    assert response.headers["X-Docker-Checksum-Payload"] == image.payload_checksum()

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        download(f"{mirror.url}/v1/images/{image.id}/layer")

    assert stored_files(mirror.storage_path) == {
        f"images/{image.id}/json",
        f"images/{image.id}/_checksum",
    }
    fake_upstream.image(image)  # the network recovered
    assert download(f"{mirror.url}/v1/images/{image.id}/layer") == image.layer
    assert (mirror.storage_path / f"images/{image.id}/layer").read_bytes() == image.layer


def test_wrong_checksum_layer_is_not_cached_nor_delivered_whole(
    start_registry, fake_upstream: FakeUpstream
) -> None:
    image = Image.create(layer=b"x" * 3_000_000)
    fake_upstream.image(image, checksum="sha256:" + "0" * 64)
    mirror = mirror_of(start_registry, fake_upstream.url)
    layer_url = f"{mirror.url}/v1/images/{image.id}/layer"

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        download(layer_url)

    # json and the checksum it came with disagree with the layer: all dropped
    assert stored_files(mirror.storage_path) == set()

    fake_upstream.image(image)  # upstream fixed: the right checksum
    response = requests.get(layer_url, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.content == image.layer
    assert (mirror.storage_path / f"images/{image.id}/layer").read_bytes() == image.layer
    fake_upstream.routes.clear()
    response = requests.get(layer_url, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.content == image.layer


def test_layer_without_upstream_checksum_gets_one_computed(
    start_registry, fake_upstream: FakeUpstream
) -> None:
    image = Image.create()
    fake_upstream.image(image)
    del fake_upstream.routes[f"/v1/images/{image.id}/json"].headers["X-Docker-Checksum-Payload"]
    mirror = mirror_of(start_registry, fake_upstream.url)

    pulled = V1Client(mirror.url).pull_image(image.id)

    assert pulled["layer"] == image.layer
    stored = json.loads((mirror.storage_path / f"images/{image.id}/_checksum").read_text())
    assert stored == [image.payload_checksum()]
    response = requests.get(f"{mirror.url}/v1/images/{image.id}/json", timeout=TIMEOUT)
    assert response.headers["X-Docker-Checksum-Payload"] == image.payload_checksum()


def test_upstream_5xx_and_refused_are_clear_502s(
    start_registry, fake_upstream: FakeUpstream
) -> None:
    image_id = random_id()
    fake_upstream.routes[f"/v1/images/{image_id}/json"] = Answer(503, b"busy")
    mirror = mirror_of(start_registry, fake_upstream.url)
    response = requests.get(f"{mirror.url}/v1/images/{image_id}/json", timeout=TIMEOUT)
    assert response.status_code == 502
    assert response.json() == {
        "error": f"Mirror upstream {fake_upstream.url} answered 503 "
        f"(GET /v1/images/{image_id}/json)"
    }
    fake_upstream.close()
    response = requests.get(f"{mirror.url}/v1/repositories/acme/x/tags", timeout=TIMEOUT)
    assert response.status_code == 502
    assert "connection refused" in response.json()["error"]
    assert stored_files(mirror.storage_path) == set()


def test_upstream_timeout_is_a_504_within_the_configured_timeout(
    start_registry, fake_upstream: FakeUpstream
) -> None:
    image_id = random_id()
    fake_upstream.routes[f"/v1/images/{image_id}/json"] = Answer(body=b"{}", delay=8)
    mirror = start_registry(mirroring={"source": fake_upstream.url, "timeout": 1})

    started = time.monotonic()
    response = requests.get(f"{mirror.url}/v1/images/{image_id}/json", timeout=TIMEOUT)
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert fake_upstream.url in response.json()["error"]
    assert "timed out after 1s" in response.json()["error"]
    assert elapsed < 3
    assert stored_files(mirror.storage_path) == set()


def test_search_merges_upstream_results(start_registry, fake_upstream: FakeUpstream) -> None:
    fake_upstream.routes["/v1/search?q=app"] = Answer(
        body=json.dumps(
            {
                "num_results": 2,
                "query": "app",
                "results": [
                    {"name": "local/app", "description": "from upstream"},
                    {"name": "hub/app", "description": "hub"},
                ],
            }
        ).encode()
    )
    mirror = start_registry(
        search_backend="storage", mirroring={"source": fake_upstream.url, "timeout": TIMEOUT}
    )
    V1Client(mirror.url).push("local/app", [Image.create()], {})

    body = requests.get(f"{mirror.url}/v1/search", params={"q": "app"}, timeout=TIMEOUT).json()

    assert body["num_results"] == 2
    assert body["results"] == [
        {"name": "local/app", "description": "from upstream"},
        {"name": "hub/app", "description": "hub"},
    ]
