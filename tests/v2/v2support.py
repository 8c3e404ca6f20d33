"""Helpers of the v2 black-box suite: start servers, build images, a tiny v2 client.

The reference registry is CNCF distribution 2.8 (Debian ``docker-registry``), started
with file storage in a temporary folder, exactly as ``reference-registry.sh`` does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from registry_process import start_registry_process

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

REFERENCE_BINARY = "/usr/bin/docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@dataclass
class Server:
    """A v2 registry under test.

    :param kind: ``ours`` or ``reference``.
    :param url: base URL.
    :param host: ``127.0.0.1:PORT``.
    :param storage_path: the file storage root (``.../data``).
    """

    kind: str
    url: str
    host: str
    storage_path: Path
    process: ServiceProcess

    @property
    def is_reference(self) -> bool:
        return self.kind == "reference"


def start_ours(workdir: Path, storage_path: Path | None = None, **values) -> Server:
    """Start our registry with file storage (deletes enabled unless told otherwise)."""
    workdir.mkdir(parents=True, exist_ok=True)
    storage_path = storage_path or workdir / "data"
    config = {
        "storage": "file",
        "storage_path": str(storage_path),
        "loglevel": "warning",
        "delete_enabled": True,
    }
    config.update(values)
    process, port = start_registry_process(workdir, config)
    url = f"http://127.0.0.1:{port}"
    return Server("ours", url, f"127.0.0.1:{port}", storage_path, process)


def start_reference(
    workdir: Path, storage_path: Path | None = None, auth: dict | None = None
) -> Server:
    """Start the reference registry (distribution 2.8) on file storage.

    :param auth: its ``auth`` section (``{"token": {"realm": ..., ...}}``), if any.
    """
    if not os.path.exists(REFERENCE_BINARY):
        pytest.fail("the reference registry is missing: apt-get install docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    storage_path = storage_path or workdir / "data"
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "cache": {"blobdescriptor": "inmemory"},
            "filesystem": {"rootdirectory": str(storage_path)},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "reference-registry-test-secret"},
    }
    if auth is not None:
        config["auth"] = auth
    config_path = workdir / "reference.yml"
    config_path.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        [REFERENCE_BINARY, "serve", str(config_path)],
        name="reference",
        url=url,
        ready=http_ready(f"{url}/v2/"),
        cwd=workdir,
        startup_timeout=30,
    ).start()
    return Server("reference", url, f"127.0.0.1:{port}", storage_path, process)


# -- content ---------------------------------------------------------------------------


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A gzipped tar holding ``files`` (deterministic)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def image_config(layers: list[bytes]) -> bytes:
    """An OCI image config whose rootfs lists the uncompressed layer digests."""
    diff_ids = [digest(gzip.decompress(layer)) for layer in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(config, sort_keys=True).encode()


def image_manifest(
    config: bytes,
    layers: list[bytes],
    *,
    docker: bool = False,
    subject: dict | None = None,
    artifact_type: str | None = None,
    config_type: str | None = None,
) -> bytes:
    """A manifest (OCI, or Docker schema 2 with ``docker=True``) for config and layers."""
    manifest: dict = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {
            "mediaType": config_type or (DOCKER_CONFIG if docker else OCI_CONFIG),
            "digest": digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                "digest": digest(layer),
                "size": len(layer),
            }
            for layer in layers
        ],
    }
    if subject is not None:
        manifest["subject"] = subject
    if artifact_type is not None:
        manifest["artifactType"] = artifact_type
    return json.dumps(manifest, indent=2).encode()


def write_oci_layout(directory: Path, tag: str, files: dict[str, bytes]) -> dict:
    """Write a one-layer OCI image layout at ``directory``; return its parts."""
    layer = layer_tar(files)
    config = image_config([layer])
    manifest = image_manifest(config, [layer])
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for data in (layer, config, manifest):
        (blobs / digest(data).split(":")[1]).write_bytes(data)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return {"layer": layer, "config": config, "manifest": manifest}


def with_digest(location: str, value: str) -> str:
    """An upload URL with ``digest=`` added to its query (which may hold ``_state``)."""
    return f"{location}{'&' if '?' in location else '?'}digest={value}"


class Client:
    """Tiny v2 client over requests, for tests that drive the protocol step by step."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()

    def absolute(self, location: str) -> str:
        return location if location.startswith("http") else self.url + location

    def push_blob(self, repo: str, data: bytes) -> str:
        """Monolithic POST + PUT; return the digest."""
        response = self.http.post(f"{self.url}/v2/{repo}/blobs/uploads/")
        assert response.status_code == 202, response.text
        location = self.absolute(response.headers["Location"])
        sep = "&" if "?" in location else "?"
        done = self.http.put(
            f"{location}{sep}digest={digest(data)}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        return digest(data)

    def push_manifest(
        self, repo: str, reference: str, manifest: bytes, media_type: str = OCI_MANIFEST
    ) -> requests.Response:
        return self.http.put(
            f"{self.url}/v2/{repo}/manifests/{reference}",
            data=manifest,
            headers={"Content-Type": media_type},
        )

    def push_image(self, repo: str, tag: str, *, docker: bool = False, seed: str = "x") -> dict:
        """Push a one-layer image and tag it; return its parts."""
        layer = layer_tar({"hello.txt": f"hello {seed}\n".encode()})
        config = image_config([layer])
        self.push_blob(repo, layer)
        self.push_blob(repo, config)
        manifest = image_manifest(config, [layer], docker=docker)
        response = self.push_manifest(
            repo, tag, manifest, DOCKER_MANIFEST if docker else OCI_MANIFEST
        )
        assert response.status_code == 201, response.text
        return {"layer": layer, "config": config, "manifest": manifest, "digest": digest(manifest)}
