"""Chunks joined as they arrive (file driver): the closing PUT adopts the assembly."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from docker_registry.core.bodies import request_body
from docker_registry.core.spool import BodySpool
from docker_registry.core.storage import Storage
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.digests import parse_digest
from docker_registry.core.v2.errors import RangeInvalid
from docker_registry.core.v2.uploads import UploadStore
from docker_registry.drivers.file import FileDriver

#: Spools stay alive while their test runs (a collected spool removes its file).
_SPOOLS: list[BodySpool] = []


def received(storage: Storage, data: bytes, in_memory: bool = False):
    """A request body as the server hands it over (a spool file, or bytes in memory)."""
    spool = BodySpool(storage.spool_directory, len(data) if in_memory else 0)
    _SPOOLS.append(spool)
    spool.append(data)
    return request_body(spool.getfile())


def digest_of(data: bytes):
    return parse_digest("sha256:" + hashlib.sha256(data).hexdigest())


def leftovers(root: Path) -> list[str]:
    return sorted(os.listdir(root / ".registry-staging"))


def test_chunks_are_joined_as_they_arrive_and_the_assembly_becomes_the_blob(tmp_path):
    storage = Storage(FileDriver(storage_path=str(tmp_path)))
    uploads = UploadStore(storage, BlobStore(storage))
    parts = [os.urandom(700_000), os.urandom(300_000), os.urandom(900_000)]
    upload_id, state = uploads.start("a/b")
    for index, part in enumerate(parts):
        uploads.append("a/b", upload_id, state, received(storage, part, in_memory=index == 1))
    progress = uploads._progress[upload_id]
    assert progress.assembly is not None
    assert Path(progress.assembly.path).read_bytes() == b"".join(parts)
    data = b"".join(parts)
    assert uploads.finish("a/b", upload_id, state, digest_of(data), None) == len(data)
    blob = tmp_path / layout.blob_data("sha256", digest_of(data).hex).lstrip("/")
    assert blob.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_a_chunk_written_by_another_process_falls_back_to_joining_the_files(tmp_path):
    storage = Storage(FileDriver(storage_path=str(tmp_path)))
    here, elsewhere = (UploadStore(storage, BlobStore(storage), b"shared") for _ in range(2))
    parts = [os.urandom(600_000) for _ in range(3)]
    upload_id, state = here.start("a")
    here.append("a", upload_id, state, received(storage, parts[0]))
    here.append("a", upload_id, state, received(storage, parts[1]))
    assert here._progress[upload_id].assembly is not None
    elsewhere.append("a", upload_id, state, received(storage, parts[2]))
    data = b"".join(parts)
    assert here.finish("a", upload_id, state, digest_of(data), None) == len(data)
    blob = tmp_path / layout.blob_data("sha256", digest_of(data).hex).lstrip("/")
    assert blob.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_a_cancelled_or_evicted_session_leaves_no_assembly(tmp_path):
    storage = Storage(FileDriver(storage_path=str(tmp_path)))
    uploads = UploadStore(storage, BlobStore(storage))
    upload_id, state = uploads.start("a")
    for _ in range(2):
        uploads.append("a", upload_id, state, received(storage, os.urandom(600_000)))
    assert len(leftovers(tmp_path)) == 1
    uploads.cancel("a", upload_id, state)
    assert leftovers(tmp_path) == []


def tapped(storage: Storage, uploads: UploadStore, name: str, upload_id: str, data: bytes):
    """A PATCH body as our server receives it: the parser asks for a tap first."""
    tap = uploads.tap_for("PATCH", f"/v2/{name}/blobs/uploads/{upload_id}")
    spool = BodySpool(storage.spool_directory, 0, tap)
    _SPOOLS.append(spool)
    for start in range(0, len(data), 65536):
        spool.append(data[start : start + 65536])
    return request_body(spool.getfile())


def test_tapped_chunks_are_joined_and_hashed_as_they_arrive(tmp_path):
    storage = Storage(FileDriver(storage_path=str(tmp_path)))
    uploads = UploadStore(storage, BlobStore(storage))
    parts = [os.urandom(size) for size in (700_000, 600_000, 900_000)]
    upload_id, state = uploads.start("t/app")
    assert uploads.tap_for("PATCH", f"/v2/t/app/blobs/uploads/{upload_id}") is None
    for part in parts:
        uploads.append(
            "t/app", upload_id, state, tapped(storage, uploads, "t/app", upload_id, part)
        )
    data = b"".join(parts)
    progress = uploads._progress[upload_id]
    assert progress.hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert progress.assembly is not None and progress.assembly.size == len(data)
    assert Path(progress.assembly.path).read_bytes() == data
    assert uploads.finish("t/app", upload_id, state, digest_of(data), None) == len(data)
    blob = tmp_path / layout.blob_data("sha256", digest_of(data).hex).lstrip("/")
    assert blob.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_a_tap_for_a_chain_that_changed_meanwhile_is_not_trusted(tmp_path):
    """The tap was set up, then another process extended the session: this chunk is
    refused (416), its tap's hash and assembly are dropped, and the upload still ends
    with the right bytes."""
    storage = Storage(FileDriver(storage_path=str(tmp_path)))
    here, elsewhere = (UploadStore(storage, BlobStore(storage), b"shared") for _ in range(2))
    first, second, racing = (os.urandom(600_000) for _ in range(3))
    upload_id, state = here.start("r")
    here.append("r", upload_id, state, received(storage, first))
    early = tapped(storage, here, "r", upload_id, racing)  # headers seen, body arrived
    elsewhere.append("r", upload_id, state, received(storage, second))
    with pytest.raises(RangeInvalid):
        here.append("r", upload_id, state, early, start=600_000)
    data = first + second
    assert here.finish("r", upload_id, state, digest_of(data), None) == len(data)
    blob = tmp_path / layout.blob_data("sha256", digest_of(data).hex).lstrip("/")
    assert blob.read_bytes() == data
    for spool in _SPOOLS:
        spool.close()
    assert leftovers(tmp_path) == []


def test_a_stale_seed_never_becomes_the_hash_of_a_first_chunk(tmp_path):
    """This process remembers a chain whose files were purged elsewhere: a tap seeded
    with that chain's hash must not be taken as the hash of a new first chunk."""
    storage = Storage(FileDriver(storage_path=str(tmp_path)))
    uploads = UploadStore(storage, BlobStore(storage))
    upload_id, state = uploads.start("s")
    uploads.append("s", upload_id, state, received(storage, os.urandom(600_000)))
    storage.delete(layout.upload_chunks_dir("s", upload_id))  # purged by another process
    fresh = os.urandom(600_000)
    uploads.append("s", upload_id, state, tapped(storage, uploads, "s", upload_id, fresh))
    assert uploads.finish("s", upload_id, state, digest_of(fresh), None) == len(fresh)
    blob = tmp_path / layout.blob_data("sha256", digest_of(fresh).hex).lstrip("/")
    assert blob.read_bytes() == fresh


def test_an_assembly_swept_while_idle_falls_back_to_joining_the_files(tmp_path):
    storage = Storage(FileDriver(storage_path=str(tmp_path)))
    uploads = UploadStore(storage, BlobStore(storage))
    parts = [os.urandom(600_000) for _ in range(2)]
    upload_id, state = uploads.start("idle")
    for part in parts:
        uploads.append("idle", upload_id, state, tapped(storage, uploads, "idle", upload_id, part))
    os.unlink(uploads._progress[upload_id].assembly.path)  # the spool sweep took it
    data = b"".join(parts)
    assert uploads.finish("idle", upload_id, state, digest_of(data), None) == len(data)
    blob = tmp_path / layout.blob_data("sha256", digest_of(data).hex).lstrip("/")
    assert blob.read_bytes() == data
