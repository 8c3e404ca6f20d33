"""Unit tests of the v2 package: layout, names and digests, manifest parsing, services.

The application is built in process on the ``inmemory`` driver (``falcon.testing``).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Sequence

import falcon.testing
import pytest

from docker_registry.core.app import create_app
from docker_registry.core.bodies import request_body
from docker_registry.core.config import Settings
from docker_registry.core.storage import Storage, StorageError
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.digests import Digest, check_name, parse_digest
from docker_registry.core.v2.errors import (
    BlobUploadUnknown,
    DigestInvalid,
    ManifestInvalid,
    NameInvalid,
)
from docker_registry.core.v2.manifests import parse_manifest
from docker_registry.core.v2.mediatypes import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from docker_registry.core.v2.uploads import UploadStore

HEX = "ab" + "0" * 62


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RedirectingDriver(InMemoryDriver):
    """In-memory storage that offers signed URLs, like S3."""

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        return f"https://storage.example{path}?signature=x"


def make_client(driver=None, **values) -> tuple[falcon.testing.TestClient, Storage]:
    storage = Storage(driver or InMemoryDriver())
    settings = Settings.from_mapping({"storage": "inmemory", "upload_purge_age": 0, **values})
    return falcon.testing.TestClient(create_app(settings, storage=storage)), storage


def push_blob(client, name: str, data: bytes) -> str:
    result = client.simulate_post(
        f"/v2/{name}/blobs/uploads/", params={"digest": sha(data)}, body=data
    )
    assert result.status_code == 201, result.text
    return sha(data)


# -- layout ----------------------------------------------------------------------------


def test_layout_matches_distribution_paths():
    root = "/docker/registry/v2"
    assert layout.blob_data("sha256", HEX) == f"{root}/blobs/sha256/ab/{HEX}/data"
    assert layout.layer_link("a/b", "sha256", HEX) == (
        f"{root}/repositories/a/b/_layers/sha256/{HEX}/link"
    )
    assert layout.revision_link("a", "sha256", HEX) == (
        f"{root}/repositories/a/_manifests/revisions/sha256/{HEX}/link"
    )
    assert (
        layout.tag_current_link("a", "t") == f"{root}/repositories/a/_manifests/tags/t/current/link"
    )
    assert layout.tag_index_link("a", "t", "sha256", HEX) == (
        f"{root}/repositories/a/_manifests/tags/t/index/sha256/{HEX}/link"
    )
    assert layout.upload_started_at("a", "u") == f"{root}/repositories/a/_uploads/u/startedat"
    assert layout.upload_data("a", "u") == f"{root}/repositories/a/_uploads/u/data"


def test_chunk_names_sort_by_offset():
    names = [
        layout.basename(layout.upload_chunk("a", "u", s, e))
        for s, e in ((0, 5), (5, 100), (100, 1000))
    ]
    assert names == sorted(names)
    spans = [layout.parse_chunk_name(n) for n in names]
    assert spans == [(0, 5, ""), (5, 100, ""), (100, 1000, "")]
    tokened = layout.basename(layout.upload_chunk("a", "u", 5, 9, "0abc"))
    assert layout.parse_chunk_name(tokened) == (5, 9, "0abc")
    for other in ("data", "1-2.", "1-2.XY", "1-2.ab/c", "\u0661-\u0662", "1" * 21 + "-2"):
        assert layout.parse_chunk_name(other) is None, other


# -- names and digests -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "library/ubuntu", "a.b/c_d/e__f/g--h", "0/1/2/3"])
def test_valid_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["A", "a/../b", "a//b", "-a", "a-", "a/", "a___b", "x" * 256, "a/.", "a b"]
)
def test_invalid_names(name):
    with pytest.raises(NameInvalid):
        check_name(name)


def test_digests():
    assert parse_digest(f"sha256:{HEX}") == Digest("sha256", HEX)
    assert parse_digest("sha512:" + "a" * 128).algorithm == "sha512"
    for bad in ("", "sha256", f"sha256:{HEX[:-1]}", f"sha256:{HEX.upper()}", "sha256:../x"):
        with pytest.raises(DigestInvalid):
            parse_digest(bad)
    assert parse_digest("sha384:" + "a" * 96).algorithm == "sha384"
    # NOTE: an algorithm we do not implement is DIGEST_INVALID, like the Go registry.
    with pytest.raises(DigestInvalid):
        parse_digest("md5:" + "0" * 32)


# -- manifests -------------------------------------------------------------------------


def descriptor(data: bytes, media_type: str = "application/octet-stream") -> dict:
    return {"mediaType": media_type, "digest": sha(data), "size": len(data)}


def test_parse_the_four_media_types():
    config, layer = b"{}", b"layer"
    image = {"schemaVersion": 2, "config": descriptor(config), "layers": [descriptor(layer)]}
    for media_type in (OCI_MANIFEST, DOCKER_MANIFEST):
        data = json.dumps({**image, "mediaType": media_type}).encode()
        parsed = parse_manifest(data, media_type)
        assert parsed.media_type == media_type
        assert [str(d) for d in parsed.blobs] == [sha(config), sha(layer)]
        assert str(parsed.digest) == sha(data)
    for media_type in (OCI_INDEX, DOCKER_LIST):
        data = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": media_type,
                "manifests": [descriptor(b"m", OCI_MANIFEST)],
            }
        ).encode()
        parsed = parse_manifest(data, media_type)
        assert [str(d) for d in parsed.children] == [sha(b"m")]
    no_type = json.dumps(image).encode()
    assert parse_manifest(no_type, "application/json").media_type == OCI_MANIFEST


def test_foreign_layers_are_not_required():
    image = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(b"{}"),
        "layers": [{**descriptor(b"win"), "urls": ["https://example.com/layer"]}],
    }
    assert len(parse_manifest(json.dumps(image).encode()).blobs) == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"null",
        b"[1]",
        b'{"schemaVersion": 3}',
        b'{"schemaVersion": 2, "mediaType": "text/plain"}',
        b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'", "config": {}, '
        b'"layers": []}',
        b'{"schemaVersion": 2, "mediaType": "' + OCI_INDEX.encode() + b'", "manifests": {}}',
        b'{"schemaVersion": 2, "config": {"digest": "sha256:x", "size": 1}, "layers": []}',
        b'{"schemaVersion": 2, "config": {"digest": "' + sha(b"").encode() + b'", "size": -1}, '
        b'"layers": []}',
    ],
)
def test_invalid_manifests(data):
    with pytest.raises(ManifestInvalid):
        parse_manifest(data, OCI_MANIFEST)


# -- services and resources ------------------------------------------------------------


def test_chunked_upload_hashes_once_and_moves_a_single_chunk():
    storage = Storage(InMemoryDriver())
    uploads = UploadStore(storage, BlobStore(storage))
    data = b"x" * 1000
    upload_id, state = uploads.start("a")
    assert (
        uploads.append("a", upload_id, state, request_body(io.BytesIO(data)), start=0, length=1000)
        == 1000
    )
    chain, _ = uploads._chunks("a", upload_id, state)
    assert uploads._cached_hash(upload_id, chain) is not None
    assert uploads.finish("a", upload_id, state, parse_digest(sha(data)), None, 0) == 1000
    assert storage.get_content(layout.blob_data("sha256", sha(data)[7:])) == data
    assert storage.list(layout.upload_dir("a", upload_id)) == [
        f"{layout.upload_dir('a', upload_id)}/finished"
    ]
    with pytest.raises(BlobUploadUnknown):
        uploads.offset("a", upload_id, state)


def test_state_tokens():
    storage = Storage(InMemoryDriver())
    uploads = UploadStore(storage, BlobStore(storage), b"secret", max_age=60)
    upload_id, state = uploads.start("a")
    assert uploads.offset("a", upload_id, state) == 0
    other = UploadStore(storage, BlobStore(storage), b"secret")
    assert other.offset("a", upload_id, state) == 0  # another process, same secret
    hostile = ("².abc", "٣.abc", f"{'9' * 5000}.abc", "-1.abc", " 1.abc")
    for bad in (
        None,
        "",
        "1.abc",
        state.replace(".", ".0"),
        f"{int(time.time())}.{'0' * 32}",
        *hostile,
    ):
        with pytest.raises(BlobUploadUnknown):
            uploads.offset("a", upload_id, bad)
    with pytest.raises(BlobUploadUnknown):
        uploads.offset("b", upload_id, state)  # bound to its repository
    uploads.cancel("a", upload_id, state)
    with pytest.raises(BlobUploadUnknown):
        uploads.offset("a", upload_id, state)


def test_purge_removes_only_old_uploads():
    storage = Storage(InMemoryDriver())
    uploads = UploadStore(storage, BlobStore(storage))
    (old, old_state), (new, new_state) = uploads.start("a/b"), uploads.start("c")
    uploads.append("a/b", old, old_state, request_body(io.BytesIO(b"data")))
    uploads.append("c", new, new_state, request_body(io.BytesIO(b"data")))
    assert uploads.purge(3600, now=time.time() + 60) == 0
    assert uploads.purge(30, now=time.time() + 60) == 2
    assert not storage.exists(layout.upload_dir("a/b", old))
    assert not storage.exists(layout.upload_dir("c", new))


def test_redirect_when_enabled():
    client, _ = make_client(RedirectingDriver(), storage_redirect=True)
    digest = push_blob(client, "r/x", b"data")
    result = client.simulate_get(f"/v2/r/x/blobs/{digest}")
    assert result.status_code == 307
    assert result.headers["Location"].startswith("https://storage.example/docker/registry/v2/")
    plain, _ = make_client(RedirectingDriver())
    digest = push_blob(plain, "r/x", b"data")
    assert plain.simulate_get(f"/v2/r/x/blobs/{digest}").content == b"data"


def test_head_responses_have_no_body_and_a_length():
    client, _ = make_client()
    digest = push_blob(client, "h/x", b"12345")
    result = client.simulate_head(f"/v2/h/x/blobs/{digest}")
    assert result.status_code == 200
    assert result.headers["Content-Length"] == "5"
    assert result.content == b""


def test_every_v2_response_has_the_api_version_header():
    client, _ = make_client()
    for path in ("/v2/", "/v2/_catalog", "/v2/x/tags/list", "/v2/X/tags/list", "/v2/nope"):
        result = client.simulate_get(path)
        assert result.headers["Docker-Distribution-API-Version"] == "registry/2.0", path
        assert result.status_code < 500


def test_events_are_emitted():
    seen = []

    class Recorder:
        from docker_registry.core.hookspecs import hookimpl

        @hookimpl
        def registry_event(self, event, registry):
            seen.append((event.kind, event.repository, event.tag))

    storage = Storage(InMemoryDriver())
    settings = Settings.from_mapping(
        {"storage": "inmemory", "upload_purge_age": 0, "delete_enabled": True}
    )
    client = falcon.testing.TestClient(
        create_app(settings, storage=storage, extra_plugins=[Recorder()])
    )
    config = push_blob(client, "ev/x", b"{}")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "a/b", "digest": config, "size": 2},
            "layers": [],
        }
    ).encode()
    assert (
        client.simulate_put(
            "/v2/ev/x/manifests/t", body=manifest, headers={"Content-Type": OCI_MANIFEST}
        ).status_code
        == 201
    )
    client.simulate_get("/v2/ev/x/manifests/t")
    client.simulate_delete("/v2/ev/x/manifests/t")
    kinds = [kind for kind, _, _ in seen]
    assert kinds == ["push", "push", "tag", "pull", "tag_delete"]


class RecordingDriver(InMemoryDriver):
    """Remembers every path a write lands on (its writers commit through put_content)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    def put_content(self, path: str, data: bytes) -> None:
        self.written.append(path)
        super().put_content(path, data)

    def move(self, source: str, destination: str) -> None:
        self.written.append(destination)
        super().move(source, destination)

    def concatenate(self, sources, destination: str) -> None:
        self.written.append(destination)
        super().concatenate(sources, destination)


