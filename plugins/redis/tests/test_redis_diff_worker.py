"""The v1 diff queue and ``docker-registry diff-worker`` (spec R7 step 8, R10), for real:
a served registry, a real redis-server, real tar layers pushed with the v1 sequence.

* A completed checksum PUT and a ``GET .../diff`` without ``_diff`` push the image id
  (JSON-encoded) onto the Redis list ``diff-worker``, capped at 1024 entries.
* The worker pops ids and stores ``_diff``: for each file of the layer, walking the
  ancestors nearest first, ``deleted`` when this layer whites it out, else ``created``
  when the nearest ancestor holding it marks it deleted, ``changed`` when it does not;
  never seen: ``created``. A base image has no ancestor: everything, whiteouts included,
  is ``created`` (the seed's quirk).
* A Redis that does not answer is logged; pushes and pulls go on.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
import yaml

from docker_registry.testing.services import ServiceProcess, free_port, http_ready, wait_until

QUEUE = "diff-worker"


def layer(entries: dict[str, bytes]) -> bytes:
    """A tar layer with ``./``-prefixed members, as Docker 1.x wrote them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in entries.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(content)
            info.mtime = 1_400_000_000
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def push_image(url: str, data: bytes, parent: str | None = None) -> str:
    """json, layer, checksum of one v1 image; return its id."""
    image_id = secrets.token_hex(32)
    body: dict = {"id": image_id}
    if parent:
        body["parent"] = parent
    raw = json.dumps(body).encode()
    payload = "sha256:" + hashlib.sha256(raw + b"\n" + data).hexdigest()
    base = f"{url}/v1/images/{image_id}"
    assert requests.put(f"{base}/json", data=raw).status_code == 200
    assert requests.put(f"{base}/layer", data=data).status_code == 200
    done = requests.put(f"{base}/checksum", headers={"X-Docker-Checksum-Payload": payload})
    assert done.status_code == 200, done.text
    return image_id


def queued(client: redis.Redis) -> list[str]:
    """Ids on the queue, oldest first (the worker pops from the right)."""
    return [json.loads(item) for item in reversed(client.lrange(QUEUE, 0, -1))]


@pytest.fixture
def redis_server(own_redis) -> tuple[ServiceProcess, redis.Redis, int]:
    process = own_redis()
    port = int(process.url.rsplit(":", 1)[1].split("/")[0])
    return process, redis.Redis(host="127.0.0.1", port=port), port


