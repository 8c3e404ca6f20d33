"""HashingCopier: one pass, same bytes and digest, errors surface."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from docker_registry.core.storage import CHUNK_SIZE
from docker_registry.core.streams import HashingCopier


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * CHUNK_SIZE + 17]
)
def test_copies_every_byte_and_hashes_them(size):
    data = os.urandom(size)
    target = io.BytesIO()
    digest = hashlib.sha256()
    copied = HashingCopier().copy(io.BytesIO(data).read, target.write, digest.update)
    assert copied == size
    assert target.getvalue() == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_short_reads_are_not_the_end():
    data = os.urandom(3 * CHUNK_SIZE)
    pieces = iter([data[:10], data[10 : CHUNK_SIZE + 5], data[CHUNK_SIZE + 5 :], b""])
    target = io.BytesIO()
    digest = hashlib.sha256()
    assert HashingCopier().copy(lambda n: next(pieces), target.write, digest.update) == len(data)
    assert target.getvalue() == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_copy_without_hash():
    target = io.BytesIO()
    assert HashingCopier().copy(io.BytesIO(b"abc" * 1000).read, target.write, None) == 3000
    assert target.getvalue() == b"abc" * 1000


def test_a_failing_write_stops_the_copy_and_surfaces():
    def write(chunk):
        raise OSError("disk full")

    copier = HashingCopier()
    with pytest.raises(OSError, match="disk full"):
        copier.copy(io.BytesIO(os.urandom(3 * CHUNK_SIZE)).read, write, hashlib.sha256().update)
    copier.close()
