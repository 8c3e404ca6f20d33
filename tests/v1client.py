"""A small Docker 1.x style v1 client for tests and benchmarks (spec §3.2, §3.3).

It speaks the v1 registry and standalone index API over real HTTP with ``requests``:
push (index announce, json, chunked layer, checksum with tarsum and payload headers,
tags, index finalize) and pull (index images with token, tags, ancestry, json, layer,
payload checksum verification). It shares no code with the server.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

CHUNK = 1024 * 1024
USER_AGENT = "docker/1.3.2 go/go1.3.3 git-commit/39fa2fa kernel/3.16.0 os/linux arch/amd64"


def random_id() -> str:
    return secrets.token_hex(32)


def make_tar(files: dict[str, bytes], *, mtime: int = 1_400_000_000) -> bytes:
    """An uncompressed tar holding ``files`` (``name -> content``); dirs end with ``/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = mtime
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                info.size = len(content)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def tarsum_v0(json_data: bytes, layer_chunks: Any) -> str:
    """tarsum v0 of a tar stream (iterable of chunks), as the Docker client computed it."""
    data = b"".join(layer_chunks)
    hashes = []
    if data:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for member in archive:
                name = member.name + (
                    "/" if member.isdir() and not member.name.endswith("/") else ""
                )
                header = (
                    f"name{name}mode{member.mode}uid{member.uid}gid{member.gid}"
                    f"size{member.size}mtime{int(member.mtime)}"
                    f"typeflag{member.type.decode('latin-1')}linkname{member.linkname}"
                    f"uname{member.uname}gname{member.gname}"
                    f"devmajor{member.devmajor}devminor{member.devminor}"
                )
                digest = hashlib.sha256(header.encode("utf-8", "surrogateescape"))
                if member.size > 0 and member.isreg():
                    digest.update(archive.extractfile(member).read())
                hashes.append(digest.hexdigest())
    digest = hashlib.sha256(json_data)
    for value in sorted(hashes):
        digest.update(value.encode())
    return "tarsum+sha256:" + digest.hexdigest()


@dataclass
class Image:
    """An image to push: raw json bytes and a layer (bytes, or a file path)."""

    id: str
    json: bytes
    layer: bytes | None = None
    layer_path: str | None = None
    parent: str | None = None
    tarsum: str | None = None

    @classmethod
    def create(
        cls,
        parent: Image | None = None,
        files: dict[str, bytes] | None = None,
        layer: bytes | None = None,
        image_id: str | None = None,
    ) -> Image:
        image_id = image_id or random_id()
        data: dict[str, Any] = {
            "id": image_id,
            "created": "2014-10-01T00:00:00Z",
            "container_config": {"Cmd": ["/bin/sh"]},
        }
        if parent is not None:
            data["parent"] = parent.id
        raw = json.dumps(data).encode()
        if layer is None:
            layer = make_tar(files if files is not None else {"hello.txt": image_id.encode()})
        return cls(image_id, raw, layer=layer, parent=parent.id if parent else None)

    def chunks(self) -> Iterator[bytes]:
        if self.layer_path is not None:
            with open(self.layer_path, "rb") as stream:
                yield from iter(lambda: stream.read(CHUNK), b"")
        else:
            data = self.layer or b""
            for start in range(0, len(data), CHUNK):
                yield data[start : start + CHUNK]

    def payload_checksum(self) -> str:
        digest = hashlib.sha256(self.json + b"\n")
        for chunk in self.chunks():
            digest.update(chunk)
        return "sha256:" + digest.hexdigest()

    def compute_tarsum(self) -> str:
        if self.tarsum is None:
            try:
                self.tarsum = tarsum_v0(self.json, self.chunks())
            except tarfile.TarError:
                self.tarsum = "tarsum+sha256:" + hashlib.sha256(self.json).hexdigest()
        return self.tarsum


class V1Error(AssertionError):
    """The server answered something the Docker client would not accept."""


