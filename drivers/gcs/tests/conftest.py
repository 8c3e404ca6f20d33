"""Fixtures: gcp-storage-emulator (started here, or reused from REGISTRY_TEST_GCS_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import storage

from docker_registry.drivers.gcs import GCSDriver
from docker_registry.drivers.gcs.testing import admin_client, start_emulator, write_signing_key
from docker_registry.testing.services import ServiceProcess, service_url

#: Small chunks make the suite's 5 MiB streams resumable uploads of several chunks.
SMALL_CHUNKS = 1024 * 1024


@pytest.fixture(scope="session")
def gcs_url() -> Iterator[str]:
    with service_url("REGISTRY_TEST_GCS_URL", start_emulator) as url:
        yield url


@pytest.fixture(scope="session")
def bucket(gcs_url: str) -> str:
    """A fresh bucket for this session."""
    name = f"registry-{uuid.uuid4().hex[:16]}"
    admin_client(gcs_url).create_bucket(name)
    return name


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A throwaway service-account key file: only signs URLs (the emulator never checks)."""
    return write_signing_key(tmp_path_factory.mktemp("gcs-key"))


@pytest.fixture
def make_driver(gcs_url: str, bucket: str, signing_key: str) -> Iterator[Callable[..., GCSDriver]]:
    """Build drivers against the emulator; options override the defaults given here."""
    made: list[GCSDriver] = []

    def make(**options: Any) -> GCSDriver:
        values = {
            "boto_bucket": bucket,
            "gcs_endpoint_url": gcs_url,
            "gcs_credentials_file": signing_key,
            "gcs_chunk_size": SMALL_CHUNKS,
            "storage_path": "/registry",
            **options,
        }
        driver = GCSDriver(**values)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()


@pytest.fixture
def gcs_admin(gcs_url: str) -> storage.Client:
    """A plain client of the session's emulator, to set up and inspect the bucket."""
    return admin_client(gcs_url)


@pytest.fixture
def private_emulator() -> Iterator[Callable[..., ServiceProcess]]:
    """Start private emulators (for tests that stop them); stop them afterwards."""
    started: list[ServiceProcess] = []

    def start(data_dir: Path | None = None, port: int | None = None) -> ServiceProcess:
        service = start_emulator(str(data_dir) if data_dir else None, port)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
