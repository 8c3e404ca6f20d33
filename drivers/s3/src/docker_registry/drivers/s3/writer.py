"""The S3 writer: a multipart upload fed part by part, invisible until it is completed.

::

    upload_part() ─> create_multipart_upload (once), upload_part N      (streamed)
    upload_file_parts() ─> the same, from slices of a local file, several at once
    put_whole() ───> one put_object (nothing was sent)
    copy_parts() ──> upload_part_copy of other objects (ranges of 5 GiB at most), together
    complete() ────> upload the rest as the last part, complete_multipart_upload
    discard() ─────> abort_multipart_upload (S3 discards every part)

The state machine is :class:`~docker_registry.core.storage.objectstore.ObjectWriter`'s.
An append starts from the current object: at 5 MiB or more it becomes the first parts
of the upload by a server-side ``upload_part_copy``; below that (S3's minimum part size)
it is read back into the buffer. ``concatenate`` (an upload's chunks joined into its
blob) copies its sources the same way: S3 assembles the object, no byte comes back.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from docker_registry.core.storage.objectstore import FileSlice, ObjectInfo, ObjectWriter

from .settings import MAX_PART_SIZE, MIN_PART_SIZE

if TYPE_CHECKING:
    from .driver import S3Driver


class S3FileWriter(ObjectWriter):
    """A write in progress to one key; see the module docstring for the mechanism.

    :param driver: the driver that owns the client and the settings.
    :param path: the storage path (for errors).
    :param append: start from the current content of ``path``.
    """

    copy_part_min: ClassVar[int | None] = MIN_PART_SIZE
    short_last_part: ClassVar[bool] = True

    def __init__(self, driver: S3Driver, path: str, append: bool) -> None:
        super().__init__(driver, path)
        self._s3 = driver
        self._bucket = driver.settings.bucket
        self._parts: list[dict[str, Any]] = []
        self._upload_id: str | None = None
        if append:
            self._step("writer", self._start_from_existing)

    @property
    def multipart(self) -> bool:
        return self._upload_id is not None

    def upload_part(self, part: bytes) -> None:
        response = self._s3.client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._ensure_upload(),
            PartNumber=len(self._parts) + 1,
            Body=part,
        )
        self._parts.append({"PartNumber": len(self._parts) + 1, "ETag": response["ETag"]})

    def upload_file_parts(self, local_path: str, slices: Sequence[tuple[int, int]]) -> None:
        upload_id = self._ensure_upload()
        first = len(self._parts) + 1

        def send(number: int, offset: int, length: int) -> dict[str, Any]:
            with FileSlice(local_path, offset, length) as body:
                response = self._s3.client.upload_part(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                    ContentLength=length,
                )
            return {"PartNumber": number, "ETag": response["ETag"]}

        self._parts.extend(
            self.send_together(
                [
                    functools.partial(send, first + index, offset, length)
                    for index, (offset, length) in enumerate(slices)
                ]
            )
        )

    def copy_parts(self, sources: Sequence[ObjectInfo]) -> None:
        upload_id = self._ensure_upload()
        # NOTE: 5 GiB is the most one part copy may take.
        ranges = [
            (source.key, start, min(start + MAX_PART_SIZE, source.size) - 1)
            for source in sources
            for start in range(0, source.size, MAX_PART_SIZE)
        ]
        first = len(self._parts) + 1

        def copy(number: int, key: str, start: int, end: int) -> dict[str, Any]:
            response = self._s3.client.upload_part_copy(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self._bucket, "Key": key},
                CopySourceRange=f"bytes={start}-{end}",
            )
            return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

        self._parts.extend(
            self.send_together(
                [
                    functools.partial(copy, first + index, key, start, end)
                    for index, (key, start, end) in enumerate(ranges)
                ]
            )
        )

    def put_whole(self, data: bytes) -> None:
        self._s3.put_object(self._key, data)

    def complete(self, rest: bytes) -> None:
        if rest:
            self.upload_part(rest)
        self._s3.client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None

    def discard(self) -> None:
        upload_id = self._upload_id
        if upload_id is not None:
            self._s3.client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=upload_id
            )
            self._upload_id = None

    # -- internals -----------------------------------------------------------------------

    def _start_from_existing(self) -> None:
        head = self._s3.head_object(self._key)
        if head is None:
            return
        if head.size >= MIN_PART_SIZE:
            # PERF: the old bytes never leave S3.
            self.copy_parts([head])
        elif head.size:
            self._buffer += self._s3.get_content(self._path)
        self._size = head.size

    def _ensure_upload(self) -> str:
        if self._upload_id is None:
            response = self._s3.client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, **self._s3.put_args()
            )
            self._upload_id = response["UploadId"]
        return self._upload_id
