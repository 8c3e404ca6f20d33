"""Fixtures for the v1 unit tests: the app on the inmemory driver, via falcon.testing."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import tarfile
from dataclasses import dataclass
from typing import Any

import falcon.testing
import pytest

from docker_registry.core.app import create_app
from docker_registry.core.config import Settings
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver

UA = "docker/0.10.1 go/go1.2.1 git-commit/3600720 kernel/3.8.0-19-generic os/linux arch/amd64"


def new_id() -> str:
    return secrets.token_hex(8)


def make_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 1_400_000_000
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def payload(json_data: bytes, layer: bytes) -> str:
    return "sha256:" + hashlib.sha256(json_data + b"\n" + layer).hexdigest()


@dataclass
class V1App:
    """A v1 app on an inmemory driver with helpers for common sequences."""

    client: falcon.testing.TestClient
    storage: Storage

    new_id = staticmethod(new_id)
    make_tar = staticmethod(make_tar)
    payload = staticmethod(payload)

    def put_json(self, image_id: str, parent: str | None = None, **extra: Any):
        data: dict[str, Any] = {"id": image_id, **extra}
        if parent:
            data["parent"] = parent
        body = json.dumps(data).encode()
        return body, self.client.simulate_put(f"/v1/images/{image_id}/json", body=body)

    def upload(
        self, image_id: str | None = None, parent: str | None = None, layer: bytes | None = None
    ) -> tuple[str, bytes, bytes]:
        """The seed's base.upload_image: json, layer, checksum; returns (id, json, layer)."""
        image_id = image_id or new_id()
        layer = make_tar({"f": image_id.encode()}) if layer is None else layer
        body, response = self.put_json(image_id, parent)
        assert response.status_code == 200, response.text
        response = self.client.simulate_put(f"/v1/images/{image_id}/layer", body=layer)
        assert response.status_code == 200, response.text
        response = self.client.simulate_put(
            f"/v1/images/{image_id}/checksum",
            headers={"X-Docker-Checksum-Payload": payload(body, layer)},
        )
        assert response.status_code == 200, response.text
        return image_id, body, layer


@pytest.fixture
def make_app():
    def make(storage: Storage | None = None, extra_plugins=(), **values: Any) -> V1App:
        storage = storage or Storage(InMemoryDriver())
        app = create_app(
            Settings.from_mapping(values), storage=storage, extra_plugins=extra_plugins
        )
        return V1App(falcon.testing.TestClient(app, headers={"User-Agent": UA}), storage)

    return make


@pytest.fixture
def v1(make_app) -> V1App:
    return make_app()
