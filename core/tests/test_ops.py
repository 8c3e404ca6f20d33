"""Metrics (off by default, labelled by route template, storage and cache timings) and
the readiness probe naming the backend that fails."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket

import falcon.testing

from docker_registry.core.app import create_app
from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.hookspecs import CacheBackendSpec, hookimpl
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver


def _client(values: dict, **kw) -> falcon.testing.TestClient:
    settings = Settings.from_mapping({"storage": "inmemory", **values})
    return falcon.testing.TestClient(create_app(settings, storage=Storage(InMemoryDriver()), **kw))


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match[3])
    return total


def test_metrics_are_off_by_default():
    client = _client({})
    assert client.simulate_get("/metrics").status_code == 404
    assert client.simulate_get("/healthz").status_code == 200


def test_a_bad_metrics_section_is_a_config_error():
    import pytest

    with pytest.raises(ConfigError, match=r"metrics\.enabled"):
        _client({"metrics": {"enabled": "sometimes"}})
    with pytest.raises(ConfigError, match="port"):
        _client({"metrics": {"enabled": True, "port": 9000}})


def test_requests_bytes_and_storage_operations_are_counted():
    client = _client({"metrics": {"enabled": True}})
    before = client.simulate_get("/metrics").text
    data = b"x" * 5000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = client.simulate_post("/v2/m/r/blobs/uploads/")
    put = client.simulate_put(start.headers["Location"] + f"&digest={digest}", body=data)
    assert put.status_code == 201
    assert client.simulate_get(f"/v2/m/r/blobs/{digest}").content == data
    assert client.simulate_get("/v2/m/r/blobs/sha256:" + "0" * 64).status_code == 404
    after = client.simulate_get("/metrics").text

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("registry_http_requests_total", route="v2 uploads", status="201") == 1
    assert delta("registry_http_requests_total", route="v2 blobs", method="GET") == 2
    assert delta("registry_http_request_duration_seconds_count", route="v2 blobs") == 2
    assert delta("registry_http_received_bytes_total", route="v2 uploads") == len(data)
    assert delta("registry_http_sent_bytes_total", route="v2 blobs") >= len(data)
    assert delta("registry_storage_operation_duration_seconds_count", driver="inmemory") > 0
    assert delta("registry_storage_errors_total", error="PathNotFoundError") >= 1
    assert "m/r" not in after
    assert delta("registry_cache_requests_total") == 0  # no cache configured
    # nothing is uploading now
    assert _value(after, "registry_uploads_in_flight") == 0


class _DictCache:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def get(self, path: str) -> bytes | None:
        return self.values.get(path)

    def set(self, path: str, content: bytes) -> None:
        self.values[path] = content

    def delete(self, path: str) -> None:
        self.values.pop(path, None)

    def delete_prefix(self, directory: str) -> None:
        for key in [k for k in self.values if k.startswith(directory)]:
            del self.values[key]


class _DictCachePlugin:
    @hookimpl
    def registry_cache_backends(self):
        yield CacheBackendSpec("dict", lambda registry: _DictCache())


def test_cache_hits_and_misses_are_counted_when_a_cache_is_on():
    client = _client(
        {"metrics": {"enabled": True}, "cache_backend": "dict"}, extra_plugins=[_DictCachePlugin()]
    )
    before = client.simulate_get("/metrics").text
    index_type = "application/vnd.oci.image.index.v1+json"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": []}).encode()
    put = client.simulate_put(
        "/v2/c/r/manifests/t",
        body=manifest,
        headers={"Content-Type": index_type},
    )
    assert put.status_code == 201, put.text
    for _ in range(3):
        assert client.simulate_get("/v2/c/r/manifests/t").status_code == 200
    after = client.simulate_get("/metrics").text
    hits = _value(after, "registry_cache_requests_total", result="hit") - _value(
        before, "registry_cache_requests_total", result="hit"
    )
    assert hits >= 1
    assert client.simulate_get("/readyz").json["checks"]["cache"] == "ok"


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_readyz_names_an_unreachable_upstream():
    port = _dead_port()
    client = _client({"mirroring": {"source": f"http://127.0.0.1:{port}"}})
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 503
    assert ready.json["status"] == "not ready"
    assert ready.json["failed"] == ["upstream"]
    assert "ConnectionError" in ready.json["checks"]["upstream"]
    assert ready.json["checks"]["storage"] == "ok"
    assert client.simulate_get("/healthz").status_code == 200


def test_readyz_names_unreachable_storage(tmp_path):
    from docker_registry.drivers.file import FileDriver

    root = tmp_path / "root"
    root.mkdir()
    storage = Storage(FileDriver(storage_path=str(root)))
    settings = Settings.from_mapping({"storage": "file", "storage_path": str(root)})
    client = falcon.testing.TestClient(create_app(settings, storage=storage))
    assert client.simulate_get("/readyz").status_code == 200
    # The storage root becomes unusable (a symlink loop: every access fails with ELOOP,
    # even for root, unlike permissions).
    shutil.rmtree(root)
    root.symlink_to(root)
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json["failed"] == ["storage"]
