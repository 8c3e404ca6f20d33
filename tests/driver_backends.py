"""Backing services of the storage drivers, for end-to-end runs of `docker-registry serve`.

Each ``start_<driver>`` context manager starts the driver's emulator or service with the
driver's own test helpers (``docker_registry.drivers.<name>.testing``), prepares it (bucket,
TempURL key...) and yields a :class:`Backend`: the configuration keys and environment a
registry needs to store its data there. Driver packages are imported lazily, so that this
module loads without them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


@dataclass
class Backend:
    """A running backing service and how a registry uses it.

    :param driver: the ``storage`` value (also the ``[driver]`` tag in storage errors).
    :param config: the driver's configuration keys, without ``storage_path``.
    :param env: environment variables the registry process needs.
    :param redirects: the driver can answer ``redirect_url`` with this configuration.
    :param signature: a query parameter every redirect URL carries (its signature).
    :param service: the emulator's process, when a single one (to stop it under a registry).
    :param storage_path: returns a fresh ``storage_path`` (one per registry, so that
        registries sharing the service do not see each other's data).
    """

    driver: str
    config: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    redirects: bool = False
    signature: str = ""
    service: Any = None
    storage_path: Callable[[], str] = lambda: f"/e2e-{uuid.uuid4().hex[:12]}"

    def registry_config(self, **values: Any) -> dict[str, Any]:
        """``start_registry`` keyword arguments for a registry on this backend."""
        return {
            "storage": self.driver,
            **self.config,
            "storage_path": self.storage_path(),
            "env": self.env,
            **values,
        }


@contextlib.contextmanager
def start_s3(workdir: Path) -> Iterator[Backend]:
    """moto's S3 server; redirects are presigned URLs."""
    from docker_registry.drivers.s3.testing import (
        ACCESS_KEY,
        REGION,
        SECRET_KEY,
        s3_client,
        start_moto,
    )

    with start_moto() as service:
        bucket = f"e2e-{uuid.uuid4().hex[:16]}"
        s3_client(service.url).create_bucket(Bucket=bucket)
        yield Backend(
            driver="s3",
            config={
                "s3_endpoint_url": service.url,
                "s3_bucket": bucket,
                "s3_access_key": ACCESS_KEY,
                "s3_secret_key": SECRET_KEY,
                "s3_region": REGION,
                # NOTE: the smallest part S3 accepts: the 6 MiB layer is a multipart upload.
                "s3_part_size": 5 * MIB,
            },
            redirects=True,
            signature="X-Amz-Signature=",
            service=service,
        )


@contextlib.contextmanager
def _gcs(workdir: Path, *, signed: bool) -> Iterator[Backend]:
    from docker_registry.drivers.gcs.testing import (
        admin_client,
        start_emulator,
        write_signing_key,
    )

    with start_emulator() as service:
        bucket = f"e2e-{uuid.uuid4().hex[:16]}"
        admin_client(service.url).create_bucket(bucket)
        config: dict[str, Any] = {"boto_bucket": bucket, "gcs_chunk_size": MIB}
        if signed:
            config["gcs_credentials_file"] = write_signing_key(workdir)
        # NOTE: the endpoint comes from the environment, as with the real emulator setup.
        yield Backend(
            driver="gcs",
            config=config,
            env={"STORAGE_EMULATOR_HOST": service.url},
            redirects=signed,
            signature="X-Goog-Signature=",
        )


def start_gcs(workdir: Path) -> contextlib.AbstractContextManager[Backend]:
    """gcp-storage-emulator with a service-account key: redirects are V4 signed URLs."""
    return _gcs(workdir, signed=True)


def start_gcs_anonymous(workdir: Path) -> contextlib.AbstractContextManager[Backend]:
    """gcp-storage-emulator without credentials: nothing can sign, no redirects."""
    return _gcs(workdir, signed=False)


@contextlib.contextmanager
def start_azure(workdir: Path) -> Iterator[Backend]:
    """Azurite's blob service; redirects are read-only SAS URLs."""
    from docker_registry.drivers.azure.testing import ACCOUNT, ACCOUNT_KEY, start_azurite

    with start_azurite() as service:
        yield Backend(
            driver="azure",
            config={
                "azure_storage_account_name": ACCOUNT,
                "azure_storage_account_key": ACCOUNT_KEY,
                "azure_storage_container": f"e2e-{uuid.uuid4().hex[:16]}",
                "azure_endpoint_url": service.url,
                "azure_block_size": MIB,
            },
            redirects=True,
            signature="sig=",
        )


@contextlib.contextmanager
def start_swift_backend(workdir: Path) -> Iterator[Backend]:
    """A Swift all-in-one with an account TempURL key; redirects are TempURLs."""
    from docker_registry.drivers.swift.testing import start_swift

    service = start_swift()
    try:
        temp_url_key = uuid.uuid4().hex
        conn = service.connection()
        conn.post_account({"X-Account-Meta-Temp-URL-Key": temp_url_key})
        conn.close()
        yield Backend(
            driver="swift",
            config={
                "swift_authurl": service.auth_url,
                "swift_user": service.user,
                "swift_password": service.key,
                "swift_auth_version": "1",
                "swift_container": f"e2e-{uuid.uuid4().hex[:12]}",
                "swift_segment_size": MIB,
                "swift_temp_url_key": temp_url_key,
            },
            redirects=True,
            signature="temp_url_sig=",
        )
    finally:
        service.stop()


@contextlib.contextmanager
def start_glance_backend(workdir: Path) -> Iterator[Backend]:
    """A glance-api on its file store; the rest on the file alternate. No redirects."""
    from docker_registry.drivers.glance.testing import start_glance

    service = start_glance()
    try:
        yield Backend(
            driver="glance",
            config={
                # NOTE: no glance_namespace: it defaults to the (fresh) storage_path.
                "glance_endpoint": service.url,
                "storage_alternate": "file",
            },
            storage_path=lambda: str(workdir / f"alternate-{uuid.uuid4().hex[:12]}"),
        )
    finally:
        service.stop()


#: ``name -> start(workdir)``, one per driver configuration the e2e suite covers.
BACKENDS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Backend]]] = {
    "s3": start_s3,
    "gcs": start_gcs,
    "gcs-anonymous": start_gcs_anonymous,
    "azure": start_azure,
    "swift": start_swift_backend,
    "glance": start_glance_backend,
}
