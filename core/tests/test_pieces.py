"""Ranged reads in pieces (``storage/pieces.py``) through the object-store base, over a
dict of objects that records every ranged GET."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import pytest

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import PathNotFoundError, StorageError
from docker_registry.core.storage.objectstore import ObjectInfo, ObjectStoreDriver
from docker_registry.core.storage.pieces import (
    RangedBody,
    plan_pieces,
    read_piece_options,
    read_pieces,
)

DATA = bytes(range(256)) * 40  # 10,240 bytes


class _RangedStore(ObjectStoreDriver):
    """Objects in a dict, read with ranged GETs only; other primitives are not needed."""

    name = "ranged-memory"
    ranged_gets = True

    def __init__(self, piece_size: int = 1000, in_flight: int = 2) -> None:
        super().__init__(prefix="", part_size=1024)
        self.piece_size = piece_size
        self.pieces_in_flight = in_flight
        self.objects: dict[str, tuple[bytes, str]] = {"f": (DATA, "v1")}
        self.gets: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        #: GETs at these offsets raise / answer another version / answer short.
        self.failing: set[int] = set()
        self.changed: set[int] = set()
        self.short: set[int] = set()
        #: when set, later pieces wait for it (the first GET never does).
        self.gate: threading.Event | None = None
        self.started = threading.Semaphore(0)

    def get_range(self, key: str, offset: int, length: int) -> RangedBody | None:
        data, version = self.objects[key]
        with self.lock:
            first = not self.gets
            self.gets.append((offset, length))
        if not first:
            self.started.release()
            if self.gate is not None:
                self.gate.wait(10)
        if offset in self.failing:
            raise ConnectionError("connection reset by peer")
        if offset >= len(data):
            return None
        piece = data[offset : offset + length]
        if offset in self.short:
            piece = piece[:-1]
        stream = io.BytesIO(piece)
        answered = "v2" if offset in self.changed else version
        return RangedBody(stream.read, stream.close, answered, len(data))

    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        context = {"driver": self.name, "operation": operation, "path": path}
        if isinstance(exc, StorageError):
            return exc.with_context(**context)
        if isinstance(exc, KeyError):
            return PathNotFoundError(**context)
        return StorageError(f"store failed: {exc}", **context)

    def head_object(self, key: str) -> ObjectInfo | None:
        raise NotImplementedError

    def list_objects(
        self, prefix: str, *, recursive: bool, page_size: int | None = None
    ) -> Iterator[ObjectInfo | str]:
        raise NotImplementedError

    def open_object(self, path: str, key: str, offset: int) -> BinaryIO:
        raise NotImplementedError

    def put_object(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def copy_object(self, source: ObjectInfo, key: str) -> None:
        raise NotImplementedError

    def delete_objects(self, keys: Sequence[str]) -> None:
        raise NotImplementedError

    def open_writer(self, path: str, append: bool) -> Any:
        raise NotImplementedError


@pytest.fixture
def store() -> Iterator[_RangedStore]:
    driver = _RangedStore()
    yield driver
    if driver.gate is not None:
        driver.gate.set()
    driver.close()


def _read_all(stream: BinaryIO, block: int = 300) -> bytes:
    chunks = []
    while chunk := stream.read(block):
        chunks.append(chunk)
    return b"".join(chunks)


def test_plan_covers_the_range_in_order() -> None:
    assert plan_pieces(5, 27, 10) == [(5, 10), (15, 10), (25, 2)]
    assert plan_pieces(5, 5, 10) == []


def test_a_range_is_read_in_pieces_never_past_its_end(store: _RangedStore) -> None:
    with store.range_reader("/f", 123, 4567) as stream:
        assert _read_all(stream) == DATA[123:4690]
    assert store.gets == [(123, 1000), (1123, 1000), (2123, 1000), (3123, 1000), (4123, 567)]


def test_a_range_past_the_object_stops_at_its_end(store: _RangedStore) -> None:
    with store.range_reader("/f", 9000, 5000) as stream:
        assert stream.read() == DATA[9000:]
    assert store.gets == [(9000, 1000), (10000, 240)]


def test_a_short_range_is_one_get(store: _RangedStore) -> None:
    with store.range_reader("/f", 10, 20) as stream:
        assert stream.read() == DATA[10:30]
    assert store.gets == [(10, 20)]


def test_at_the_end_empty_and_missing_raises(store: _RangedStore) -> None:
    with store.range_reader("/f", len(DATA), 10) as stream:
        assert stream.read() == b""
    with pytest.raises(PathNotFoundError):
        store.range_reader("/missing", 0, 10)


def test_no_more_than_in_flight_pieces_are_fetched_ahead(store: _RangedStore) -> None:
    store.gate = threading.Event()
    stream = store.range_reader("/f", 0, len(DATA))
    try:
        for _ in range(store.pieces_in_flight):
            assert store.started.acquire(timeout=5)
        # NOTE: the first piece is not consumed: nothing more may start.
        assert not store.started.acquire(timeout=0.3)
        assert len(store.gets) == 1 + store.pieces_in_flight
        assert stream.read(1000) == DATA[:1000]
        assert not store.started.acquire(timeout=0.3)
        store.gate.set()
        assert _read_all(stream) == DATA[1000:]
    finally:
        stream.close()
    assert sum(length for _, length in store.gets) == len(DATA)


def test_close_stops_fetching(store: _RangedStore) -> None:
    store.gate = threading.Event()
    stream = store.range_reader("/f", 0, len(DATA))
    assert stream.read(10) == DATA[:10]
    stream.close()
    store.gate.set()
    assert len(store.gets) <= 1 + store.pieces_in_flight


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("failing", "store failed: connection reset by peer"),
        ("changed", "the object changed while it was read"),
        ("short", "the store sent 999 bytes of 1000 at byte 3000"),
    ],
)
def test_a_bad_piece_raises_after_the_good_bytes(
    store: _RangedStore, fault: str, message: str
) -> None:
    getattr(store, fault).add(3000)
    received = bytearray()
    with (
        store.range_reader("/f", 0, len(DATA)) as stream,
        pytest.raises(StorageError, match=message) as caught,
    ):
        while chunk := stream.read(700):
            received += chunk
    assert bytes(received) == DATA[:3000]
    assert (caught.value.driver, caught.value.path) == ("ranged-memory", "/f")


def test_a_first_answer_ending_early_raises(store: _RangedStore) -> None:
    store.short.add(0)
    with store.range_reader("/f", 0, 500) as stream:
        assert stream.read(600) == DATA[:499]
        with pytest.raises(StorageError, match="ended 1 bytes early"):
            stream.read(600)


KEYS = ("x_read_piece_size", "x_read_pieces")


def test_read_piece_options_are_checked_naming_the_key() -> None:
    assert read_pieces({}, *KEYS) == (0, 4)
    assert read_pieces({"x_read_piece_size": 8 * 1024 * 1024, "x_read_pieces": 2}, *KEYS) == (
        8 * 1024 * 1024,
        2,
    )
    for values, key in [
        ({"x_read_piece_size": 4096}, "x_read_piece_size"),
        ({"x_read_pieces": 0}, "x_read_pieces"),
        ({"x_read_pieces": 17}, "x_read_pieces"),
    ]:
        with pytest.raises(ConfigError) as caught:
            read_pieces(values, *KEYS)
        assert caught.value.key == key
    assert [option.name for option in read_piece_options(*KEYS)] == [
        "x_read_piece_size",
        "x_read_pieces",
    ]
