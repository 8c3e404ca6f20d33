"""Chunks joined as they arrive (file driver): the closing PUT adopts the assembly."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from docker_registry.core.spool import BodySpool
from docker_registry.core.storage import Storage
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.digests import parse_digest
from docker_registry.core.v2.uploads import UploadStore
from docker_registry.drivers.file import FileDriver

#: Spools stay alive while their test runs (a collected spool removes its file).
_SPOOLS: list[BodySpool] = []


def received(storage: Storage, data: bytes, in_memory: bool = False):
    """A request body as the server hands it over (a spool file, or bytes in memory)."""
    spool = BodySpool(storage.spool_directory, len(data) if in_memory else 0)
    _SPOOLS.append(spool)
    spool.append(data)
    return spool.getfile()


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
