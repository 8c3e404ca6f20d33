"""A full disk is an answer, not a reset (issue 11, section 5).

A live ``docker-registry serve`` on the file driver, its storage root on a 20 MiB tmpfs
that a filler file brings to nearly full (large bodies fail in the body spool) and then
to completely full (every small write fails). Every write path must answer a JSON 507
naming the cause, leave nothing in the staging directory, keep what was stored intact,
and accept the same push once the filler is gone, with no restart.

Needs root for ``mount`` (CI runs as root): a failed mount fails the test, it never skips.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from v1client import Image, V1Client

MiB = 1024 * 1024
TIMEOUT = 60
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 20 MiB tmpfs, unmounted at teardown (after the registry on it has stopped)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(
            f"cannot mount a 20 MiB tmpfs on {mount}: {result.stderr.strip()} "
            "(the full-disk test needs root, as in CI)"
        )
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=True)


class Filler:
    """Takes the free space of a filesystem with one file, and gives it back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fill(self, leave: int = 0) -> None:
        """Fill the filesystem to the last byte, then free ``leave`` bytes of it."""
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for piece in (MiB, 64 * 1024, 4096, 1):
                block = b"\0" * piece
                while True:
                    try:
                        os.write(descriptor, block)
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC, exc
                        break
            size = os.fstat(descriptor).st_size
            os.ftruncate(descriptor, max(0, size - leave))
        finally:
            os.close(descriptor)
        free = os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize
        assert free <= leave + 8192, f"{free} bytes still free"

    def free(self) -> None:
        self.path.unlink()


def assert_full_answer(response: requests.Response, *, v2: bool, root: Path) -> None:
    """A JSON 507 in the API's envelope that says the storage is full and where."""
    assert response.status_code == 507, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    if v2:
        (entry,) = body["errors"]
        assert entry["code"] == "UNAVAILABLE"
        message = entry["message"]
    else:
        message = body["error"]
    assert "insufficient storage" in message
    assert "No space left on device [ENOSPC]" in message
    assert os.path.realpath(root) in message, "names the directory that is full"
    assert "free space" in message, "says what the operator should do"


def staging_files(root: Path) -> list[str]:
    staging = root / ".registry-staging"
    return sorted(os.listdir(staging)) if staging.exists() else []


def start_upload(base: str, repository: str) -> str:
    response = requests.post(f"{base}/v2/{repository}/blobs/uploads/", timeout=TIMEOUT)
    assert response.status_code == 202, response.text
    return base + response.headers["Location"]


def with_digest(location: str, value: str) -> str:
    return location + ("&" if "?" in location else "?") + f"digest={value}"


def push_blob(base: str, repository: str, data: bytes) -> requests.Response:
    """A single-request monolithic upload: ``POST ?digest=`` with the body."""
    return requests.post(
        f"{base}/v2/{repository}/blobs/uploads/?digest={digest(data)}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=TIMEOUT,
    )


def manifest_of(config: bytes, layer: bytes, note: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": digest(layer), "size": len(layer)}],
            "annotations": {"note": note},
        }
    ).encode()


def put_manifest(base: str, repository: str, tag: str, manifest: bytes) -> requests.Response:
    return requests.put(
        f"{base}/v2/{repository}/manifests/{tag}",
        data=manifest,
        headers={"Content-Type": OCI_MANIFEST},
        timeout=TIMEOUT,
    )


def v1_put(base: str, path: str, data: object, **headers: str) -> requests.Response:
    return requests.put(base + path, data=data, headers=headers, timeout=TIMEOUT)


