"""The object-store base, over a dict of objects: the conformance suite and the writer template."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import pytest

from docker_registry.core.storage import (
    Capability,
    InvalidPathError,
    PathNotFoundError,
    StorageError,
    writecheck,
)
from docker_registry.core.storage.objectstore import (
    BodyReader,
    FileSlice,
    ObjectInfo,
    ObjectReader,
    ObjectStoreDriver,
    ObjectWriter,
    OfferedCapabilities,
)
from docker_registry.core.storage.writecheck import WritableCheck, ancestors
from docker_registry.testing.conformance import BaseDriverTests


def test_ancestors() -> None:
    assert ancestors("/a/b/c") == ["/a", "/a/b"]
    assert ancestors("/a") == []


class _Store:
    """Fake probes over a set of file paths; records every probe made."""

    def __init__(self, *files: str) -> None:
        self.files = set(files)
        self.probed: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def has_children(self, path: str, operation: str) -> bool:
        with self._lock:
            self.probed.append((path, operation))
        return any(name.startswith(path + "/") for name in self.files)

    def file_at(self, path: str, operation: str) -> dict[str, str] | None:
        with self._lock:
            self.probed.append((path, operation))
        return {"path": path} if path in self.files else None


@pytest.fixture
def check():
    checks = WritableCheck("fake")
    yield checks
    checks.close()


def test_writable_when_nothing_is_in_the_way(check: WritableCheck) -> None:
    store = _Store("/other/file")
    check.check("/a/b/c", "commit", store.has_children, store.file_at)
    assert sorted(store.probed) == [("/a", "commit"), ("/a/b", "commit"), ("/a/b/c", "commit")]


def test_refuses_a_directory(check: WritableCheck) -> None:
    store = _Store("/a/b/c/d")
    with pytest.raises(StorageError, match="a directory is at this path") as caught:
        check.check("/a/b/c", "move", store.has_children, store.file_at)
    assert (caught.value.driver, caught.value.operation, caught.value.path) == (
        "fake",
        "move",
        "/a/b/c",
    )


def test_refuses_a_file_parent_naming_the_nearest_to_the_root(check: WritableCheck) -> None:
    store = _Store("/a", "/a/b")
    with pytest.raises(StorageError, match=r"a parent of the path is a file: /a$"):
        check.check("/a/b/c", "commit", store.has_children, store.file_at)


def test_any_metadata_but_none_means_a_file(check: WritableCheck) -> None:
    with pytest.raises(StorageError, match="parent of the path is a file: /a"):
        check.check("/a/b", "commit", lambda *_: False, lambda *_: {})


def test_probe_errors_propagate(check: WritableCheck) -> None:
    def broken(path: str, operation: str) -> bool:
        raise StorageError("unreachable", path=path)

    with pytest.raises(StorageError, match="unreachable"):
        check.check("/a/b", "commit", broken, lambda *_: None)


def test_close_before_use_and_twice() -> None:
    checks = WritableCheck("fake")
    checks.close()
    checks.check("/a", "commit", lambda *_: False, lambda *_: None)
    checks.close()
    checks.close()


def test_a_passed_write_spares_its_parents_the_next_probes(check: WritableCheck) -> None:
    store = _Store()
    check.check("/a/b/c", "commit", store.has_children, store.file_at)
    store.probed.clear()
    check.check("/a/b/d/e", "commit", store.has_children, store.file_at)
    assert sorted(store.probed) == [("/a/b/d", "commit"), ("/a/b/d/e", "commit")]


def test_a_refused_write_remembers_nothing(check: WritableCheck) -> None:
    store = _Store("/a/b")
    with pytest.raises(StorageError, match="parent of the path is a file: /a/b"):
        check.check("/a/b/c", "commit", store.has_children, store.file_at)
    store.probed.clear()
    with pytest.raises(StorageError, match="parent of the path is a file: /a/b"):
        check.check("/a/b/c", "commit", store.has_children, store.file_at)
    assert ("/a/b", "commit") in store.probed


def test_known_folders_are_asked_again_after_a_while(
    check: WritableCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(writecheck.time, "monotonic", lambda: clock[0])
    store = _Store()
    check.check("/a/b", "commit", store.has_children, store.file_at)
    clock[0] += writecheck.KNOWN_DIRECTORY_SECONDS - 1
    store.probed.clear()
    check.check("/a/c", "commit", store.has_children, store.file_at)
    assert store.probed == [("/a/c", "commit")]
    clock[0] += 2
    store.files.add("/a")  # another process emptied /a and wrote a file there
    with pytest.raises(StorageError, match=r"parent of the path is a file: /a$"):
        check.check("/a/d", "commit", store.has_children, store.file_at)


def test_a_removal_forgets_the_folders_above_and_below(check: WritableCheck) -> None:
    store = _Store()
    check.check("/a/b/c/d", "commit", store.has_children, store.file_at)
    check.check("/x/y", "commit", store.has_children, store.file_at)
    check.removed("/a/b/c/d")
    store.probed.clear()
    check.check("/a/b/c/e", "commit", store.has_children, store.file_at)
    assert sorted(path for path, _ in store.probed) == ["/a", "/a/b", "/a/b/c", "/a/b/c/e"]
    check.removed("/a")
    store.probed.clear()
    check.check("/a/b/c/f", "commit", store.has_children, store.file_at)
    assert sorted(path for path, _ in store.probed) == ["/a", "/a/b", "/a/b/c", "/a/b/c/f"]
    store.probed.clear()
    check.check("/x/z", "commit", store.has_children, store.file_at)
    assert store.probed == [("/x/z", "commit")], "an unrelated folder stays known"


def test_a_file_written_at_a_known_folder_is_forgotten(check: WritableCheck) -> None:
    store = _Store()
    check.check("/a/b/c", "commit", store.has_children, store.file_at)
    check.removed("/a/b/c")
    check.check("/a/b", "commit", store.has_children, store.file_at)  # /a/b is empty: a file
    store.files.add("/a/b")
    with pytest.raises(StorageError, match=r"parent of the path is a file: /a/b$"):
        check.check("/a/b/x", "commit", store.has_children, store.file_at)


def test_known_folders_are_bounded(check: WritableCheck, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writecheck, "KNOWN_DIRECTORIES", 3)
    store = _Store()
    for name in "abcde":
        check.check(f"/{name}/file", "commit", store.has_children, store.file_at)
    store.probed.clear()
    check.check("/a/other", "commit", store.has_children, store.file_at)
    check.check("/e/other", "commit", store.has_children, store.file_at)
    assert ("/a", "commit") in store.probed, "the oldest folder was dropped"
    assert ("/e", "commit") not in store.probed


def test_concurrent_checks_below_one_file_are_all_refused(check: WritableCheck) -> None:
    """Threads writing below fresh folders while one of them is a file: the cache never
    lets a write below the file through, whatever the interleaving."""
    store = _Store("/repo/7")
    refused: list[str] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        path = f"/repo/{index % 10}/blob-{index}"
        try:
            check.check(path, "commit", store.has_children, store.file_at)
        except StorageError:
            with lock:
                refused.append(path)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(refused) == sorted(f"/repo/7/blob-{i}" for i in range(200) if i % 10 == 7)


def test_a_driver_delete_lets_a_file_replace_a_folder_safely() -> None:
    store = _MemoryStore()
    try:
        store.put_content("/a/b/c", b"1")
        store.delete("/a/b/c")
        store.put_content("/a/b", b"now a file")
        with pytest.raises(StorageError, match="parent of the path is a file: /a/b"):
            store.put_content("/a/b/d", b"2")
        store.delete("/a/b")
        store.put_content("/m/n", b"1")
        store.move("/m/n", "/elsewhere")
        store.put_content("/m", b"a file where the folder was")
        with pytest.raises(StorageError, match="parent of the path is a file: /m"):
            store.put_content("/m/o", b"2")
    finally:
        store.close()


class _Reader(ObjectReader):
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int | None = -1) -> bytes:
        amount = len(self._data) if size is None or size < 0 else size
        data, self._data = self._data[:amount], self._data[amount:]
        return data


def test_object_reader() -> None:
    reader = _Reader(b"hello world")
    assert reader.readable()
    buffer = bytearray(5)
    assert reader.readinto(buffer) == 5
    assert buffer == b"hello"
    assert reader.readall() == b" world"
    assert reader.readinto(bytearray(3)) == 0


class _MemoryStore(ObjectStoreDriver):
    """An object store in a dict: the primitives only, everything else from the base."""

    name = "memory-objects"
    capabilities = OfferedCapabilities(Capability.REDIRECT, Capability.SNAPSHOT_READS)

    def __init__(self, part_size: int = 4, can_sign: bool = True) -> None:
        super().__init__(prefix="registry/", part_size=part_size)
        self.objects: dict[str, tuple[bytes, float]] = {}
        self.can_sign = can_sign
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.fail_parts = False

    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        context = {"driver": self.name, "operation": operation, "path": path}
        if isinstance(exc, StorageError):
            return exc.with_context(**context)
        if isinstance(exc, KeyError):
            return PathNotFoundError(**context)
        return StorageError(f"store failed: {exc}", **context)

    def offers(self, capability: str) -> bool:
        return capability != Capability.REDIRECT or self.can_sign

    def reserved(self, key: str) -> bool:
        return key.startswith("registry/.staging/")

    def head_object(self, key: str) -> ObjectInfo | None:
        with self.lock:
            found = self.objects.get(key)
        return None if found is None else ObjectInfo(key, len(found[0]), found[1])

    def list_objects(
        self, prefix: str, *, recursive: bool, page_size: int | None = None
    ) -> Iterator[ObjectInfo | str]:
        with self.lock:
            keys = sorted(key for key in self.objects if key.startswith(prefix))
        prefixes = set()
        for key in keys:
            rest = key[len(prefix) :]
            if not recursive and "/" in rest:
                prefixes.add(prefix + rest.split("/")[0] + "/")
            elif (info := self.head_object(key)) is not None:
                yield info
        yield from sorted(prefixes)

    def open_object(self, path: str, key: str, offset: int) -> BinaryIO:
        with self.lock:
            data = self.objects[key][0]
        stream = io.BytesIO(data[offset:])
        return BodyReader(self, path, stream.read, stream.close).stream()

    def put_object(self, key: str, data: bytes) -> None:
        self.requests.append(f"put {key}")
        with self.lock:
            self.objects[key] = (bytes(data), time.time())

    def copy_object(self, source: ObjectInfo, key: str) -> None:
        with self.lock:
            self.objects[key] = (self.objects[source.key][0], time.time())

    def delete_objects(self, keys: Sequence[str]) -> None:
        self.requests.append(f"delete {len(keys)}")
        with self.lock:
            for key in keys:
                self.objects.pop(key, None)

    def open_writer(self, path: str, append: bool) -> _PartsWriter:
        return _PartsWriter(self, path, append)

    def signed_url(self, key: str, method: str) -> str:
        return f"memory://{key}?method={method}"


class _PartsWriter(ObjectWriter):
    """Parts go to a list, published on complete; records the primitives called."""

    short_last_part = True

    def __init__(self, driver: _MemoryStore, path: str, append: bool) -> None:
        super().__init__(driver, path)
        self.store = driver
        self.parts: list[bytes] = []
        self.calls: list[str] = []
        if append and (info := driver.head_object(self._key)) is not None:
            self.parts.append(driver.objects[info.key][0])
            self._size = info.size

    @property
    def multipart(self) -> bool:
        return bool(self.parts)

    def upload_part(self, part: bytes) -> None:
        self.calls.append("upload_part")
        if self.store.fail_parts:
            raise ConnectionError("part refused")
        self.parts.append(part)

    def complete(self, rest: bytes) -> None:
        self.calls.append("complete")
        self.store.put_object(self._key, b"".join(self.parts) + rest)

    def put_whole(self, data: bytes) -> None:
        self.calls.append("put_whole")
        self.store.put_object(self._key, data)

    def discard(self) -> None:
        self.calls.append("discard")
        self.parts = []


@pytest.fixture
def driver() -> Iterator[_MemoryStore]:
    # NOTE: the suite fetches redirect URLs over HTTP: this store serves none.
    store = _MemoryStore(part_size=1024, can_sign=False)
    yield store
    store.close()


class TestObjectStoreBase(BaseDriverTests):
    """The base alone passes the whole conformance suite over a dict of objects."""


def test_writer_sends_full_parts_and_keeps_the_rest() -> None:
    writer = _MemoryStore().writer("/f")
    assert writer.write(b"abc") == 3
    assert writer.parts == []
    assert writer.write(b"defghijkl") == 9
    assert writer.parts == [b"abcd", b"efgh", b"ijkl"]
    assert writer.size == 12
    writer.write(b"mn")
    writer.commit()
    assert writer.calls == ["upload_part"] * 3 + ["complete"]
    assert writer.store.get_content("/f") == b"abcdefghijklmn"


def test_a_small_write_is_one_request() -> None:
    store = _MemoryStore()
    with store.writer("/small") as writer:
        writer.write(b"abc")
        writer.commit()
    assert writer.calls == ["put_whole"]
    store.put_content("/tiny", b"xy")
    assert store.requests == ["put registry/small", "put registry/tiny"]


def test_a_local_file_goes_in_parts_from_the_file(tmp_path) -> None:
    source = tmp_path / "body"
    source.write_bytes(b"abcdefghij")
    store = _MemoryStore()
    with store.writer("/adopted") as writer:
        writer.write_file(str(source), last=True)
        assert writer.parts == [b"abcd", b"efgh", b"ij"], "the short rest is the last part"
        assert writer.size == 10
        with pytest.raises(StorageError, match="last part was sent"):
            writer.write(b"more")
    assert writer.calls == ["upload_part"] * 3 + ["discard"]
    store.adopt_file(str(source), "/adopted")
    assert store.get_content("/adopted") == b"abcdefghij"
    with store.writer("/kept") as writer:
        writer.write_file(str(source))
        assert writer.parts == [b"abcd", b"efgh"], "without last, the rest waits in the buffer"
        writer.write(b"k")
        writer.commit()
    assert store.get_content("/kept") == b"abcdefghijk"


def test_without_short_parts_the_rest_of_a_file_goes_to_complete(tmp_path) -> None:
    source = tmp_path / "body"
    source.write_bytes(b"abcdefghij")
    store = _MemoryStore()
    with store.writer("/whole-parts") as writer:
        writer.short_last_part = False
        writer.write_file(str(source), last=True)
        assert writer.parts == [b"abcd", b"efgh"]
        writer.commit()
    assert writer.calls == ["upload_part", "upload_part", "complete"]
    assert store.get_content("/whole-parts") == b"abcdefghij"


def test_a_local_file_after_buffered_bytes_or_below_a_part_is_streamed(tmp_path) -> None:
    source = tmp_path / "body"
    source.write_bytes(b"abcdef")
    store = _MemoryStore()
    with store.writer("/after") as writer:
        writer.write(b"1")
        writer.write_file(str(source), last=True)
        writer.commit()
    assert writer.parts == [b"1abc"], "streamed after the buffered byte, part by part"
    assert writer.calls == ["upload_part", "complete"]
    assert store.get_content("/after") == b"1abcdef"
    (tmp_path / "small").write_bytes(b"xyz")
    store.adopt_file(str(tmp_path / "small"), "/small")
    assert store.requests[-1] == "put registry/small", "below a part: one request"


def test_a_part_failing_from_a_local_file_leaves_nothing(tmp_path) -> None:
    source = tmp_path / "body"
    source.write_bytes(b"abcdefghij")
    store = _MemoryStore()
    store.fail_parts = True
    with pytest.raises(StorageError, match="part refused"):
        store.adopt_file(str(source), "/broken")
    with pytest.raises(PathNotFoundError):
        store.stat("/broken")


class _CopyingWriter(_PartsWriter):
    """Copies objects of at least 3 bytes as parts (recorded), like S3's part copies."""

    copy_part_min = 3

    def copy_parts(self, sources: Sequence[ObjectInfo]) -> None:
        self.calls.append("copy_parts " + " ".join(source.key for source in sources))
        self.parts.extend(self.store.objects[source.key][0] for source in sources)