@dataclass
class V1Client:
    """Pushes and pulls like Docker 1.x against ``base_url`` (registry == index)."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)
    token: str | None = None
    endpoints: list[str] = field(default_factory=list)
    checksums: bool = True

    def __post_init__(self) -> None:
        self.session.headers["User-Agent"] = USER_AGENT

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {}) or {}
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Token {self.token}"
        return self.session.request(method, self.url(path), headers=headers, **kwargs)

    def _expect(self, response: requests.Response, *statuses: int) -> requests.Response:
        if response.status_code not in statuses:
            raise V1Error(
                f"{response.request.method} {response.url} -> {response.status_code} "
                f"{response.text[:300]!r}"
            )
        return response

    def ping(self) -> requests.Response:
        return self._expect(self.session.get(self.url("/v1/_ping")), 200)

    def _take_token(self, response: requests.Response) -> None:
        token = response.headers.get("X-Docker-Token")
        endpoints = response.headers.get("X-Docker-Endpoints")
        if not token:
            raise V1Error("Index response didn't contain an access token")
        if not endpoints:
            raise V1Error("Index response didn't contain any endpoints")
        self.token = token
        self.endpoints = [item.strip() for item in endpoints.split(",")]

    # -- push --------------------------------------------------------------------------------

    def push(self, repository: str, images: list[Image], tags: dict[str, str]) -> None:
        """``docker push``: ``images`` base first; ``tags`` maps tag -> image id."""
        self.ping()
        announce = json.dumps([{"id": image.id} for image in images])
        response = self.session.put(
            self.url(f"/v1/repositories/{repository}/"),
            data=announce,
            headers={"X-Docker-Token": "true", "Content-Type": "application/json"},
        )
        self._expect(response, 200, 201)
        self._take_token(response)
        for image in images:
            self.push_image(image)
            for tag, image_id in tags.items():
                if image_id == image.id:
                    self.put_tag(repository, tag, image.id)
        final = json.dumps(
            [{"id": image.id, "checksum": image.compute_tarsum()} for image in images]
        )
        response = self.request(
            "PUT",
            f"/v1/repositories/{repository}/images",
            data=final,
            headers={
                "Content-Type": "application/json",
                "X-Docker-Endpoints": ",".join(self.endpoints),
            },
        )
        self._expect(response, 204)

    def push_image(self, image: Image) -> bool:
        """Push one image; ``False`` when the registry already had it."""
        response = self.request("GET", f"/v1/images/{image.id}/json")
        if response.status_code == 200:
            return False
        response = self.request(
            "PUT",
            f"/v1/images/{image.id}/json",
            data=image.json,
            headers={"Content-Type": "application/json"},
        )
        if response.status_code == 409 and response.json().get("error") == "Image already exists":
            return False
        self._expect(response, 200)
        self._expect(self.put_layer(image), 200)
        headers = {"X-Docker-Checksum-Payload": image.payload_checksum()}
        if self.checksums:
            headers["X-Docker-Checksum"] = image.compute_tarsum()
        response = self.request("PUT", f"/v1/images/{image.id}/checksum", headers=headers)
        if response.status_code == 409 and self._completed_by_another_pusher(image):
            # NOTE: another pusher completed the same image between our layer and our
            # checksum (spec R7 step 5: 409). Docker 1.x reports that push as failed and
            # skips the image on retry; this client skips it at once.
            return False
        self._expect(response, 200)
        return True

    def _completed_by_another_pusher(self, image: Image) -> bool:
        response = self.request("GET", f"/v1/images/{image.id}/json")
        checksum = response.headers.get("X-Docker-Checksum-Payload")
        return response.status_code == 200 and checksum == image.payload_checksum()

    def put_layer(self, image: Image) -> requests.Response:
        """Chunked layer upload (``Transfer-Encoding: chunked``, no Content-Length)."""
        return self.request(
            "PUT",
            f"/v1/images/{image.id}/layer",
            data=image.chunks(),
            headers={"Content-Type": "application/octet-stream"},
        )

    def put_tag(self, repository: str, tag: str, image_id: str) -> None:
        response = self.request(
            "PUT",
            f"/v1/repositories/{repository}/tags/{tag}",
            data=json.dumps(image_id),
            headers={"Content-Type": "application/json"},
        )
        self._expect(response, 200, 201)

    # -- pull --------------------------------------------------------------------------------

    def pull(
        self,
        repository: str,
        tag: str = "latest",
        *,
        into: str | None = None,
    ) -> list[dict[str, Any]]:
        """``docker pull``; returns ``[{id, json, layer|layer_path, size}]`` base first.

        Layers are kept in memory, or written under the directory ``into``. Payload
        checksums are verified against ``X-Docker-Checksum-Payload``.
        """
        self.ping()
        response = self.session.get(
            self.url(f"/v1/repositories/{repository}/images"),
            headers={"X-Docker-Token": "true"},
        )
        self._expect(response, 200)
        self._take_token(response)
        full = repository if "/" in repository else f"library/{repository}"
        tags = self._expect(self.request("GET", f"/v1/repositories/{full}/tags"), 200).json()
        if tag not in tags:
            raise V1Error(f"tag {tag} not in {tags}")
        ancestry = self._expect(self.request("GET", f"/v1/images/{tags[tag]}/ancestry"), 200).json()
        pulled = []
        for image_id in reversed(ancestry):
            pulled.append(self.pull_image(image_id, into=into))
        return pulled

    def pull_image(self, image_id: str, *, into: str | None = None) -> dict[str, Any]:
        response = self._expect(self.request("GET", f"/v1/images/{image_id}/json"), 200)
        raw_json = response.content
        size = int(response.headers.get("X-Docker-Size", "-1"))
        expected = response.headers.get("X-Docker-Checksum-Payload")
        digest = hashlib.sha256(raw_json + b"\n")
        layer = self.request("GET", f"/v1/images/{image_id}/layer", stream=True)
        self._expect(layer, 200)
        # NOTE: Docker only used Accept-Ranges to resume downloads; the registry must send
        # it, a storage backend it redirects to (``storage_redirect``) need not.
        if not layer.history and layer.headers.get("Accept-Ranges") != "bytes":
            raise V1Error("layer response without Accept-Ranges: bytes")
        result: dict[str, Any] = {"id": image_id, "json": raw_json}
        received = 0
        if into is not None:
            path = os.path.join(into, image_id)
            with open(path, "wb") as stream:
                for chunk in layer.iter_content(CHUNK):
                    digest.update(chunk)
                    stream.write(chunk)
                    received += len(chunk)
            result["layer_path"] = path
        else:
            parts = []
            for chunk in layer.iter_content(CHUNK):
                digest.update(chunk)
                parts.append(chunk)
                received += len(chunk)
            result["layer"] = b"".join(parts)
        if size >= 0 and received != size:
            raise V1Error(f"layer {image_id}: X-Docker-Size {size}, received {received}")
        if expected and expected != "sha256:" + digest.hexdigest():
            raise V1Error(f"layer {image_id}: payload checksum mismatch")
        result["size"] = received
        return result
