"""Test helpers for Azure: a private Azurite blob service and its development account.

Used by this distribution's tests and by the repository's end-to-end suite. Nothing here
needs pytest, and nothing runs at import time. Azurite is an npm package
(``npm install -g azurite``), not a Python dependency.
"""

from __future__ import annotations

import tempfile

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "connection_string", "start_azurite"]

#: Azurite's published development account and key.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def start_azurite(location: str | None = None, port: int | None = None) -> ServiceProcess:
    """Start a private Azurite blob service, in memory unless ``location`` is a directory.

    Its ``url`` is the development account's blob endpoint (``http://127.0.0.1:<port>/
    devstoreaccount1``).

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
