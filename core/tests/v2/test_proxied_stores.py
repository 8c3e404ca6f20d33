"""Unit tests of the pull-through decorators of :mod:`docker_registry.core.v2.proxy`:
freshness, stale-on-upstream-error, adopt-on-miss and ingest, with a fake upstream (no
HTTP) over ``inmemory`` storage."""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from docker_registry.core.mirroring import (
    ClientRequest,
    MirrorConfig,
    StreamRejected,
    forwarding,
)
from docker_registry.core.storage import Storage
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v2.blobs import BlobHandle, BlobStore, RemoteBlob
from docker_registry.core.v2.digests import Digest, parse_digest
from docker_registry.core.v2.errors import BadGateway, BlobUnknown, ManifestUnknown
from docker_registry.core.v2.manifests import ManifestStore
from docker_registry.core.v2.mediatypes import MANIFEST_TYPES, OCI_MANIFEST
from docker_registry.core.v2.negotiation import accepted
from docker_registry.core.v2.proxy import SMALL_BLOB, ProxiedBlobStore, ProxiedManifestStore
from docker_registry.core.v2.referrers import ReferrerStore
from docker_registry.testing.fake_upstream import FakeUpstream

SOURCE = "http://upstream.invalid"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest(seed: str, subject: str | None = None) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/json", "digest": sha(seed.encode()), "size": 1},
        "layers": [],
    }
    if subject is not None:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
    return json.dumps(doc).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Parts:
    def __init__(self, ttl: float = 60) -> None:
        self.storage = Storage(InMemoryDriver())
        self.local_blobs = BlobStore(self.storage)
        self.local_manifests = ManifestStore(self.storage, self.local_blobs, tags_ttl=0)
        self.referrers = ReferrerStore(self.storage, self.local_manifests)
        self.upstream = FakeUpstream(SOURCE, BadGateway)
        self.clock = Clock()
        config = MirrorConfig(SOURCE, tags_cache_ttl=ttl, timeout=5)
        self.manifests = ProxiedManifestStore(
            self.local_manifests, self.referrers, config, self.upstream, self.clock
        )
        self.blobs = ProxiedBlobStore(self.local_blobs, config, self.upstream)

    def serve_manifest(self, name: str, reference: str, data: bytes, digest: str = "") -> None:
        headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest or sha(data)}
        self.upstream.routes[f"/v2/{name}/manifests/{reference}"] = (data, headers)

    def stored_files(self) -> list[str]:
        return sorted(self.storage.walk("/"))


@pytest.fixture
def parts() -> Parts:
    return Parts()


@pytest.fixture(autouse=True)
def client() -> Iterator[None]:
    """Each test serves a registry client's request (as the forwarding middleware does)."""
    with forwarding(ClientRequest({"User-Agent": "test"})):
        yield


# -- the decorators keep the local stores' interface -------------------------------------


@pytest.mark.parametrize(
    ("decorator", "local"),
    [(ProxiedManifestStore, ManifestStore), (ProxiedBlobStore, BlobStore)],
)
def test_every_public_method_of_the_local_store_is_overridden(decorator, local) -> None:
    """The decorators subclass the local stores for their type only and share none of
    their state: a public method inherited unchanged would run on state never set
    (``forwards_to_local`` forwards those the decorator does not define)."""
    public = {
        name
        for name, member in inspect.getmembers(local, inspect.isfunction)
        if not name.startswith("_")
    }
    assert public, "the local store has public methods"
    assert public <= set(vars(decorator)), sorted(public - set(vars(decorator)))


# -- manifests --------------------------------------------------------------------------


def test_manifest_by_digest_is_fetched_once_then_local(parts: Parts) -> None:
    data = manifest("by-digest")
    parts.serve_manifest("acme/app", sha(data), data)
    assert parts.manifests.get("acme/app", sha(data)) == (
        data,
        OCI_MANIFEST,
        parse_digest(sha(data)),
    )
    assert parts.local_manifests.get("acme/app", sha(data))[0] == data
    del parts.upstream.routes[f"/v2/acme/app/manifests/{sha(data)}"]
    assert parts.manifests.get("acme/app", sha(data))[0] == data
    assert parts.upstream.requests() == [f"/v2/acme/app/manifests/{sha(data)}"]