def test_an_existing_blob_is_never_written_again():
    """Content-addressed data is immutable: once a blob exists, no upload (monolithic,
    one chunk, several chunks) asks storage to write its path again."""
    driver = RecordingDriver()
    storage = Storage(driver)
    uploads = UploadStore(storage, BlobStore(storage))
    data = b"first writer wins" * 100
    value = parse_digest(sha(data))
    target = layout.blob_data("sha256", value.hex)
    uploads.put_monolithic("a", value, request_body(io.BytesIO(data)), len(data))
    assert driver.written.count(target) == 1
    uploads.put_monolithic("b", value, request_body(io.BytesIO(data)), len(data))
    for parts in ([data], [data[:100], data[100:]]):
        upload_id, state = uploads.start("c")
        for part in parts:
            uploads.append("c", upload_id, state, request_body(io.BytesIO(part)))
        assert uploads.finish("c", upload_id, state, value, None) == len(data)
    assert driver.written.count(target) == 1
    assert storage.get_content(target) == data
    assert all(BlobStore(storage).linked(name, value) for name in ("a", "b", "c"))


def test_a_failed_publish_keeps_the_session_usable():
    class FailingOnce(InMemoryDriver):
        failures = 1

        def move(self, source: str, destination: str) -> None:
            if destination.endswith("/data") and self.failures:
                self.failures -= 1
                raise StorageError("backend down for a moment")
            super().move(source, destination)

    storage = Storage(FailingOnce())
    uploads = UploadStore(storage, BlobStore(storage))
    upload_id, state = uploads.start("a")
    uploads.append("a", upload_id, state, request_body(io.BytesIO(b"abc")))
    with pytest.raises(StorageError):
        uploads.finish("a", upload_id, state, parse_digest(sha(b"abc")), None)
    assert uploads.offset("a", upload_id, state) == 3
    assert uploads.finish("a", upload_id, state, parse_digest(sha(b"abc")), None) == 3
    with pytest.raises(BlobUploadUnknown):
        uploads.offset("a", upload_id, state)


