"""Unit tests of proxy mode's upstream client: Bearer challenges and anonymous tokens (a
loopback ``http.server``). The pull-through stores are tested in test_proxied_stores.py."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docker_registry.core.mirroring import MirrorConfig, UpstreamMiss
from docker_registry.core.v2.mediatypes import MANIFEST_TYPES, OCI_MANIFEST
from docker_registry.core.v2.negotiation import accepted
from docker_registry.core.v2.proxy import V2Upstream, _tag_headers, parse_bearer_challenge

TOKEN = "anonymous-token"


class Stub:
    """Answers ``routes[path] = (status, body, headers)``; ``/token`` gives a token; with
    ``protected`` every other path wants ``Authorization: Bearer <TOKEN>``."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.protected = False
        self.token_requests: list[str] = []
        self.seen_auth: list[str | None] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.startswith("/token"):
                    stub.token_requests.append(self.path)
                    body = json.dumps({"token": TOKEN, "expires_in": 300}).encode()
                    return self._send(200, body, {})
                auth = self.headers.get("Authorization")
                stub.seen_auth.append(auth)
                if stub.protected and auth != f"Bearer {TOKEN}":
                    challenge = (
                        f'Bearer realm="{stub.url}/token",service="stub",'
                        'scope="repository:acme/app:pull"'
                    )
                    return self._send(401, b"{}", {"WWW-Authenticate": challenge})
                status, body, headers = stub.routes.get(self.path, (404, b"{}", {}))
                return self._send(status, body, headers)

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.server.shutdown()
    server.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/json", "digest": sha(b"{}"), "size": 2},
        "layers": [],
    }
).encode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"',
            {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a:pull"},
        ),
        ('bearer realm="http://a/t"', {"realm": "http://a/t"}),
        ('Basic realm="https://auth.example"', None),
        ('Bearer service="reg"', None),
        ('Bearer realm="file:///etc/passwd"', None),
        ("", None),
        (None, None),
    ],
)
def test_parse_bearer_challenge(header: str | None, expected: dict | None) -> None:
    assert parse_bearer_challenge(header) == expected


def test_a_401_challenge_is_answered_with_an_anonymous_token_reused_until_it_expires(
    stub: Stub,
) -> None:
    stub.protected = True
    stub.routes["/v2/acme/app/manifests/v1"] = (
        200,
        MANIFEST,
        {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha(MANIFEST)},
    )
    clock = Clock()
    config = MirrorConfig(stub.url, timeout=5)
    upstream = V2Upstream(config, clock=clock)
    for _ in range(2):
        response = upstream.open(stub.url, "/v2/acme/app/manifests/v1", {})
        assert response.content == MANIFEST
    assert stub.token_requests == ["/token?service=stub&scope=repository%3Aacme%2Fapp%3Apull"]
    assert stub.seen_auth.count(f"Bearer {TOKEN}") == 2
    clock.now += 300  # expired: fetched again
    upstream.open(stub.url, "/v2/acme/app/manifests/v1", {}).close()
    assert len(stub.token_requests) == 2


def test_client_credentials_are_forwarded_and_never_replaced(stub: Stub) -> None:
    stub.protected = True
    upstream = V2Upstream(MirrorConfig(stub.url, timeout=5))
    with pytest.raises(UpstreamMiss) as caught:
        upstream.open(stub.url, "/v2/acme/app/manifests/v1", {"Authorization": "Basic eDp5"})
    assert caught.value.status == 401
    assert stub.seen_auth == ["Basic eDp5"]
    assert stub.token_requests == []


def test_a_realm_without_a_token_leaves_the_401(stub: Stub) -> None:
    stub.protected = True
    upstream = V2Upstream(MirrorConfig(stub.url, timeout=5))
    upstream.anonymous_token = lambda challenge: None  # type: ignore[method-assign]
    with pytest.raises(UpstreamMiss):
        upstream.open(stub.url, "/v2/acme/app/manifests/v1", {})


def test_tag_requests_accept_every_manifest_type_upstream() -> None:
    assert _tag_headers({"X-Other": "1"}) == {"X-Other": "1"}
    assert _tag_headers({"ACCEPT": "*/*"}) == {"ACCEPT": "*/*"}
    widened = _tag_headers({"ACCEPT": OCI_MANIFEST, "AUTHORIZATION": "Bearer x"})
    assert widened["AUTHORIZATION"] == "Bearer x"
    assert "ACCEPT" not in widened
    assert accepted(widened["Accept"]) == MANIFEST_TYPES
