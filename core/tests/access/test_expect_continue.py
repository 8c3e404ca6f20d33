"""``Expect: 100-continue`` over a real socket to our waitress server: no ``100 Continue``
for a request refused at header time, so the client never sends the body; an authorized
request still gets its ``100`` and is served."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from authsupport import ACCESS, basic
from serversupport import serving

from docker_registry.core.config import Settings

LIMIT = 1024 * 1024


@contextmanager
def running(htpasswd_file, tmp_path) -> Iterator[tuple[int, str]]:
    settings = Settings.from_mapping(
        {
            "auth_backend": "htpasswd",
            "htpasswd": {
                "path": str(htpasswd_file),
                "groups": {"admins": ["admin"]},
                "access": ACCESS,
            },
            "max_request_body_size": LIMIT,
        }
    )
    with serving(settings, tmp_path) as (port, served):
        yield port, str(served.spool_directory)


def exchange(port: int, head: str, body: bytes = b"") -> tuple[bytes, bool]:
    """Send the headers; wait for the first answer; send ``body`` only after a ``100``.

    :returns: everything read until the server closed or went quiet, and whether the
        server closed the connection.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1"))
        first = sock.recv(65536)
        received = first
        if first.startswith(b"HTTP/1.1 100 "):
            sock.sendall(body)
        sock.settimeout(2)
        closed = False
        try:
            while chunk := sock.recv(65536):
                received += chunk
            closed = True
        except TimeoutError:
            pass  # kept open (an answered request on a kept-alive connection)
        return received, closed


def put_head(path: str, length: int, headers: dict[str, str]) -> str:
    lines = [
        f"PUT {path} HTTP/1.1",
        "Host: registry.test",
        f"Content-Length: {length}",
        "Expect: 100-continue",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def spooled_files(directory: str) -> list[str]:
    return os.listdir(directory) if os.path.isdir(directory) else []


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, b"401"),
        ({"Authorization": "Basic d3JpdGVyOm5vcGU="}, b"401"),  # writer:nope
        (basic("reader"), b"403"),
    ],
    ids=["anonymous", "wrong password", "no push permission"],
)
def test_a_refused_request_gets_no_100_continue(htpasswd_file, tmp_path, headers, status):
    with running(htpasswd_file, tmp_path) as (port, spool):
        head = put_head("/v1/images/" + "a" * 64 + "/layer", 4096, headers)
        received, closed = exchange(port, head, b"x" * 4096)
        assert b"100 Continue" not in received
        assert received.startswith(b"HTTP/1.1 " + status), received[:200]
        assert b"Connection: close" in received
        assert closed, "the server must close: the client may still send the body"
        assert spooled_files(spool) == []


def test_a_body_over_the_limit_gets_no_100_continue(htpasswd_file, tmp_path):
    with running(htpasswd_file, tmp_path) as (port, _):
        head = put_head("/v2/team/app/blobs/uploads/x", LIMIT + 1, basic("writer"))
        received, closed = exchange(port, head)
        assert b"100 Continue" not in received
        assert received.startswith(b"HTTP/1.1 413"), received[:200]
        assert closed


def test_a_refused_body_sent_without_waiting_is_not_read_as_a_request(htpasswd_file, tmp_path):
    """A client may send the body without waiting for the 100: it is dropped with the
    connection, never parsed as a next request."""
    with running(htpasswd_file, tmp_path) as (port, spool):
        body = b"GET /v2/_catalog HTTP/1.1\r\nHost: x\r\n\r\n" * 8
        head = put_head("/v2/team/app/blobs/uploads/x", len(body), {})
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head.encode() + body)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 401"), received[:200]
        assert received.count(b"HTTP/1.1 ") == 1
        assert spooled_files(spool) == []


def test_an_authorized_request_gets_100_continue_and_is_served(htpasswd_file, tmp_path):
    image = "b" * 64
    body = b'{"id": "%s"}' % image.encode()
    with running(htpasswd_file, tmp_path) as (port, _):
        head = put_head(f"/v1/images/{image}/json", len(body), basic("writer"))
        received, _ = exchange(port, head, body)
        assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), received[:200]
        final = received[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
        assert final.startswith(b"HTTP/1.1 200"), final[:300]
        assert final.endswith(b"true")
