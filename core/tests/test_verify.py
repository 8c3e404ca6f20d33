"""``docker-registry verify``: a sound registry is sound, and each kind of damage is named
(a corrupt blob, a link without data, a tag without its manifest, a half-written or altered
v1 image, a v1 tag on an unfinished image), from the library and from the real command."""

from __future__ import annotations

import hashlib
import io
import json

import falcon.testing
import pytest

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.ops.progress import LogProgress
from docker_registry.core.ops.verify import StorageVerifier
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v1 import layout as v1_layout
from docker_registry.core.v2 import layout as v2_layout

CONFIG_MEDIA = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA = "application/vnd.oci.image.layer.v1.tar"
IMAGE_MEDIA = "application/vnd.oci.image.manifest.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def registry(storage: Storage) -> falcon.testing.TestClient:
    settings = Settings.from_mapping({"storage": "inmemory"})
    return falcon.testing.TestClient(create_app(settings, storage=storage))


def push_v2(client, name: str, tag: str, layer: bytes) -> tuple[str, str]:
    """Push a one-layer image; return (layer digest, manifest digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    for blob in (config, layer):
        response = client.simulate_post(
            f"/v2/{name}/blobs/uploads/", params={"digest": sha(blob)}, body=blob
        )
        assert response.status_code == 201, response.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": IMAGE_MEDIA,
            "config": {"mediaType": CONFIG_MEDIA, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": LAYER_MEDIA, "digest": sha(layer), "size": len(layer)}],
        }
    ).encode()
    response = client.simulate_put(
        f"/v2/{name}/manifests/{tag}", body=manifest, headers={"Content-Type": IMAGE_MEDIA}
    )
    assert response.status_code == 201, response.text
    return sha(layer), sha(manifest)


def push_v1(client, repository: str, tag: str, image_id: str, *, finish: bool = True) -> None:
    body = json.dumps({"id": image_id}).encode()
    layer = b"v1 layer of " + image_id.encode()
    assert client.simulate_put(f"/v1/images/{image_id}/json", body=body).status_code == 200
    assert client.simulate_put(f"/v1/images/{image_id}/layer", body=layer).status_code == 200
    if finish:
        payload = "sha256:" + hashlib.sha256(body + b"\n" + layer).hexdigest()
        response = client.simulate_put(
            f"/v1/images/{image_id}/checksum", headers={"X-Docker-Checksum-Payload": payload}
        )
        assert response.status_code == 200, response.text
        response = client.simulate_put(
            f"/v1/repositories/{repository}/tags/{tag}", body=json.dumps(image_id)
        )
        assert response.status_code == 200, response.text


def blob_path(digest: str) -> str:
    algorithm, _, hex_digest = digest.partition(":")
    return v2_layout.blob_data(algorithm, hex_digest)


@pytest.fixture
def filled():
    """A registry with two v2 images sharing nothing, one v1 image, one v1 upload unfinished."""
    storage = Storage(InMemoryDriver())
    client = registry(storage)
    digests = {
        "app": push_v2(client, "team/app", "1.0", b"layer of app" * 100),
        "db": push_v2(client, "team/db", "latest", b"layer of db" * 100),
    }
    push_v1(client, "library/old", "latest", "a" * 64)
    push_v1(client, "library/old", "wip", "b" * 64, finish=False)
    return storage, digests


def verify(storage: Storage):
    return StorageVerifier(storage).run()


def test_a_sound_registry_has_no_damage_and_everything_was_checked(filled):
    storage, _ = filled
    report = verify(storage)
    assert report.damage == []
    assert report.repositories == 2 and report.tags == 2 and report.manifests == 2
    assert report.blobs == 6 and report.blob_bytes > 2000
    assert report.v1_images == 2 and report.v1_in_progress == 1 and report.v1_tags == 1


def test_a_corrupt_blob_is_named_by_its_digest(filled):
    storage, digests = filled
    layer, _ = digests["app"]
    storage.put_content(blob_path(layer), b"other bytes of the same blob")
    damage = verify(storage).damage
    assert [(d.what, d.where) for d in damage] == [
        ("blob content does not match its digest", layer)
    ]


def test_blobs_hashed_several_at_once_give_the_same_report(filled):
    storage, _ = filled
    client = registry(storage)
    layers = [push_v2(client, f"team/many{n}", "1", b"many %d" % n * 500)[0] for n in range(30)]
    for rotten in layers[3::7]:
        storage.put_content(blob_path(rotten), b"rotten " + rotten.encode())
    one_at_a_time = verify(storage)
    progress = LogProgress("verify", "items", io.StringIO(), interval=3600)
    several = StorageVerifier(storage, progress, jobs=4).run()
    assert several.damage == one_at_a_time.damage
    assert {d.where for d in several.damage} == set(layers[3::7])
    assert (several.blobs, several.blob_bytes) == (one_at_a_time.blobs, one_at_a_time.blob_bytes)
    assert progress.count >= several.blobs and progress.size >= several.blob_bytes


def test_a_manifest_without_its_layer_and_a_link_without_data(filled):
    storage, digests = filled
    layer, manifest = digests["db"]
    storage.delete(blob_path(layer))
    report = verify(storage)
    assert [(d.what, d.where) for d in report.damage] == [
        ("manifest refers to a blob the repository does not hold", f"team/db@{manifest}")
    ]
    # The link alone (an upload cut off between link and commit) is a leftover, not damage.
    assert report.unbacked_links == 1
    storage.delete(v2_layout.revision_link("team/db", *manifest.split(":")))
    storage.delete(v2_layout.tag_current_link("team/db", "latest"))
    report = verify(storage)
    assert report.damage == [] and report.unbacked_links == 1


def test_a_tag_whose_manifest_is_gone(filled):
    storage, digests = filled
    _, manifest = digests["app"]
    algorithm, _, hex_digest = manifest.partition(":")
    storage.delete(v2_layout.revision_link("team/app", algorithm, hex_digest))
    found = {(d.what, d.where) for d in verify(storage).damage}
    assert ("tag points at a manifest the repository does not hold", "team/app:1.0") in found


def test_a_half_written_or_altered_v1_image_and_a_tag_on_an_unfinished_one(filled):
    storage, _ = filled
    storage.put_content(v1_layout.image_layer_path("a" * 64), b"altered layer")
    damage = verify(storage).damage
    assert [d.what for d in damage] == [
        "v1 layer does not match the checksum recorded at push",
        "v1 tag points at an image that is missing or incomplete",
    ]
    storage.delete(v1_layout.image_layer_path("a" * 64))
    assert verify(storage).damage[0].what == "v1 image is half written"
    # An unfinished upload is not damage; a tag on it is.
    client = registry(storage)
    assert client.simulate_put(
        "/v1/repositories/library/old/tags/wip", body=json.dumps("b" * 64)
    ).status_code in (200, 400)
    storage.put_content(v1_layout.tag_path("library", "old", "wip"), b"b" * 64)
    found = {(d.what, d.where) for d in verify(storage).damage}
    assert ("v1 tag points at an image that is missing or incomplete", "library/old:wip") in found


def test_progress_lines_count_items_and_bytes(filled):
    storage, _ = filled
    stream = io.StringIO()
    progress = LogProgress("verify", "items", stream, interval=0)
    StorageVerifier(storage, progress).run()
    progress.close()
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("verify: ") and "MiB read" in last
    assert int(last.split()[1]) >= 10


def test_the_command_exits_0_when_sound_and_1_naming_the_damage(run_cli, write_config, tmp_path):
    root = tmp_path / "data"
    config = write_config(f"dev:\n  storage: file\n  storage_path: {root}\n")
    from docker_registry.drivers.file import FileDriver

    storage = Storage(FileDriver(storage_path=str(root)))
    layer, _ = push_v2(registry(storage), "team/app", "1.0", b"layer bytes" * 50)
    sound = run_cli("verify", "--config", str(config))
    assert sound.returncode == 0, sound.stderr
    assert "0 problem(s)" in sound.stdout and "1 v2 repositories" in sound.stdout
    assert "verify: " in sound.stderr  # progress lines: stderr is not a terminal
    storage.put_content(blob_path(layer), b"rotten")
    damaged = run_cli("verify", "--config", str(config))
    assert damaged.returncode == 1
    assert f"damage: blob content does not match its digest: {layer}" in damaged.stdout
