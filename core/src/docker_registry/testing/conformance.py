"""The storage driver conformance suite: the tests every driver must pass.

Modelled on the Go registry's ``registry/storage/driver/testsuites``: the contract in
:mod:`docker_registry.core.storage.driver` is proved by behaviour, the same way for every
backend. A driver adopts the whole suite with one fixture and a one-line subclass::

    import pytest
    from docker_registry.drivers.file import FileDriver
    from docker_registry.testing.conformance import BaseDriverTests

    @pytest.fixture
    def driver(tmp_path):
        return FileDriver(storage_path=str(tmp_path / "root"))

    class TestFileDriver(BaseDriverTests):
        pass

The ``driver`` fixture returns a raw :class:`~docker_registry.core.storage.StorageDriver`
(not the :class:`~docker_registry.core.storage.Storage` wrapper); it may ``yield`` and check
backend-specific leftovers after the test. The groups (``BaseContentTests``,
``BaseReaderTests``...) can also be adopted one by one.

Every test works under its own prefix, the ``base`` fixture::

    /                                   the driver's root, possibly shared with other runs
    ├── conformance-<32 hex>/           this test's prefix (``base``)
    │   └── ...                         everything the test writes
    └── conformance-<32 hex>/           another test running at the same time (ignored)

After each test the cleanup check deletes ``base`` and fails the test when anything is
still there, or when the root listing changed (a driver left temporary files, staging
objects or escaped paths behind). Prefixes of other conformance runs are ignored in that
comparison, so that tests may share a bucket with parallel runs.

The suite is backend-agnostic: it only talks to the driver through the contract, assumes
no filesystem, and skips nothing. Optional behaviour is gated on the driver's declared
capabilities (a driver without :attr:`Capability.REDIRECT` must return ``None`` from
``redirect_url``), never skipped.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import random
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar

import pytest

from docker_registry.core.storage import (
    CHUNK_SIZE,
    Capability,
    DriverOption,
    InvalidOffsetError,
    InvalidPathError,
    PathNotFoundError,
    Storage,
    StorageDriver,
    StorageError,
)

__all__ = [
    "BaseConcurrencyTests",
    "BaseContentTests",
    "BaseDeclarationTests",
    "BaseDeleteTests",
    "BaseDriverFixtures",
    "BaseDriverTests",
    "BaseListTests",
    "BaseMoveTests",
    "BasePathTests",
    "BaseReaderTests",
    "BaseRedirectTests",
    "BaseStatTests",
    "BaseWalkTests",
    "BaseWriterTests",
    "make_data",
    "read_all",
]

#: Prefix of every test's private namespace; see :class:`BaseDriverFixtures`.
PREFIX_NAME = "conformance-"
_PREFIX_PATTERN = re.compile(rf"^/{re.escape(PREFIX_NAME)}[0-9a-f]{{32}}$")

#: Bytes that are not valid UTF-8 in any position (NUL, lone continuation, 0xff...).
NON_UTF8 = b"\x00\xff\xfe\x80\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc" * 97

MIB = 1024 * 1024
#: Large enough to need several chunks and several multipart parts on object stores.
LARGE_SIZE = 5 * MIB + 13
#: How long a concurrency test may wait for one worker before it counts as hung.
WORKER_TIMEOUT = 120.0

_Result = TypeVar("_Result")


def make_data(size: int, seed: int = 0) -> bytes:
    """Return ``size`` reproducible pseudo-random bytes (almost surely not UTF-8).

    :param size: number of bytes.
    :param seed: different seeds give different content of the same size.
    """
    return random.Random(seed).randbytes(size)


def read_all(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> bytes:
    """Read ``stream`` to its end in ``chunk_size`` reads, close it, return the bytes."""
    parts = []
    with stream:
        while True:
            chunk = stream.read(chunk_size)
            if not chunk:
                break
            parts.append(chunk)
    return b"".join(parts)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _run_all(calls: list[Callable[[], _Result]]) -> list[_Result]:
    """Run ``calls`` in as many threads, released together; return results in order."""
    barrier = threading.Barrier(len(calls))

    def released(call: Callable[[], _Result]) -> _Result:
        barrier.wait(timeout=WORKER_TIMEOUT)
        return call()

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(released, call) for call in calls]
        return [future.result(timeout=WORKER_TIMEOUT) for future in futures]


def _root_entries(driver: StorageDriver) -> set[str]:
    """The root listing without the prefixes of conformance tests (ours or parallel ones)."""
    return {entry for entry in driver.list("/") if not _PREFIX_PATTERN.match(entry)}


class BaseDriverFixtures:
    """The ``base`` prefix fixture and the cleanup check shared by every ``Base...`` class.

    Adopters supply a ``driver`` fixture; everything else comes from here.
    """

    @pytest.fixture
    def base(self) -> str:
        """A fresh, unused top-level prefix private to this test (``/conformance-<hex>``)."""
        return f"/{PREFIX_NAME}{uuid.uuid4().hex}"

    @pytest.fixture(autouse=True)
    def _cleanup_check(self, driver: StorageDriver, base: str) -> Iterator[None]:
        """Delete ``base`` after the test and fail if anything was left behind."""
        before = _root_entries(driver)
        yield
        problems = []
        try:
            driver.delete(base)
        except PathNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001 - reported as a cleanup failure below
            problems.append(f"delete({base!r}) failed: {exc!r}")
        try:
            info = driver.stat(base)
        except PathNotFoundError:
            pass
        else:
            problems.append(f"{base!r} still exists after delete: {info}")
        after = _root_entries(driver)
        if after != before:
            problems.append(
                f"the root listing changed: appeared {sorted(after - before)}, "
                f"disappeared {sorted(before - after)}"
            )
        if problems:
            pytest.fail("cleanup check failed: " + "; ".join(problems), pytrace=False)


class BaseDeclarationTests(BaseDriverFixtures):
    """The class attributes the core reads before it ever calls the driver."""

    def test_declares_name_and_api_version(self, driver: StorageDriver) -> None:
        assert isinstance(driver.name, str)
        assert driver.name
        assert driver.name == driver.name.lower()
        assert driver.api_version == 1

    def test_declares_options_and_capabilities(self, driver: StorageDriver) -> None:
        names = [option.name for option in driver.options]
        assert all(isinstance(option, DriverOption) for option in driver.options)
        assert len(names) == len(set(names)), f"duplicate option names: {names}"
        assert isinstance(driver.capabilities, frozenset)
        assert all(isinstance(capability, str) for capability in driver.capabilities)


class BaseContentTests(BaseDriverFixtures):
    """``put_content`` / ``get_content``: whole-object round trips and their edges."""

    def test_round_trip(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/a/b/file", b"some content")
        assert driver.get_content(f"{base}/a/b/file") == b"some content"

    def test_round_trip_empty(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/empty", b"")
        assert driver.get_content(f"{base}/empty") == b""
        assert driver.stat(f"{base}/empty").size == 0

    def test_round_trip_non_utf8(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(UnicodeDecodeError):
            NON_UTF8.decode("utf-8")
        driver.put_content(f"{base}/binary", NON_UTF8)
        assert driver.get_content(f"{base}/binary") == NON_UTF8

    def test_round_trip_large(self, driver: StorageDriver, base: str) -> None:
        data = make_data(LARGE_SIZE, seed=1)
        driver.put_content(f"{base}/large", data)
        stored = driver.get_content(f"{base}/large")
        assert len(stored) == LARGE_SIZE
        assert _digest(stored) == _digest(data)

    def test_overwrite_with_longer_then_shorter_content(
        self, driver: StorageDriver, base: str
    ) -> None:
        path = f"{base}/file"
        for content in (b"first", b"a longer second version", b"3"):
            driver.put_content(path, content)
            assert driver.get_content(path) == content
            assert driver.stat(path).size == len(content)

    def test_get_missing_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/missing")

    def test_get_directory_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/dir/file", b"x")
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/dir")

    def test_put_below_a_file_raises_storage_error(self, driver: StorageDriver, base: str) -> None:
        """A file cannot also be a directory::

            {base}/
            └── file          put_content({base}/file/child) must fail

        The file keeps its content.
        """
        driver.put_content(f"{base}/file", b"content")
        with pytest.raises(StorageError):
            driver.put_content(f"{base}/file/child", b"x")
        assert driver.get_content(f"{base}/file") == b"content"
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/file/child")

    def test_put_onto_a_directory_raises_storage_error(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/dir/file", b"content")
        with pytest.raises(StorageError):
            driver.put_content(f"{base}/dir", b"x")
        assert driver.stat(f"{base}/dir").is_dir
        assert driver.get_content(f"{base}/dir/file") == b"content"

    def test_unusual_valid_names_round_trip(self, driver: StorageDriver, base: str) -> None:
        names = [
            "a",
            "2",
            "a.a",
            ".hidden",
            "abc.",
            "a--b",
            "_.abc",
            "Docker-Registry",
            "tag_latest",
            "_index_images",
            "sha256:0123abcd",
            "1.2.3.4.5-6_zyx/123.z/4",
            "with space",
            "caf\u00e9-\u2603",
        ]
        for index, name in enumerate(names):
            driver.put_content(f"{base}/{name}", f"content {index}".encode())
        for index, name in enumerate(names):
            assert driver.get_content(f"{base}/{name}") == f"content {index}".encode(), name

    def test_root_is_a_directory_that_lists_written_prefixes(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/file", b"x")
        assert driver.stat("/").is_dir
        assert base in driver.list("/")


class BaseReaderTests(BaseDriverFixtures):
    """``reader(path, offset)``: offsets, edges and large streams."""

    CONTENT = b"0123456789abcdefghijklmnopqrstuvwxyz"

    def test_offset_zero_reads_everything(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", self.CONTENT)
        assert read_all(driver.reader(f"{base}/file")) == self.CONTENT
        assert read_all(driver.reader(f"{base}/file", 0)) == self.CONTENT

    def test_offset_in_the_middle(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", self.CONTENT)
        for offset in (1, 10, len(self.CONTENT) - 1):
            assert read_all(driver.reader(f"{base}/file", offset)) == self.CONTENT[offset:]

    def test_offset_at_the_end_gives_an_empty_stream(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/file", self.CONTENT)
        assert read_all(driver.reader(f"{base}/file", len(self.CONTENT))) == b""

    def test_offset_past_the_end_gives_an_empty_stream(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/file", self.CONTENT)
        for offset in (len(self.CONTENT) + 1, 10 * MIB):
            assert read_all(driver.reader(f"{base}/file", offset)) == b""

    def test_negative_offset_raises_invalid_offset(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", self.CONTENT)
        with pytest.raises(InvalidOffsetError):
            read_all(driver.reader(f"{base}/file", -1))

    def test_missing_file_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(PathNotFoundError):
            read_all(driver.reader(f"{base}/missing"))
        with pytest.raises(PathNotFoundError):
            read_all(driver.reader(f"{base}/missing", 10))

    def test_directory_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/dir/file", b"x")
        with pytest.raises(PathNotFoundError):
            read_all(driver.reader(f"{base}/dir"))

    def test_zero_byte_file_gives_an_empty_stream(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/empty", b"")
        assert read_all(driver.reader(f"{base}/empty")) == b""

    def test_large_stream_read_in_chunks(self, driver: StorageDriver, base: str) -> None:
        data = make_data(LARGE_SIZE, seed=2)
        driver.put_content(f"{base}/large", data)
        for chunk_size in (CHUNK_SIZE, 64 * 1024 + 7):
            streamed = read_all(driver.reader(f"{base}/large"), chunk_size)
            assert _digest(streamed) == _digest(data)
        offset = 3 * MIB + 5
        tail = read_all(driver.reader(f"{base}/large", offset))
        assert _digest(tail) == _digest(data[offset:])

    def test_partial_reads_then_close(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", self.CONTENT)
        stream = driver.reader(f"{base}/file", 2)
        try:
            assert stream.read(3) == self.CONTENT[2:5]
            assert stream.read(4) == self.CONTENT[5:9]
        finally:
            stream.close()


class BaseWriterTests(BaseDriverFixtures):
    """``writer(path, append)``: visibility, commit, cancel, append and size."""

    def test_write_commit_makes_content_visible(self, driver: StorageDriver, base: str) -> None:
        writer = driver.writer(f"{base}/file")
        assert writer.write(b"hello ") == 6
        assert writer.write(b"world") == 5
        writer.commit()
        writer.close()
        assert driver.get_content(f"{base}/file") == b"hello world"
        assert driver.stat(f"{base}/file").size == 11

    def test_many_small_non_utf8_chunks(self, driver: StorageDriver, base: str) -> None:
        chunks = [NON_UTF8[index : index + 37] for index in range(0, len(NON_UTF8), 37)]
        with driver.writer(f"{base}/file") as writer:
            for chunk in chunks:
                writer.write(chunk)
            writer.commit()
        assert driver.get_content(f"{base}/file") == NON_UTF8

    def test_nothing_is_visible_before_commit(self, driver: StorageDriver, base: str) -> None:
        """An uncommitted writer shows up nowhere::

            {base}/
            ├── other         committed: listed
            └── new/file      being written: not in stat, get_content, list

        Not even its parent directory ``new`` may show up before the commit.
        """
        driver.put_content(f"{base}/other", b"x")
        writer = driver.writer(f"{base}/new/file")
        try:
            writer.write(b"not yet")
            with pytest.raises(PathNotFoundError):
                driver.stat(f"{base}/new/file")
            with pytest.raises(PathNotFoundError):
                driver.get_content(f"{base}/new/file")
            with pytest.raises(PathNotFoundError):
                driver.stat(f"{base}/new")
            assert driver.list(base) == [f"{base}/other"]
            writer.commit()
        finally:
            writer.close()
        assert driver.list(base) == [f"{base}/new", f"{base}/other"]
        assert driver.get_content(f"{base}/new/file") == b"not yet"

    def test_previous_content_stays_visible_until_commit(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/file", b"old")
        with driver.writer(f"{base}/file") as writer:
            writer.write(b"new content")
            assert driver.get_content(f"{base}/file") == b"old"
            assert driver.stat(f"{base}/file").size == 3
            writer.commit()
        assert driver.get_content(f"{base}/file") == b"new content"

    def test_cancel_leaves_the_path_untouched(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/existing", b"old")
        for path in (f"{base}/existing", f"{base}/absent"):
            writer = driver.writer(path)
            writer.write(b"discarded")
            writer.cancel()
            writer.close()
        assert driver.get_content(f"{base}/existing") == b"old"
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/absent")

    def test_close_without_commit_cancels(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/existing", b"old")
        for path in (f"{base}/existing", f"{base}/absent"):
            writer = driver.writer(path, append=True)
            writer.write(b"discarded")
            writer.close()
        assert driver.get_content(f"{base}/existing") == b"old"
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/absent")

    def test_context_manager_publishes_only_on_commit(
        self, driver: StorageDriver, base: str
    ) -> None:
        with driver.writer(f"{base}/uncommitted") as writer:
            writer.write(b"discarded")
        with driver.writer(f"{base}/committed") as writer:
            writer.write(b"kept")
            writer.commit()
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/uncommitted")
        assert driver.get_content(f"{base}/committed") == b"kept"

    def test_context_manager_cancels_on_exception(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", b"old")
        with (
            pytest.raises(RuntimeError, match="upload interrupted"),
            driver.writer(f"{base}/file") as writer,
        ):
            writer.write(b"half of the ")
            raise RuntimeError("upload interrupted")
        assert driver.get_content(f"{base}/file") == b"old"

    def test_append_to_existing_content(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", b"first,")
        with driver.writer(f"{base}/file", append=True) as writer:
            assert writer.size == 6
            writer.write(b"second")
            assert driver.get_content(f"{base}/file") == b"first,"
            writer.commit()
        assert driver.get_content(f"{base}/file") == b"first,second"
        with driver.writer(f"{base}/file", append=True) as writer:
            writer.write(b",third")
            writer.commit()
        assert driver.get_content(f"{base}/file") == b"first,second,third"

    def test_append_to_missing_path_starts_empty(self, driver: StorageDriver, base: str) -> None:
        with driver.writer(f"{base}/new/file", append=True) as writer:
            assert writer.size == 0
            writer.write(b"data")
            writer.commit()
        assert driver.get_content(f"{base}/new/file") == b"data"

    def test_append_large_chunks(self, driver: StorageDriver, base: str) -> None:
        """Resume a large upload the way v2 chunked uploads do: commit, then append."""
        first = make_data(3 * MIB + 1, seed=3)
        second = make_data(2 * MIB + 17, seed=4)
        with driver.writer(f"{base}/upload") as writer:
            for index in range(0, len(first), CHUNK_SIZE):
                writer.write(first[index : index + CHUNK_SIZE])
            writer.commit()
        with driver.writer(f"{base}/upload", append=True) as writer:
            assert writer.size == len(first)
            for index in range(0, len(second), 300_000):
                writer.write(second[index : index + 300_000])
            assert writer.size == len(first) + len(second)
            writer.commit()
        stored = read_all(driver.reader(f"{base}/upload"))
        assert _digest(stored) == _digest(first + second)
        assert driver.stat(f"{base}/upload").size == len(first) + len(second)

    def test_size_counts_written_bytes(self, driver: StorageDriver, base: str) -> None:
        with driver.writer(f"{base}/file") as writer:
            assert writer.size == 0
            writer.write(b"12345")
            assert writer.size == 5
            writer.write(b"")
            assert writer.size == 5
            writer.write(b"678")
            assert writer.size == 8
            writer.commit()
        assert driver.stat(f"{base}/file").size == 8

    def test_write_after_commit_raises_storage_error(
        self, driver: StorageDriver, base: str
    ) -> None:
        with driver.writer(f"{base}/file") as writer:
            writer.write(b"done")
            writer.commit()
            with pytest.raises(StorageError):
                writer.write(b"too late")
        assert driver.get_content(f"{base}/file") == b"done"

    def test_zero_byte_commit_creates_an_empty_file_then_append(
        self, driver: StorageDriver, base: str
    ) -> None:
        with driver.writer(f"{base}/file") as writer:
            writer.commit()
        assert driver.get_content(f"{base}/file") == b""
        assert driver.stat(f"{base}/file").size == 0
        with driver.writer(f"{base}/file", append=True) as writer:
            assert writer.size == 0
            writer.write(NON_UTF8)
            writer.commit()
        assert driver.get_content(f"{base}/file") == NON_UTF8


class BaseListTests(BaseDriverFixtures):
    """``list(path)``: direct children, sorted full paths."""

    def test_direct_children_sorted_full_paths(self, driver: StorageDriver, base: str) -> None:
        """Files and directories one level down, nothing deeper::

            {base}/dir/
            ├── b           file
            ├── a/x/y       directory a (its contents are not listed)
            ├── c.txt       file
            └── B/z         directory B (sorts before a)

        Sorting is by code point, as Python sorts strings.
        """
        for path in ("dir/b", "dir/a/x/y", "dir/c.txt", "dir/B/z"):
            driver.put_content(f"{base}/{path}", b"x")
        assert driver.list(f"{base}/dir") == [
            f"{base}/dir/B",
            f"{base}/dir/a",
            f"{base}/dir/b",
            f"{base}/dir/c.txt",
        ]
        assert driver.list(f"{base}/dir/a") == [f"{base}/dir/a/x"]
        assert driver.list(f"{base}/dir/a/x") == [f"{base}/dir/a/x/y"]

    def test_root_listing_shows_the_prefix(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/deep/file", b"x")
        listing = driver.list("/")
        assert base in listing
        assert listing == sorted(listing)
        assert all(entry.startswith("/") and entry.count("/") == 1 for entry in listing)

    def test_missing_directory_raises_path_not_found(
        self, driver: StorageDriver, base: str
    ) -> None:
        with pytest.raises(PathNotFoundError):
            driver.list(base)
        driver.put_content(f"{base}/file", b"x")
        with pytest.raises(PathNotFoundError):
            driver.list(f"{base}/missing")

    def test_file_path_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", b"x")
        with pytest.raises(PathNotFoundError):
            driver.list(f"{base}/file")

    def test_names_that_prefix_each_other(self, driver: StorageDriver, base: str) -> None:
        """``/a/b`` must not see the children of ``/a/bc`` (object stores list by prefix)::

            {base}/a/
            ├── b/x
            ├── bc/y
            └── b.txt

        Each directory lists only its own children.
        """
        for path in ("a/b/x", "a/bc/y", "a/b.txt"):
            driver.put_content(f"{base}/{path}", b"x")
        assert driver.list(f"{base}/a/b") == [f"{base}/a/b/x"]
        assert driver.list(f"{base}/a/bc") == [f"{base}/a/bc/y"]
        assert driver.list(f"{base}/a") == [f"{base}/a/b", f"{base}/a/b.txt", f"{base}/a/bc"]


class BaseWalkTests(BaseDriverFixtures):
    """``walk(path)``: every file below a directory, no directories."""

    def test_walk_yields_every_file_recursively(self, driver: StorageDriver, base: str) -> None:
        files = {
            f"{base}/top": b"1",
            f"{base}/a/one": b"22",
            f"{base}/a/b/two": b"333",
            f"{base}/a/b/c/three": b"",
        }
        for path, content in files.items():
            driver.put_content(path, content)
        infos = list(driver.walk(base))
        assert sorted(info.path for info in infos) == sorted(files)
        for info in infos:
            assert not info.is_dir
            assert info.size == len(files[info.path])
        assert sorted(info.path for info in driver.walk(f"{base}/a/b")) == [
            f"{base}/a/b/c/three",
            f"{base}/a/b/two",
        ]

    def test_walk_stays_inside_the_directory(self, driver: StorageDriver, base: str) -> None:
        for path in ("a/b/x", "a/bc/y", "a/b.txt"):
            driver.put_content(f"{base}/{path}", b"x")
        assert [info.path for info in driver.walk(f"{base}/a/b")] == [f"{base}/a/b/x"]

    def test_walk_missing_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(PathNotFoundError):
            list(driver.walk(f"{base}/missing"))

    def test_walk_file_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", b"x")
        with pytest.raises(PathNotFoundError):
            list(driver.walk(f"{base}/file"))


class BaseMoveTests(BaseDriverFixtures):
    """``move(source, destination)``: a file changes path, atomically."""

    def test_move_then_source_is_gone(self, driver: StorageDriver, base: str) -> None:
        data = make_data(300_000, seed=5)
        driver.put_content(f"{base}/source", data)
        driver.move(f"{base}/source", f"{base}/destination")
        assert driver.get_content(f"{base}/destination") == data
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/source")
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/source")
        assert f"{base}/source" not in driver.list(base)

    def test_move_overwrites_the_destination(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/source", b"new")
        driver.put_content(f"{base}/destination", b"old and longer")
        driver.move(f"{base}/source", f"{base}/destination")
        assert driver.get_content(f"{base}/destination") == b"new"
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/source")

    def test_move_missing_source_raises_path_not_found(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/destination", b"kept")
        with pytest.raises(PathNotFoundError):
            driver.move(f"{base}/missing", f"{base}/destination")
        assert driver.get_content(f"{base}/destination") == b"kept"

    def test_move_into_a_new_nested_directory(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/_uploads/u1/data", NON_UTF8)
        driver.move(f"{base}/_uploads/u1/data", f"{base}/blobs/sha256/ab/abcd/data")
        assert driver.get_content(f"{base}/blobs/sha256/ab/abcd/data") == NON_UTF8
        assert driver.list(f"{base}/blobs/sha256/ab") == [f"{base}/blobs/sha256/ab/abcd"]
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/_uploads/u1/data")

    def test_move_a_directory_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/dir/file", b"x")
        with pytest.raises(PathNotFoundError):
            driver.move(f"{base}/dir", f"{base}/elsewhere")
        assert driver.get_content(f"{base}/dir/file") == b"x"


class BaseDeleteTests(BaseDriverFixtures):
    """``delete(path)``: a file, or a directory recursively, and nothing else."""

    def test_delete_a_file(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/file", b"x")
        driver.put_content(f"{base}/other", b"y")
        driver.delete(f"{base}/file")
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/file")
        assert driver.list(base) == [f"{base}/other"]

    def test_delete_a_directory_recursively(self, driver: StorageDriver, base: str) -> None:
        for path in ("dir/a", "dir/b/c", "dir/b/d/e", "keep"):
            driver.put_content(f"{base}/{path}", b"x")
        driver.delete(f"{base}/dir")
        for path in ("dir", "dir/a", "dir/b", "dir/b/c", "dir/b/d/e"):
            with pytest.raises(PathNotFoundError):
                driver.stat(f"{base}/{path}")
        assert driver.list(base) == [f"{base}/keep"]

    def test_delete_only_what_was_asked(self, driver: StorageDriver, base: str) -> None:
        """``/a/b`` never removes ``/a/bc`` or ``/a/b.txt``::

            {base}/a/
            ├── b/c        deleted
            ├── bc/d       kept
            └── b.txt      kept

        Object stores that delete by key prefix get this wrong without a trailing slash.
        """
        for path in ("a/b/c", "a/bc/d", "a/b.txt"):
            driver.put_content(f"{base}/{path}", b"x")
        driver.delete(f"{base}/a/b")
        assert driver.list(f"{base}/a") == [f"{base}/a/b.txt", f"{base}/a/bc"]
        assert driver.get_content(f"{base}/a/bc/d") == b"x"
        with pytest.raises(PathNotFoundError):
            driver.get_content(f"{base}/a/b/c")

    def test_delete_missing_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(PathNotFoundError):
            driver.delete(f"{base}/missing")
        driver.put_content(f"{base}/ab", b"x")
        with pytest.raises(PathNotFoundError):
            driver.delete(f"{base}/a")
        assert driver.get_content(f"{base}/ab") == b"x"


class BaseStatTests(BaseDriverFixtures):
    """``stat(path)``: size, mtime and kind of files and directories."""

    def test_stat_a_file(self, driver: StorageDriver, base: str) -> None:
        before = time.time()
        driver.put_content(f"{base}/dir/file", b"12345")
        info = driver.stat(f"{base}/dir/file")
        assert info.path == f"{base}/dir/file"
        assert info.size == 5
        assert not info.is_dir
        if info.mtime is not None:
            # NOTE: generous bounds: remote backends stamp with their own clock.
            assert before - 300 < info.mtime < time.time() + 300

    def test_stat_a_directory(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/dir/sub/file", b"12345")
        for path in (base, f"{base}/dir", f"{base}/dir/sub"):
            info = driver.stat(path)
            assert info.path == path
            assert info.is_dir
            assert info.size == 0

    def test_stat_the_root(self, driver: StorageDriver) -> None:
        info = driver.stat("/")
        assert info.is_dir
        assert info.path == "/"

    def test_stat_missing_raises_path_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/missing")
        driver.put_content(f"{base}/abc", b"x")
        for path in (f"{base}/ab", f"{base}/abc/d"):
            with pytest.raises(PathNotFoundError):
                driver.stat(path)


class BaseConcurrencyTests(BaseDriverFixtures):
    """Several threads on one driver instance, as under waitress."""

    def test_concurrent_readers_of_one_file(self, driver: StorageDriver, base: str) -> None:
        data = make_data(3 * MIB + 17, seed=6)
        driver.put_content(f"{base}/shared", data)
        offsets = [0, 1, 1000, MIB, 2 * MIB + 3, 0, 5, 3 * MIB]

        def read_from(offset: int) -> str:
            return _digest(read_all(driver.reader(f"{base}/shared", offset), 64 * 1024))

        results = _run_all([functools.partial(read_from, offset) for offset in offsets])
        assert results == [_digest(data[offset:]) for offset in offsets]

    def test_concurrent_writers_to_different_paths(self, driver: StorageDriver, base: str) -> None:
        contents = {f"{base}/w{n}/data": make_data(200_000 + n, seed=n) for n in range(8)}

        def write(path: str) -> None:
            data = contents[path]
            with driver.writer(path) as writer:
                for start in range(0, len(data), 65_536):
                    writer.write(data[start : start + 65_536])
                writer.commit()

        _run_all([functools.partial(write, path) for path in contents])
        for path, data in contents.items():
            assert driver.get_content(path) == data
        assert driver.list(base) == sorted(path.rsplit("/", 1)[0] for path in contents)

    def test_two_writers_to_one_path_leave_one_full_version(
        self, driver: StorageDriver, base: str
    ) -> None:
        path = f"{base}/contested"
        versions = [make_data(400_000, seed=7), make_data(300_001, seed=8)]
        writers = [driver.writer(path) for _ in versions]
        try:
            # NOTE: interleave the chunks so that a driver sharing one temp object between
            # writers of the same path would mix them.
            for start in range(0, 400_000, 50_000):
                for writer, data in zip(writers, versions, strict=True):
                    writer.write(data[start : start + 50_000])
            _run_all([writer.commit for writer in writers])
        finally:
            for writer in writers:
                writer.close()
        assert driver.get_content(path) in versions

    def test_readers_see_whole_versions_during_overwrites(
        self, driver: StorageDriver, base: str
    ) -> None:
        path = f"{base}/hot"
        versions = [b"a" * 300_000, b"b" * 200_001]
        driver.put_content(path, versions[0])
        done = threading.Event()

        def overwrite() -> int:
            try:
                for round_ in range(30):
                    driver.put_content(path, versions[round_ % 2])
            finally:
                done.set()
            return 30

        def read() -> int:
            reads = 0
            while not done.is_set() or reads == 0:
                content = driver.get_content(path)
                assert content in versions, f"a reader saw {len(content)} mixed bytes"
                reads += 1
            return reads

        results = _run_all([overwrite, read, read, read])
        assert results[0] == 30
        assert all(reads > 0 for reads in results[1:])


class BasePathTests(BaseDriverFixtures):
    """Invalid paths never reach the backend, and never leave the driver's namespace."""

    INVALID = (
        "{base}/../{name}-escape",
        "{base}/./file",
        "{relative}/file",
        "{base}/nul\x00byte",
        "{base}/trailing/",
        "{base}//empty",
        "{base}/back\\slash",
        "",
    )

    def _invalid(self, template: str, base: str) -> str:
        return template.format(base=base, relative=base.lstrip("/"), name=base.lstrip("/"))

    @pytest.mark.parametrize("template", INVALID)
    def test_storage_wrapper_refuses_invalid_paths(
        self, driver: StorageDriver, base: str, template: str
    ) -> None:
        storage = Storage(driver)
        path = self._invalid(template, base)
        driver.put_content(f"{base}/file", b"x")
        calls: list[Callable[[], object]] = [
            lambda: storage.put_content(path, b"x"),
            lambda: storage.get_content(path),
            lambda: storage.reader(path),
            lambda: storage.writer(path),
            lambda: storage.stat(path),
            lambda: storage.list(path),
            lambda: storage.delete(path),
            lambda: storage.move(f"{base}/file", path),
            lambda: storage.move(path, f"{base}/moved"),
        ]
        for call in calls:
            with pytest.raises(InvalidPathError):
                call()
        assert driver.get_content(f"{base}/file") == b"x"
        assert driver.list(base) == [f"{base}/file"]

    def test_driver_refuses_or_contains_invalid_paths(
        self, driver: StorageDriver, base: str
    ) -> None:
        """Called directly, a driver may refuse an invalid path or store it, but only
        inside its own namespace: nothing may appear next to ``base`` at the root."""
        driver.put_content(f"{base}/file", b"x")
        before = _root_entries(driver)
        for template in self.INVALID:
            path = self._invalid(template, base)
            # NOTE: refusing in any way is allowed here; only escaping is not.
            with contextlib.suppress(Exception):
                driver.put_content(path, b"escaped?")
            assert _root_entries(driver) == before, f"put_content({path!r}) escaped"
        assert f"{base}-escape" not in driver.list("/")
        assert driver.get_content(f"{base}/file") == b"x"


