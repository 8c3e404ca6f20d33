"""Fixtures: Azurite's blob service (started here, or reused from REGISTRY_TEST_AZURE_URL).

``REGISTRY_TEST_AZURE_URL`` is the blob endpoint of the well-known development account,
e.g. ``http://127.0.0.1:10000/devstoreaccount1``.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from docker_registry.drivers.azure import AzureDriver
from docker_registry.testing.services import ServiceProcess, free_port, http_ready, service_url

#: Azurite's published development account and key.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
#: Small blocks make the suite's 5 MiB streams stage several blocks.
SMALL_BLOCKS = 1024 * 1024


def start_azurite(location: str | None = None, port: int | None = None) -> ServiceProcess:
    """Start a private Azurite blob service, in memory unless ``location`` is a directory.

    :param port: reuse this port (to restart a stopped service where clients expect it).
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    storage = ["--location", location] if location else ["--inMemoryPersistence"]
    return ServiceProcess(
        [
            "azurite-blob",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            *storage,
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
            "--loose",
        ],
        name="azurite",
        url=f"{url}/{ACCOUNT}",
        ready=http_ready(url),
        # NOTE: in memory, Azurite writes nothing; a neutral cwd keeps strays out of the repo.
        cwd=tempfile.gettempdir(),
    ).start()


def connection_string(url: str) -> str:
    """The development account's connection string for the blob endpoint ``url``."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={url};"
    )


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