class _CopyingStore(_MemoryStore):
    last_writer: _CopyingWriter

    def open_writer(self, path: str, append: bool) -> _PartsWriter:
        self.last_writer = _CopyingWriter(self, path, append)
        return self.last_writer


def test_concatenate_copies_the_leading_parts_together_and_streams_the_rest() -> None:
    store = _CopyingStore(part_size=4)
    contents = {"/a": b"aaaa", "/empty": b"", "/b": b"bbb", "/c": b"cc", "/d": b"dddd", "/e": b"e"}
    for path, content in contents.items():
        store.put_content(path, content)
    store.concatenate(list(contents), "/joined")
    assert store.get_content("/joined") == b"".join(contents.values())
    writer_calls = [call for call in store.last_writer.calls if call != "upload_part"]
    assert writer_calls == ["copy_parts registry/a registry/b", "complete"]
    # A short object may be the last part: nothing follows it.
    store.concatenate(["/a", "/c"], "/short-last")
    assert store.last_writer.calls == ["copy_parts registry/a registry/c", "complete"]
    assert store.get_content("/short-last") == b"aaaacc"


def test_file_info_is_one_head_and_no_directory() -> None:
    store = _MemoryStore()
    store.put_content("/a/b", b"12345")
    info = store.file_info("/a/b")
    assert info is not None
    assert (info.path, info.size, info.is_dir) == ("/a/b", 5, False)
    assert store.file_info("/a") is None, "a directory"
    assert store.file_info("/nothing") is None
    store.close()


