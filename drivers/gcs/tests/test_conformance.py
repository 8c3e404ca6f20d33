"""The ``gcs`` driver passes the shared conformance suite against gcp-storage-emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from google.cloud import storage

from docker_registry.drivers.gcs import STAGING_DIR, GCSDriver
from docker_registry.testing.conformance import BaseDriverTests


@pytest.fixture
def driver(
    make_driver: Callable[..., GCSDriver], gcs_admin: storage.Client, bucket: str
) -> Iterator[GCSDriver]:
    driver = make_driver()
    yield driver
    # NOTE: the suite cannot see staging objects (never listed): check none is left.
    staged = [blob.name for blob in gcs_admin.list_blobs(bucket, prefix=f"registry/{STAGING_DIR}")]
    assert staged == []


class TestGCSDriver(BaseDriverTests):
    pass
