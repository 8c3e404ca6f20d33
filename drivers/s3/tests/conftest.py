"""Fixtures: moto's S3 server (started here, or reused from REGISTRY_TEST_S3_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docker_registry.drivers.s3 import S3Driver
from docker_registry.drivers.s3.testing import ACCESS_KEY, SECRET_KEY, s3_client, start_moto
from docker_registry.testing.services import ServiceProcess, service_url

#: The smallest part size S3 accepts: makes the suite's 5 MiB streams multipart.
SMALL_PARTS = 5 * 1024 * 1024


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    with service_url("REGISTRY_TEST_S3_URL", start_moto) as url:
        yield url


@pytest.fixture(scope="session")
def bucket(s3_url: str) -> str:
    """A fresh bucket for this session (a reused emulator may hold other runs' buckets)."""
    name = f"registry-{uuid.uuid4().hex[:16]}"
    s3_client(s3_url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def make_driver(s3_url: str, bucket: str) -> Iterator[Callable[..., S3Driver]]:
    """Build drivers against the emulator; options override the defaults given here."""
    made: list[S3Driver] = []

    def make(**options: Any) -> S3Driver:
        values = {
            "s3_endpoint_url": s3_url,
            "s3_bucket": bucket,
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY,
            "s3_region": "us-east-1",
            "storage_path": "/registry",
            "s3_part_size": SMALL_PARTS,
            **options,
        }
        driver = S3Driver(**values)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()


@pytest.fixture
def pending_uploads(s3_url: str, bucket: str) -> Callable[[], list[str]]:
    """Return a function listing the keys of multipart uploads neither completed nor aborted."""

    def pending() -> list[str]:
        response = s3_client(s3_url).list_multipart_uploads(Bucket=bucket)
        return [upload["Key"] for upload in response.get("Uploads", [])]

    return pending


@pytest.fixture(scope="session")
def s3_admin(s3_url: str) -> Any:
    """A plain boto3 client of the session's emulator, to set up and inspect the bucket."""
    return s3_client(s3_url)


@pytest.fixture
def private_moto() -> Iterator[Callable[..., ServiceProcess]]:
    """Start private moto servers (for tests that stop or reconfigure them); stop them after."""
    started: list[ServiceProcess] = []

    def start(env: dict[str, str] | None = None) -> ServiceProcess:
        service = start_moto(env)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def client_of() -> Callable[[str], Any]:
    """Return a function that builds a plain boto3 client for an emulator URL."""
    return s3_client
