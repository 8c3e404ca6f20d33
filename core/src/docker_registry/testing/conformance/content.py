"""Conformance: declarations, whole-file content, readers and writers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import pytest

from docker_registry.core.storage import (
    CHUNK_SIZE,
    Capability,
    DriverOption,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
)

#: Prefix of every test's private namespace; see :class:`BaseDriverFixtures`.
from .fixtures import (
    LARGE_SIZE,
    MIB,
    NON_UTF8,
    BaseDriverFixtures,
    _digest,
    make_data,
    read_all,
)

#: The environment variable that turns on :class:`BaseLargeStreamTests`.
SLOW_ENV = "REGISTRY_CONFORMANCE_SLOW"

#: Every capability name the core reads (see :class:`Capability`).
KNOWN_CAPABILITIES = frozenset(
    {Capability.REDIRECT, Capability.LOCAL_FILES, Capability.SNAPSHOT_READS}
)


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
        unknown = driver.capabilities - KNOWN_CAPABILITIES
        assert not unknown, (
            f"capabilities the core does not know: {sorted(unknown)} (known: "
            f"{sorted(KNOWN_CAPABILITIES)}; 'server_side_move' was dropped in 0.1)"
        )


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

    def test_put_private_round_trips_and_replaces(self, driver: StorageDriver, base: str) -> None:
        path = f"{base}/keys/secret"
        for content in (b"first key", b"2"):
            driver.put_private(path, content)
            assert driver.get_content(path) == content
        assert driver.list(f"{base}/keys") == [path]

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

    def _read_across(
        self, driver: StorageDriver, path: str, change: Callable[[], None], old: bytes, new: bytes
    ) -> None:
        """Open a reader, read its first 64 KiB, run ``change``, read the rest: the reader
        must return ``old`` whole; without ``Capability.SNAPSHOT_READS`` it may raise
        ``StorageError`` instead. Never a mix, never a short read."""
        snapshot = Capability.SNAPSHOT_READS in driver.capabilities
        with driver.reader(path) as stream:
            head = stream.read(64 * 1024)
            change()
            try:
                rest = read_all(stream, 256 * 1024)
            except StorageError:
                if snapshot:
                    raise
                return
        seen = head + rest
        assert _digest(seen) == _digest(old), _which(seen, old, new)

    def test_reader_open_across_an_overwrite_sees_one_whole_version(
        self, driver: StorageDriver, base: str
    ) -> None:
        """A multi-chunk file overwritten while a reader is open: the reader returns the
        version it opened, whole (never the new one's tail, never a short read)."""
        path = f"{base}/file"
        old, new = make_data(LARGE_SIZE, seed=21), make_data(LARGE_SIZE + 4097, seed=22)
        driver.put_content(path, old)
        self._read_across(driver, path, lambda: driver.put_content(path, new), old, new)
        assert _digest(driver.get_content(path)) == _digest(new)

    def test_reader_open_across_a_delete_sees_one_whole_version(
        self, driver: StorageDriver, base: str
    ) -> None:
        path = f"{base}/file"
        old = make_data(LARGE_SIZE, seed=23)
        driver.put_content(path, old)
        self._read_across(driver, path, lambda: driver.delete(path), old, b"")
        with pytest.raises(PathNotFoundError):
            driver.stat(path)

    def test_local_files_readers_are_real_files(self, driver: StorageDriver, base: str) -> None:
        """With :attr:`Capability.LOCAL_FILES` a reader is a seekable OS file object, at
        ``offset``: what the core hands to ``wsgi.file_wrapper`` (sendfile) and what
        ``nginx_x_accel_redirect`` relies on. Without it, nothing beyond ``read``."""
        data = make_data(100_000, seed=24)
        driver.put_content(f"{base}/file", data)
        with driver.reader(f"{base}/file", 10) as stream:
            if Capability.LOCAL_FILES in driver.capabilities:
                assert stream.seekable()
                assert os.fstat(stream.fileno()).st_size == len(data)
                assert stream.tell() == 10
                assert os.pread(stream.fileno(), 5, 0) == data[:5]
            assert read_all(stream) == data[10:]


def _which(seen: bytes, old: bytes, new: bytes) -> str:
    """Describe what a reader returned instead of the old version, for the failure."""
    if seen == new:
        return "the reader returned the new version, not the one it opened"
    mixed = len(seen) > 64 * 1024 and seen[64 * 1024 :] == new[64 * 1024 : len(seen)]
    kind = "old head + new tail (a mix)" if mixed else "neither version"
    return f"the reader returned {len(seen)} bytes (the old version has {len(old)}): {kind}"


class BaseLargeStreamTests(BaseDriverFixtures):
    """Opt-in, slow: a 256 MiB file written and read back in chunks, never held whole.

    Off by default (minutes against an emulator); turn it on with the environment variable
    ``REGISTRY_CONFORMANCE_SLOW=1`` (``REGISTRY_CONFORMANCE_SLOW=1 nox -s driver-s3``).
    """

    SIZE = 256 * MIB

    @pytest.mark.slow
    @pytest.mark.skipif(
        os.environ.get(SLOW_ENV) != "1",
        reason=f"opt-in slow case: set {SLOW_ENV}=1 to stream 256 MiB through the driver",
    )
    def test_stream_256_mib(self, driver: StorageDriver, base: str) -> None:
        path = f"{base}/huge"
        chunk = make_data(CHUNK_SIZE, seed=25)
        written = hashlib.sha256()
        with driver.writer(path) as writer:
            for index in range(self.SIZE // CHUNK_SIZE):
                # NOTE: each chunk differs (its index up front), so a repeated or dropped
                # chunk changes the digest.
                piece = index.to_bytes(8, "big") + chunk[8:]
                written.update(piece)
                writer.write(piece)
            assert writer.size == self.SIZE
            writer.commit()
        assert driver.stat(path).size == self.SIZE
        read = hashlib.sha256()
        total = 0
        with driver.reader(path) as stream:
            while piece := stream.read(CHUNK_SIZE):
                total += len(piece)
                read.update(piece)
        assert total == self.SIZE
        assert read.hexdigest() == written.hexdigest()


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

    def test_adopt_file_stores_a_local_file(
        self, driver: StorageDriver, base: str, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        data = make_data(LARGE_SIZE)
        local = _spool_file(driver, tmp_path_factory, data)
        driver.put_content(f"{base}/file", b"old")
        driver.adopt_file(local, f"{base}/file")
        assert _digest(read_all(driver.reader(f"{base}/file"))) == _digest(data)
        assert driver.stat(f"{base}/file").size == len(data)
        assert f"{base}/file" in driver.list(base)
        if os.path.exists(local):  # the driver copied it: the caller removes it
            os.unlink(local)

    def test_adopt_file_creates_missing_parents(
        self, driver: StorageDriver, base: str, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        local = _spool_file(driver, tmp_path_factory, NON_UTF8)
        driver.adopt_file(local, f"{base}/a/b/c")
        assert driver.get_content(f"{base}/a/b/c") == NON_UTF8
        if os.path.exists(local):
            os.unlink(local)

    def test_adopt_file_not_yet_durable_then_moved(
        self, driver: StorageDriver, base: str, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """An upload's chunk: adopted with ``durable=False``, then moved into place."""
        data = make_data(3 * MIB, seed=5)
        local = _spool_file(driver, tmp_path_factory, data)
        driver.adopt_file(local, f"{base}/chunks/0-3", durable=False)
        assert _digest(driver.get_content(f"{base}/chunks/0-3")) == _digest(data)
        driver.move(f"{base}/chunks/0-3", f"{base}/blob")
        assert _digest(read_all(driver.reader(f"{base}/blob"))) == _digest(data)
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/chunks/0-3")
        if os.path.exists(local):
            os.unlink(local)

    def test_adopt_missing_local_file_raises_and_stores_nothing(
        self, driver: StorageDriver, base: str, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        missing = str(tmp_path_factory.mktemp("adopt") / "missing.body")
        with pytest.raises((StorageError, OSError)):
            driver.adopt_file(missing, f"{base}/file")
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/file")

    def test_concatenate_joins_files_in_order(self, driver: StorageDriver, base: str) -> None:
        parts = [make_data(LARGE_SIZE), NON_UTF8, b"", make_data(1000)]
        for index, part in enumerate(parts):
            driver.put_content(f"{base}/parts/{index}", part)
        driver.put_content(f"{base}/joined", b"previous")
        driver.concatenate(
            [f"{base}/parts/{index}" for index in range(len(parts))], f"{base}/joined"
        )
        assert _digest(read_all(driver.reader(f"{base}/joined"))) == _digest(b"".join(parts))
        assert driver.get_content(f"{base}/parts/1") == NON_UTF8, "sources stay"

    def test_concatenate_nothing_gives_an_empty_file(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.concatenate([], f"{base}/empty")
        assert driver.get_content(f"{base}/empty") == b""

    def test_concatenate_with_a_missing_source_writes_nothing(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/one", b"one")
        driver.put_content(f"{base}/joined", b"previous")
        with pytest.raises(PathNotFoundError):
            driver.concatenate([f"{base}/one", f"{base}/missing"], f"{base}/joined")
        assert driver.get_content(f"{base}/joined") == b"previous"

    def test_join_moves_files_into_one_in_order(self, driver: StorageDriver, base: str) -> None:
        parts = [make_data(LARGE_SIZE), NON_UTF8, b"", make_data(1000)]
        sources = [f"{base}/parts/{index}" for index in range(len(parts))]
        for source, part in zip(sources, parts, strict=True):
            driver.put_content(source, part)
        driver.put_content(f"{base}/joined", b"previous")
        driver.join(sources, f"{base}/joined")
        assert _digest(read_all(driver.reader(f"{base}/joined"))) == _digest(b"".join(parts))
        for source in sources:
            with pytest.raises(PathNotFoundError):
                driver.stat(source)

    def test_join_of_one_file_moves_it(self, driver: StorageDriver, base: str) -> None:
        driver.put_content(f"{base}/only", NON_UTF8)
        driver.join([f"{base}/only"], f"{base}/joined")
        assert driver.get_content(f"{base}/joined") == NON_UTF8
        with pytest.raises(PathNotFoundError):
            driver.stat(f"{base}/only")

    def test_join_with_a_missing_source_writes_nothing_and_keeps_the_others(
        self, driver: StorageDriver, base: str
    ) -> None:
        driver.put_content(f"{base}/one", b"one")
        driver.put_content(f"{base}/joined", b"previous")
        with pytest.raises(PathNotFoundError):
            driver.join([f"{base}/one", f"{base}/missing"], f"{base}/joined")
        assert driver.get_content(f"{base}/joined") == b"previous"
        assert driver.get_content(f"{base}/one") == b"one"

    def test_join_of_chunks_adopted_not_yet_durable(
        self, driver: StorageDriver, base: str, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """An upload's chunks (spooled bodies adopted with ``durable=False``) joined into
        its blob; deleting the upload's folder afterwards leaves the blob whole."""
        chunks = [make_data(size, seed=70 + size) for size in (2 * MIB + 3, 3 * MIB // 2, 77)]
        sources = []
        for index, chunk in enumerate(chunks):
            local = _spool_file(driver, tmp_path_factory, chunk)
            driver.adopt_file(local, f"{base}/upload/chunks/{index}", durable=False)
            sources.append(f"{base}/upload/chunks/{index}")
            if os.path.exists(local):
                os.unlink(local)
        driver.put_content(f"{base}/upload/startedat", b"0")
        driver.join(sources, f"{base}/blob")
        driver.delete(f"{base}/upload")
        assert _digest(read_all(driver.reader(f"{base}/blob"))) == _digest(b"".join(chunks))
        assert driver.stat(f"{base}/blob").size == sum(map(len, chunks))


def _spool_file(
    driver: StorageDriver, tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> str:
    """A local file where the core would spool a request body for ``driver``."""
    directory = driver.spool_directory or str(tmp_path_factory.mktemp("spool"))
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"conformance-{os.getpid()}-{len(data)}.body")
    with open(path, "wb") as stream:
        stream.write(data)
    return path
