"""Spooled request bodies go to S3 in parts read from the file, several at once, against
moto: no part held in memory, nothing visible before the upload completes."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from docker_registry.core.storage import PathNotFoundError, StorageError
from docker_registry.drivers.s3 import S3Driver
from docker_registry.drivers.s3.testing import counted

MIB = 1024 * 1024


def spooled(tmp_path: Path, size: int, name: str = "body") -> tuple[str, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return str(path), data


def test_a_spooled_body_is_sent_in_parts_from_the_file(
    make_driver: Callable[..., S3Driver], s3_admin: Any, bucket: str, tmp_path: Path
) -> None:
    driver = make_driver(storage_path="/fileparts")
    local, data = spooled(tmp_path, 12 * MIB + 5)
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def enter(**_: object) -> None:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])

    def leave(**_: object) -> None:
        with lock:
            in_flight[0] -= 1

    driver.client.meta.events.register("before-send.s3.UploadPart", enter)
    driver.client.meta.events.register("after-call.s3.UploadPart", leave)
    with counted(driver) as calls:
        driver.adopt_file(local, "/blob")
    assert calls["UploadPart"] == 3, "5 MiB, 5 MiB and the 2 MiB rest, each from the file"
    assert calls["PutObject"] == 0
    assert most[0] >= 2, "parts are sent at once"
    head = s3_admin.head_object(Bucket=bucket, Key="fileparts/blob")
    assert head["ETag"].endswith('-3"')
    assert head["ContentLength"] == len(data)
    assert driver.get_content("/blob") == data
    small, small_data = spooled(tmp_path, 1000, "small")
    with counted(driver) as calls:
        driver.adopt_file(small, "/small")
    assert calls["PutObject"] == 1, "below a part: one PUT"
    assert driver.get_content("/small") == small_data
    driver.delete("/blob")
    driver.delete("/small")


def test_a_part_failing_leaves_no_object_and_no_upload(
    make_driver: Callable[..., S3Driver], tmp_path: Path, pending_uploads
) -> None:
    driver = make_driver(storage_path="/fileparts-fail")
    driver.put_content("/blob", b"previous")
    local, _ = spooled(tmp_path, 16 * MIB)
    sent = []

    def fail_third(**_: object) -> None:
        sent.append(1)
        if len(sent) == 3:
            raise ConnectionError("S3 dropped the connection mid-part")

    driver.client.meta.events.register("before-call.s3.UploadPart", fail_third)
    with pytest.raises(StorageError, match="dropped the connection") as caught:
        driver.adopt_file(local, "/blob")
    assert caught.value.path == "/blob"
    assert driver.get_content("/blob") == b"previous"
    assert [key for key in pending_uploads() if key.startswith("fileparts-fail/")] == []
    driver.delete("/blob")


def test_a_vanished_spool_file_is_an_error_that_writes_nothing(
    make_driver: Callable[..., S3Driver], tmp_path: Path
) -> None:
    driver = make_driver(storage_path="/fileparts-gone")
    with pytest.raises((StorageError, OSError)):
        driver.adopt_file(str(tmp_path / "missing"), "/blob")
    with pytest.raises(PathNotFoundError):
        driver.stat("/blob")


def test_concurrent_bodies_to_one_key_and_to_many(
    make_driver: Callable[..., S3Driver], tmp_path: Path, pending_uploads
) -> None:
    driver = make_driver(storage_path="/fileparts-many")
    bodies = [spooled(tmp_path, 10 * MIB + index, f"body-{index}") for index in range(6)]

    def adopt(index: int) -> None:
        local, _ = bodies[index]
        driver.adopt_file(local, "/same" if index < 3 else f"/own-{index}")

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(adopt, range(6)))
    assert driver.get_content("/same") in {data for _, data in bodies[:3]}, "one whole body"
    for index in range(3, 6):
        assert driver.get_content(f"/own-{index}") == bodies[index][1]
    assert [key for key in pending_uploads() if key.startswith("fileparts-many/")] == []
    for path in ["/same", *(f"/own-{index}" for index in range(3, 6))]:
        driver.delete(path)
