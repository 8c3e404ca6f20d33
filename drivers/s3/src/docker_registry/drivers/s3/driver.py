"""The ``s3`` driver (and ``oss``): the registry's files as objects of one S3 bucket.

Storage paths map onto keys under the prefix taken from ``storage_path``::

    bucket/
    └── registry/                         storage_path "/registry" (slashes normalised)
        ├── images/<id>/json              storage path /images/<id>/json
        └── docker/registry/v2/blobs/...  storage path /docker/registry/v2/blobs/...

Everything but the boto3 calls comes from
:class:`~docker_registry.core.storage.objectstore.ObjectStoreDriver` (directories implied
by keys, batched deletes of 1,000, no file below a file). Writes are multipart uploads
(see :mod:`.writer`), invisible until completed; ``move`` copies inside S3 and deletes
the source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO, ClassVar

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from docker_registry.core.storage import Capability, DriverOption, StorageError
from docker_registry.core.storage.objectstore import (
    BodyReader,
    FileSlice,
    ObjectInfo,
    ObjectStoreDriver,
    OfferedCapabilities,
    empty_stream,
)
from docker_registry.core.storage.pieces import RangedBody

from .cloudfront import cloudfront
from .errors import error_code, is_not_found, translate
from .options import S3_OPTIONS
from .session import s3_session
from .settings import MAX_PART_SIZE, S3Settings, s3_settings, with_defaults
from .writer import S3FileWriter

#: Seconds a redirect URL stays valid (the seed's value).
REDIRECT_EXPIRES = 1200


class S3Driver(ObjectStoreDriver):
    """Amazon S3 and S3-compatible stores (Ceph RGW, MinIO...), through boto3.

    Every option of the seed's ``s3``, ``ceph-s3`` and ``prod`` flavors is accepted; see
    :func:`.settings.s3_settings` for how they combine.

    :raises ConfigError: an option cannot work (no bucket, part size below 5 MiB...).
    """

    name = "s3"
    options: ClassVar[tuple[DriverOption, ...]] = S3_OPTIONS
    capabilities = OfferedCapabilities(Capability.REDIRECT, Capability.SNAPSHOT_READS)
    ranged_gets = True
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
        super().__init__(prefix=settings.prefix, part_size=settings.part_size)
        self.piece_size, self.pieces_in_flight = settings.read_pieces
        self.settings = settings
        self.cloudfront = cloudfront(cloudfront_option)
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
        session = s3_session(
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

    # -- primitives --------------------------------------------------------------------

    def error(self, exc: BaseException, operation: str, path: str) -> StorageError:
        return translate(exc, self.settings, driver=self.name, operation=operation, path=path)

    def put_args(self) -> dict[str, str]:
        """Extra arguments of every object-creating request."""
        return {"ServerSideEncryption": "AES256"} if self.settings.encrypt else {}

    def head_object(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self.settings.bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp())

    def list_objects(
        self, prefix: str, *, recursive: bool, page_size: int | None = None
    ) -> Iterator[ObjectInfo | str]:
        arguments: dict[str, Any] = {"Bucket": self.settings.bucket, "Prefix": prefix}
        if not recursive:
            arguments["Delimiter"] = "/"
        if page_size:
            arguments["PaginationConfig"] = {"PageSize": page_size}
        for page in self.client.get_paginator("list_objects_v2").paginate(**arguments):
            for common in page.get("CommonPrefixes", ()):
                yield common["Prefix"]
            for item in page.get("Contents", ()):
                yield ObjectInfo(item["Key"], int(item["Size"]), item["LastModified"].timestamp())

    def open_object(self, path: str, key: str, offset: int) -> BinaryIO:
        response = self._get(key, {"Range": f"bytes={offset}-"} if offset else {})
        if response is None:
            return empty_stream()
        body = response["Body"]
        return BodyReader(self, path, body.read, body.close).stream()

    def get_range(self, key: str, offset: int, length: int) -> RangedBody | None:
        # NOTE: a closed range, so that S3 sends no byte the client did not ask for.
        response = self._get(key, {"Range": f"bytes={offset}-{offset + length - 1}"})
        if response is None:
            return None
        body = response["Body"]
        return RangedBody(
            body.read,
            body.close,
            version=response.get("ETag"),
            object_size=int(response["ContentRange"].rpartition("/")[2]),
        )

    def _get(self, key: str, extra: dict[str, str]) -> dict[str, Any] | None:
        try:
            return dict(self.client.get_object(Bucket=self.settings.bucket, Key=key, **extra))
        except ClientError as exc:
            # NOTE: S3 answers 416 for a range starting at or past the end of an existing
            # object; the contract wants an empty stream there.
            if error_code(exc) == "InvalidRange":
                return None
            raise

    def put_object(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.settings.bucket, Key=key, Body=data, **self.put_args())

    def put_file(self, key: str, local_path: str, size: int) -> None:
        with FileSlice(local_path, 0, size) as body:
            self.client.put_object(
                Bucket=self.settings.bucket,
                Key=key,
                Body=body,
                ContentLength=size,
                **self.put_args(),
            )

    def copy_object(self, source: ObjectInfo, key: str) -> None:
        copy_source = {"Bucket": self.settings.bucket, "Key": source.key}
        if source.size <= MAX_PART_SIZE:
            self.client.copy_object(
                Bucket=self.settings.bucket, Key=key, CopySource=copy_source, **self.put_args()
            )
            return
        # NOTE: one CopyObject stops at 5 GiB; s3transfer copies larger objects in parts.
        transfer = TransferConfig(
            multipart_threshold=MAX_PART_SIZE, multipart_chunksize=1024 * 1024 * 1024
        )
        self.client.copy(
            copy_source,
            self.settings.bucket,
            key,
            ExtraArgs=self.put_args() or None,
            Config=transfer,
        )

    def delete_objects(self, keys: Sequence[str]) -> None:
        if len(keys) == 1:
            # PERF: one DELETE (a missing key is no error) beats a batch's XML and MD5.
            self.client.delete_object(Bucket=self.settings.bucket, Key=keys[0])
            return
        objects = [{"Key": key} for key in keys]
        response = self.client.delete_objects(
            Bucket=self.settings.bucket, Delete={"Objects": objects, "Quiet": True}
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise StorageError(
                f"{len(errors)} of {len(objects)} keys not deleted, first {first.get('Key')}: "
                f"{first.get('Code')} {first.get('Message')}"
            )

    def open_writer(self, path: str, append: bool) -> S3FileWriter:
        return S3FileWriter(self, path, append)

    def signed_url(self, key: str, method: str) -> str:
        """A presigned URL valid for 20 minutes (``GET`` or ``HEAD``); with ``cloudfront``,
        the distribution's signed URL of the object instead."""
        if self.cloudfront is not None:
            return self.cloudfront.signed_url(key, REDIRECT_EXPIRES)
        operation = "head_object" if method.upper() == "HEAD" else "get_object"
        return str(
            self.client.generate_presigned_url(
                operation,
                Params={"Bucket": self.settings.bucket, "Key": key},
                ExpiresIn=REDIRECT_EXPIRES,
            )
        )

    def close(self) -> None:
        super().close()
        self.client.close()
