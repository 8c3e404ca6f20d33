"""v1 and v2 push and pull over real HTTP against `docker-registry serve` on every driver.

Each driver's backing service (moto, gcp-storage-emulator, Azurite, a Swift all-in-one, a
glance-api) is started once for the module by the driver's own test helpers (see
``driver_backends.py``); every test starts its registries on it. Layer downloads are
checked with ``storage_redirect`` off (the registry streams the bytes) and on (a 302 to a
signed URL of the backend when the driver can sign one, else the registry streams).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

# NOTE: the clients and the backends live next to this file (benchmarks import them too).
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "v2"))

from driver_backends import BACKENDS, Backend
from v1client import Image, V1Client, make_tar
from v2support import Client, digest, image_config, image_manifest, layer_tar

TIMEOUT = 30


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Backend]:
    """One driver's backing service, started once for the module's tests of that driver."""
    with BACKENDS[request.param](tmp_path_factory.mktemp(f"backend-{request.param}")) as started:
        yield started


def _sha(data: bytes | None) -> str:
    """A digest to compare layers with (a failed ``==`` on MiBs of bytes is unreadable)."""
    return hashlib.sha256(data or b"").hexdigest()


def _images() -> tuple[Image, Image, Image]:
    base = Image.create(files={"etc/": b"", "etc/hosts": b"127.0.0.1 localhost\n"})
    # NOTE: 6 MiB: a multipart upload (S3), several chunks, blocks or segments elsewhere.
    middle = Image.create(parent=base, files={"bin/sh": os.urandom(6 * 1024 * 1024)})
    top = Image.create(parent=middle, layer=b"")
    return base, middle, top


@pytest.mark.parametrize("redirect", [False, True], ids=["streamed", "redirect"])
def test_push_pull(backend: Backend, redirect: bool, start_registry) -> None:
    registry = start_registry(**backend.registry_config(storage_redirect=redirect))
    base, middle, top = _images()
    V1Client(registry.url).push("e2e/app", [base, middle, top], {"latest": top.id, "v1": middle.id})

    # docker pull (the client follows redirects and verifies payload checksums)
    pulled = V1Client(registry.url).pull("e2e/app", "latest")
    assert [item["id"] for item in pulled] == [base.id, middle.id, top.id]
    assert [item["json"] for item in pulled] == [base.json, middle.json, top.json]
    assert [item["layer"] for item in pulled] == [base.layer, middle.layer, top.layer]
    assert [item["id"] for item in V1Client(registry.url).pull("e2e/app", "v1")] == [
        base.id,
        middle.id,
    ]

    # checksums: per image (payload) and in the index (tarsum, as pushed)
    for image in (base, middle, top):
        response = requests.get(f"{registry.url}/v1/images/{image.id}/json", timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.headers["X-Docker-Checksum-Payload"] == image.payload_checksum()
        assert response.headers["X-Docker-Size"] == str(len(image.layer or b""))
        ancestry = requests.get(f"{registry.url}/v1/images/{image.id}/ancestry", timeout=TIMEOUT)
        assert ancestry.json()[-1] == base.id
    index = requests.get(f"{registry.url}/v1/repositories/e2e/app/images", timeout=TIMEOUT)
    assert index.status_code == 200
    assert {item["id"]: item.get("checksum") for item in index.json()} == {
        image.id: image.compute_tarsum() for image in (base, middle, top)
    }
    listing = requests.get(f"{registry.url}/v1/images/{middle.id}/files", timeout=TIMEOUT)
    assert listing.json()[0][:4] == ["bin/sh", "f", False, 6 * 1024 * 1024]

    # the layer itself: a redirect to the backend, or the bytes from the registry
    layer_url = f"{registry.url}/v1/images/{middle.id}/layer"
    response = requests.get(layer_url, allow_redirects=False, timeout=TIMEOUT)
    if redirect and backend.redirects:
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert urlsplit(location).netloc != registry.host
        assert backend.signature in location
        direct = requests.get(location, timeout=TIMEOUT)
        assert direct.status_code == 200
        assert _sha(direct.content) == _sha(middle.layer)
    else:
        assert response.status_code == 200
        assert "Location" not in response.headers
        assert response.headers["Content-Length"] == str(len(middle.layer or b""))
        assert response.content == middle.layer
        ranged = requests.get(layer_url, headers={"Range": "bytes=100-199"}, timeout=TIMEOUT)
        assert ranged.status_code == 206
        assert ranged.content == (middle.layer or b"")[100:200]
    assert "Traceback" not in registry.log()


@pytest.mark.parametrize("redirect", [False, True], ids=["streamed", "redirect"])
def test_v2_push_pull(backend: Backend, redirect: bool, start_registry) -> None:
    registry = start_registry(**backend.registry_config(storage_redirect=redirect))
    client = Client(registry.url)
    small = layer_tar({"etc/os-release": b"ID=e2e\n"})
    # NOTE: 6 MiB pushed in 3 PATCH chunks: chunk files joined at PUT on every backend.
    big = os.urandom(6 * 1024 * 1024)
    client.push_blob("e2e/v2app", small)
    started = client.http.post(f"{registry.url}/v2/e2e/v2app/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = client.absolute(started.headers["Location"])
    step = 2 * 1024 * 1024
    for start in range(0, len(big), step):
        chunk = big[start : start + step]
        patched = client.http.patch(
            location,
            data=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + len(chunk) - 1}",
            },
        )
        assert patched.status_code == 202, patched.text
        location = client.absolute(patched.headers["Location"])
    separator = "&" if "?" in location else "?"
    finished = client.http.put(f"{location}{separator}digest={digest(big)}")
    assert finished.status_code == 201, finished.text
    config = image_config([small])
    client.push_blob("e2e/v2app", config)
    manifest = image_manifest(config, [small, big])
    assert client.push_manifest("e2e/v2app", "1.0", manifest).status_code == 201

    got = client.http.get(
        f"{registry.url}/v2/e2e/v2app/manifests/1.0",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=TIMEOUT,
    )
    assert got.status_code == 200
    assert got.content == manifest
    assert got.headers["Docker-Content-Digest"] == digest(manifest)
    for blob in (small, big, config):
        url = f"{registry.url}/v2/e2e/v2app/blobs/{digest(blob)}"
        response = client.http.get(url, allow_redirects=False, timeout=TIMEOUT)
        if redirect and backend.redirects:
            assert response.status_code in (302, 307), response.text
            assert backend.signature in response.headers["Location"]
            response = requests.get(response.headers["Location"], timeout=TIMEOUT)
        assert response.status_code == 200
        assert _sha(response.content) == _sha(blob)
    tags = client.http.get(f"{registry.url}/v2/e2e/v2app/tags/list", timeout=TIMEOUT)
    assert tags.json() == {"name": "e2e/v2app", "tags": ["1.0"]}
    assert "Traceback" not in registry.log()


def test_missing_layer_is_json_404_even_with_redirects(backend: Backend, start_registry) -> None:
    registry = start_registry(**backend.registry_config(storage_redirect=True))
    image = Image.create(layer=make_tar({"a": b"a"}))
    for route in ("json", "layer", "ancestry"):
        response = requests.get(
            f"{registry.url}/v1/images/{image.id}/{route}", allow_redirects=False, timeout=TIMEOUT
        )
        assert response.status_code == 404, (route, response.status_code, response.headers)
        assert response.headers["Content-Type"] == "application/json"
        assert "error" in response.json()


def test_backend_down_is_json_503_naming_the_driver(start_registry, tmp_path) -> None:
    """moto stopped under a running registry: a JSON 503 that names the s3 driver."""
    from driver_backends import start_s3

    with start_s3(tmp_path) as backend:
        registry = start_registry(**backend.registry_config())
        image = Image.create()
        V1Client(registry.url).push("e2e/down", [image], {"latest": image.id})
        moto = backend.service
        assert moto is not None
        moto.stop()
        response = requests.get(f"{registry.url}/v1/images/{image.id}/json", timeout=60)
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Retry-After"] == "5"
    error = response.json()["error"]
    assert error.startswith("storage backend unavailable")
    assert "[s3]" in error
    assert "Traceback" not in registry.log()
