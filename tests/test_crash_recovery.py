"""Crash leftovers (issue 11, section 6): ``kill -9`` loses nothing acknowledged, and the
spool files it leaves are swept at start-up and periodically, never a live or young one."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from v1client import Image, V1Client

MiB = 1024 * 1024
HOUR = 3600
TIMEOUT = 60


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def aged(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"left by a crash")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_stale_spool_files_are_swept_at_start_up_and_periodically(start_registry, tmp_path):
    root = tmp_path / "data"
    staging = root / ".registry-staging"
    at_start = [
        aged(staging / ("1" * 32 + ".body"), 2 * HOUR),
        aged(staging / ("2" * 32 + ".tmp"), 2 * HOUR),
    ]
    fresh = aged(staging / ("3" * 32 + ".body"), 5 * 60)
    registry = start_registry(storage_path=str(root), spool_sweep_interval=0.2)
    # NOTE: the start-up sweep runs before the server accepts: it is done once ready.
    assert not any(path.exists() for path in at_start)
    assert fresh.exists()

    later = aged(staging / ("4" * 32 + ".body"), 2 * HOUR)
    wait_until(lambda: not later.exists(), 10, "the periodic sweep")
    assert fresh.exists(), "a file younger than spool_sweep_age stays"
    assert "removed 1 spool/staging file(s)" in registry.log()


def slow_body(first: bytes, hold: threading.Event) -> Iterator[bytes]:
    """Sends ``first``, then nothing until ``hold`` is set (the server dies first)."""
    yield first
    hold.wait(60)
    yield b"never"


def test_kill_9_mid_upload_keeps_every_acknowledged_blob(start_registry, tmp_path):
    root = tmp_path / "data"
    registry = start_registry(storage_path=str(root), threads=8)
    base = registry.url
    acknowledged_blobs: list[tuple[str, bytes]] = []
    acknowledged_images: list[Image] = []
    stop = threading.Event()
    hold = threading.Event()

    def monolithic(worker: int) -> None:
        while not stop.is_set():
            data = os.urandom(3 * MiB + worker)
            response = requests.post(
                f"{base}/v2/crash/mono{worker}/blobs/uploads/?digest={digest(data)}",
                data=data,
                timeout=TIMEOUT,
            )
            if response.status_code == 201:
                acknowledged_blobs.append((f"crash/mono{worker}", data))

    def chunked(worker: int) -> None:
        while not stop.is_set():
            data = os.urandom(4 * MiB + worker)
            start = requests.post(f"{base}/v2/crash/chunk{worker}/blobs/uploads/", timeout=TIMEOUT)
            location = base + start.headers["Location"]
            for offset in range(0, len(data), 2 * MiB):
                piece = data[offset : offset + 2 * MiB]
                patched = requests.patch(
                    location,
                    data=piece,
                    headers={"Content-Range": f"{offset}-{offset + len(piece) - 1}"},
                    timeout=TIMEOUT,
                )
                location = base + patched.headers["Location"]
            separator = "&" if "?" in location else "?"
            done = requests.put(f"{location}{separator}digest={digest(data)}", timeout=TIMEOUT)
            if done.status_code == 201:
                acknowledged_blobs.append((f"crash/chunk{worker}", data))

    def v1_layers(worker: int) -> None:
        client = V1Client(base)
        while not stop.is_set():
            image = Image.create(layer=os.urandom(3 * MiB))
            client.push(f"crash/v1w{worker}", [image], {"latest": image.id})
            acknowledged_images.append(image)

    def stalled(worker: int) -> None:
        """Bodies cut off mid-way by the kill: their spool files are the leftovers."""
        requests.post(
            f"{base}/v2/crash/stalled/blobs/uploads/?digest=sha256:{'0' * 64}",
            data=slow_body(os.urandom(MiB), hold),
            timeout=TIMEOUT,
        )

    def survive(body, worker: int) -> None:
        # NOTE: the server dies under the uploads: their errors are expected.
        with contextlib.suppress(requests.RequestException, KeyError, ValueError):
            body(worker)

    threads = [
        threading.Thread(target=survive, args=(body, worker), daemon=True)
        for body in (monolithic, chunked, v1_layers)
        for worker in range(2)
    ] + [threading.Thread(target=survive, args=(stalled, n), daemon=True) for n in range(3)]
    for thread in threads:
        thread.start()
    staging = root / ".registry-staging"
    wait_until(
        lambda: len(acknowledged_blobs) >= 6 and len(acknowledged_images) >= 2,
        120,
        "uploads to be acknowledged",
    )
    wait_until(
        lambda: len(list(staging.glob("*.body"))) >= 3, 30, "the stalled bodies to be spooling"
    )
    os.kill(registry.process.pid, signal.SIGKILL)
    stop.set()
    hold.set()
    for thread in threads:
        thread.join(TIMEOUT)
    blobs, images = list(acknowledged_blobs), list(acknowledged_images)
    leftovers = sorted(path.name for path in staging.iterdir())
    assert any(name.endswith(".body") for name in leftovers), "the kill cut bodies off"

    again = start_registry(storage_path=str(root))
    for repository, data in blobs:
        got = requests.get(f"{again.url}/v2/{repository}/blobs/{digest(data)}", timeout=TIMEOUT)
        assert got.status_code == 200, (repository, got.status_code)
        assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    for image in images:
        got = requests.get(f"{again.url}/v1/images/{image.id}/layer", timeout=TIMEOUT)
        assert got.status_code == 200 and got.content == image.layer
        meta = requests.get(f"{again.url}/v1/images/{image.id}/json", timeout=TIMEOUT)
        assert json.loads(meta.content)["id"] == image.id
    # NOTE: the crash's leftovers are minutes old: younger than spool_sweep_age, they stay
    # until the periodic sweep finds them an hour old.
    assert set(leftovers) <= set(os.listdir(staging))
