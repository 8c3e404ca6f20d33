"""``podman search`` against a live registry, as a user runs it, for any search backend.

:func:`check_podman_search` pushes a v1 repository and a v2 repository (plain HTTP, the
protocols' own sequences) next to an unrelated one, then runs
``podman search --tls-verify=false HOST:PORT/<term>``: podman asks ``/v1/search?q=<term>``
first and lists what it answers, so both pushed repositories must be found and the
unrelated one must not. ``--limit 1`` (podman sends ``n=1``) must list one.

Fails loudly when podman is missing (``apt-get install podman``), never skips.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import shutil
import subprocess
import tarfile
import tempfile

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_v1_repository(url: str, repository: str) -> None:
    """Push one image tagged ``latest`` to ``<ns>/<repo>`` over v1 (spec §3.2)."""
    image_id = secrets.token_hex(32)
    image_json = json.dumps({"id": image_id}).encode()
    layer = _tar({"hello": repository.encode()})
    base = f"{url}/v1"
    steps = [
        requests.put(f"{base}/images/{image_id}/json", data=image_json),
        requests.put(f"{base}/images/{image_id}/layer", data=layer),
        requests.put(
            f"{base}/images/{image_id}/checksum",
            headers={"X-Docker-Checksum-Payload": _sha256(image_json + b"\n" + layer)},
        ),
        requests.put(f"{base}/repositories/{repository}/tags/latest", data=json.dumps(image_id)),
    ]
    for response in steps:
        assert response.status_code == 200, (response.request.url, response.text)


def push_v2_repository(url: str, repository: str) -> None:
    """Push one OCI image tagged ``latest`` to ``repository`` over v2."""
    layer = _tar({"hello": repository.encode()})
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [_sha256(layer)]}}).encode()
    for blob in (layer, config):
        started = requests.post(
            f"{url}/v2/{repository}/blobs/uploads/?digest={_sha256(blob)}", data=blob
        )
        assert started.status_code == 201, started.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _sha256(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    response = requests.put(
        f"{url}/v2/{repository}/manifests/latest",
        data=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text


def podman_command(root: str) -> list[str]:
    """``podman`` with its storage under ``root`` and nothing that needs a daemon, a
    systemd or an overlay mount (how podman runs on these machines and in CI).

    NOTE: keep ``root`` short, under /tmp: podman refuses a runroot longer than 50
    characters.
    """
    return [
        "podman",
        "--root",
        f"{root}/root",
        "--runroot",
        f"{root}/run",
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
    ]


def podman_search(host: str, term: str, *extra: str) -> list[str]:
    """Names listed by ``podman search --tls-verify=false <host>/<term>``."""
    if shutil.which("podman") is None:
        raise AssertionError("podman is missing: apt-get install -y podman")
    # NOTE: short, under /tmp: podman refuses a runroot longer than 50 characters.
    root = tempfile.mkdtemp(prefix="psr-", dir="/tmp")
    try:
        done = subprocess.run(
            [
                *podman_command(root),
                "search",
                "--tls-verify=false",
                "--format",
                "{{.Name}}",
                *extra,
                f"{host}/{term}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert done.returncode == 0, f"podman search failed:\n{done.stdout}\n{done.stderr}"
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def check_podman_search(url: str, host: str) -> None:
    """Push v1 ``acme/widget-one``, v2 ``acme/widget-two`` and ``other/thing``; podman
    must find the two widgets by a term, and one with ``--limit 1``."""
    push_v1_repository(url, "acme/widget-one")
    push_v2_repository(url, "acme/widget-two")
    push_v1_repository(url, "other/thing")
    push_v2_repository(url, "other/thing2")
    found = podman_search(host, "widget")
    assert sorted(found) == [f"{host}/acme/widget-one", f"{host}/acme/widget-two"], found
    assert len(podman_search(host, "widget", "--limit", "1")) == 1
    everything = podman_search(host, "t")
    assert f"{host}/other/thing" in everything and f"{host}/other/thing2" in everything