def test_manifest_by_tag_is_fresh_for_the_ttl_then_asked_again(parts: Parts) -> None:
    first, moved = manifest("first"), manifest("moved")
    parts.serve_manifest("acme/app", "v1", first)
    assert parts.manifests.get("acme/app", "v1")[0] == first
    written = parts.local_manifests.tag_written_at("acme/app", "v1")
    assert written is not None

    parts.serve_manifest("acme/app", "v1", moved)
    parts.clock.now = written + 59
    assert parts.manifests.tag_fresh("acme/app", "v1")
    assert parts.manifests.get("acme/app", "v1")[0] == first
    assert len(parts.upstream.requests()) == 1

    parts.clock.now = written + 61
    assert not parts.manifests.tag_fresh("acme/app", "v1")
    assert parts.manifests.get("acme/app", "v1")[0] == moved
    assert parts.local_manifests.get("acme/app", "v1")[0] == moved
    assert len(parts.upstream.requests()) == 2


def test_a_stale_tag_is_answered_locally_when_upstream_fails_or_forgot_it(parts: Parts) -> None:
    data = manifest("stale")
    parts.serve_manifest("acme/app", "v1", data)
    parts.manifests.get("acme/app", "v1")
    parts.clock.now += 3600
    path = "/v2/acme/app/manifests/v1"
    parts.upstream.failures[path] = BadGateway("Mirror upstream is unreachable")
    assert parts.manifests.get("acme/app", "v1")[0] == data
    del parts.upstream.failures[path]
    del parts.upstream.routes[path]
    assert parts.manifests.get("acme/app", "v1")[0] == data
    assert parts.upstream.requests() == [path] * 3


def test_a_miss_everywhere_is_the_local_error_and_a_failure_is_the_gateway_error(
    parts: Parts,
) -> None:
    with pytest.raises(ManifestUnknown):
        parts.manifests.get("acme/app", "nope")
    parts.upstream.failures["/v2/acme/app/manifests/down"] = BadGateway("upstream down")
    with pytest.raises(BadGateway):
        parts.manifests.get("acme/app", "down")
    assert parts.stored_files() == []


@pytest.mark.parametrize("reference", ["v1", sha(b"something else")])
def test_a_manifest_that_does_not_match_its_digest_is_refused(parts: Parts, reference: str) -> None:
    data = manifest("liar")
    parts.serve_manifest("acme/app", reference, data, digest=sha(b"something else"))
    with pytest.raises(BadGateway) as caught:
        parts.manifests.get("acme/app", reference)
    assert SOURCE in caught.value.description
    assert parts.stored_files() == []


def test_an_unstorable_manifest_is_served_as_sent_and_never_stored(parts: Parts) -> None:
    schema1 = json.dumps({"schemaVersion": 1, "name": "acme/app", "tag": "old"}).encode()
    parts.upstream.routes["/v2/acme/app/manifests/old"] = (
        schema1,
        {"Content-Type": "application/vnd.docker.distribution.manifest.v1+json"},
    )
    data, media_type, digest = parts.manifests.get("acme/app", "old")
    assert (data, str(digest)) == (schema1, sha(schema1))
    assert media_type == "application/vnd.docker.distribution.manifest.v1+json"
    assert parts.stored_files() == []


def test_a_fetched_manifest_with_a_subject_is_a_referrer(parts: Parts) -> None:
    subject = manifest("subject")
    referrer = manifest("signature", subject=sha(subject))
    parts.serve_manifest("acme/app", sha(referrer), referrer)
    parts.manifests.get("acme/app", sha(referrer))
    index = json.loads(parts.referrers.index("acme/app", parse_digest(sha(subject)), None))
    assert [entry["digest"] for entry in index["manifests"]] == [sha(referrer)]


def test_the_clients_headers_go_upstream_and_a_tag_accepts_every_manifest_type(
    parts: Parts,
) -> None:
    data = manifest("headers")
    parts.serve_manifest("acme/app", "v1", data)
    client = ClientRequest({"ACCEPT": OCI_MANIFEST, "AUTHORIZATION": "Bearer client"})
    with forwarding(client):
        parts.manifests.get("acme/app", "v1")
    _, _, headers = parts.upstream.seen[0]
    assert headers["AUTHORIZATION"] == "Bearer client"
    assert accepted(headers["Accept"]) == MANIFEST_TYPES
    parts.serve_manifest("acme/app", sha(data), data)
    parts.local_manifests.delete("acme/app", sha(data))
    with forwarding(client):
        parts.manifests.get("acme/app", sha(data))
    assert parts.upstream.seen[-1][2] == client.headers  # a digest: asked as the client asked


