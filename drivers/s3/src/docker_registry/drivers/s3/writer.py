"""The S3 writer: a multipart upload fed part by part, invisible until it is completed.

::

    write() ──> buffer ──(buffer >= part_size)──> upload_part N        (streamed)
    commit() ─> small object (no part yet): one put_object
             └> otherwise: upload the rest as the last part, complete_multipart_upload
    cancel() ─> abort_multipart_upload (S3 discards every part)

An append starts from the current object: at 5 MiB or more it becomes the first parts
of the upload by a server-side ``upload_part_copy``; below that (S3's minimum part size)
it is read back into the buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docker_registry.core.storage import PathNotFoundError
from docker_registry.core.storage.objectstore import BROKEN, COMMITTED, PartWriter

from .settings import MAX_PART_SIZE, MIN_PART_SIZE

if TYPE_CHECKING:
    from .driver import S3Driver


class S3FileWriter(PartWriter):
    """A write in progress to one key; see the module docstring for the mechanism.

    :param driver: the driver that owns the client and the settings.
    :param path: the storage path (for errors).
    :param append: start from the current content of ``path``.
    """

    def __init__(self, driver: S3Driver, path: str, append: bool) -> None:
        super().__init__(driver.name, path, driver.settings.part_size)
        self._driver = driver
        self._key = driver.key(path)
        self._parts: list[dict[str, Any]] = []
        self._upload_id: str | None = None
        if append:
            self._start_from_existing()

    def commit(self) -> None:
        self._check_open("commit")
        try:
            self._driver.check_writable(self._path, "commit")
            if self._upload_id is None:
                self._driver.call(
                    "commit",
                    self._path,
                    lambda: self._driver.client.put_object(
                        Bucket=self._driver.settings.bucket,
                        Key=self._key,
                        Body=bytes(self._buffer),
                        **self._driver.put_args(),
                    ),
                )
            else:
                if self._buffer:
                    self._send_part(bytes(self._buffer))
                self._complete()
        except BaseException:
            self._finish(BROKEN)
            raise
        self._buffer = bytearray()
        self._state = COMMITTED

    # -- internals -----------------------------------------------------------------------

    def _start_from_existing(self) -> None:
        driver = self._driver
        try:
            head = driver.call(
                "writer",
                self._path,
                lambda: driver.client.head_object(Bucket=driver.settings.bucket, Key=self._key),
            )
        except PathNotFoundError:
            return
        existing = int(head["ContentLength"])
        if existing >= MIN_PART_SIZE:
            # PERF: the old bytes never leave S3; 5 GiB is the most one part copy may take.
            for start in range(0, existing, MAX_PART_SIZE):
                end = min(start + MAX_PART_SIZE, existing) - 1
                self._copy_part(start, end)
        elif existing:
            self._buffer += driver.get_content(self._path)
        self._size = existing

    def _ensure_upload(self) -> str:
        if self._upload_id is None:
            driver = self._driver
            response = driver.call(
                "writer",
                self._path,
                lambda: driver.client.create_multipart_upload(
                    Bucket=driver.settings.bucket, Key=self._key, **driver.put_args()
                ),
            )
            self._upload_id = response["UploadId"]
        return self._upload_id

    def _send_part(self, body: bytes) -> None:
        upload_id = self._ensure_upload()
        number = len(self._parts) + 1
        driver = self._driver
        try:
            response = driver.call(
                "write",
                self._path,
                lambda: driver.client.upload_part(
                    Bucket=driver.settings.bucket,
                    Key=self._key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                ),
            )
        except BaseException:
            self._finish(BROKEN)
            raise
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def _copy_part(self, start: int, end: int) -> None:
        upload_id = self._ensure_upload()
        number = len(self._parts) + 1
        driver = self._driver
        try:
            response = driver.call(
                "writer",
                self._path,
                lambda: driver.client.upload_part_copy(
                    Bucket=driver.settings.bucket,
                    Key=self._key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": driver.settings.bucket, "Key": self._key},
                    CopySourceRange=f"bytes={start}-{end}",
                ),
            )
        except BaseException:
            self._finish(BROKEN)
            raise
        self._parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})

    def _complete(self) -> None:
        driver = self._driver
        upload_id = self._upload_id
        driver.call(
            "commit",
            self._path,
            lambda: driver.client.complete_multipart_upload(
                Bucket=driver.settings.bucket,
                Key=self._key,
                UploadId=upload_id,
                MultipartUpload={"Parts": self._parts},
            ),
        )
        self._upload_id = None

    def _finish(self, state: str) -> None:
        """Drop the upload (best effort: S3 lifecycle rules reap what a dead network keeps)."""
        self._state = state
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        driver = self._driver
        try:
            driver.client.abort_multipart_upload(
                Bucket=driver.settings.bucket, Key=self._key, UploadId=upload_id
            )
        except Exception:
            driver.log.warning(
                "could not abort multipart upload %s of %s", upload_id, self._key, exc_info=True
            )
