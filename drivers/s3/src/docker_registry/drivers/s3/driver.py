"""The ``s3`` driver (and ``oss``): the registry's files as objects of one S3 bucket.

Storage paths map onto keys under the prefix taken from ``storage_path``::

    bucket/
    └── registry/                         storage_path "/registry" (slashes normalised)
        ├── images/<id>/json              storage path /images/<id>/json
        └── docker/registry/v2/blobs/...  storage path /docker/registry/v2/blobs/...

Directories are implied by keys (``stat`` of a directory = some key below it). Writes are
multipart uploads (see :mod:`.writer`), invisible until completed; ``move`` copies inside
S3 and deletes the source; ``delete`` of a directory lists and deletes in batches of 1,000.
S3 itself does not forbid a key below another key: the driver refuses such writes, so a
path is never both a file and a directory.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, ClassVar, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

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

from .cloudfront import cloudfront
from .errors import error_code, translate
from .options import S3_OPTIONS
from .reader import S3Reader
from .settings import MAX_PART_SIZE, S3Settings, s3_settings, with_defaults
from .writer import S3FileWriter

_Result = TypeVar("_Result")


#: ``delete_objects`` entries (a module-level alias: ``list`` is a method in the class).
_Objects = list[dict[str, str]]

#: Seconds a redirect URL stays valid (the seed's value).
REDIRECT_EXPIRES = 1200
#: Keys per ``delete_objects`` request (the S3 maximum).
DELETE_BATCH = 1000


class S3Driver(StorageDriver):
    """Amazon S3 and S3-compatible stores (Ceph RGW, MinIO...), through boto3.

    Every option of the seed's ``s3``, ``ceph-s3`` and ``prod`` flavors is accepted; see
    :func:`.settings.s3_settings` for how they combine.

    :raises ConfigError: an option cannot work (no bucket, part size below 5 MiB...).
    """

    name = "s3"
    options: ClassVar[tuple[DriverOption, ...]] = S3_OPTIONS
    capabilities = frozenset({Capability.REDIRECT, Capability.SNAPSHOT_READS})
    log = logging.getLogger(__name__)

    def __init__(self, **options: Any) -> None:
        self._setup(self.build_settings(options), options.get("cloudfront"))

    @classmethod
    def build_settings(cls, values: Mapping[str, Any]) -> S3Settings:
        """The validated connection settings for these option values."""
        return s3_settings(with_defaults(cls.options, values))

    @classmethod
    def validate_options(cls, values: Mapping[str, Any]) -> None:
        """Refuse option values that cannot work, before anything connects.

        :raises ConfigError: naming the key at fault.
        """
        cls.build_settings(values)
        cloudfront(values.get("cloudfront"))

    def _setup(self, settings: S3Settings, cloudfront_option: Any = None) -> None:
        self.settings = settings
        self.cloudfront = cloudfront(cloudfront_option)
        self._writable = WritableCheck(self.name)
        if settings.debug:
            logging.getLogger("botocore").setLevel(logging.DEBUG)
        config = Config(
            region_name=settings.region,
            signature_version=settings.signature_version,
            s3={"addressing_style": settings.addressing_style},
            proxies=dict(settings.proxies) or None,
            # NOTE: waitress threads share this client; the pool must cover them.
            max_pool_connections=64,
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            # NOTE: S3-compatible stores (Ceph, OSS, older MinIO) reject the CRC32
            # trailers boto3 sends by default since 1.36.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session(
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            region_name=settings.region,
        )
        self.client = session.client("s3", endpoint_url=settings.endpoint_url, config=config)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(bucket={self.settings.bucket!r}, "
            f"prefix={self.settings.prefix!r}, endpoint={self.settings.endpoint_url!r})"
        )

    # -- helpers shared with the writer ----------------------------------------------

    def key(self, path: str) -> str:
        """The object key of a storage path (``/`` gives the prefix itself)."""
        return self.settings.prefix + path.lstrip("/")

    def _dir_prefix(self, path: str) -> str:
        return self.settings.prefix if path == ROOT else self.key(path) + "/"

    def _path(self, key: str) -> str:
        return "/" + key[len(self.settings.prefix) :].rstrip("/")

    def call(self, operation: str, path: str, call: Callable[[], _Result]) -> _Result:
        """Run one boto3 call; any failure becomes a typed :class:`StorageError`."""
        try:
            return call()
        except Exception as exc:
            raise translate(
                exc, self.settings, driver=self.name, operation=operation, path=path
            ) from exc

    def put_args(self) -> dict[str, str]:
        """Extra arguments of every object-creating request."""
        return {"ServerSideEncryption": "AES256"} if self.settings.encrypt else {}

    def check_writable(self, path: str, operation: str) -> None:
        """Refuse to write a file where a directory is, or below a file."""
        self._writable.check(path, operation, self._has_children, self._head)

    def _has_children(self, path: str, operation: str) -> bool:
        response = self.call(
            operation,
            path,
            lambda: self.client.list_objects_v2(
                Bucket=self.settings.bucket, Prefix=self._dir_prefix(path), MaxKeys=1
            ),
        )
        return bool(response.get("KeyCount") or response.get("Contents"))

    def _head(self, path: str, operation: str) -> dict[str, Any] | None:
        try:
            return self.call(
                operation,
                path,
                lambda: self.client.head_object(Bucket=self.settings.bucket, Key=self.key(path)),
            )
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
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = self.client.get_object(
                Bucket=self.settings.bucket, Key=self.key(path), **extra
            )
        except Exception as exc:
            # NOTE: S3 answers 416 for a range starting at or past the end of an existing
            # object; the contract wants an empty stream there.
            if isinstance(exc, ClientError) and error_code(exc) == "InvalidRange":
                return io.BytesIO(b"")
            raise translate(
                exc, self.settings, driver=self.name, operation=operation, path=path
            ) from exc
        return S3Reader(self, path, response["Body"])  # type: ignore[return-value]

    def put_content(self, path: str, data: bytes) -> None:
        validate_path(path)
        if len(data) >= self.settings.part_size:
            super().put_content(path, data)
            return
        # PERF: below one part, a single PUT (atomic in S3) needs no multipart round trips.
        self.check_writable(path, "put_content")
        self.call(
            "put_content",
            path,
            lambda: self.client.put_object(
                Bucket=self.settings.bucket, Key=self.key(path), Body=data, **self.put_args()
            ),
        )

    def writer(self, path: str, append: bool = False) -> S3FileWriter:
        validate_path(path)
        return S3FileWriter(self, path, append)

    # -- metadata and namespace ------------------------------------------------------

    def stat(self, path: str) -> FileInfo:
        validate_path(path, allow_root=True)
        if path == ROOT:
            return FileInfo(path=ROOT, size=0, mtime=None, is_dir=True)
        head = self._head(path, "stat")
        if head is not None:
            return FileInfo(
                path=path,
                size=int(head["ContentLength"]),
                mtime=head["LastModified"].timestamp(),
                is_dir=False,
            )
        if self._has_children(path, "stat"):
            return FileInfo(path=path, size=0, mtime=None, is_dir=True)
        raise PathNotFoundError(driver=self.name, operation="stat", path=path)

    def _pages(self, path: str, operation: str, **arguments: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.settings.bucket, Prefix=self._dir_prefix(path), **arguments
        )
        iterator = iter(pages)
        while True:
            page = self.call(operation, path, lambda: next(iterator, None))
            if page is None:
                return
            yield page

    def list(self, path: str) -> list[str]:
        validate_path(path, allow_root=True)
        children: set[str] = set()
        for page in self._pages(path, "list", Delimiter="/"):
            for common in page.get("CommonPrefixes", ()):
                children.add(self._path(common["Prefix"]))
            for item in page.get("Contents", ()):
                # NOTE: "folder" marker keys ending in '/' (made by consoles) are no file.
                if not item["Key"].endswith("/"):
                    children.add(self._path(item["Key"]))
        if not children and path != ROOT:
            raise PathNotFoundError(driver=self.name, operation="list", path=path)
        return sorted(children)

    def walk(self, path: str) -> Iterator[FileInfo]:
        validate_path(path, allow_root=True)
        found = False
        for page in self._pages(path, "walk"):
            for item in page.get("Contents", ()):
                if item["Key"].endswith("/"):
                    continue
                found = True
                yield FileInfo(
                    path=self._path(item["Key"]),
                    size=int(item["Size"]),
                    mtime=item["LastModified"].timestamp(),
                    is_dir=False,
                )
        if not found and path != ROOT:
            raise PathNotFoundError(driver=self.name, operation="walk", path=path)

    def move(self, source: str, destination: str) -> None:
        validate_path(source)
        validate_path(destination)
        head = self._head(source, "move")
        if head is None:
            raise PathNotFoundError(driver=self.name, operation="move", path=source)
        self.check_writable(destination, "move")
        copy_source = {"Bucket": self.settings.bucket, "Key": self.key(source)}
        if int(head["ContentLength"]) <= MAX_PART_SIZE:
            self.call(
                "move",
                source,
                lambda: self.client.copy_object(
                    Bucket=self.settings.bucket,
                    Key=self.key(destination),
                    CopySource=copy_source,
                    **self.put_args(),
                ),
            )
        else:
            # NOTE: one CopyObject stops at 5 GiB; s3transfer copies larger objects in parts.
            transfer = TransferConfig(
                multipart_threshold=MAX_PART_SIZE, multipart_chunksize=1024 * 1024 * 1024
            )
            self.call(
                "move",
                source,
                lambda: self.client.copy(
                    copy_source,
                    self.settings.bucket,
                    self.key(destination),
                    ExtraArgs=self.put_args() or None,
                    Config=transfer,
                ),
            )
        self.call(
            "move",
            source,
            lambda: self.client.delete_object(Bucket=self.settings.bucket, Key=self.key(source)),
        )

    def delete(self, path: str) -> None:
        validate_path(path)
        deleted = False
        if self._head(path, "delete") is not None:
            self.call(
                "delete",
                path,
                lambda: self.client.delete_object(Bucket=self.settings.bucket, Key=self.key(path)),
            )
            deleted = True
        batch: _Objects = []
        for page in self._pages(path, "delete"):
            batch.extend({"Key": item["Key"]} for item in page.get("Contents", ()))
            while len(batch) >= DELETE_BATCH:
                self._delete_batch(path, batch[:DELETE_BATCH])
                del batch[:DELETE_BATCH]
                deleted = True
        if batch:
            self._delete_batch(path, batch)
            deleted = True
        if not deleted:
            raise PathNotFoundError(driver=self.name, operation="delete", path=path)

    def _delete_batch(self, path: str, objects: _Objects) -> None:
        response = self.call(
            "delete",
            path,
            lambda: self.client.delete_objects(
                Bucket=self.settings.bucket, Delete={"Objects": objects, "Quiet": True}
            ),
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise StorageError(
                f"{len(errors)} of {len(objects)} keys not deleted, first {first.get('Key')}: "
                f"{first.get('Code')} {first.get('Message')}",
                driver=self.name,
                operation="delete",
                path=path,
            )

    def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A presigned URL valid for 20 minutes (``GET`` or ``HEAD``); with ``cloudfront``,
        the distribution's signed URL of the object instead.

        :raises PathNotFoundError: no file at ``path`` (a URL to a 404 helps no client).
        """
        validate_path(path)
        if self._head(path, "redirect_url") is None:
            raise PathNotFoundError(driver=self.name, operation="redirect_url", path=path)
        if self.cloudfront is not None:
            return self.cloudfront.signed_url(self.key(path), REDIRECT_EXPIRES)
        operation = "head_object" if method.upper() == "HEAD" else "get_object"
        return self.call(
            "redirect_url",
            path,
            lambda: self.client.generate_presigned_url(
                operation,
                Params={"Bucket": self.settings.bucket, "Key": self.key(path)},
                ExpiresIn=REDIRECT_EXPIRES,
            ),
        )

    def close(self) -> None:
        self._writable.close()
        self.client.close()
