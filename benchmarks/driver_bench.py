"""Throughput of the cloud storage drivers against their local emulators.

For each of moto's S3 server, Azurite and gcp-storage-emulator (started here on free
ports, stopped by PID afterwards) this writes one large object through ``writer()`` in
1 MiB chunks, reads it back through ``reader()``, then puts and gets many small objects
with ``put_content``/``get_content``, and prints MiB/s and objects/s::

    flock /tmp/bench.lock python benchmarks/driver_bench.py [--size-mib 256]
        [--objects 1000] [--only s3,azure,gcs]

Emulators are not the cloud: the figures compare drivers and catch regressions (a driver
that suddenly buffers whole objects, or makes one request too many per small write);
they say nothing of real S3, Azure or GCS latency.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from docker_registry.core.storage import StorageDriver
from docker_registry.testing.services import ServiceProcess, free_port, http_ready

MIB = 1024 * 1024
SMALL_SIZE = 1024
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass
class Result:
    """One driver's figures."""

    driver: str
    write_mbps: float
    read_mbps: float
    put_per_second: float
    get_per_second: float


@contextlib.contextmanager
def _service(name: str, command: list[str], url: str, ready_url: str) -> Iterator[str]:
    service = ServiceProcess(command, name=name, url=url, ready=http_ready(ready_url)).start()
    try:
        yield url
    finally:
        service.stop()


@contextlib.contextmanager
def s3_driver() -> Iterator[StorageDriver]:
    """The ``s3`` driver against a fresh moto server and bucket."""
    import boto3

    from docker_registry.drivers.s3 import S3Driver

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["moto_server", "-H", "127.0.0.1", "-p", str(port)]
    with _service("moto", command, url, f"{url}/moto-api/"):
        credentials = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        boto3.client("s3", endpoint_url=url, region_name="us-east-1", **credentials).create_bucket(
            Bucket="bench"
        )
        driver = S3Driver(
            s3_endpoint_url=url,
            s3_bucket="bench",
            s3_access_key="bench",
            s3_secret_key="bench",
            s3_region="us-east-1",
        )
        yield driver
        driver.close()


@contextlib.contextmanager
def azure_driver() -> Iterator[StorageDriver]:
    """The ``azure`` driver against a fresh in-memory Azurite."""
    from docker_registry.drivers.azure import AzureDriver

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        "azurite-blob",
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
        "--loose",
    ]
    with _service("azurite", command, f"{url}/devstoreaccount1", url) as endpoint:
        driver = AzureDriver(
            azure_storage_account_name="devstoreaccount1",
            azure_storage_account_key=AZURITE_KEY,
            azure_endpoint_url=endpoint,
            azure_storage_container="bench",
        )
        yield driver
        driver.close()


@contextlib.contextmanager
def gcs_driver() -> Iterator[StorageDriver]:
    """The ``gcs`` driver against a fresh in-memory gcp-storage-emulator and bucket."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from docker_registry.drivers.gcs import GCSDriver

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["gcp-storage-emulator", "start", "-H", "127.0.0.1", "--port", str(port), "-q", "-M"]
    with _service("gcs-emulator", command, url, url):
        storage.Client(
            project="bench",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": url},
        ).create_bucket("bench")
        driver = GCSDriver(boto_bucket="bench", gcs_endpoint_url=url)
        yield driver
        driver.close()


DRIVERS: dict[str, Callable[[], contextlib.AbstractContextManager[StorageDriver]]] = {
    "s3": s3_driver,
    "azure": azure_driver,
    "gcs": gcs_driver,
}


def _rate(amount: float, started: float) -> float:
    return amount / max(time.perf_counter() - started, 1e-9)


def bench(name: str, driver: StorageDriver, size_mib: int, objects: int) -> Result:
    """Run the four measurements against one driver; clean up what they wrote."""
    base = f"/bench-{uuid.uuid4().hex}"
    chunk = os.urandom(MIB)
    written = hashlib.sha256()
    started = time.perf_counter()
    with driver.writer(f"{base}/large") as writer:
        for _ in range(size_mib):
            writer.write(chunk)
            written.update(chunk)
        writer.commit()
    write_mbps = _rate(size_mib, started)

    read = hashlib.sha256()
    started = time.perf_counter()
    with driver.reader(f"{base}/large") as stream:
        while data := stream.read(MIB):
            read.update(data)
    read_mbps = _rate(size_mib, started)
    if read.digest() != written.digest():
        raise SystemExit(f"{name}: the large object read back differs from what was written")

    small = os.urandom(SMALL_SIZE)
    started = time.perf_counter()
    for index in range(objects):
        driver.put_content(f"{base}/small/{index:05d}", small)
    put_rate = _rate(objects, started)
    started = time.perf_counter()
    for index in range(objects):
        if driver.get_content(f"{base}/small/{index:05d}") != small:
            raise SystemExit(f"{name}: small object {index} read back differs")
    get_rate = _rate(objects, started)
    driver.delete(base)
    return Result(name, write_mbps, read_mbps, put_rate, get_rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256, help="large object size (MiB)")
    parser.add_argument("--objects", type=int, default=1000, help="number of small objects")
    parser.add_argument("--only", default="s3,azure,gcs", help="comma-separated drivers")
    args = parser.parse_args(argv)
    results = []
    for name in args.only.split(","):
        with DRIVERS[name.strip()]() as driver:
            result = bench(name.strip(), driver, args.size_mib, args.objects)
        results.append(result)
        print(
            f"{result.driver:<6} write {result.write_mbps:7.1f} MiB/s  "
            f"read {result.read_mbps:7.1f} MiB/s  "
            f"put {result.put_per_second:7.1f} objects/s  "
            f"get {result.get_per_second:7.1f} objects/s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
