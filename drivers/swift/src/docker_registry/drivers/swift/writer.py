"""Streamed writes: segments uploaded as they fill up, one manifest PUT on commit.

A writer buffers at most ``swift_segment_size`` bytes. Each time the buffer is full it is
uploaded as a segment to the segments container, under a name private to this writer::

    <container>_segments/
    └── <storage_path>/<writer uuid>/00000001    full segments, uploaded during write()
                                    /00000002    the rest, uploaded by commit()

On commit, content that never filled a segment is stored with one plain PUT; anything
larger becomes a Static Large Object manifest listing the segments. Nothing is visible at
the path before the PUT of the object or manifest, which Swift applies atomically. The
state machine is :class:`~docker_registry.core.storage.objectstore.ObjectWriter`'s:
``cancel()`` (and a failed write or commit) deletes this writer's segments; if the proxy
is unreachable at that moment the writer remembers them, and ``close()`` tries again.

Appending keeps the stored content: a small plain object is read back into the buffer, a
larger one is copied server-side into the segments container, and a Static Large Object
contributes its segment list as is. ``concatenate`` (an upload's chunks joined into its
blob) copies each chunk of 1 MiB or more the same way, several at once
(:meth:`SwiftFileWriter.copy_parts`): no byte comes back to the registry. ``join``
copies none at all where the chunks are SLOs: their segments are reused
(:meth:`SwiftFileWriter.reuse_segments`, see :mod:`.joins`). A spooled
request body goes up as segments read from its file, several at once
(:meth:`SwiftFileWriter.upload_file_parts`), none held in memory.
"""

from __future__ import annotations

import functools
import io
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from docker_registry.core.storage import PathNotFoundError, StorageError
from docker_registry.core.storage.objectstore import FileSlice, ObjectInfo, ObjectWriter

from .reader import is_slo

if TYPE_CHECKING:
    from .driver import SwiftDriver

log = logging.getLogger(__name__)
#: Swift's smallest segment but the last one (the proxy's ``min_segment_size`` before
#: Swift 2.11, and the size below which newer proxies rate-limit segments).
MIN_SEGMENT_SIZE = 1024 * 1024


class SwiftFileWriter(ObjectWriter):
    """A write in progress to one path of a :class:`~.driver.SwiftDriver`.

    :param driver: the driver that owns the connections.
    :param path: the storage path written.
    :param append: start from the content currently stored at ``path``.
    :param segment_size: bytes per segment, when not ``swift_segment_size``.
    """

    copy_part_min: ClassVar[int | None] = MIN_SEGMENT_SIZE
    # NOTE: an SLO's segments need not be equal: the rest of a file is a segment too.
    short_last_part: ClassVar[bool] = True

    def __init__(
        self,
        driver: SwiftDriver,
        path: str,
        append: bool = False,
        *,
        segment_size: int | None = None,
    ) -> None:
        super().__init__(driver, path)
        if segment_size is not None:
            self._part_size = segment_size
        self._swift = driver
        settings = driver.settings
        self._container = settings.container
        self._segment_container = settings.segment_container
        self._segment_prefix = f"{settings.prefix}{uuid.uuid4().hex}/"
        #: SLO manifest entries, in order: ours and (on append) reused ones.
        self._segments: list[dict[str, Any]] = []
        #: names of segments this writer uploaded (to delete on cancel).
        self._owned: list[str] = []
        #: segment names given so far (several are named before any is sent).
        self._named = 0
        if append:
            self._step("writer", self._load_existing)

    @property
    def pending_segments(self) -> list[str]:
        """Names (in the segments container) uploaded by this writer and not yet cleaned."""
        return list(self._owned)

    @property
    def multipart(self) -> bool:
        return bool(self._segments)

    def upload_part(self, part: bytes) -> None:
        name = self._next_segment()
        self._add_segment(name, self._put_segment(name, io.BytesIO(part), len(part)), len(part))

    def upload_file_parts(self, local_path: str, slices: Sequence[tuple[int, int]]) -> None:
        def send(offset: int, length: int, name: str) -> str:
            with FileSlice(local_path, offset, length) as body:
                return self._put_segment(name, body, length)

        self._segments_together(
            [(length, functools.partial(send, offset, length)) for offset, length in slices]
        )

    def copy_parts(self, sources: Sequence[ObjectInfo]) -> None:
        def copy(key: str, name: str) -> str:
            # NOTE: a COPY of an SLO stores its content as one plain object: the new
            # segment shares nothing with the source, which may be deleted right after.
            with self._swift.pool.connection() as conn:
                conn.copy_object(self._container, key, f"/{self._segment_container}/{name}")
                return str(conn.head_object(self._segment_container, name)["etag"])

        self._segments_together(
            [(source.size, functools.partial(copy, source.key)) for source in sources]
        )

    def reuse_segments(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append existing segments (entries of another manifest) as they are: listed,
        not owned, so a cancel leaves them (see :mod:`.joins`)."""
        self._check_open("join")
        self._segments.extend(entries)
        self._size += sum(int(entry["size_bytes"]) for entry in entries)

    def put_whole(self, data: bytes) -> None:
        self._swift.put_object(self._key, data)
        self._owned = []

    def complete(self, rest: bytes) -> None:
        if rest:
            self.upload_part(rest)
        self._swift.replace(
            self._key,
            functools.partial(self._swift.put_manifest, self._key, self._segments),
            new_segments=[entry["path"] for entry in self._segments],
        )
        self._owned = []

    def discard(self) -> None:
        """Delete the segments this writer uploaded; keep the names of any that failed."""
        remaining = []
        for name in self._owned:
            try:
                delete = functools.partial(self._swift.delete_one, self._segment_container, name)
                self._swift.call("cancel", self._path, delete)
            except PathNotFoundError:
                pass
            except StorageError as exc:
                log.warning(
                    "could not delete segment %s/%s: %s", self._segment_container, name, exc
                )
                remaining.append(name)
        self._owned = remaining
        if remaining:
            raise StorageError(f"{len(remaining)} segments left in {self._segment_container}")

    # -- internals ---------------------------------------------------------------------

    def _segments_together(self, sends: Sequence[tuple[int, Callable[[str], str]]]) -> None:
        """Store the next segments at once: each ``(size, send)`` stores one under the
        name it is given and returns its ETag; listed in order once all are stored."""
        names = [self._next_segment() for _ in sends]
        etags = self.send_together(
            [functools.partial(send, name) for name, (_, send) in zip(names, sends, strict=True)]
        )
        for name, etag, (size, _) in zip(names, etags, sends, strict=True):
            self._add_segment(name, etag, size)

    def _put_segment(self, name: str, body: io.IOBase, length: int) -> str:
        with self._swift.pool.connection() as conn:
            return str(conn.put_object(self._segment_container, name, body, content_length=length))

    def _next_segment(self) -> str:
        # NOTE: owned before the upload: a PUT that fails may still have stored it.
        self._named += 1
        name = f"{self._segment_prefix}{self._named:08d}"
        self._owned.append(name)
        return name

    def _add_segment(self, name: str, etag: str, size: int) -> None:
        self._segments.append(
            {"path": f"/{self._segment_container}/{name}", "etag": etag, "size_bytes": size}
        )

    def _load_existing(self) -> None:
        """Start from the stored content (append): buffer, copy or reuse its segments."""
        info = self._swift.head_object(self._key)
        if info is None:
            return
        if is_slo(info.native):
            self._segments = self._swift.manifest(self._key)
        elif info.size < self._part_size:
            self._buffer += self._swift.get_content(self._path)
        else:
            self.copy_parts([info])
        self._size = info.size