def test_outside_a_client_request_only_local_content_is_answered(parts: Parts) -> None:
    data = manifest("ui")
    parts.serve_manifest("acme/app", "v1", data)
    parts.upstream.routes[blob_path("acme/app", b"blob")] = (b"blob", {})
    with forwarding(None):
        with pytest.raises(ManifestUnknown):
            parts.manifests.get("acme/app", "v1")
        with pytest.raises(BlobUnknown):
            parts.blobs.fetch("acme/app", parse_digest(sha(b"blob")))
        with pytest.raises(BlobUnknown):
            parts.blobs.describe("acme/app", parse_digest(sha(b"blob")))
    assert parts.upstream.seen == []


def test_writes_and_listings_are_the_local_stores(parts: Parts) -> None:
    data = manifest("pushed")
    config_digest = json.loads(data)["config"]["digest"]
    parts.local_blobs.link("acme/app", parse_digest(config_digest))
    parts.manifests.put("acme/app", "v1", data, OCI_MANIFEST, require_blobs=False)
    assert parts.manifests.tags("acme/app") == ["v1"]
    assert parts.manifests.resolve("acme/app", "v1") == parse_digest(sha(data))
    assert parts.manifests.repository_exists("acme/app")
    assert parts.manifests.delete("acme/app", "v1") == parse_digest(sha(data))
    assert parts.upstream.seen == []


# -- blobs ------------------------------------------------------------------------------


def blob_path(name: str, data: bytes) -> str:
    return f"/v2/{name}/blobs/{sha(data)}"


def test_describe_asks_upstream_and_stores_nothing(parts: Parts) -> None:
    data = b"layer bytes"
    parts.upstream.routes[blob_path("acme/app", data)] = (data, {})
    found = parts.blobs.describe("acme/app", parse_digest(sha(data)))
    assert found == RemoteBlob(parse_digest(sha(data)), len(data))
    assert parts.upstream.seen[0][0] == "HEAD"
    assert parts.upstream.responses[0].closed
    assert parts.stored_files() == []
    with pytest.raises(BlobUnknown):
        parts.blobs.describe("acme/app", parse_digest(sha(b"nowhere")))


@pytest.mark.parametrize("length", ["²", "9" * 5000, "-1", "12 34", "0x10", ""])
def test_a_hostile_content_length_is_no_size_not_an_error(parts: Parts, length: str) -> None:
    data = b"x" * 10
    parts.upstream.routes[blob_path("acme/app", data)] = (data, {"Content-Length": length})
    assert parts.blobs.describe("acme/app", parse_digest(sha(data))).size is None
    fetched = parts.blobs.fetch("acme/app", parse_digest(sha(data)))
    assert isinstance(fetched, RemoteBlob) and fetched.body is not None
    assert b"".join(fetched.body) == data
    assert parts.local_blobs.linked("acme/app", parse_digest(sha(data)))


def test_a_large_blob_is_visible_only_once_every_byte_verified(parts: Parts) -> None:
    data = b"L" * (SMALL_BLOB + 10)
    digest = parse_digest(sha(data))
    parts.upstream.piece = SMALL_BLOB // 4
    parts.upstream.routes[blob_path("acme/app", data)] = (data, {})
    fetched = parts.blobs.fetch("acme/app", digest)
    assert isinstance(fetched, RemoteBlob) and fetched.body is not None
    assert fetched.size == len(data)
    received = []
    for chunk in fetched.body:
        received.append(chunk)
        if sum(map(len, received)) < len(data):
            assert not parts.local_blobs.exists(digest), "visible before it was complete"
    assert b"".join(received) == data
    assert isinstance(parts.blobs.fetch("acme/app", digest), BlobHandle)
    assert parts.upstream.responses[0].closed


def test_a_large_blob_that_does_not_verify_stores_nothing(parts: Parts) -> None:
    right, wrong = b"r" * (SMALL_BLOB + 10), b"w" * (SMALL_BLOB + 10)
    parts.upstream.routes[blob_path("acme/app", right)] = (wrong, {})
    fetched = parts.blobs.fetch("acme/app", parse_digest(sha(right)))
    assert isinstance(fetched, RemoteBlob) and fetched.body is not None
    body = iter(fetched.body)
    with pytest.raises(StreamRejected):
        for _ in body:
            pass
    assert parts.stored_files() == []


