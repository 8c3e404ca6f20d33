"""BodySpool: request bodies received into an adoptable file and hashed on arrival."""

from __future__ import annotations

import gc
import hashlib
import io
import os

import falcon.stream

from docker_registry.core.spool import BodySpool, SpooledBytes, SpooledFile, spooled

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
