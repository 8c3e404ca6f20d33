"""An upload's chunks become its blob inside S3 (multipart of part copies), against moto:
the closing PUT reads no byte back, and every integrity guarantee holds."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docker_registry.core.bodies import request_body
from docker_registry.core.spool import BodySpool
from docker_registry.core.storage import PathNotFoundError, Storage, StorageError
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.digests import parse_digest
from docker_registry.core.v2.errors import DigestInvalid
from docker_registry.core.v2.uploads import UploadStore
from docker_registry.drivers.s3 import S3Driver
from docker_registry.drivers.s3.testing import counted

MIB = 1024 * 1024
#: Spools stay alive while their test runs (a collected spool removes its file).
_SPOOLS: list[BodySpool] = []


def received(data: bytes) -> Any:
    """A request body as the server hands it over: spooled to a local file."""
    spool = BodySpool(None, 0)
    _SPOOLS.append(spool)
    spool.append(data)
    return request_body(spool.getfile())


def digest_of(data: bytes) -> Any:
    return parse_digest("sha256:" + hashlib.sha256(data).hexdigest())


@pytest.fixture
def s3_uploads(make_driver: Callable[..., S3Driver]) -> Iterator[tuple[S3Driver, UploadStore]]:
    driver = make_driver(storage_path=f"/assembly-{os.urandom(4).hex()}")
    storage = Storage(driver)
    yield driver, UploadStore(storage, BlobStore(storage))


def push_chunks(uploads: UploadStore, name: str, parts: list[bytes]) -> tuple[str, str]:
    upload_id, state = uploads.start(name)
    for part in parts:
        uploads.append(name, upload_id, state, received(part))
    return upload_id, state


def blob_key(driver: S3Driver, data: bytes) -> str:
    return driver.key(layout.blob_data("sha256", digest_of(data).hex))


def test_chunks_are_assembled_by_s3(
    s3_uploads: tuple[S3Driver, UploadStore], s3_admin: Any, bucket: str, pending_uploads
) -> None:
    driver, uploads = s3_uploads
    parts = [os.urandom(6 * MIB), os.urandom(5 * MIB), os.urandom(100_000)]
    data = b"".join(parts)
    upload_id, state = push_chunks(uploads, "a/b", parts)
    with counted(driver) as calls:
        assert uploads.finish("a/b", upload_id, state, digest_of(data), None) == len(data)
    assert calls["GetObject"] == 0, "no chunk is read back"
    assert calls["UploadPartCopy"] == 3, "a chunk of 5 MiB or more, or the last, is copied"
    assert calls["UploadPart"] == 0
    head = s3_admin.head_object(Bucket=bucket, Key=blob_key(driver, data))
    assert head["ETag"].endswith('-3"')
    assert driver.get_content(layout.blob_data("sha256", digest_of(data).hex)) == data
    assert pending_uploads() == []
    with pytest.raises(PathNotFoundError):
        driver.list(layout.upload_chunks_dir("a/b", upload_id))


def test_a_small_chunk_in_the_middle_is_streamed_with_what_follows(
    s3_uploads: tuple[S3Driver, UploadStore],
) -> None:
    driver, uploads = s3_uploads
    parts = [os.urandom(5 * MIB), os.urandom(10), os.urandom(6 * MIB), os.urandom(7)]
    data = b"".join(parts)
    upload_id, state = push_chunks(uploads, "a/b", parts)
    with counted(driver) as calls:
        uploads.finish("a/b", upload_id, state, digest_of(data), None)
    assert calls["UploadPartCopy"] == 1, "only the first chunk; the rest follows 10 bytes"
    assert calls["GetObject"] == 3
    assert driver.get_content(layout.blob_data("sha256", digest_of(data).hex)) == data


def test_a_wrong_digest_publishes_nothing_and_the_session_stays_usable(
    s3_uploads: tuple[S3Driver, UploadStore], pending_uploads
) -> None:
    driver, uploads = s3_uploads
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB)]
    data = b"".join(parts)
    upload_id, state = push_chunks(uploads, "a/b", parts)
    wrong = digest_of(data[:-1])
    with pytest.raises(DigestInvalid):
        uploads.finish("a/b", upload_id, state, wrong, None)
    for digest in (wrong, digest_of(data)):
        with pytest.raises(PathNotFoundError):
            driver.stat(layout.blob_data("sha256", digest.hex))
    assert pending_uploads() == []
    assert uploads.finish("a/b", upload_id, state, digest_of(data), None) == len(data)
    assert driver.get_content(layout.blob_data("sha256", digest_of(data).hex)) == data


def test_s3_failing_mid_assembly_leaves_no_blob_and_no_parts(
    s3_uploads: tuple[S3Driver, UploadStore], pending_uploads
) -> None:
    driver, uploads = s3_uploads
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(5 * MIB)]
    data = b"".join(parts)
    upload_id, state = push_chunks(uploads, "a/b", parts)
    copies = []

    def fail_second_copy(**_: object) -> None:
        copies.append(1)
        if len(copies) == 2:
            raise ConnectionError("S3 went away mid-assembly")

    driver.client.meta.events.register("before-call.s3.UploadPartCopy", fail_second_copy)
    try:
        with pytest.raises(StorageError, match="S3 went away"):
            uploads.finish("a/b", upload_id, state, digest_of(data), None)
    finally:
        driver.client.meta.events.unregister("before-call.s3.UploadPartCopy", fail_second_copy)
    with pytest.raises(PathNotFoundError):
        driver.stat(layout.blob_data("sha256", digest_of(data).hex))
    assert pending_uploads() == []
    assert uploads.finish("a/b", upload_id, state, digest_of(data), None) == len(data)
    assert driver.get_content(layout.blob_data("sha256", digest_of(data).hex)) == data


def test_a_chunk_vanishing_before_assembly_publishes_nothing(
    s3_uploads: tuple[S3Driver, UploadStore], pending_uploads, s3_admin: Any, bucket: str
) -> None:
    driver, _ = s3_uploads
    sources = ["/x/one", "/x/two"]
    for source in sources:
        driver.put_content(source, os.urandom(5 * MIB))
    real_head = driver.head

    def head_then_lose(path: str, operation: str) -> Any:
        info = real_head(path, operation)
        if path == "/x/two":
            # NOTE: another request cancelled the session meanwhile.
            s3_admin.delete_object(Bucket=bucket, Key=driver.key(path))
        return info

    driver.head = head_then_lose  # type: ignore[method-assign]
    with pytest.raises(PathNotFoundError):
        driver.concatenate(sources, "/x/joined")
    del driver.head
    with pytest.raises(PathNotFoundError):
        driver.stat("/x/joined")
    assert pending_uploads() == []
    with pytest.raises(PathNotFoundError):
        driver.concatenate(sources, "/x/joined")
    driver.delete("/x")


def test_concurrent_uploads_of_the_same_and_of_other_content(
    s3_uploads: tuple[S3Driver, UploadStore], pending_uploads
) -> None:
    driver, uploads = s3_uploads
    shared = [os.urandom(5 * MIB), os.urandom(1000)]
    others = [[os.urandom(5 * MIB), os.urandom(index + 1)] for index in range(3)]
    sessions = [(push_chunks(uploads, f"r{index}", shared), shared) for index in range(3)]
    sessions += [(push_chunks(uploads, "other", parts), parts) for parts in others]

    def finish(index: int) -> int:
        (upload_id, state), parts = sessions[index]
        name = f"r{index}" if index < 3 else "other"
        return uploads.finish(name, upload_id, state, digest_of(b"".join(parts)), None)

    with concurrent.futures.ThreadPoolExecutor(len(sessions)) as pool:
        sizes = list(pool.map(finish, range(len(sessions))))
    assert sizes == [len(b"".join(parts)) for _, parts in sessions]
    for _, parts in sessions:
        data = b"".join(parts)
        assert driver.get_content(layout.blob_data("sha256", digest_of(data).hex)) == data
    assert pending_uploads() == []
