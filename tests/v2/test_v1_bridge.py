"""The v1 -> v2 bridge: an image pushed over v1 is pulled over v2 by real clients."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
import requests
from v2support import DOCKER_MANIFEST, Client, layer_tar

BASE_ID = "a1" * 32
TOP_ID = "b2" * 32


def v1_push(url: str, repository: str, tag: str, images: list[tuple[str, dict, bytes]]) -> None:
    """Push ``images`` (base first) over v1 as Docker 1.x did (v1 spec section 3.2)."""
    http = requests.Session()
    announce = http.put(
        f"{url}/v1/repositories/{repository}/",
        json=[{"id": image_id} for image_id, _, _ in images],
        headers={"X-Docker-Token": "true"},
    )
    assert announce.status_code in (200, 201), announce.text
    token = announce.headers.get("X-Docker-Token")
    if token:
        http.headers["Authorization"] = f"Token {token}"
    for image_id, doc, layer in images:
        raw = json.dumps(doc).encode()
        response = http.put(
            f"{url}/v1/images/{image_id}/json",
            data=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        response = http.put(f"{url}/v1/images/{image_id}/layer", data=layer)
        assert response.status_code == 200, response.text
        payload = "sha256:" + hashlib.sha256(raw + b"\n" + layer).hexdigest()
        response = http.put(
            f"{url}/v1/images/{image_id}/checksum", headers={"X-Docker-Checksum-Payload": payload}
        )
        assert response.status_code == 200, response.text
    response = http.put(
        f"{url}/v1/repositories/{repository}/tags/{tag}",
        data=json.dumps(images[-1][0]),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (200, 201), response.text
    done = http.put(f"{url}/v1/repositories/{repository}/images", json=[])
    assert done.status_code in (200, 204), done.text


@pytest.fixture
def v1_image(ours):
    base_layer = layer_tar({"etc/base": b"base layer\n"})
    top_layer = layer_tar({"etc/top": b"top layer\n"})
    base = {
        "id": BASE_ID,
        "created": "2015-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ADD base"]},
    }
    top = {
        "id": TOP_ID,
        "parent": BASE_ID,
        "created": "2015-01-02T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ADD top"]},
    }
    v1_push(
        ours.url, "legacy/app", "latest", [(BASE_ID, base, base_layer), (TOP_ID, top, top_layer)]
    )
    return {"layers": [base_layer, top_layer]}


def test_v1_image_as_schema2(ours, v1_image):
    client = Client(ours.url)
    response = client.http.get(
        f"{ours.url}/v2/legacy/app/manifests/latest", headers={"Accept": DOCKER_MANIFEST}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == DOCKER_MANIFEST
    manifest = response.json()
    layers = v1_image["layers"]
    assert [entry["digest"] for entry in manifest["layers"]] == [
        "sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers
    ]
    for entry, layer in zip(manifest["layers"], layers, strict=True):
        blob = client.http.get(f"{ours.url}/v2/legacy/app/blobs/{entry['digest']}")
        assert blob.content == layer
    config = client.http.get(f"{ours.url}/v2/legacy/app/blobs/{manifest['config']['digest']}")
    assert config.json()["config"] == {"Cmd": ["/bin/sh"]}
    assert len(config.json()["rootfs"]["diff_ids"]) == 2
    digest = response.headers["Docker-Content-Digest"]
    by_digest = client.http.get(f"{ours.url}/v2/legacy/app/manifests/{digest}")
    assert by_digest.content == response.content
    # no copy: the v2 blob store holds config and manifest only, layers stay in images/
    data = list((ours.storage_path / "docker/registry/v2/blobs").rglob("data"))
    assert len(data) == 2


def test_skopeo_pulls_a_v1_image(ours, v1_image, tmp_path):
    out = tmp_path / "pulled"
    done = subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            f"docker://{ours.host}/legacy/app:latest",
            f"oci:{out}:latest",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    index = json.loads((out / "index.json").read_text())
    assert len(index["manifests"]) == 1
    inspect = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{ours.host}/legacy/app:latest"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert inspect.returncode == 0, inspect.stderr
    assert len(json.loads(inspect.stdout)["Layers"]) == 2
    tags = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false", f"docker://{ours.host}/legacy/app"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert tags.returncode == 0, tags.stderr
    assert json.loads(tags.stdout)["Tags"] == ["latest"]


def test_bridged_manifest_can_be_tagged_again_over_v2(ours, v1_image):
    client = Client(ours.url)
    response = client.http.get(
        f"{ours.url}/v2/legacy/app/manifests/latest", headers={"Accept": DOCKER_MANIFEST}
    )
    again = client.push_manifest("legacy/app", "v2-tag", response.content, DOCKER_MANIFEST)
    assert again.status_code == 201, again.text
    assert again.headers["Docker-Content-Digest"] == response.headers["Docker-Content-Digest"]
    layer = response.json()["layers"][0]["digest"]
    mounted = client.http.post(
        f"{ours.url}/v2/other/repo/blobs/uploads/?mount={layer}&from=legacy/app"
    )
    assert mounted.status_code == 201
    assert (
        client.http.get(f"{ours.url}/v2/other/repo/blobs/{layer}").content == v1_image["layers"][0]
    )


def test_catalog_lists_tagged_v1_repositories(ours, v1_image):
    """v1 repositories are pullable over v2, so _catalog names them next to v2 ones."""
    client = Client(ours.url)
    client.push_image("modern/app", "v1")
    # Created over v1 without any tag: nothing to pull, so not in the catalog.
    assert requests.put(f"{ours.url}/v1/repositories/empty/repo/", json=[]).status_code == 200
    catalog = requests.get(f"{ours.url}/v2/_catalog", timeout=10).json()["repositories"]
    assert catalog == ["legacy/app", "modern/app"]
    page = requests.get(f"{ours.url}/v2/_catalog", params={"n": 1}, timeout=10)
    assert page.json()["repositories"] == ["legacy/app"]
    assert page.headers["Link"] == '</v2/_catalog?n=1&last=legacy%2Fapp>; rel="next"'
    tags = requests.get(f"{ours.url}/v2/legacy/app/tags/list", timeout=10).json()
    assert tags == {"name": "legacy/app", "tags": ["latest"]}
