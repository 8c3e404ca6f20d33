"""The ``azure`` driver (the seed's ``azureblob``): the registry's files as block blobs.

Storage paths map onto blob names under the prefix taken from ``storage_path``::

    container "registry"/
    └── <prefix>images/<id>/json            storage path /images/<id>/json
        <prefix>docker/registry/v2/...      storage path /docker/registry/v2/...

Everything but the SDK calls comes from
:class:`~docker_registry.core.storage.objectstore.ObjectStoreDriver` (directories implied
by names, no file below a file). Writes stage blocks and commit a block list (see
:mod:`.writer`); ``move`` is a server-side copy followed by a delete; ``redirect_url``
is a read-only SAS URL when the account key is known. The container is created on first
use when missing (private; the seed made it publicly readable).
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO, ClassVar

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobClient,
    BlobPrefix,
    BlobSasPermissions,
    BlobServiceClient,
    ExponentialRetry,
    generate_blob_sas,
)

from docker_registry.core.storage import Capability, DriverOption, StorageError
from docker_registry.core.storage.objectstore import (
    BodyReader,
    ObjectInfo,
    ObjectStoreDriver,
    OfferedCapabilities,
    empty_stream,
)

from .errors import CONTAINER_MISSING, error_code, translate
from .settings import DEFAULT_BLOCK_SIZE, AzureSettings, azure_settings, with_defaults
from .writer import AzureFileWriter

#: Seconds a redirect URL stays valid.
REDIRECT_EXPIRES = 1200
#: Seconds to wait for a server-side copy the service reports as pending.
COPY_TIMEOUT = 600.0
#: Bytes per GET while streaming a blob (the SDK's default first GET is 32 MiB).
READ_CHUNK = 4 * 1024 * 1024


class AzureDriver(ObjectStoreDriver):
    """Azure Blob Storage (and Azurite), through azure-storage-blob.

    :raises ConfigError: no account or connection string, a bad endpoint or block size.
    """

    name = "azure"
    options: ClassVar[tuple[DriverOption, ...]] = (
        DriverOption("azure_storage_account_name", str, help="storage account name"),
        DriverOption("azure_storage_account_key", str, secret=True, help="account shared key"),
        DriverOption(
            "azure_storage_container", str, default="registry", help="container (created)"
        ),
        DriverOption("azure_use_https", bool, default=True, help="false: plain HTTP endpoint"),
        DriverOption(
            "azure_connection_string",
            str,
            secret=True,
            help="full connection string; wins over account name/key (env AZURE_CONNECTION_STRING)",
        ),
        DriverOption(
            "azure_endpoint_url", str, help="blob endpoint URL (Azurite: http://host:port/account)"
        ),
        DriverOption(
            "azure_block_size", int, default=DEFAULT_BLOCK_SIZE, help="bytes per staged block"
        ),
        DriverOption("storage_path", str, default="/", help="blob name prefix ('/' = none)"),
    )
    capabilities = OfferedCapabilities(Capability.REDIRECT)
    log = logging.getLogger(__name__)
    #: Names per listing request (the service's maximum is 5,000).
    page_size = 5000

    def __init__(self, **options: Any) -> None:
        self.settings = settings = self.build_settings(options)
        super().__init__(prefix=settings.prefix, part_size=settings.block_size)
        client_options: dict[str, Any] = {
            "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3),
            "connection_timeout": 10,
            "read_timeout": 60,
            "max_single_get_size": READ_CHUNK,
            "max_chunk_get_size": READ_CHUNK,
            "max_single_put_size": settings.block_size,
        }
        if settings.connection_string:
            self.service = BlobServiceClient.from_connection_string(
                settings.connection_string, **client_options
            )
        else:
            credential = (
                AzureNamedKeyCredential(str(settings.account_name), settings.account_key)
                if settings.account_key
                else None
            )
            self.service = BlobServiceClient(
                str(settings.account_url), credential=credential, **client_options
            )
        self.container = self.service.get_container_client(settings.container)
        self._container_ready = False
        self._container_lock = threading.Lock()

    @classmethod
    def build_settings(cls, values: Mapping[str, Any]) -> AzureSettings:
        """The validated settings; ``AZURE_CONNECTION_STRING`` is the SDK's usual fallback."""
        if not values.get("azure_connection_string") and os.environ.get("AZURE_CONNECTION_STRING"):
            values = {**values, "azure_connection_string": os.environ["AZURE_CONNECTION_STRING"]}
        return azure_settings(with_defaults(cls.options, values))

    @classmethod
    def validate_options(cls, values: Mapping[str, Any]) -> None:
        """Refuse option values that cannot work, before anything connects.

        :raises ConfigError: naming the key at fault.
        """
        cls.build_settings(values)

    def __repr__(self) -> str:
        return (
            f"AzureDriver(container={self.settings.container!r}, prefix={self.settings.prefix!r})"
        )

    # -- primitives --------------------------------------------------------------------

    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        return translate(exc, self.settings, driver=self.name, operation=operation, path=path)

    def offers(self, capability: str) -> bool:
        # NOTE: without the shared key nothing can sign a SAS: serve bytes ourselves.
        return capability != Capability.REDIRECT or bool(self.settings.account_key)

    def prepare(self, operation: str, path: str) -> None:
        """Create the container once per process if it is missing (as the seed did)."""
        if self._container_ready:
            return
        with self._container_lock:
            if self._container_ready:
                return
            try:
                self.container.create_container()
            except ResourceExistsError:
                pass
            except Exception as exc:
                raise self.error(exc, operation, path) from exc
            self._container_ready = True

    def blob(self, key: str) -> BlobClient:
        """A client for the blob at ``key`` (no request)."""
        return self.container.get_blob_client(key)

    def head_object(self, key: str) -> ObjectInfo | None:
        try:
            properties = self.blob(key).get_blob_properties()
        except ResourceNotFoundError as exc:
            if error_code(exc) in CONTAINER_MISSING:
                raise
            return None
        return ObjectInfo(key, int(properties.size), properties.last_modified.timestamp())

    def list_objects(
        self, prefix: str, *, recursive: bool, page_size: int | None = None
    ) -> Iterator[ObjectInfo | str]:
        listing = self.container.list_blobs if recursive else self.container.walk_blobs
        for item in listing(name_starts_with=prefix, results_per_page=page_size or self.page_size):
            if isinstance(item, BlobPrefix):
                yield item.name
            else:
                yield ObjectInfo(item.name, int(item.size), item.last_modified.timestamp())

    def open_object(self, path: str, key: str, offset: int) -> BinaryIO:
        try:
            downloader = self.blob(key).download_blob(offset=offset or None)
        except HttpResponseError as exc:
            # NOTE: a range starting at or past the end is refused (416); the contract
            # wants an empty stream from an existing file there.
            if error_code(exc) == "InvalidRange":
                return empty_stream()
            raise
        return BodyReader(
            self, path, lambda size: downloader.read(-1 if size is None else size)
        ).stream()

    def put_object(self, key: str, data: bytes) -> None:
        self.blob(key).upload_blob(data, overwrite=True)

    def copy_object(self, source: ObjectInfo, key: str) -> None:
        target = self.blob(key)
        copy = target.start_copy_from_url(self.blob(source.key).url)
        status, deadline = copy.get("copy_status"), time.monotonic() + COPY_TIMEOUT
        # NOTE: copies inside one account are usually synchronous, but the service may
        # report "pending"; the source is deleted only once the copy succeeded.
        while status == "pending" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = target.get_blob_properties().copy.status
        if status != "success":
            raise StorageError(f"server-side copy to {key} ended as {status!r}")

    def delete_objects(self, keys: Sequence[str]) -> None:
        # NOTE: batch deletes (256 per request) are not supported by Azurite's blob API in
        # every version; one request per blob is slower but portable.
        for key in keys:
            try:
                self.blob(key).delete_blob()
            except ResourceNotFoundError as exc:
                if error_code(exc) in CONTAINER_MISSING:
                    raise

    def open_writer(self, path: str, append: bool) -> AzureFileWriter:
        return AzureFileWriter(self, path, append)

    def signed_url(self, key: str, method: str) -> str:
        """A read-only SAS URL valid for 20 minutes."""
        blob = self.blob(key)
        sas = generate_blob_sas(
            account_name=str(self.settings.account_name or blob.account_name),
            container_name=self.settings.container,
            blob_name=key,
            account_key=self.settings.account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.datetime.now(datetime.UTC)
            + datetime.timedelta(seconds=REDIRECT_EXPIRES),
        )
        return f"{blob.url}?{sas}"

    def close(self) -> None:
        super().close()
        self.service.close()