class BaseRedirectTests(BaseDriverFixtures):
    """``redirect_url``: a fetchable URL when declared, ``None`` otherwise."""

    def test_redirect_url_matches_the_capability(self, driver: StorageDriver, base: str) -> None:
        data = NON_UTF8 + make_data(100_000, seed=9)
        driver.put_content(f"{base}/blob", data)
        url = driver.redirect_url(f"{base}/blob")
        if Capability.REDIRECT not in driver.capabilities:
            assert url is None
            return
        assert url is not None
        assert url.startswith(("http://", "https://")), url
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.read() == data

    def test_redirect_url_of_a_missing_file(self, driver: StorageDriver, base: str) -> None:
        """No URL to a 404: the registry then answers its own 404 (the seed's behaviour)."""
        driver.put_content(f"{base}/dir/file", b"x")
        for path in (f"{base}/missing", f"{base}/dir"):
            if Capability.REDIRECT not in driver.capabilities:
                assert driver.redirect_url(path) is None
                continue
            with pytest.raises(PathNotFoundError):
                driver.redirect_url(path)


class BaseDriverTests(
    BaseDeclarationTests,
    BaseContentTests,
    BaseReaderTests,
    BaseWriterTests,
    BaseListTests,
    BaseWalkTests,
    BaseMoveTests,
    BaseDeleteTests,
    BaseStatTests,
    BaseConcurrencyTests,
    BasePathTests,
    BaseRedirectTests,
):
    """The whole conformance suite: adopt it with ``class TestMyDriver(BaseDriverTests)``."""
