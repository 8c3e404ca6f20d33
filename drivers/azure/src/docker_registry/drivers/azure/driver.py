"""The ``azure`` driver (the seed's ``azureblob``): the registry's files as block blobs.

Storage paths map onto blob names under the prefix taken from ``storage_path``::

    container "registry"/
    └── <prefix>images/<id>/json            storage path /images/<id>/json
        <prefix>docker/registry/v2/...      storage path /docker/registry/v2/...

Directories are implied by names (``stat`` of a directory = some blob below it). Writes
stage blocks and commit a block list (see :mod:`.writer`); ``move`` is a server-side copy
followed by a delete; ``redirect_url`` is a read-only SAS URL when the account key is
known. The container is created on first use when missing (private; the seed made it
publicly readable).
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, ClassVar, TypeVar

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ExponentialRetry,
    generate_blob_sas,
)

from docker_registry.core.storage import (
    Capability,
    DriverOption,
    FileInfo,
    InvalidOffsetError,
    PathNotFoundError,
    StorageDriver,
    StorageError,
    validate_path,
)
from docker_registry.core.storage.objectstore import WritableCheck
from docker_registry.core.storage.paths import ROOT

from .errors import error_code, translate
from .reader import AzureReader
from .settings import DEFAULT_BLOCK_SIZE, AzureSettings, azure_settings, with_defaults
from .writer import AzureFileWriter

_Result = TypeVar("_Result")


#: Seconds a redirect URL stays valid.
REDIRECT_EXPIRES = 1200
#: Seconds to wait for a server-side copy the service reports as pending.
COPY_TIMEOUT = 600.0
#: Bytes per GET while streaming a blob (the SDK's default first GET is 32 MiB).
READ_CHUNK = 4 * 1024 * 1024


class AzureDriver(StorageDriver):
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
    capabilities = frozenset({Capability.REDIRECT})
    log = logging.getLogger(__name__)
    #: Names per listing request (the service's maximum is 5,000).
    page_size = 5000

    def __init__(self, **options: Any) -> None:
        self.settings = self.build_settings(options)
        settings = self.settings
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
        if not settings.account_key:
            # NOTE: without the shared key nothing can sign a SAS: serve bytes ourselves.
            self.capabilities = frozenset()  # type: ignore[misc]
        self._container_ready = False
        self._container_lock = threading.Lock()
        self._writable = WritableCheck(self.name)

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

    # -- helpers shared with the writer ----------------------------------------------

    def blob_name(self, path: str) -> str:
        """The blob name of a storage path."""
        return self.settings.prefix + path.lstrip("/")

    def blob(self, path: str, operation: str) -> BlobClient:
        """A client for the blob of ``path`` (the container exists once this returns)."""
        self._ensure_container(path, operation)
        return self.container.get_blob_client(self.blob_name(path))

    def _dir_prefix(self, path: str) -> str:
        return self.settings.prefix if path == ROOT else self.blob_name(path) + "/"

    def _path(self, name: str) -> str:
        return "/" + name[len(self.settings.prefix) :].rstrip("/")

    def call(self, operation: str, path: str, call: Callable[[], _Result]) -> _Result:
        """Run one SDK call; any failure becomes a typed :class:`StorageError`."""
        try:
            return call()
        except Exception as exc:
            raise translate(
                exc, self.settings, driver=self.name, operation=operation, path=path
            ) from exc

    def _ensure_container(self, path: str, operation: str) -> None:
        """Create the container once per process if it is missing (as the seed did)."""
        if self._container_ready:
            return
        with self._container_lock:
            if self._container_ready:
                return
            try:
                self.call(operation, path, self.container.create_container)
            except StorageError as exc:
                if not isinstance(exc.__cause__, ResourceExistsError):
                    raise
            self._container_ready = True

    def check_writable(self, path: str, operation: str) -> None:
        """Refuse to write a file where a directory is, or below a file."""
        self._writable.check(path, operation, self._has_children, self._properties)

    def _has_children(self, path: str, operation: str) -> bool:
        self._ensure_container(path, operation)
        pages = self.container.list_blobs(
            name_starts_with=self._dir_prefix(path), results_per_page=1
        ).by_page()
        first = self.call(operation, path, lambda: next(pages, None))
        return first is not None and self.call(operation, path, lambda: any(True for _ in first))

    def _properties(self, path: str, operation: str) -> Any:
        try:
            return self.call(operation, path, self.blob(path, operation).get_blob_properties)
        except PathNotFoundError:
            return None

    # -- streams -----------------------------------------------------------------------

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        return self._open(path, offset, "reader")

    def get_content(self, path: str) -> bytes:
        with self._open(path, 0, "get_content") as stream:
            return stream.read()

    def _open(self, path: str, offset: int, operation: str) -> BinaryIO:
        validate_path(path)
        if offset < 0:
            raise InvalidOffsetError(
                f"negative offset {offset}", driver=self.name, operation=operation, path=path
            )
        blob = self.blob(path, operation)
        try:
            downloader = blob.download_blob(offset=offset or None)
        except Exception as exc:
            # NOTE: a range starting at or past the end is refused (416); the contract
            # wants an empty stream from an existing file there.
            if error_code(exc) == "InvalidRange":
                return AzureReader(self, path, _Empty())  # type: ignore[return-value]
            raise translate(
                exc, self.settings, driver=self.name, operation=operation, path=path
            ) from exc
        return AzureReader(self, path, downloader)  # type: ignore[return-value]

    def put_content(self, path: str, data: bytes) -> None:
        validate_path(path)
        if len(data) >= self.settings.block_size:
            super().put_content(path, data)
            return
        # PERF: below one block, a single Put Blob (atomic) needs no block round trips.
        blob = self.blob(path, "put_content")
        self.check_writable(path, "put_content")
        self.call("put_content", path, lambda: blob.upload_blob(data, overwrite=True))

    def writer(self, path: str, append: bool = False) -> AzureFileWriter:
        validate_path(path)
        return AzureFileWriter(self, path, append)

    # -- metadata and namespace ------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        validate_path(path, allow_root=True)
        if path == ROOT:
            return FileInfo(path=ROOT, size=0, mtime=None, is_dir=True)
        properties = self._properties(path, "stat")
        if properties is not None:
            return FileInfo(
                path=path,
                size=int(properties.size),
                mtime=properties.last_modified.timestamp(),
                is_dir=False,
            )
        if self._has_children(path, "stat"):
            return FileInfo(path=path, size=0, mtime=None, is_dir=True)
        raise PathNotFoundError(driver=self.name, operation="stat", path=path)

    def _iterate(self, path: str, operation: str, items: Iterator[Any]) -> Iterator[Any]:
        while True:
            item = self.call(operation, path, lambda: next(items, None))
            if item is None:
                return
            yield item

    def list(self, path: str) -> list[str]:
        validate_path(path, allow_root=True)
        self._ensure_container(path, "list")
        items = iter(
            self.container.walk_blobs(
                name_starts_with=self._dir_prefix(path), results_per_page=self.page_size
            )
        )
        children = {
            self._path(item.name)
            for item in self._iterate(path, "list", items)
            if item.name != self._dir_prefix(path)
        }
        if not children and path != ROOT:
            raise PathNotFoundError(driver=self.name, operation="list", path=path)
        return sorted(children)

    def walk(self, path: str) -> Iterator[FileInfo]:
        validate_path(path, allow_root=True)
        self._ensure_container(path, "walk")
        items = iter(
            self.container.list_blobs(
                name_starts_with=self._dir_prefix(path), results_per_page=self.page_size
            )
        )
        found = False
        for item in self._iterate(path, "walk", items):
            found = True
            yield FileInfo(
                path=self._path(item.name),
                size=int(item.size),
                mtime=item.last_modified.timestamp(),
                is_dir=False,
            )
        if not found and path != ROOT:
            raise PathNotFoundError(driver=self.name, operation="walk", path=path)

    def move(self, source: str, destination: str) -> None:
        validate_path(source)
        validate_path(destination)
        if self._properties(source, "move") is None:
            raise PathNotFoundError(driver=self.name, operation="move", path=source)
        self.check_writable(destination, "move")
        target = self.blob(destination, "move")
        source_url = self.blob(source, "move").url
        copy = self.call("move", source, lambda: target.start_copy_from_url(source_url))
        status, deadline = copy.get("copy_status"), time.monotonic() + COPY_TIMEOUT
        # NOTE: copies inside one account are usually synchronous, but the service may
        # report "pending"; the source is deleted only once the copy succeeded.
        while status == "pending" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = self.call("move", source, target.get_blob_properties).copy.status
        if status != "success":
            raise StorageError(
                f"server-side copy to {destination} ended as {status!r}",
                driver=self.name,
                operation="move",
                path=source,
            )
        self.call("move", source, self.blob(source, "move").delete_blob)

    def delete(self, path: str) -> None:
        validate_path(path)
        deleted = False
        if self._properties(path, "delete") is not None:
            self.call("delete", path, self.blob(path, "delete").delete_blob)
            deleted = True
        items = iter(
            self.container.list_blobs(
                name_starts_with=self._dir_prefix(path), results_per_page=self.page_size
            )
        )
        names = [item.name for item in self._iterate(path, "delete", items)]
        # NOTE: batch deletes (256 per request) are not supported by Azurite's blob API in
        # every version; one request per blob is slower but portable.
        for name in names:
            self.call("delete", path, self.container.get_blob_client(name).delete_blob)
            deleted = True
        if not deleted:
            raise PathNotFoundError(driver=self.name, operation="delete", path=path)

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A read-only SAS URL valid for 20 minutes, or ``None`` without the account key.

        :raises PathNotFoundError: no file at ``path`` (a URL to a 404 helps no client).
        """
        validate_path(path)
        if Capability.REDIRECT not in self.capabilities:
            return None
        if self._properties(path, "redirect_url") is None:
            raise PathNotFoundError(driver=self.name, operation="redirect_url", path=path)
        blob = self.blob(path, "redirect_url")
        sas = generate_blob_sas(
            account_name=str(self.settings.account_name or blob.account_name),
            container_name=self.settings.container,
            blob_name=self.blob_name(path),
            account_key=self.settings.account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.datetime.now(datetime.UTC)
            + datetime.timedelta(seconds=REDIRECT_EXPIRES),
        )
        return f"{blob.url}?{sas}"

    def close(self) -> None:
        self._writable.close()
        self.service.close()


class _Empty:
    """The downloader of an empty range."""

    def read(self, size: int = -1) -> bytes:
        return b""