class Registries:
    """Registries served from ``tmp_path``, each with its ``cache`` on a given Redis."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[ServiceProcess] = []

    def start(self, redis_port: int) -> tuple[str, Path]:
        """Serve one; return its URL and its config file (for the worker)."""
        config = {
            "storage": "file",
            "storage_path": str(self.tmp_path / "data"),
            "standalone": True,
            "loglevel": "info",
            "cache": {"host": "127.0.0.1", "port": redis_port, "db": 0},
        }
        config_path = self.tmp_path / "config.yml"
        config_path.write_text(yaml.safe_dump({"test": config}))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "docker_registry.core", "serve", "--config"]
        command += [
            str(config_path),
            "--flavor",
            "test",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        process = ServiceProcess(command, name="registry", url=url, ready=http_ready(f"{url}/v2/"))
        self.processes.append(process.start())
        return url, config_path


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[Registries]:
    started = Registries(tmp_path)
    yield started
    for process in started.processes:
        process.stop()


def worker_command(config_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "docker_registry.core", "diff-worker",
        "--config", str(config_path), "--flavor", "test", *extra,
    ]  # fmt: skip


def get_diff(url: str, image_id: str) -> requests.Response:
    return requests.get(f"{url}/v1/images/{image_id}/diff")


def files_of(url: str, image_id: str) -> dict[str, list]:
    listing = requests.get(f"{url}/v1/images/{image_id}/files").json()
    return {entry[0]: entry[1:] for entry in listing}


def test_checksum_put_and_get_diff_queue_the_image(redis_server, registries):
    _, client, port = redis_server
    url, _ = registries.start(port)
    image_id = push_image(url, layer({"etc/motd": b"hi"}))
    assert queued(client) == [image_id]
    response = get_diff(url, image_id)
    assert (response.status_code, response.content) == (200, b"")  # not computed yet: poll
    assert queued(client) == [image_id, image_id]
    # the list is capped at 1024 entries, the newest kept
    client.lpush(QUEUE, *[json.dumps(f"{number:016x}") for number in range(1100)])
    other = push_image(url, layer({"a": b"a"}))
    assert client.llen(QUEUE) == 1024
    assert queued(client)[-1] == other


def test_worker_computes_the_diff_against_the_ancestry(redis_server, registries):
    _, client, port = redis_server
    url, config_path = registries.start(port)
    worker = ServiceProcess(
        worker_command(config_path), name="diff-worker", ready=lambda: True
    ).start()
    try:
        base = push_image(
            url,
            layer(
                {
                    "etc/passwd": b"root",
                    "etc/hosts": b"localhost",
                    "bin/sh": b"#!",
                    "tmp/old": b"old",
                    ".wh.ghost": b"",
                }
            ),
        )
        middle = push_image(
            url,
            layer({"etc/hosts": b"127.0.0.1", "tmp/.wh.old": b"", "var/new": b"new"}),
            parent=base,
        )
        top = push_image(
            url,
            layer(
                {
                    "etc/passwd": b"root:x:0",  # in base, not deleted: changed
                    "etc/hosts": b"::1",  # in middle (nearest): changed
                    "tmp/old": b"again",  # nearest holder (middle) deletes it: created
                    "brand/new": b"new",  # in no ancestor: created
                    "bin/.wh.sh": b"",  # whited out here: deleted
                    ".wh.never": b"",  # whited out, in no ancestor: still deleted
                }
            ),
            parent=middle,
        )
        for image_id in (base, middle, top):
            wait_until(
                lambda image_id=image_id: get_diff(url, image_id).content != b"",  # type: ignore[misc]
                20,
                f"the _diff of {image_id}",
            )
        info = files_of(url, top)
        assert json.loads(get_diff(url, top).content) == {
            "changed": {path: info[path] for path in ("/etc/passwd", "/etc/hosts")},
            "created": {path: info[path] for path in ("/tmp/old", "/brand/new")},
            "deleted": {path: info[path] for path in ("/bin/sh", "/never")},
        }
        assert info["/bin/sh"][1] is True and info["/never"][1] is True  # whiteouts
        info = files_of(url, middle)
        assert json.loads(get_diff(url, middle).content) == {
            "changed": {"/etc/hosts": info["/etc/hosts"]},
            "created": {"/var/new": info["/var/new"]},
            "deleted": {"/tmp/old": info["/tmp/old"]},
        }
        # Zero ancestors (the seed's quirk): the whiteout /ghost lands in "created".
        info = files_of(url, base)
        assert info["/ghost"][1] is True
        assert json.loads(get_diff(url, base).content) == {
            "changed": {},
            "created": info,
            "deleted": {},
        }
        assert client.llen(QUEUE) == 0
        assert "Traceback" not in worker.log_tail(200)
    finally:
        worker.stop()


def test_worker_drain_mode_and_skipped_ids(redis_server, registries):
    _, client, port = redis_server
    url, config_path = registries.start(port)
    image_id = push_image(url, layer({"a": b"a"}))
    client.lpush(QUEUE, json.dumps("f" * 64), b"not json", json.dumps("../../etc"))
    started = time.monotonic()
    done = subprocess.run(
        worker_command(config_path, "--drain"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20
    assert client.llen(QUEUE) == 0
    assert json.loads(get_diff(url, image_id).content)["created"].keys() == {"/a"}
    # unknown, malformed and foreign ids are skipped with a line that says why
    assert "f" * 64 in done.stderr and "not json" in done.stderr and "../../etc" in done.stderr


def test_redis_down_is_logged_and_pushes_go_on(redis_server, registries):
    process, _, port = redis_server
    process.stop()
    url, _ = registries.start(port)
    image_id = push_image(url, layer({"a": b"a"}))
    response = get_diff(url, image_id)
    assert (response.status_code, response.content) == (200, b"")
    log = registries.processes[-1].log_tail(200)
    assert f"127.0.0.1:{port}" in log and "diff queue" in log, log
    assert "Traceback" not in log


def test_an_image_with_unreadable_stored_ancestry_does_not_stop_the_worker(
    redis_server, registries
):
    _, _, port = redis_server
    url, config_path = registries.start(port)
    broken = push_image(url, layer({"a": b"a"}))
    (config_path.parent / "data" / "images" / broken / "ancestry").write_text("not json")
    fine = push_image(url, layer({"b": b"b"}))
    done = subprocess.run(
        worker_command(config_path, "--drain"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert broken in done.stderr
    assert get_diff(url, broken).content == b""
    assert json.loads(get_diff(url, fine).content)["created"].keys() == {"/b"}
