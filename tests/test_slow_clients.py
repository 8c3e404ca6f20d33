"""Slow or silent clients do not stall the server: downloads never hold a worker thread.

Every worker thread (and two more) gets a download from a client that never reads, on
both APIs, whole and ranged; another client's ``GET /v2/`` must still answer at once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
import requests
from v1client import Image, V1Client

THREADS = 4
#: Larger than waitress's output buffer limit (16 MiB) plus loopback socket buffers: a
#: worker thread copying it to a client that never reads would wait.
SIZE = 48 * 1024 * 1024


def silent_download(url: str, path: str, headers: dict[str, str]) -> socket.socket:
    """Send a GET and never read the answer (a tiny receive window, as a stalled peer)."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def answers_quickly(url: str) -> float:
    started = time.monotonic()
    response = requests.get(f"{url}/v2/", timeout=10)
    assert response.status_code == 200
    return time.monotonic() - started


@pytest.fixture
def filled(start_registry):
    """A registry with a 48 MiB v1 layer and the same bytes as a v2 blob."""
    registry = start_registry(threads=THREADS)
    layer = os.urandom(SIZE)
    image = Image.create(layer=layer)
    V1Client(registry.url).push("slow/v1", [image], {"latest": image.id})
    value = "sha256:" + hashlib.sha256(layer).hexdigest()
    pushed = requests.post(
        f"{registry.url}/v2/slow/v2/blobs/uploads/?digest={value}", data=layer, timeout=60
    )
    assert pushed.status_code == 201, pushed.text
    return registry, image.id, value


@pytest.mark.parametrize(
    ("api", "ranged"),
    [("v1", False), ("v1", True), ("v2", False), ("v2", True)],
)
def test_clients_that_never_read_leave_the_workers_free(filled, api, ranged):
    registry, image_id, value = filled
    path = f"/v1/images/{image_id}/layer" if api == "v1" else f"/v2/slow/v2/blobs/{value}"
    # NOTE: a middle range: it ends before the file does.
    headers = {"Range": f"bytes=1000-{SIZE - 1000}"} if ranged else {}
    with ExitStack() as stack:
        for _ in range(THREADS + 2):
            stack.callback(silent_download(registry.url, path, headers).close)
        time.sleep(1.0)  # every worker has taken its request by now
        assert answers_quickly(registry.url) < 1.0, registry.log()
    assert answers_quickly(registry.url) < 1.0


def test_ranges_send_exactly_their_bytes(filled):
    """The same ranged reads, taken to the end by a reading client, are exact."""
    registry, image_id, value = filled
    for path in (f"/v1/images/{image_id}/layer", f"/v2/slow/v2/blobs/{value}"):
        response = requests.get(
            registry.url + path, headers={"Range": "bytes=1000-2999999"}, timeout=60
        )
        assert response.status_code == 206
        assert len(response.content) == 2999000
        assert response.headers["Content-Range"] == f"bytes 1000-2999999/{SIZE}"
