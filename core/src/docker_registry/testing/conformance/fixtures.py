"""Shared fixtures and helpers of the driver conformance suite."""

from __future__ import annotations

import concurrent.futures
import hashlib
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar

import pytest

from docker_registry.core.storage import (
    CHUNK_SIZE,
    PathNotFoundError,
    StorageDriver,
)

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
