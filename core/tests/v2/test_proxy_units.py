"""Unit tests of proxy mode's parts: Bearer challenges and anonymous tokens, tag freshness,
manifest and blob verification (``inmemory`` storage, a loopback ``http.server``)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docker_registry.core.mirroring import MirrorConfig, StreamRejected, UpstreamMiss
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.digests import Digest, parse_digest
from docker_registry.core.v2.errors import BadGateway
from docker_registry.core.v2.manifests import ManifestStore
from docker_registry.core.v2.mediatypes import MANIFEST_TYPES, OCI_MANIFEST
from docker_registry.core.v2.negotiation import accepted
from docker_registry.core.v2.proxy import Proxy, V2Upstream, _tag_headers, parse_bearer_challenge
from docker_registry.core.v2.referrers import ReferrerStore
from docker_registry.core.v2.uploads import UploadStore

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


def make_proxy(url: str, clock: Clock | None = None, ttl: float = 60) -> Proxy:
    storage = Storage(InMemoryDriver())
    blobs = BlobStore(storage)
    manifests = ManifestStore(storage, blobs, tags_ttl=0)
    config = MirrorConfig(url, tags_cache_ttl=ttl, timeout=5)
    return Proxy(
        config,
        blobs,
        UploadStore(storage, blobs),
        manifests,
        ReferrerStore(storage, manifests),
        V2Upstream(config),
        clock or Clock(),
    )


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


def test_manifest_by_tag_is_stored_and_fresh_for_the_ttl(stub: Stub) -> None:
    stub.routes["/v2/acme/app/manifests/v1"] = (
        200,
        MANIFEST,
        {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha(MANIFEST)},
    )
    clock = Clock()
    proxy = make_proxy(stub.url, clock, ttl=60)
    assert not proxy.tag_fresh("acme/app", "v1")
    data, media_type, digest = proxy.fetch_manifest("acme/app", "v1", {})
    assert (data, media_type, str(digest)) == (MANIFEST, OCI_MANIFEST, sha(MANIFEST))
    assert proxy.manifests.get("acme/app", "v1")[0] == MANIFEST
    written = proxy.manifests.tag_written_at("acme/app", "v1")
    assert written is not None
    clock.now = written + 59
    assert proxy.tag_fresh("acme/app", "v1")
    clock.now = written + 61
    assert not proxy.tag_fresh("acme/app", "v1")


@pytest.mark.parametrize("reference", ["v1", sha(b"something else")])
def test_manifest_that_does_not_match_its_digest_is_refused(stub: Stub, reference: str) -> None:
    stub.routes[f"/v2/acme/app/manifests/{reference}"] = (
        200,
        MANIFEST,
        {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha(b"something else")},
    )
    proxy = make_proxy(stub.url)
    with pytest.raises(BadGateway):
        proxy.fetch_manifest("acme/app", reference, {})
    assert list(proxy.manifests.storage.walk("/")) == []


def test_blob_is_committed_and_linked_only_when_its_digest_matches(stub: Stub) -> None:
    good, bad = b"good content", b"evil content"
    digest: Digest = parse_digest(sha(good))
    path = f"/v2/acme/app/blobs/{digest}"
    proxy = make_proxy(stub.url)

    stub.routes[path] = (200, bad, {})
    tee = proxy.open_blob("acme/app", digest, {})
    with pytest.raises(StreamRejected):
        list(tee)
    tee.close()
    assert not proxy.blobs.exists(digest)
    assert not proxy.blobs.linked("acme/app", digest)

    stub.routes[path] = (200, good, {})
    tee = proxy.open_blob("acme/app", digest, {})
    assert b"".join(tee) == good
    tee.close()
    assert proxy.blobs.linked("acme/app", digest)
    stream, size = proxy.blobs.open("acme/app", digest)
    assert (stream.read(), size) == (good, len(good))
    # another repository: linked after upstream confirms it, no second download
    stub.routes[f"/v2/acme/other/blobs/{digest}"] = (200, good, {})
    assert proxy.adopt("acme/other", digest, {})
    assert proxy.blobs.linked("acme/other", digest)


def test_tag_requests_accept_every_manifest_type_upstream() -> None:
    assert _tag_headers({"X-Other": "1"}) == {"X-Other": "1"}
    assert _tag_headers({"ACCEPT": "*/*"}) == {"ACCEPT": "*/*"}
    widened = _tag_headers({"ACCEPT": OCI_MANIFEST, "AUTHORIZATION": "Bearer x"})
    assert widened["AUTHORIZATION"] == "Bearer x"
    assert "ACCEPT" not in widened
    assert accepted(widened["Accept"]) == MANIFEST_TYPES
