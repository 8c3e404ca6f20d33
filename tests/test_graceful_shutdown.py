"""SIGTERM while a large blob is being pushed: the push completes (or, past
shutdown_timeout, its connection is closed), new connections are refused, the process
logs what it did and exits 0, and nothing is left in staging. SIGHUP toggles read-only
mode without dropping a connection."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

BODY = 48 * 1024 * 1024


def _start_upload(url: str) -> str:
    start = requests.post(f"{url}/v2/big/app/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    return start.headers["Location"]


def _send_head(host: str, location: str, digest: str, size: int) -> socket.socket:
    address, port = host.split(":")
    sock = socket.create_connection((address, int(port)), timeout=60)
    head = (
        f"PUT {location}&digest={digest} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def _status(sock: socket.socket) -> int | None:
    """The status of the response on ``sock``, ``None`` if the server closed it."""
    received = b""
    try:
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None
    return int(received.split(b" ", 2)[1])


def _wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _staging(registry) -> list[str]:
    staging = Path(registry.storage_path) / ".registry-staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def _refused(host: str) -> bool:
    address, port = host.split(":")
    try:
        socket.create_connection((address, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _blob_stored(registry, digest: str) -> bool:
    hexdigest = digest.split(":", 1)[1]
    return any(
        path.parent.name == hexdigest and path.name == "data"
        for path in Path(registry.storage_path).rglob("data")
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_push_in_flight_completes_and_the_process_exits_0(start_registry, workers):
    registry = start_registry(workers=workers, shutdown_timeout=60)
    data = os.urandom(BODY)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = _start_upload(registry.url)
    sock = _send_head(registry.host, location, digest, len(data))
    sock.sendall(data[: BODY // 2])

    codes: list[int | None] = []
    stopper = threading.Thread(target=lambda: codes.append(registry.process.stop(remove_log=False)))
    stopper.start()
    _wait_for(lambda: "received SIGTERM" in registry.log(), "the stop to be logged")
    _wait_for(lambda: _refused(registry.host), "new connections to be refused", 10)
    # the rest of the body, after the stop
    sock.sendall(data[BODY // 2 :])
    assert _status(sock) == 201
    sock.close()
    stopper.join(30)
    assert codes == [0], registry.log()
    log = registry.log()
    assert "waiting up to 60 s for 1 request(s) in flight" in log
    assert "stopped after" in log
    assert _blob_stored(registry, digest)
    assert _staging(registry) == []


def test_a_push_past_shutdown_timeout_is_cut_and_leaves_nothing(start_registry):
    registry = start_registry(shutdown_timeout=1)
    data = os.urandom(BODY)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = _start_upload(registry.url)
    sock = _send_head(registry.host, location, digest, len(data))
    sock.sendall(data[: BODY // 2])
    _wait_for(lambda: _staging(registry) != [], "the body to be spooled")
    started = time.monotonic()
    code = registry.process.stop(remove_log=False)
    assert code == 0, registry.log()
    assert time.monotonic() - started < 8
    # the stalled client hears the connection close, never a success
    assert _status(sock) is None
    sock.close()
    log = registry.log()
    assert "1 request(s) still in flight after 1 s (shutdown_timeout)" in log
    assert not _blob_stored(registry, digest)
    assert _staging(registry) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_toggles_readonly_without_dropping_connections(start_registry, workers):
    registry = start_registry(workers=workers)
    address, port = registry.host.split(":")
    # one keep-alive connection carries every request of the test
    connection = http.client.HTTPConnection(address, int(port), timeout=10)
    path = "/v2/hup/app/blobs/uploads/"

    def post_status() -> int:
        connection.request("POST", path, body=b"")
        response = connection.getresponse()
        response.read()
        return response.status

    def fresh_post_status() -> int:
        return requests.post(f"{registry.url}{path}", timeout=10).status_code

    def set_readonly(value: bool) -> None:
        config = yaml.safe_load(registry.config_path.read_text())
        config["test"]["readonly"] = value
        registry.config_path.write_text(yaml.safe_dump(config))
        os.kill(registry.process.pid, signal.SIGHUP)

    def switched(state: str) -> int:
        return registry.process.log_tail(100_000).count(f"read-only mode is now {state}")

    assert post_status() == 202
    local = connection.sock.getsockname()
    set_readonly(True)
    _wait_for(lambda: post_status() == 405, "read-only mode after SIGHUP")
    # the kernel may hand every new connection to one worker: each worker says when it switched
    _wait_for(lambda: switched("ON") == workers, "every worker")
    assert all(fresh_post_status() == 405 for _ in range(8))
    refused = requests.post(f"{registry.url}{path}", timeout=10)
    assert "read-only" in refused.json()["errors"][0]["message"]
    assert requests.get(f"{registry.url}/v2/", timeout=10).status_code == 200
    set_readonly(False)
    _wait_for(lambda: post_status() == 202, "writes after SIGHUP")
    _wait_for(lambda: switched("off") == workers, "every worker")
    assert all(fresh_post_status() == 202 for _ in range(8))
    assert connection.sock.getsockname() == local, "the connection was dropped"
    connection.close()
    assert registry.process.running
    assert "read-only mode is now ON" in registry.log()
