"""Test helpers for GCS: a private gcp-storage-emulator, a client of it, a signing key.

Used by this distribution's tests and by the repository's end-to-end suite. Nothing here
needs pytest, and nothing runs at import time (the emulator and ``cryptography`` are the
``[test]`` extra).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

__all__ = ["admin_client", "start_emulator", "write_signing_key"]


def start_emulator(data_dir: str | None = None, port: int | None = None) -> ServiceProcess:
    """Start a private gcp-storage-emulator, in memory unless ``data_dir`` is given."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    data = ["-d", data_dir] if data_dir else []
    memory = [] if data_dir else ["-M"]
    return ServiceProcess(
        ["gcp-storage-emulator", *data, "start", "-H", "127.0.0.1", "--port", str(port), *memory],
        name="gcs-emulator",
        url=url,
        ready=http_ready(url),
    ).start()


def admin_client(url: str) -> storage.Client:
    """A plain anonymous client of the emulator at ``url``."""
    return storage.Client(
        project="registry",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": url},
    )


def write_signing_key(directory: Path) -> str:
    """Write a throwaway service-account key file in ``directory``; return its path.

    It only signs URLs (the emulator checks neither signatures nor credentials).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "registry",
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": "registry-test@registry.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = directory / "service-account.json"
    path.write_text(json.dumps(info))
    return str(path)
