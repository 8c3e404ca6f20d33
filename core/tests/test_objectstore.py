"""The object-store helpers, driven by fake probes and an in-memory part sink."""

from __future__ import annotations

import threading

import pytest

from docker_registry.core.storage import StorageError
from docker_registry.core.storage.objectstore import (
    BROKEN,
    CANCELLED,
    COMMITTED,
    ObjectReader,
    PartWriter,
    WritableCheck,
    ancestors,
)


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


class _Writer(PartWriter):
    """Parts go to a list; ``fail`` breaks the next part."""

    def __init__(self, part_size: int) -> None:
        super().__init__("fake", "/f", part_size)
        self.parts: list[bytes] = []
        self.finished: list[str] = []
        self.fail = False

    def _send_part(self, part: bytes) -> None:
        if self.fail:
            self._finish(BROKEN)
            raise StorageError("part refused")
        self.parts.append(part)

    def _finish(self, state: str) -> None:
        self._state = state
        self._buffer = bytearray()
        self.finished.append(state)

    def commit(self) -> None:
        self._check_open("commit")
        self._finish(COMMITTED)


def test_part_writer_sends_full_parts_and_keeps_the_rest() -> None:
    writer = _Writer(4)
    assert writer.write(b"abc") == 3
    assert writer.parts == []
    assert writer.write(b"defghijkl") == 9
    assert writer.parts == [b"abcd", b"efgh", b"ijkl"]
    assert bytes(writer._buffer) == b""
    assert writer.size == 12


def test_part_writer_buffer_holds_less_than_a_part() -> None:
    writer = _Writer(4)
    writer.write(b"abcdefghij")
    assert writer.parts == [b"abcd", b"efgh"]
    assert bytes(writer._buffer) == b"ij"


def test_part_writer_states() -> None:
    writer = _Writer(4)
    writer.commit()
    with pytest.raises(StorageError, match="the writer is committed") as caught:
        writer.write(b"x")
    assert (caught.value.driver, caught.value.operation, caught.value.path) == (
        "fake",
        "write",
        "/f",
    )
    writer.cancel()
    writer.close()
    assert writer.finished == [COMMITTED]


def test_part_writer_close_cancels_an_open_writer_once() -> None:
    writer = _Writer(4)
    writer.write(b"ab")
    with writer:
        pass
    writer.close()
    assert writer.finished == [CANCELLED]
    with pytest.raises(StorageError, match="the writer is cancelled"):
        writer.commit()


def test_part_writer_failed_part_breaks_the_writer() -> None:
    writer = _Writer(2)
    writer.fail = True
    with pytest.raises(StorageError, match="part refused"):
        writer.write(b"abcd")
    assert writer.finished == [BROKEN]
    with pytest.raises(StorageError, match="the writer is broken"):
        writer.write(b"x")
