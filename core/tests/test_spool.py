"""BodySpool: request bodies received into an adoptable file and hashed on arrival."""

from __future__ import annotations

import errno
import gc
import hashlib
import io
import os

import falcon.stream
import pytest
from waitress.adjustments import Adjustments

from docker_registry.core.spool import (
    BodySpool,
    SpooledBytes,
    SpooledFile,
    receiving_paths,
    spooled,
    unreceived_error,
)
from docker_registry.core.storage import StorageError, StorageFullError
from docker_registry.core.transport import channel_class

LIMIT = 64 * 1024


def feed(spool: BodySpool, data: bytes, piece: int) -> None:
    for start in range(0, len(data), piece):
        spool.append(data[start : start + piece])


def test_small_body_stays_in_memory_with_its_hash(tmp_path):
    spool = BodySpool(str(tmp_path), LIMIT)
    data = os.urandom(LIMIT)
    feed(spool, data, 1000)
    body = spool.getfile()
    assert isinstance(body, SpooledBytes)
    assert body.read() == data
    assert body.body_size == len(spool) == len(data)
    assert body.sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    assert list(tmp_path.iterdir()) == []
    spool.close()


def test_large_body_goes_to_a_file_in_the_directory(tmp_path):
    spool = BodySpool(str(tmp_path), LIMIT)
    # Pieces both below and above the size hashed on the helper thread.
    data = os.urandom(5 * 1024 * 1024 + 17)
    feed(spool, data[:100_000], 999)
    feed(spool, data[100_000:], 1024 * 1024)
    body = spool.getfile()
    assert isinstance(body, SpooledFile)
    assert os.path.dirname(body.spool_path) == str(tmp_path)
    assert body.spool_path.endswith(".body")
    assert body.body_size == len(data)
    assert body.sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    assert body.read(10) == data[:10]
    assert body.read() == data[10:]
    spool.close()
    assert list(tmp_path.iterdir()) == [], "close() removes the spool file"


def test_missing_directory_is_created(tmp_path):
    directory = tmp_path / "not" / "yet"
    spool = BodySpool(str(directory), LIMIT)
    spool.append(os.urandom(LIMIT + 1))
    assert len(list(directory.iterdir())) == 1
    spool.close()
    assert list(directory.iterdir()) == []


def test_an_adopted_file_is_left_where_storage_put_it(tmp_path):
    spool = BodySpool(str(tmp_path), LIMIT)
    data = os.urandom(LIMIT * 3)
    spool.append(data)
    body = spool.getfile()
    assert isinstance(body, SpooledFile)
    adopted = tmp_path / "adopted"
    os.rename(body.spool_path, adopted)
    spool.close()
    assert adopted.read_bytes() == data


def test_an_abandoned_spool_is_removed_when_collected(tmp_path):
    spool = BodySpool(str(tmp_path), LIMIT)
    spool.append(os.urandom(LIMIT * 2))  # a client that hangs up mid-body: no close()
    assert len(list(tmp_path.iterdir())) == 1
    del spool
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_spooled_unwraps_falcon_streams_and_refuses_read_ones(tmp_path):
    spool = BodySpool(str(tmp_path), LIMIT)
    spool.append(b"x" * (LIMIT + 1))
    body = spool.getfile()
    bounded = falcon.stream.BoundedStream(body, LIMIT + 1)
    assert spooled(body) is body
    assert spooled(bounded) is body
    body.read(1)
    assert spooled(body) is None, "a partly read body cannot be adopted whole"
    assert spooled(io.BytesIO(b"plain")) is None
    spool.close()


class _FailingWrites:
    """Makes spool files fail their writes from the ``after``-th call on."""

    def __init__(self, monkeypatch, code: int, after: int = 0) -> None:
        self.calls = 0
        original = SpooledFile.write

        def write(spool_file, data):
            self.calls += 1
            if self.calls > after:
                raise OSError(code, os.strerror(code))
            return original(spool_file, data)

        monkeypatch.setattr(SpooledFile, "write", write)


def test_a_full_disk_is_kept_as_the_answer_and_the_rest_discarded(tmp_path, monkeypatch):
    _FailingWrites(monkeypatch, errno.ENOSPC, after=1)
    spool = BodySpool(str(tmp_path), LIMIT)
    data = os.urandom(LIMIT * 8)
    feed(spool, data, LIMIT)  # never raises: waitress would reset the connection
    assert isinstance(spool.error, StorageFullError)
    assert "No space left on device [ENOSPC]" in str(spool.error)
    assert str(tmp_path) in str(spool.error), "names the spool directory"
    assert list(tmp_path.iterdir()) == [], "the partial spool file is removed at once"
    assert len(spool) == len(data), "discarded bytes still count: waitress frames by them"
    body = spool.getfile()
    assert unreceived_error(falcon.stream.BoundedStream(body, len(data))) is spool.error
    assert spooled(body) is None, "never handed to storage as a body"
    with pytest.raises(StorageFullError):
        body.read(10)
    spool.close()
    assert list(tmp_path.iterdir()) == []


def test_other_spool_failures_are_storage_errors_not_full(tmp_path, monkeypatch):
    _FailingWrites(monkeypatch, errno.EIO)
    spool = BodySpool(str(tmp_path), LIMIT)
    feed(spool, os.urandom(LIMIT * 2), LIMIT)
    assert isinstance(spool.error, StorageError)
    assert not isinstance(spool.error, StorageFullError)
    assert "[EIO]" in str(spool.error)
    assert list(tmp_path.iterdir()) == []
    spool.close()


def test_a_spool_directory_that_cannot_be_created_is_an_error_not_a_reset(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    spool = BodySpool(str(blocker / "spool"), LIMIT)
    feed(spool, os.urandom(LIMIT * 2), LIMIT)
    assert isinstance(spool.error, StorageError)
    assert str(blocker / "spool") in str(spool.error)
    spool.close()


def test_files_being_received_are_known_until_closed(tmp_path):
    spool = BodySpool(str(tmp_path), LIMIT)
    spool.append(os.urandom(LIMIT + 1))
    (path,) = (str(entry) for entry in tmp_path.iterdir())
    assert path in receiving_paths()
    spool.close()
    assert path not in receiving_paths()


class RecordingTap:
    """A tap that keeps what it is shown."""

    def __init__(self) -> None:
        self.seed = hashlib.sha256(b"earlier chunks ")
        self.pieces: list[bytes] = []
        self.abandoned = False

    def received(self, data: bytes) -> None:
        self.pieces.append(bytes(data))

    def abandon(self) -> None:
        self.abandoned = True


def test_the_parser_asks_for_a_tap_that_sees_the_body_and_continues_its_seed(tmp_path):
    asked: list[tuple[str, str]] = []
    tap = RecordingTap()

    def find_tap(method: str, path: str) -> RecordingTap:
        asked.append((method, path))
        return tap

    parser_class = channel_class(str(tmp_path), find_tap).parser_class
    parser = parser_class(Adjustments())
    body = b"the next chunk" * 1000
    request = (
        b"PATCH /v2/a/b/blobs/uploads/some-id HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    while request:
        request = request[parser.received(request) :]
    assert asked == [("PATCH", "/v2/a/b/blobs/uploads/some-id")]
    received = parser.get_body_stream()
    assert b"".join(tap.pieces) == body
    assert received.tap is tap
    assert received.sha256.hexdigest() == hashlib.sha256(b"earlier chunks " + body).hexdigest()
    parser.close()
    assert tap.abandoned
