"""Fixtures: Azurite's blob service (started here, or reused from REGISTRY_TEST_AZURE_URL).

``REGISTRY_TEST_AZURE_URL`` is the blob endpoint of the well-known development account,
e.g. ``http://127.0.0.1:10000/devstoreaccount1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docker_registry.drivers.azure import AzureDriver
from docker_registry.drivers.azure.testing import (
    ACCOUNT,
    ACCOUNT_KEY,
    connection_string,
    start_azurite,
)
from docker_registry.testing.services import ServiceProcess, service_url

#: Small blocks make the suite's 5 MiB streams stage several blocks.
SMALL_BLOCKS = 1024 * 1024


@pytest.fixture(scope="session")
def azure_url() -> Iterator[str]:
    with service_url("REGISTRY_TEST_AZURE_URL", start_azurite) as url:
        yield url


@pytest.fixture(scope="session")
def container() -> str:
    """A fresh container name for this session (the driver creates it on first use)."""
    return f"registry-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def make_driver(azure_url: str, container: str) -> Iterator[Callable[..., AzureDriver]]:
    """Build drivers against Azurite with the seed's keys; options override defaults."""
    made: list[AzureDriver] = []

    def make(**options: Any) -> AzureDriver:
        values = {
            "azure_storage_account_name": ACCOUNT,
            "azure_storage_account_key": ACCOUNT_KEY,
            "azure_storage_container": container,
            "azure_endpoint_url": azure_url,
            "azure_block_size": SMALL_BLOCKS,
            "storage_path": "/registry",
            **options,
        }
        driver = AzureDriver(**values)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()


@pytest.fixture
def private_azurite() -> Iterator[Callable[..., ServiceProcess]]:
    """Start private Azurite services (for tests that stop them); stop them afterwards."""
    started: list[ServiceProcess] = []

    def start(location: str | None = None, port: int | None = None) -> ServiceProcess:
        service = start_azurite(location, port)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def azure_connection_string() -> Callable[[str], str]:
    """Return a function giving the development connection string for an endpoint."""
    return connection_string