class _RivalDriver(InMemoryDriver):
    """Runs ``rival(sources, destination)`` (another request on the same session) just
    before a join."""

    rival: Callable[[Sequence[str], str], object] | None = None

    def join(self, sources: Sequence[str], destination: str) -> None:
        rival, self.rival = self.rival, None
        if rival is not None:
            rival(sources, destination)
        super().join(sources, destination)


@pytest.mark.parametrize("chunks", [1, 3])
def test_a_session_finished_by_another_request_during_the_join(chunks):
    """Two PUTs finishing one session: the join of the later one finds the chunks gone;
    the blob the first published is its answer too."""
    driver = _RivalDriver()
    storage = Storage(driver)
    uploads = UploadStore(storage, BlobStore(storage))
    data = b"raced" * 300
    value = parse_digest(sha(data))
    upload_id, state = uploads.start("a")
    step = len(data) // chunks + 1
    for start in range(0, len(data), step):
        uploads.append("a", upload_id, state, request_body(io.BytesIO(data[start : start + step])))
    # NOTE: the other request's join of the same chunks ends first.
    driver.rival = lambda sources, destination: InMemoryDriver.join(driver, sources, destination)
    assert uploads.finish("a", upload_id, state, value, None) == len(data)
    assert storage.get_content(layout.blob_data("sha256", value.hex)) == data
    assert BlobStore(storage).linked("a", value)


