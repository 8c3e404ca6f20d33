"""The GCS writer: a resumable upload fed chunk by chunk, invisible until finalised.

::

    write() ──> buffer ──(buffer >= chunk_size)──> PUT chunk, Content-Range a-b/*
    commit() ─> nothing sent yet: one simple upload of the buffer
             └> otherwise: PUT the rest with the total size (finalises the object)
    cancel() ─> DELETE the upload session (best effort; sessions expire after a week)

GCS objects are immutable, so an append of a large object (one chunk or more) uploads
the new bytes to a staging object under ``.registry-staging/`` and composes
``[current object, staging object]`` into the path server-side; a small one is read back
and uploaded again with the new bytes.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from docker_registry.core.storage import PathNotFoundError, StorageError
from docker_registry.core.storage.objectstore import BROKEN, COMMITTED, PartWriter

if TYPE_CHECKING:
    from .driver import GCSDriver

#: Seconds for one chunk PUT.
CHUNK_TIMEOUT = 120


class GCSFileWriter(PartWriter):
    """A write in progress to one object; see the module docstring for the mechanism."""

    def __init__(self, driver: GCSDriver, path: str, append: bool) -> None:
        super().__init__(driver.name, path, driver.settings.chunk_size)
        self._driver = driver
        self._sent = 0
        self._session: str | None = None
        #: the current object an append composes onto (large appends only).
        self._base: Any = None
        self._target = driver.blob(path)
        if append:
            self._start_from_existing()

    def commit(self) -> None:
        self._check_open("commit")
        driver = self._driver
        try:
            driver.check_writable(self._path, "commit")
            if self._session is None:
                body = bytes(self._buffer)
                driver.call(
                    "commit",
                    self._path,
                    lambda: self._target.upload_from_string(
                        body, content_type="application/octet-stream", retry=driver.retry
                    ),
                )
            else:
                self._put_chunk(bytes(self._buffer), final=True)
            if self._base is not None:
                self._compose()
        except BaseException:
            self._finish(BROKEN)
            raise
        self._state = COMMITTED
        self._buffer = bytearray()

    # -- internals -----------------------------------------------------------------------

    def _start_from_existing(self) -> None:
        driver = self._driver
        blob = driver.call("writer", self._path, lambda: driver.get_blob(self._path))
        if blob is None:
            return
        existing = int(blob.size or 0)
        if existing >= self._part_size:
            # PERF: the old bytes stay in GCS: only the new ones travel, then compose.
            self._base = blob
            self._target = driver.staging_blob(uuid.uuid4().hex)
        elif existing:
            try:
                self._buffer += driver.get_content(self._path)
            except PathNotFoundError:
                return
        self._size = existing

    def _send_part(self, part: bytes) -> None:
        self._put_chunk(part, final=False)

    def _put_chunk(self, data: bytes, *, final: bool) -> None:
        driver = self._driver
        try:
            if self._session is None:
                self._session = driver.call(
                    "write",
                    self._path,
                    lambda: self._target.create_resumable_upload_session(
                        content_type="application/octet-stream", retry=driver.retry
                    ),
                )
            start, end = self._sent, self._sent + len(data)
            total = str(end) if final else "*"
            span = f"{start}-{end - 1}" if data else "*"
            response = driver.call(
                "commit" if final else "write",
                self._path,
                lambda: driver.session.put(
                    str(self._session),
                    data=data,
                    headers={"Content-Range": f"bytes {span}/{total}"},
                    timeout=CHUNK_TIMEOUT,
                ),
            )
            expected = (200, 201) if final else (308,)
            if response.status_code not in expected:
                raise StorageError(
                    f"resumable upload refused a chunk: HTTP {response.status_code} "
                    f"{response.text[:200]}",
                    driver=driver.name,
                    operation="commit" if final else "write",
                    path=self._path,
                )
        except BaseException:
            self._finish(BROKEN)
            raise
        self._sent = end
        if final:
            self._session = None

    def _compose(self) -> None:
        driver = self._driver
        final = driver.blob(self._path)
        staged = self._target
        try:
            driver.call(
                "commit",
                self._path,
                # NOTE: pinned to the generation the append started from: a concurrent
                # overwrite fails the commit instead of being silently extended.
                lambda: final.compose(
                    [self._base, staged],
                    if_source_generation_match=[self._base.generation, None],
                    retry=driver.retry,
                ),
            )
        finally:
            driver.discard(staged)

    def _finish(self, state: str) -> None:
        self._state = state
        self._buffer = bytearray()
        session, self._session = self._session, None
        if session is not None:
            self._driver.cancel_session(session)
        if self._base is not None and state != COMMITTED:
            self._driver.discard(self._target)
