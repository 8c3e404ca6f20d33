"""Storage layout compatibility with the reference registry (CNCF distribution 2.8).

The same push produces the same files with the same content; a tree written by either
server is served by the other.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from v2support import OCI_MANIFEST, Client, digest, start_ours, start_reference, write_oci_layout

V2 = Path("docker/registry/v2")


def files_of(storage: Path) -> dict[str, bytes]:
    """Every file under the v2 tree with its content.

    Uploads in progress are excluded, and so is our one addition at the root, the key
    that signs upload URLs (``_upload_secret``).
    """
    root = storage / V2
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and "_uploads" not in path.parts and path.name != "_upload_secret"
    }


def push_sample(client: Client) -> dict:
    image = client.push_image("compat/app", "v1", seed="compat")
    client.push_image("compat/app", "docker", docker=True, seed="compat-docker")
    assert client.push_manifest("compat/app", "v1-again", image["manifest"]).status_code == 201
    return image


def test_same_files_for_the_same_push(tmp_path):
    written = {}
    for kind, start in (("ours", start_ours), ("reference", start_reference)):
        server = start(tmp_path / kind)
        try:
            push_sample(Client(server.url))
        finally:
            server.process.stop()
        written[kind] = files_of(server.storage_path)
    assert written["ours"].keys() == written["reference"].keys()
    assert written["ours"] == written["reference"]


@pytest.mark.parametrize("writer,reader", [("reference", "ours"), ("ours", "reference")])
def test_tree_written_by_one_is_served_by_the_other(tmp_path, writer, reader):
    starters = {"ours": start_ours, "reference": start_reference}
    storage = tmp_path / "shared"
    first = starters[writer](tmp_path / writer, storage_path=storage)
    try:
        image = push_sample(Client(first.url))
        layout = write_oci_layout(tmp_path / "oci", "v1", {"etc/hostname": b"compat\n"})
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"oci:{tmp_path / 'oci'}:v1",
                f"docker://{first.host}/compat/skopeo:v1",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    finally:
        first.process.stop()
    second = starters[reader](tmp_path / reader, storage_path=storage)
    try:
        client = Client(second.url)
        got = client.http.get(
            f"{second.url}/v2/compat/app/manifests/v1", headers={"Accept": OCI_MANIFEST}
        )
        assert got.status_code == 200
        assert got.content == image["manifest"]
        blob = client.http.get(f"{second.url}/v2/compat/app/blobs/{digest(image['layer'])}")
        assert blob.content == image["layer"]
        tags = client.http.get(f"{second.url}/v2/compat/app/tags/list").json()["tags"]
        assert sorted(tags) == ["docker", "v1", "v1-again"]
        catalog = client.http.get(f"{second.url}/v2/_catalog").json()["repositories"]
        assert catalog == ["compat/app", "compat/skopeo"]
        out = tmp_path / "pulled"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--src-tls-verify=false",
                f"docker://{second.host}/compat/skopeo:v1",
                f"oci:{out}:v1",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        index = json.loads((out / "index.json").read_text())
        assert index["manifests"][0]["digest"] == digest(layout["manifest"])
    finally:
        second.process.stop()
