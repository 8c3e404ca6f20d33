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
