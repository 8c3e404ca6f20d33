"""Content builders of the UI tests: OCI images, indexes and artifacts as bytes, and a
pusher over any HTTP client (the app in process, or a served registry)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A gzipped tar of ``files`` (deterministic)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def image_config(
    layers: list[bytes],
    *,
    architecture: str = "amd64",
    labels: dict[str, str] | None = None,
    env: list[str] | None = None,
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
    created: str = "2026-11-30T12:00:00Z",
) -> bytes:
    diff_ids = [digest(gzip.decompress(layer)) for layer in layers]
    inner: dict[str, Any] = {
        "Cmd": cmd or ["/bin/sh"],
        "Env": env or ["PATH=/usr/bin:/bin"],
        "Labels": labels or {},
    }
    if entrypoint:
        inner["Entrypoint"] = entrypoint
    config = {
        "created": created,
        "architecture": architecture,
        "os": "linux",
        "config": inner,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": created, "created_by": f"ADD layer{index} /"}
            for index in range(len(layers))
        ],
    }
    return json.dumps(config, sort_keys=True).encode()


def manifest(
    config: bytes,
    layers: list[bytes],
    *,
    config_type: str = OCI_CONFIG,
    layer_type: str = OCI_LAYER,
    subject: dict | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": digest(config), "size": len(config)},
        "layers": [
            {"mediaType": layer_type, "digest": digest(layer), "size": len(layer)}
            for layer in layers
        ],
    }
    if subject is not None:
        doc["subject"] = subject
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc, indent=2).encode()


def index(children: list[tuple[bytes, str]]) -> bytes:
    """An OCI index of ``(manifest bytes, architecture)``."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest(data),
                    "size": len(data),
                    "platform": {"os": "linux", "architecture": arch},
                }
                for data, arch in children
            ],
        }
    ).encode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]


#: ``send(method, path, body, headers) -> Answer`` over some transport.
Send = Callable[[str, str, bytes, dict[str, str]], Answer]


class Pusher:
    """Pushes blobs and manifests with the v2 API through ``send``."""

    def __init__(self, send: Send) -> None:
        self.send = send

    def blob(self, name: str, data: bytes) -> str:
        found = digest(data)
        answer = self.send("POST", f"/v2/{name}/blobs/uploads/?digest={found}", data, {
            "Content-Type": "application/octet-stream"})  # fmt: skip
        assert answer.status == 201, answer
        return found

    def manifest(self, name: str, reference: str, data: bytes, media_type: str = OCI_MANIFEST):
        answer = self.send(
            "PUT", f"/v2/{name}/manifests/{reference}", data, {"Content-Type": media_type}
        )
        assert answer.status == 201, answer
        return digest(data)

    def image(self, name: str, tag: str | None, *, seed: str = "x", **config: Any) -> dict:
        """Push a one-layer image; return its parts."""
        layer = layer_tar({f"{seed}.txt": seed.encode() * 100})
        config_bytes = image_config([layer], **config)
        data = manifest(config_bytes, [layer])
        self.blob(name, layer)
        self.blob(name, config_bytes)
        self.manifest(name, tag or digest(data), data)
        return {"layer": layer, "config": config_bytes, "manifest": data, "digest": digest(data)}

    def multi_platform(self, name: str, tag: str) -> dict:
        children = []
        for arch in ("amd64", "arm64"):
            part = self.image(name, None, seed=arch, architecture=arch)
            children.append((part["manifest"], arch))
        data = index(children)
        self.manifest(name, tag, data, OCI_INDEX)
        return {"index": data, "digest": digest(data), "children": children}

    def referrer(self, name: str, subject: bytes, artifact_type: str, payload: bytes) -> str:
        """Push an artifact whose subject is the manifest ``subject``."""
        empty = b"{}"
        self.blob(name, empty)
        self.blob(name, payload)
        data = manifest(
            empty,
            [payload],
            config_type=OCI_EMPTY,
            layer_type="application/vnd.example.signature",
            subject={"mediaType": OCI_MANIFEST, "digest": digest(subject), "size": len(subject)},
            artifact_type=artifact_type,
            annotations={"org.opencontainers.image.created": "2026-12-01T00:00:00Z"},
        )
        return self.manifest(name, digest(data), data)
