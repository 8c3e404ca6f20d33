"""Test helpers for S3: a private moto S3 server and a plain boto3 client of it.

Used by this distribution's tests and by the repository's end-to-end suite. Nothing here
needs pytest, and nothing runs at import time (moto itself is the ``[test]`` extra).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3

from docker_registry.testing.services import ServiceProcess, free_port, http_ready

if TYPE_CHECKING:
    from .driver import S3Driver

__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "counted", "s3_client", "start_moto"]

#: moto accepts any credentials; these only have to be well-formed.
ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


def start_moto(env: dict[str, str] | None = None) -> ServiceProcess:
    """Start a private moto S3 server on a free port and wait until it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return ServiceProcess(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        name="moto",
        url=url,
        ready=http_ready(f"{url}/moto-api/"),
        env=env,
    ).start()


def s3_client(url: str) -> Any:
    """A plain boto3 client of the emulator at ``url`` (to set up and inspect buckets)."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@contextmanager
def counted(driver: S3Driver) -> Iterator[Counter[str]]:
    """Count the S3 operations (``PutObject``, ``UploadPart``...) ``driver`` sends while
    the block runs, from any thread."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model: Any, **_: object) -> None:
        with lock:
            calls[model.name] += 1

    driver.client.meta.events.register("before-call.s3", count)
    try:
        yield calls
    finally:
        driver.client.meta.events.unregister("before-call.s3", count)