def test_file_slice_reads_only_its_range(tmp_path) -> None:
    source = tmp_path / "body"
    source.write_bytes(bytes(range(100)))
    with FileSlice(str(source), 10, 20) as part:
        assert len(part) == 20
        assert part.read(5) == bytes(range(10, 15))
        assert part.tell() == 5
        assert part.read() == bytes(range(15, 30))
        assert part.read(5) == b""
        assert part.seek(-3, io.SEEK_END) == 17
        buffer = bytearray(10)
        assert part.readinto(buffer) == 3
        assert bytes(buffer[:3]) == bytes(range(27, 30))
        assert part.seek(100) == 20, "no position past the slice"
        part.seek(0)
        assert part.readall() == bytes(range(10, 30))
    assert part.closed


def test_writer_states() -> None:
    writer = _MemoryStore().writer("/f")
    writer.commit()
    with pytest.raises(StorageError, match="the writer is committed") as caught:
        writer.write(b"x")
    assert (caught.value.driver, caught.value.operation, caught.value.path) == (
        "memory-objects",
        "write",
        "/f",
    )
    writer.cancel()
    writer.close()
    assert writer.calls == ["put_whole"]


def test_close_cancels_an_open_writer_once() -> None:
    store = _MemoryStore()
    writer = store.writer("/f")
    writer.write(b"abcdef")
    with writer:
        pass
    writer.close()
    assert writer.calls == ["upload_part", "discard"]
    with pytest.raises(StorageError, match="the writer is cancelled"):
        writer.commit()
    assert store.objects == {}


