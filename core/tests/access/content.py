"""Content for the access tests: a v2 image and a v1 image, pushed through an app."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 1_400_000_000
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@dataclass
class V2Image:
    layer: bytes
    config: bytes
    manifest: bytes

    @property
    def layer_digest(self) -> str:
        return sha256(self.layer)

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @classmethod
    def make(cls, text: str) -> V2Image:
        layer = tar_of({"file": text.encode()})
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha256(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha256(layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        return cls(layer, config, manifest)


def push_v2(client, name: str, tag: str, image: V2Image, headers: dict[str, str]) -> None:
    for blob in (image.layer, image.config):
        response = client.simulate_post(
            f"/v2/{name}/blobs/uploads/",
            params={"digest": sha256(blob)},
            body=blob,
            headers=headers,
        )
        assert response.status_code == 201, response.text
    response = client.simulate_put(
        f"/v2/{name}/manifests/{tag}",
        body=image.manifest,
        headers={**headers, "Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text


def push_v1(client, name: str, tag: str, image_id: str, headers: dict[str, str]) -> None:
    body = json.dumps({"id": image_id}).encode()
    layer = tar_of({"v1file": image_id.encode()})
    checksum = "sha256:" + hashlib.sha256(body + b"\n" + layer).hexdigest()
    for suffix, data, extra in (
        ("json", body, {}),
        ("layer", layer, {}),
        ("checksum", b"", {"X-Docker-Checksum-Payload": checksum}),
    ):
        response = client.simulate_put(
            f"/v1/images/{image_id}/{suffix}", body=data, headers={**headers, **extra}
        )
        assert response.status_code == 200, response.text
    response = client.simulate_put(
        f"/v1/repositories/{name}/tags/{tag}", body=json.dumps(image_id), headers=headers
    )
    assert response.status_code == 200, response.text
    response = client.simulate_put(
        f"/v1/repositories/{name}/", body=json.dumps([{"id": image_id}]), headers=headers
    )
    assert response.status_code == 200, response.text
