"""The cache under real v1 traffic: a served process, and measured storage reads per pull."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import falcon.testing
import redis
import requests

from docker_registry.testing.services import free_port, wait_until

PULLS = 10


def make_image(image_id: str, parent: str | None = None) -> tuple[bytes, bytes, str]:
    """(json, layer tar, payload checksum) of a small v1 image."""
    data = {"id": image_id, "created": "2014-10-01T00:00:00Z"}
    if parent:
        data["parent"] = parent
    raw = json.dumps(data).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(image_id)
        archive.addfile(info, io.BytesIO(image_id.encode()))
    layer = buffer.getvalue()
    return raw, layer, "sha256:" + hashlib.sha256(raw + b"\n" + layer).hexdigest()


def push(client: falcon.testing.TestClient, repository: str, ids: list[str]) -> None:
    """A Docker 1.x push: announce, json/layer/checksum per image, tag, finalize."""
    announce = json.dumps([{"id": image_id} for image_id in ids])
    assert client.simulate_put(f"/v1/repositories/{repository}/", body=announce).status_code == 200
    parent = None
    for image_id in ids:
        raw, layer, checksum = make_image(image_id, parent)
        assert client.simulate_put(f"/v1/images/{image_id}/json", body=raw).status_code == 200
        assert client.simulate_put(f"/v1/images/{image_id}/layer", body=layer).status_code == 200
        headers = {"X-Docker-Checksum-Payload": checksum}
        result = client.simulate_put(f"/v1/images/{image_id}/checksum", headers=headers)
        assert result.status_code == 200, result.text
        parent = image_id
    tag = client.simulate_put(f"/v1/repositories/{repository}/tags/latest", body=f'"{ids[-1]}"')
    assert tag.status_code == 200
    final = client.simulate_put(f"/v1/repositories/{repository}/images", body="[]")
    assert final.status_code == 204


def pull(client: falcon.testing.TestClient, repository: str) -> None:
    """A Docker 1.x pull: index images, tags, ancestry, then json and layer per image."""
    assert client.simulate_get(f"/v1/repositories/{repository}/images").status_code == 200
    tags = client.simulate_get(f"/v1/repositories/{repository}/tags").json
    ancestry = client.simulate_get(f"/v1/images/{tags['latest']}/ancestry").json
    for image_id in reversed(ancestry):
        assert client.simulate_get(f"/v1/images/{image_id}/json").status_code == 200
        assert client.simulate_get(f"/v1/images/{image_id}/layer").status_code == 200


def measure(make_storage, cache_lru: dict | None, *, empty_cache: bool = False) -> tuple[int, int]:
    """Driver ``get_content`` calls of the first pull and of the next ``PULLS - 1``.

    :param empty_cache: forget every cached file after the push (a restarted Redis).
    """
    storage, app = make_storage(cache_lru)
    client = falcon.testing.TestClient(app)
    ids = [f"{number:x}" * 64 for number in range(1, 4)]
    push(client, "measure/app", ids)
    if empty_cache:
        storage.cache.cache.delete_prefix("/")
    storage.driver.reads.clear()
    pull(client, "measure/app")
    cold = storage.driver.total_reads
    for _ in range(PULLS - 1):
        pull(client, "measure/app")
    return cold, storage.driver.total_reads - cold


def test_v1_pull_reads_small_files_from_redis_once_warm(redis_url, make_storage) -> None:
    plain_cold, plain_warm = measure(make_storage, None)
    cached_cold, cached_warm = measure(make_storage, {"url": redis_url})
    empty_cold, empty_warm = measure(make_storage, {"url": redis_url}, empty_cache=True)
    print(
        f"\nget_content calls for {PULLS} v1 pulls of a 3-image repository (first + rest): "
        f"without Redis {plain_cold} + {plain_warm}; with Redis after the push "
        f"{cached_cold} + {cached_warm}; with Redis emptied after the push "
        f"{empty_cold} + {empty_warm}"
    )
    assert plain_cold > 0
    assert plain_warm == plain_cold * (PULLS - 1)  # every pull reads storage again
    assert (cached_cold, cached_warm) == (0, 0)  # the push wrote every small file through
    assert empty_cold == plain_cold  # a cold cache misses once per file...
    assert empty_warm == 0  # ...then serves every later read


def test_served_process_reads_through_redis(redis_url, tmp_path: Path) -> None:
    storage_path = tmp_path / "data"
    parts = urlsplit(redis_url)
    config = tmp_path / "config.yml"
    config.write_text(
        "dev:\n  storage: file\n"
        f"  storage_path: {storage_path}\n"
        f"  cache_lru:\n    host: {parts.hostname}\n    port: {parts.port}\n"
        f"    db: {parts.path.strip('/') or 0}\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "SETTINGS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "docker_registry.core", "serve", "--config", str(config),
         "--flavor", "dev", "--host", "127.0.0.1", "--port", str(port), "--threads", "2"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{base}/_ping", timeout=1).ok, 20, "registry to serve")
        image_id = "e" * 64
        raw, layer, checksum = make_image(image_id)
        image = f"{base}/v1/images/{image_id}"
        assert requests.put(f"{image}/json", data=raw, timeout=5).status_code == 200
        assert requests.put(f"{image}/layer", data=layer, timeout=5).status_code == 200
        headers = {"X-Docker-Checksum-Payload": checksum}
        put = requests.put(f"{image}/checksum", headers=headers, timeout=5)
        assert put.status_code == 200, put.text
        key = f"cache_path:file:{storage_path}/images/{image_id}/json"
        client = redis.Redis.from_url(redis_url)
        assert client.get(key) == raw  # written through
        (storage_path / "images" / image_id / "json").write_bytes(b'{"changed": "on disk"}')
        started = time.monotonic()
        got = requests.get(f"{base}/v1/images/{image_id}/json", timeout=5)
        assert got.status_code == 200, got.text
        assert got.content == raw  # served from Redis, not from the file
        assert time.monotonic() - started < 2
        client.delete(key)
        assert requests.get(f"{base}/v1/images/{image_id}/json", timeout=5).content == (
            b'{"changed": "on disk"}'
        )
        assert client.get(key) == b'{"changed": "on disk"}'  # cached on the miss
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
