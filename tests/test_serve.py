"""The served registry answers the meta routes over real HTTP."""

from __future__ import annotations

import requests


def test_ping_over_http(registry):
    response = requests.get(f"{registry.url}/v1/_ping", timeout=10)
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["X-Docker-Registry-Standalone"] == "True"


def test_unknown_path_is_json(registry):
    response = requests.get(f"{registry.url}/nope", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"].startswith("no such endpoint")


def test_tls_handshake_on_the_plain_port_is_refused_at_once(registry):
    """skopeo and podman probe HTTPS first; a hang would cost them 10 s per call."""
    import socket
    import time

    host, port = registry.host.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32)
        assert sock.recv(1024) == b""
        assert time.monotonic() - started < 2
    response = requests.get(f"{registry.url}/v1/_ping", timeout=10)
    assert response.status_code == 200


def _children(pid: int) -> set[int]:
    import pathlib

    tasks = pathlib.Path(f"/proc/{pid}/task")
    found: set[int] = set()
    for task in tasks.iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def _serving_processes(url: str, requests_count: int = 60) -> set[str]:
    """Request id prefixes (one per process) seen over fresh connections."""
    prefixes = set()
    for _ in range(requests_count):
        response = requests.get(f"{url}/v2/", headers={"Connection": "close"}, timeout=10)
        assert response.status_code == 200
        prefixes.add(response.headers["X-Request-Id"][:16])
    return prefixes


def test_workers_share_the_port_and_the_storage(start_registry):
    import hashlib
    import os
    import time

    registry = start_registry(workers=2)
    supervisor = registry.process.pid
    workers = _children(supervisor)
    assert len(workers) == 2
    deadline = time.monotonic() + 20
    while len(_serving_processes(registry.url)) < 2:
        assert time.monotonic() < deadline, "only one worker ever answered"
    # A blob pushed through one connection is there for every other (any worker).
    data = os.urandom(2 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = requests.post(f"{registry.url}/v2/w/r/blobs/uploads/", timeout=10)
    put = requests.put(
        f"{registry.url}{start.headers['Location']}&digest={digest}", data=data, timeout=30
    )
    assert put.status_code == 201, put.text
    for _ in range(10):
        fetched = requests.get(
            f"{registry.url}/v2/w/r/blobs/{digest}", headers={"Connection": "close"}, timeout=10
        )
        assert fetched.content == data


def test_a_dead_worker_is_replaced_and_stop_ends_them_all(start_registry):
    import os
    import signal
    import time

    registry = start_registry(workers=2)
    supervisor = registry.process.pid
    first = _children(supervisor)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        current = _children(supervisor)
        if len(current) == 2 and victim not in current:
            break
        assert time.monotonic() < deadline, f"worker not replaced: {current}"
        time.sleep(0.2)
    assert "starting another" in registry.log()
    assert requests.get(f"{registry.url}/v2/", timeout=10).status_code == 200
    os.kill(supervisor, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while registry.process.running or any(os.path.exists(f"/proc/{pid}") for pid in current):
        assert time.monotonic() < deadline, "workers outlived the supervisor's stop"
        time.sleep(0.2)
