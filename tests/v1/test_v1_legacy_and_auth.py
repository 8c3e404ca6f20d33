"""A 0.9.1 storage tree built by hand is served as it lies; token mode over real HTTP."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import requests
from v1client import Image, V1Client

BASE = "511136ea3c5a64f264b78b5433614aec563103b4d4702f3ba7d4d2698e22c158"
CHILD = "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457"


def _layer(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def build_seed_tree(root: Path) -> dict:
    """Write files at the exact relative paths docker-registry 0.9.1 used (spec §4)."""
    images = {}
    for image_id, parent in ((BASE, None), (CHILD, BASE)):
        data = {"id": image_id, "created": "2013-06-13T14:03:50.821769-07:00"}
        if parent:
            data["parent"] = parent
        raw = json.dumps(data, indent=2).encode()  # stored bytes are served verbatim
        layer = _layer(f"./{image_id[:6]}.txt", image_id.encode())
        directory = root / "images" / image_id
        directory.mkdir(parents=True)
        (directory / "json").write_bytes(raw)
        (directory / "layer").write_bytes(layer)
        ancestry = [image_id] + ([parent] if parent else [])
        (directory / "ancestry").write_text(json.dumps(ancestry))
        checksum = "sha256:" + hashlib.sha256(raw + b"\n" + layer).hexdigest()
        # NOTE: one legacy bare-string _checksum, one JSON list
        (directory / "_checksum").write_text(checksum if parent else json.dumps([checksum]))
        images[image_id] = (raw, layer, checksum)
    # repository "foo%$_-test" in namespace "legacy": double-encoded on disk
    repo = root / "repositories" / "legacy" / "foo%2525%2524_-test"
    repo.mkdir(parents=True)
    (repo / "tag_latest").write_text(CHILD)
    (repo / "tag__old").write_text(BASE)
    (repo / "tag_old_json").write_text('{"arch": "amd64", "last_update": 1}')
    (repo / "taglatest_json").write_text('{"arch": "arm", "os": "linux"}')
    (repo / "json").write_text('{"arch": "arm", "os": "linux"}')
    (repo / "_index_images").write_text(json.dumps([{"id": BASE}, {"id": CHILD}]))
    library = root / "repositories" / "library" / "busybox"
    library.mkdir(parents=True)
    (library / "tag_1.0").write_text(BASE)
    (library / "_private").write_bytes(b"")
    return images


def test_legacy_tree_is_served(start_registry, tmp_path):
    root = tmp_path / "seed-data"
    images = build_seed_tree(root)
    registry = start_registry(storage_path=str(root))
    url = registry.url
    name = "legacy/foo%25%24_-test"  # URL-encoded "foo%$_-test"
    assert requests.get(f"{url}/v1/repositories/{name}/tags").json() == {
        "latest": CHILD,
        "_old": BASE,
    }
    assert requests.get(f"{url}/v1/repositories/{name}/tags/latest/json").json() == {
        "arch": "arm",
        "os": "linux",
    }
    assert requests.get(f"{url}/v1/repositories/{name}/json").json()["arch"] == "arm"
    assert requests.get(f"{url}/v1/repositories/busybox/tags").json() == {"1.0": BASE}
    assert requests.get(f"{url}/v1/repositories/busybox/properties").json() == {"access": "private"}
    assert requests.get(f"{url}/v1/images/{CHILD}/ancestry").json() == [CHILD, BASE]
    for image_id, (raw, layer, checksum) in images.items():
        response = requests.get(f"{url}/v1/images/{image_id}/json")
        assert response.content == raw
        assert response.headers["X-Docker-Checksum-Payload"] == checksum
        assert response.headers["X-Docker-Size"] == str(len(layer))
        assert requests.get(f"{url}/v1/images/{image_id}/layer").content == layer
        files = requests.get(f"{url}/v1/images/{image_id}/files").json()
        assert files[0][:3] == [f"/{image_id[:6]}.txt", "f", False]
    pulled = V1Client(url).pull(name)
    assert [item["id"] for item in pulled] == [BASE, CHILD]
    assert pulled[1]["layer"] == images[CHILD][1]


def test_token_mode_against_index(start_registry, token_index):
    registry = start_registry(standalone=False, index_endpoint=token_index.url)
    image = Image.create()
    token_index.images = [image.id]
    good = 'Token signature=GOOD,repository="foo/bar",access=write'
    read = 'Token signature=GOOD,repository="foo/bar",access=read'
    bad = 'Token signature=BAD,repository="foo/bar",access=write'
    url = registry.url
    assert requests.get(f"{url}/v1/_ping").headers["X-Docker-Registry-Standalone"] == "False"
    response = requests.put(f"{url}/v1/images/{image.id}/json", data=image.json)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    response = requests.put(
        f"{url}/v1/images/{image.id}/json", data=image.json, headers={"Authorization": bad}
    )
    assert response.status_code == 401
    client = V1Client(url)
    client.token = good.removeprefix("Token ")
    assert client.push_image(image) is True
    client.put_tag("foo/bar", "latest", image.id)
    assert ("/v1/repositories/foo/bar/images", good) in token_index.calls
    reader = {"Authorization": read}
    assert requests.get(f"{url}/v1/repositories/foo/bar/tags", headers=reader).json() == {
        "latest": image.id
    }
    assert requests.get(f"{url}/v1/images/{image.id}/layer", headers=reader).content == (
        image.layer
    )
    # the token's repository must match the route's
    response = requests.get(f"{url}/v1/repositories/foo/other/tags", headers=reader)
    assert response.status_code == 401
    # index routes are not mounted without standalone
    response = requests.get(f"{url}/v1/repositories/foo/bar/images", headers=reader)
    assert response.status_code == 404


def test_disable_token_auth(start_registry):
    registry = start_registry(
        standalone=False, disable_token_auth=True, index_endpoint="http://127.0.0.1:9"
    )
    image = Image.create()
    client = V1Client(registry.url)
    assert client.push_image(image) is True