def test_a_session_cancelled_during_the_join_is_unknown_not_missing():
    driver = _RivalDriver()
    storage = Storage(driver)
    uploads = UploadStore(storage, BlobStore(storage))
    upload_id, state = uploads.start("a")
    for part in (b"one", b"two"):
        uploads.append("a", upload_id, state, request_body(io.BytesIO(part)))
    driver.rival = lambda *_: storage.delete(layout.upload_chunks_dir("a", upload_id))
    with pytest.raises(BlobUploadUnknown) as unknown:
        uploads.finish("a", upload_id, state, parse_digest(sha(b"onetwo")), None)
    assert "cancelled by another request" in (unknown.value.description or "")
    assert not storage.exists(layout.blob_data("sha256", sha(b"onetwo")[7:]))


def test_chunks_another_process_received_are_hashed_then_joined_not_rewritten():
    """The closing PUT lands on a process that saw none of the chunks (another worker or
    host): it reads them once to check the digest, then storage joins them; no writer
    ever streams the blob's bytes again."""

    class Recording(InMemoryDriver):
        joined: list[str] = []
        joining = False
        writers = 0

        def join(self, sources: Sequence[str], destination: str) -> None:
            self.joined.append(destination)
            self.joining = True
            try:
                super().join(sources, destination)
            finally:
                self.joining = False

        def writer(self, path: str, append: bool = False):
            if path.startswith("/docker/registry/v2/blobs/") and not self.joining:
                self.writers += 1
            return super().writer(path, append)

    driver = Recording()
    storage = Storage(driver)
    receiving, closing = (UploadStore(storage, BlobStore(storage), b"secret") for _ in range(2))
    data = bytes(range(256)) * 40
    upload_id, state = receiving.start("a")
    for start in range(0, len(data), 4096):
        part = data[start : start + 4096]
        receiving.append("a", upload_id, state, request_body(io.BytesIO(part)))
    value = parse_digest(sha(data))
    with pytest.raises(DigestInvalid):
        closing.finish("a", upload_id, state, parse_digest(sha(data + b"!")), None)
    assert closing.finish("a", upload_id, state, value, None) == len(data)
    target = layout.blob_data("sha256", value.hex)
    assert storage.get_content(target) == data
    assert driver.joined == [target] and driver.writers == 0
    assert not storage.exists(layout.upload_chunks_dir("a", upload_id))
