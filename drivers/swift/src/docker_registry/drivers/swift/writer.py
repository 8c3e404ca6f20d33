"""Streamed writes: segments uploaded as they fill up, one manifest PUT on commit.

A writer buffers at most ``swift_segment_size`` bytes. Each time the buffer is full it is
uploaded as a segment to the segments container, under a name private to this writer::

    <container>_segments/
    └── <storage_path>/<writer uuid>/00000001    full segments, uploaded during write()
                                    /00000002    the rest, uploaded by commit()

On commit, content that never filled a segment is stored with one plain PUT; anything
larger becomes a Static Large Object manifest listing the segments. Nothing is visible at
the path before the PUT of the object or manifest, which Swift applies atomically.
``cancel()`` (and a failed ``commit()``) deletes this writer's segments; if the proxy is
unreachable at that moment the writer remembers them, and a later ``cancel()`` or
``close()`` tries again.

Appending keeps the stored content: a small plain object is read back into the buffer, a
larger one is copied server-side into the segments container, and a Static Large Object
contributes its segment list as is.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from docker_registry.core.storage import FileWriter, PathNotFoundError, StorageError

if TYPE_CHECKING:
    from .driver import SwiftDriver

log = logging.getLogger(__name__)


class SwiftFileWriter(FileWriter):
    """A write in progress to one path of a :class:`~.driver.SwiftDriver`.

    :param driver: the driver that owns the connections.
    :param path: the storage path written.
    :param append: start from the content currently stored at ``path``.
    """

    def __init__(self, driver: SwiftDriver, path: str, append: bool = False) -> None:
        self._driver = driver
        self._path = path
        self._name = driver.object_name(path)
        settings = driver.settings
        self._segment_prefix = f"{settings.prefix}{uuid.uuid4().hex}/"
        self._segment_size = settings.segment_size
        self._buffer = bytearray()
        #: SLO manifest entries, in order: ours and (on append) reused ones.
        self._segments: list[dict[str, Any]] = []
        #: names of segments this writer uploaded (to delete on cancel).
        self._owned: list[str] = []
        self._size = 0
        self._state = "open"
        if append:
            self._load_existing()

    # -- FileWriter --------------------------------------------------------------------

    def write(self, data: bytes) -> int:
        self._check_open("write")
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= self._segment_size:
            # NOTE: a full segment leaves the buffer before the next one is read in,
            # so memory stays bounded by one segment per writer.
            chunk = bytes(self._buffer[: self._segment_size])
            del self._buffer[: self._segment_size]
            try:
                self._upload_segment(chunk)
            except BaseException:
                # NOTE: the chunk is gone: this writer can only be cancelled now.
                self._state = "failed"
                raise
        return len(data)

    @property
    def size(self) -> int:
        return self._size

    def commit(self) -> None:
        self._check_open("commit")
        driver = self._driver
        try:
            driver.check_writable(self._path)
            if not self._segments:
                data = bytes(self._buffer)
                driver.replace(
                    self._path,
                    lambda conn: conn.put_object(
                        driver.settings.container,
                        self._name,
                        io.BytesIO(data),
                        content_length=len(data),
                    ),
                    new_segments=(),
                )
            else:
                if self._buffer:
                    self._upload_segment(bytes(self._buffer))
                manifest = json.dumps(self._segments).encode()
                driver.replace(
                    self._path,
                    lambda conn: conn.put_object(
                        driver.settings.container,
                        self._name,
                        io.BytesIO(manifest),
                        content_length=len(manifest),
                        query_string="multipart-manifest=put",
                        headers={"Content-Type": "application/octet-stream"},
                    ),
                    new_segments=[entry["path"] for entry in self._segments],
                )
        except BaseException:
            self._state = "failed"
            self._discard_segments()
            raise
        self._buffer = bytearray()
        self._owned = []
        self._state = "committed"

    def cancel(self) -> None:
        if self._state == "committed":
            raise StorageError(
                "cannot cancel a committed write",
                driver=self._driver.name,
                operation="cancel",
                path=self._path,
            )
        self._state = "cancelled"
        self._buffer = bytearray()
        self._discard_segments()

    def close(self) -> None:
        if self._state in ("open", "failed"):
            self.cancel()
        elif self._owned:
            # NOTE: an earlier cancel could not reach the proxy: try once more.
            self._discard_segments()

    # -- internals ---------------------------------------------------------------------

    @property
    def pending_segments(self) -> list[str]:
        """Names (in the segments container) uploaded by this writer and not yet cleaned."""
        return list(self._owned)

    def _check_open(self, operation: str) -> None:
        if self._state != "open":
            raise StorageError(
                f"the writer is already {self._state}",
                driver=self._driver.name,
                operation=operation,
                path=self._path,
            )

    def _upload_segment(self, data: bytes) -> None:
        settings = self._driver.settings
        name = f"{self._segment_prefix}{len(self._segments) + 1:08d}"
        self._owned.append(name)
        etag = self._driver.call(
            "write",
            self._path,
            lambda conn: conn.put_object(
                settings.segment_container, name, io.BytesIO(data), content_length=len(data)
            ),
        )
        self._segments.append(
            {"path": f"/{settings.segment_container}/{name}", "etag": etag, "size_bytes": len(data)}
        )

    def _discard_segments(self) -> None:
        """Delete the segments this writer uploaded; keep the names of any that failed."""
        container = self._driver.settings.segment_container
        remaining = []
        for name in self._owned:
            try:
                self._driver.delete_object("cancel", self._path, container, name)
            except PathNotFoundError:
                pass
            except StorageError as exc:
                log.warning("could not delete segment %s/%s: %s", container, name, exc)
                remaining.append(name)
        self._owned = remaining

    def _load_existing(self) -> None:
        """Start from the stored content (append): buffer, copy or reuse its segments."""
        driver = self._driver
        try:
            info = driver.head(self._path)
        except PathNotFoundError:
            return
        size = int(info.get("content-length", 0))
        if info.get("x-static-large-object", "").lower() == "true":  # an SLO
            self._segments = driver.manifest(self._path)
        elif size < self._segment_size:
            self._buffer += driver.get_content(self._path)
        else:
            settings = driver.settings
            name = f"{self._segment_prefix}{1:08d}"
            self._owned.append(name)
            driver.call(
                "writer",
                self._path,
                lambda conn: conn.copy_object(
                    settings.container, self._name, f"/{settings.segment_container}/{name}"
                ),
            )
            etag = driver.call(
                "writer",
                self._path,
                lambda conn: conn.head_object(settings.segment_container, name)["etag"],
            )
            self._segments.append(
                {"path": f"/{settings.segment_container}/{name}", "etag": etag, "size_bytes": size}
            )
        self._size = size
