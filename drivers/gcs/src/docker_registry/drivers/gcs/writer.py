"""The GCS writer: a resumable upload fed chunk by chunk, invisible until finalised.

::

    upload_part() ─> PUT chunk, Content-Range a-b/* (the first opens the session)
    put_whole() ───> one simple upload of the buffer (nothing was sent)
    complete() ────> PUT the rest with the total size (finalises the object)
    discard() ─────> DELETE the upload session (best effort; sessions expire in a week)

The state machine is :class:`~docker_registry.core.storage.objectstore.ObjectWriter`'s.

GCS objects are immutable, so an append of a large object (one chunk or more) uploads
the new bytes to a staging object under ``.registry-staging/`` and composes
``[current object, staging object]`` into the path server-side; a small one is read back
and uploaded again with the new bytes.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from docker_registry.core.storage import PathNotFoundError, StorageError
from docker_registry.core.storage.objectstore import ObjectWriter

if TYPE_CHECKING:
    from .driver import GCSDriver

#: Seconds for one chunk PUT.
CHUNK_TIMEOUT = 120


class GCSFileWriter(ObjectWriter):
    """A write in progress to one object; see the module docstring for the mechanism."""

    def __init__(self, driver: GCSDriver, path: str, append: bool) -> None:
        super().__init__(driver, path)
        self._gcs = driver
        self._sent = 0
        self._session: str | None = None
        #: the current object an append composes onto (large appends only).
        self._base: Any = None
        self._target = driver.bucket.blob(self._key)
        if append:
            self._step("writer", self._start_from_existing)

    @property
    def multipart(self) -> bool:
        return self._session is not None

    def upload_part(self, part: bytes) -> None:
        self._put_chunk(part, final=False)

    def complete(self, rest: bytes) -> None:
        self._put_chunk(rest, final=True)
        self._compose()

    def put_whole(self, data: bytes) -> None:
        self._target.upload_from_string(
            data, content_type="application/octet-stream", retry=self._gcs.retry
        )
        self._compose()

    def discard(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            self._gcs.cancel_session(session)
        if self._base is not None:
            self._base = None
            self._gcs.discard(self._target)

    # -- internals -----------------------------------------------------------------------

    def _start_from_existing(self) -> None:
        info = self._gcs.head_object(self._key)
        if info is None:
            return
        if info.size >= self._part_size:
            # PERF: the old bytes stay in GCS: only the new ones travel, then compose.
            self._base = info.native
            self._target = self._gcs.staging_blob(uuid.uuid4().hex)
        elif info.size:
            try:
                self._buffer += self._gcs.get_content(self._path)
            except PathNotFoundError:
                return
        self._size = info.size

    def _put_chunk(self, data: bytes, *, final: bool) -> None:
        gcs = self._gcs
        if self._session is None:
            self._session = self._target.create_resumable_upload_session(
                content_type="application/octet-stream", retry=gcs.retry
            )
        start, end = self._sent, self._sent + len(data)
        total = str(end) if final else "*"
        span = f"{start}-{end - 1}" if data else "*"
        response = gcs.session.put(
            str(self._session),
            data=data,
            headers={"Content-Range": f"bytes {span}/{total}"},
            timeout=CHUNK_TIMEOUT,
        )
        if response.status_code not in ((200, 201) if final else (308,)):
            raise StorageError(
                f"resumable upload refused a chunk: HTTP {response.status_code} "
                f"{response.text[:200]}"
            )
        self._sent = end
        if final:
            self._session = None

    def _compose(self) -> None:
        if self._base is None:
            return
        staged, base, self._base = self._target, self._base, None
        try:
            # NOTE: pinned to the generation the append started from: a concurrent
            # overwrite fails the commit instead of being silently extended.
            self._gcs.bucket.blob(self._key).compose(
                [base, staged],
                if_source_generation_match=[base.generation, None],
                retry=self._gcs.retry,
            )
        finally:
            self._gcs.discard(staged)