def test_a_failed_part_breaks_the_writer_and_discards() -> None:
    store = _MemoryStore(part_size=2)
    store.fail_parts = True
    writer = store.writer("/f")
    with pytest.raises(StorageError, match="store failed: part refused") as caught:
        writer.write(b"abcd")
    assert (caught.value.operation, caught.value.path) == ("write", "/f")
    assert writer.calls == ["upload_part", "discard"]
    with pytest.raises(StorageError, match="the writer is broken"):
        writer.commit()
    writer.close()
    assert writer.calls == ["upload_part", "discard"], "a successful discard is not repeated"
    assert store.objects == {}


def test_close_retries_a_failed_discard() -> None:
    store = _MemoryStore()
    writer = store.writer("/f")
    writer.write(b"abcdef")
    writer.discard = _refuse  # type: ignore[method-assign]
    writer.cancel()
    assert writer.parts == [b"abcd"]
    del writer.discard
    writer.close()
    assert writer.parts == [], "close discarded what the cancel could not"


def _refuse() -> None:
    raise ConnectionError("store unreachable")


def test_a_refused_commit_breaks_the_writer() -> None:
    store = _MemoryStore()
    store.put_content("/file", b"x")
    writer = store.writer("/file/below")
    writer.write(b"abcdef")
    with pytest.raises(StorageError, match="a parent of the path is a file: /file"):
        writer.commit()
    assert writer.calls == ["upload_part", "discard"]
    assert store.list("/") == ["/file"]