def test_every_write_path_answers_507_on_a_full_disk_and_recovers(small_disk, start_registry):
    root = small_disk / "registry"
    registry = start_registry(storage_path=str(root))
    base = registry.url
    filler = Filler(small_disk / "filler")

    # -- stored before the disk fills: must stay byte-identical throughout -------------
    config = b'{"architecture":"amd64","os":"linux"}'
    seed_layer = os.urandom(2 * MiB)
    for blob in (config, seed_layer):
        assert push_blob(base, "full/seed", blob).status_code == 201
    seed_manifest = manifest_of(config, seed_layer, "seed")
    assert put_manifest(base, "full/seed", "v1", seed_manifest).status_code == 201
    seed_image = Image.create(layer=os.urandom(MiB))
    V1Client(base).push("full/seedv1", [seed_image], {"latest": seed_image.id})

    def assert_stored_content_intact() -> None:
        got = requests.get(f"{base}/v2/full/seed/manifests/v1", timeout=TIMEOUT)
        assert got.content == seed_manifest
        for blob in (config, seed_layer):
            got = requests.get(f"{base}/v2/full/seed/blobs/{digest(blob)}", timeout=TIMEOUT)
            assert got.status_code == 200 and got.content == blob
        (pulled,) = V1Client(base).pull("full/seedv1")
        assert pulled["layer"] == seed_image.layer

    # A chunked upload whose chunks are stored; its closing PUT comes when the disk is full.
    joined = os.urandom(4 * MiB)
    joined_session = start_upload(base, "full/joined")
    for offset in (0, 2 * MiB):
        patched = requests.patch(
            joined_session,
            data=joined[offset : offset + 2 * MiB],
            headers={"Content-Range": f"{offset}-{offset + 2 * MiB - 1}"},
            timeout=TIMEOUT,
        )
        assert patched.status_code == 202, patched.text
        joined_session = base + patched.headers["Location"]

    # -- nearly full: small writes fit, large bodies fail while being received ---------
    filler.fill(leave=256 * 1024)
    big = os.urandom(4 * MiB)

    # NOTE: a closing PUT that has to join the chunks into a new file needs room for
    # it and answers 507; one that publishes without a copy may succeed. Never a reset,
    # never a wrong blob.
    closing = requests.put(with_digest(joined_session, digest(joined)), timeout=TIMEOUT)
    if closing.status_code != 201:
        assert_full_answer(closing, v2=True, root=root)
    assert staging_files(root) == []
    filler.fill(leave=256 * 1024)  # a published upload frees its chunks

    monolithic = push_blob(base, "full/app", big)
    assert_full_answer(monolithic, v2=True, root=root)
    assert staging_files(root) == []

    put_session = start_upload(base, "full/app")
    put = requests.put(with_digest(put_session, digest(big)), data=big, timeout=TIMEOUT)
    assert_full_answer(put, v2=True, root=root)
    assert staging_files(root) == []

    patch_session = start_upload(base, "full/chunks")
    patched = requests.patch(
        patch_session,
        data=big,
        headers={"Content-Range": f"0-{len(big) - 1}"},
        timeout=TIMEOUT,
    )
    assert_full_answer(patched, v2=True, root=root)
    assert staging_files(root) == []
    status = requests.get(patch_session, timeout=TIMEOUT)
    assert status.status_code == 204 and status.headers.get("Range") in (None, "0-0", "0--1"), (
        "no half chunk was kept in the session"
    )

    big_image = Image.create(layer=big)
    small_image = Image.create(layer=os.urandom(16 * 1024))
    for image in (big_image, small_image):
        assert v1_put(base, f"/v1/images/{image.id}/json", image.json).status_code == 200
    # NOTE: chunked transfer encoding, as the Docker 1.x client sends layers.
    layer = v1_put(base, f"/v1/images/{big_image.id}/layer", big_image.chunks())
    assert_full_answer(layer, v2=False, root=root)
    assert staging_files(root) == []
    assert v1_put(base, f"/v1/images/{small_image.id}/layer", small_image.layer).status_code == 200

    # -- completely full: every small write fails too ----------------------------------
    filler.fill(leave=0)
    full_manifest = manifest_of(config, seed_layer, "written when full")
    fresh = Image.create()
    answers = {
        "manifest PUT": (put_manifest(base, "full/seed", "v2", full_manifest), True),
        "small monolithic blob": (push_blob(base, "full/app", b"tiny blob"), True),
        "v1 image json": (
            v1_put(base, f"/v1/images/{fresh.id}/json", fresh.json),
            False,
        ),
        "v1 tag": (
            v1_put(base, "/v1/repositories/full/other/tags/latest", json.dumps(seed_image.id)),
            False,
        ),
        "v1 repository": (
            v1_put(
                base,
                "/v1/repositories/full/announced/",
                json.dumps([{"id": seed_image.id}]),
                **{"Content-Type": "application/json"},
            ),
            False,
        ),
    }
    for name, (response, v2) in answers.items():
        try:
            assert_full_answer(response, v2=v2, root=root)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    # NOTE: the checksum was stored with the layer; completing it only removes the
    # upload mark, which needs no space.
    checksum = v1_put(
        base,
        f"/v1/images/{small_image.id}/checksum",
        None,
        **{"X-Docker-Checksum-Payload": small_image.payload_checksum()},
    )
    assert checksum.status_code == 200, checksum.text
    assert staging_files(root) == []
    assert_stored_content_intact()

    # -- space returns: the same pushes succeed, same process ----------------------------
    filler.free()
    assert push_blob(base, "full/app", big).status_code == 201
    done = requests.put(with_digest(put_session, digest(big)), data=big, timeout=TIMEOUT)
    assert done.status_code == 201, done.text
    patched = requests.patch(
        patch_session, data=big, headers={"Content-Range": f"0-{len(big) - 1}"}, timeout=TIMEOUT
    )
    assert patched.status_code == 202, patched.text
    closed = requests.put(
        with_digest(base + patched.headers["Location"], digest(big)), timeout=TIMEOUT
    )
    assert closed.status_code == 201, closed.text
    if closing.status_code != 201:
        closing = requests.put(with_digest(joined_session, digest(joined)), timeout=TIMEOUT)
        assert closing.status_code == 201, closing.text
    got = requests.get(f"{base}/v2/full/joined/blobs/{digest(joined)}", timeout=TIMEOUT)
    assert got.status_code == 200 and got.content == joined
    for repository in ("full/app", "full/chunks"):
        got = requests.get(f"{base}/v2/{repository}/blobs/{digest(big)}", timeout=TIMEOUT)
        assert got.status_code == 200 and got.content == big
    assert put_manifest(base, "full/seed", "v2", full_manifest).status_code == 201
    assert requests.get(f"{base}/v2/full/seed/manifests/v2", timeout=TIMEOUT).content == (
        full_manifest
    )
    V1Client(base).push("full/big", [big_image], {"latest": big_image.id})
    (pulled,) = V1Client(base).pull("full/big")
    assert pulled["layer"] == big
    V1Client(base).push("full/small", [small_image], {"latest": small_image.id})
    assert V1Client(base).pull("full/small")[0]["layer"] == small_image.layer
    assert_stored_content_intact()
    assert staging_files(root) == []
    assert registry.process.running, "served throughout, never restarted"
