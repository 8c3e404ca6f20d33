"""What a write costs in S3 requests, against moto: parents known to be folders are not
asked again, and the guard against a file below a file still holds."""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from collections.abc import Callable

import pytest

from docker_registry.core.storage import PathNotFoundError, StorageError
from docker_registry.drivers.s3 import S3Driver
from docker_registry.drivers.s3.testing import counted


def blob(number: int) -> str:
    """A blob's path as the core lays it out (``xx/`` is the digest's first byte)."""
    return f"/docker/registry/v2/blobs/sha256/{number % 256:02x}/{number:064x}/data"


def test_a_blob_write_asks_only_about_its_new_folders(
    make_driver: Callable[..., S3Driver],
) -> None:
    driver = make_driver(storage_path="/requests")
    driver.put_content(blob(1), b"first")
    with counted(driver) as calls:
        driver.put_content(blob(2), b"second")
    # one LIST (nothing below the path), a HEAD of each new folder (xx/ and the hex/), the PUT
    assert calls == Counter({"ListObjectsV2": 1, "HeadObject": 2, "PutObject": 1})
    with counted(driver) as calls:
        driver.put_content(blob(2 + 256), b"third")  # same xx/ folder
    assert calls == Counter({"ListObjectsV2": 1, "HeadObject": 1, "PutObject": 1})
    assert driver.get_content(blob(2)) == b"second"
    driver.delete("/docker")


def test_a_file_where_a_deleted_folder_was_still_guards_its_paths(
    make_driver: Callable[..., S3Driver],
) -> None:
    driver = make_driver(storage_path="/refolder")
    driver.put_content("/a/b/c", b"1")
    driver.delete("/a/b/c")
    driver.put_content("/a/b", b"a file now")
    with pytest.raises(StorageError, match="a parent of the path is a file: /a/b"):
        driver.put_content("/a/b/d", b"2")
    with (
        pytest.raises(StorageError, match="a parent of the path is a file: /a/b"),
        driver.writer("/a/b/e") as writer,
    ):
        writer.write(b"3")
        writer.commit()
    assert driver.list("/a") == ["/a/b"]
    driver.delete("/a")


def test_another_instance_writing_a_file_there_is_seen_once_the_folder_is_unknown(
    make_driver: Callable[..., S3Driver],
) -> None:
    """Two processes over one bucket: the second empties a folder the first knows and
    writes a file there; the first's own delete (or the expiry) makes it ask again."""
    first, second = make_driver(storage_path="/shared"), make_driver(storage_path="/shared")
    first.put_content("/repo/x/one", b"1")
    second.delete("/repo/x")
    second.put_content("/repo/x", b"a file")
    with pytest.raises(PathNotFoundError):
        first.delete("/repo/x/one")  # gone already: the folders above are forgotten anyway
    with pytest.raises(StorageError, match="a parent of the path is a file: /repo/x"):
        first.put_content("/repo/x/two", b"2")
    first.delete("/repo")


def test_concurrent_writes_below_shared_folders(make_driver: Callable[..., S3Driver]) -> None:
    driver = make_driver(storage_path="/concurrent")
    driver.put_content("/repo/7", b"a file among the folders")

    def write(index: int) -> str:
        path = f"/repo/{index % 10}/blob-{index}"
        try:
            driver.put_content(path, f"{index}".encode())
        except StorageError:
            return "refused"
        return "written"

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(write, range(120)))
    for index, outcome in enumerate(outcomes):
        expected = "refused" if index % 10 == 7 else "written"
        assert outcome == expected, index
        if expected == "written":
            assert driver.get_content(f"/repo/{index % 10}/blob-{index}") == f"{index}".encode()
    driver.delete("/repo")


def test_an_unreachable_store_during_the_check_remembers_nothing(
    make_driver: Callable[..., S3Driver],
) -> None:
    driver = make_driver(storage_path="/unreachable", s3_endpoint_url="http://127.0.0.1:9")
    driver.client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(StorageError, match="cannot reach the S3 endpoint"):
        driver.put_content("/a/b/c", b"lost")
    assert driver._writable._unknown(["/a", "/a/b"], 0.0) == ["/a", "/a/b"]


def test_a_redirect_to_a_blob_the_registry_knows_sends_no_request(
    make_driver: Callable[..., S3Driver], tmp_path
) -> None:
    # The v2 blob GET has just found the blob (descriptor cache): signing a URL is local,
    # a HEAD would only repeat the question (one round trip per pull on AWS).
    from docker_registry.core.storage import Storage
    from docker_registry.core.storage.descriptors import DescriptorCache, HostGeneration
    from docker_registry.core.v2 import layout

    driver = make_driver(storage_path="/signing")
    storage = Storage(driver)
    storage.use_descriptors(
        DescriptorCache(
            cacheable=layout.is_descriptor,
            affects=layout.may_hold_descriptors,
            generation=HostGeneration(str(tmp_path / "generation")),
            capacity=10,
        )
    )
    path = layout.blob_data("sha256", "ab" * 32)
    storage.put_content(path, b"layer")
    with counted(driver) as calls:
        cold = storage.redirect_url(path)
    assert calls == Counter({"HeadObject": 1}), "not cached yet: the driver checks"
    storage.stat(path)
    with counted(driver) as calls:
        warm = storage.redirect_url(path)
    assert calls == Counter()
    assert cold and warm and "X-Amz-Signature" in warm
    storage.delete(path)
    with pytest.raises(PathNotFoundError):
        storage.redirect_url(path)
