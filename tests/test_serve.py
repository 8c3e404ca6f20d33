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