def test_a_client_gone_mid_blob_stores_nothing(parts: Parts) -> None:
    data = b"G" * (SMALL_BLOB + 10)
    parts.upstream.piece = 1024
    parts.upstream.routes[blob_path("acme/app", data)] = (data, {})
    fetched = parts.blobs.fetch("acme/app", parse_digest(sha(data)))
    assert isinstance(fetched, RemoteBlob)
    body: Any = fetched.body
    next(iter(body))
    body.close()
    assert parts.stored_files() == []
    assert parts.upstream.responses[0].closed


def test_a_truncated_blob_stores_nothing(parts: Parts) -> None:
    data = b"T" * (SMALL_BLOB + 10)
    parts.upstream.routes[blob_path("acme/app", data)] = (
        data[:-5],
        {"Content-Length": str(len(data))},
    )
    fetched = parts.blobs.fetch("acme/app", parse_digest(sha(data)))
    assert isinstance(fetched, RemoteBlob) and fetched.body is not None
    with pytest.raises(StreamRejected):
        b"".join(fetched.body)
    assert parts.stored_files() == []


def test_a_small_blob_is_verified_before_it_is_answered(parts: Parts) -> None:
    right, wrong = b"right", b"wrong"
    parts.upstream.routes[blob_path("acme/app", right)] = (wrong, {})
    with pytest.raises(BadGateway):
        parts.blobs.fetch("acme/app", parse_digest(sha(right)))
    assert parts.stored_files() == []
    parts.upstream.routes[blob_path("acme/app", right)] = (right, {})
    fetched = parts.blobs.fetch("acme/app", parse_digest(sha(right)))
    assert fetched == RemoteBlob(parse_digest(sha(right)), len(right), [right])
    stream, size = parts.local_blobs.open("acme/app", parse_digest(sha(right)))
    assert (stream.read(), size) == (right, len(right))


def test_a_blob_stored_for_another_repository_is_adopted_once_upstream_confirms(
    parts: Parts,
) -> None:
    data = b"shared layer"
    digest = parse_digest(sha(data))
    parts.upstream.routes[blob_path("acme/one", data)] = (data, {})
    assert parts.blobs.fetch("acme/one", digest) == RemoteBlob(digest, len(data), [data])

    with pytest.raises(BlobUnknown):  # upstream does not have it in acme/two
        parts.blobs.fetch("acme/two", digest)
    assert not parts.local_blobs.linked("acme/two", digest)

    parts.upstream.routes[blob_path("acme/two", data)] = (data, {})
    found = parts.blobs.fetch("acme/two", digest)
    assert isinstance(found, BlobHandle) and found.size == len(data)
    assert parts.local_blobs.linked("acme/two", digest)
    assert [method for method, path, _ in parts.upstream.seen if "acme/two" in path] == [
        "HEAD",
        "HEAD",
    ]


def test_concurrent_fetches_of_one_blob_all_answer_it_and_store_it_whole(parts: Parts) -> None:
    data = bytes(range(256)) * 8000  # ~2 MiB, streamed
    digest: Digest = parse_digest(sha(data))
    parts.upstream.piece = 64 * 1024
    parts.upstream.routes[blob_path("acme/app", data)] = (data, {})
    results: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def pull() -> None:
        try:
            start.wait()
            with forwarding(ClientRequest({})):
                found = parts.blobs.fetch("acme/app", digest)
            if isinstance(found, BlobHandle):
                results.append(parts.local_blobs.reader(found).read())
            else:
                assert found.body is not None
                results.append(b"".join(found.body))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert results == [data] * 6
    stream, size = parts.local_blobs.open("acme/app", digest)
    assert (size, hashlib.sha256(stream.read()).hexdigest()) == (len(data), digest.hex)


def test_ingest_directly_commits_and_links_only_a_verified_blob(parts: Parts) -> None:
    data = b"ingested"
    digest = parse_digest(sha(data))
    closed: list[bool] = []
    tee = parts.local_blobs.ingest(
        "acme/app",
        digest,
        iter([b"inge", b"sted"]),
        None,
        close=lambda: closed.append(True),
        label="test blob",
    )
    assert b"".join(tee) == data
    assert closed == [True]
    assert parts.local_blobs.linked("acme/app", digest)
    bad = parts.local_blobs.ingest(
        "acme/app",
        parse_digest(sha(b"other")),
        iter([b"nope"]),
        4,
        close=lambda: None,
        label="bad blob",
    )
    with pytest.raises(StreamRejected):
        list(bad)
    assert not parts.local_blobs.exists(parse_digest(sha(b"other")))