def test_capabilities_per_class_and_per_instance() -> None:
    assert Capability.REDIRECT in _MemoryStore.capabilities
    unsigned = _MemoryStore(can_sign=False)
    assert unsigned.capabilities == frozenset({Capability.SNAPSHOT_READS})
    unsigned.put_content("/f", b"x")
    assert unsigned.redirect_url("/f") is None
    signed = _MemoryStore()
    assert signed.capabilities == _MemoryStore.capabilities
    signed.put_content("/f", b"x")
    assert signed.redirect_url("/f", "HEAD") == "memory://registry/f?method=HEAD"
    with pytest.raises(PathNotFoundError):
        signed.redirect_url("/missing")


def test_reserved_keys_are_neither_listed_nor_addressable() -> None:
    store = _MemoryStore()
    store.objects["registry/.staging/upload"] = (b"x", 0.0)
    store.put_content("/a", b"y")
    assert store.list("/") == ["/a"]
    assert [info.path for info in store.walk("/")] == ["/a"]
    with pytest.raises(InvalidPathError, match="reserved"):
        store.put_content("/.staging/x", b"z")


def test_folder_markers_are_no_files() -> None:
    store = _MemoryStore()
    store.objects["registry/dir/"] = (b"", 0.0)
    store.put_content("/dir/file", b"x")
    assert store.list("/dir") == ["/dir/file"]
    assert [info.path for info in store.walk("/")] == ["/dir/file"]


def test_delete_goes_in_batches() -> None:
    store = _MemoryStore()
    type(store).delete_batch = 3
    try:
        for index in range(7):
            store.put_content(f"/dir/{index}", b"x")
        store.requests.clear()
        store.delete("/dir")
    finally:
        del type(store).delete_batch
    assert store.requests == ["delete 3", "delete 3", "delete 1"]
    assert store.objects == {}
