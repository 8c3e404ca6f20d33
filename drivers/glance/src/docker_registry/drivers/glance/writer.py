"""Streamed layer uploads: one ``PUT /v2/images/<id>/file`` fed while the layer arrives.

The writer creates a queued image that has the registry's namespace property but no path
property, so no lookup can find it. A background thread sends the image data as one
chunked request whose body is read from a bounded queue that :meth:`write` fills, so
memory holds a few chunks at most::

    write() ──> queue (8 chunks) ──> PUT /v2/images/<id>/file   (thread)
    commit():  end of data -> wait for the PUT -> PATCH docker_registry_path=<path>
               -> delete the images that held <path> before
    cancel():  abort the PUT -> DELETE /v2/images/<id>

With ``append=True`` the body starts with the data of the image currently at the path
(Glance image data is immutable: appending writes a new image).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from docker_registry.core.storage import CHUNK_SIZE, FileWriter, StorageError

if TYPE_CHECKING:
    from .driver import GlanceDriver

_END = object()
_ABORT = object()
#: Chunks waiting for the upload thread; write() blocks when the queue is full.
QUEUE_CHUNKS = 8


class _Aborted(Exception):
    """Raised inside the request body to abandon the upload."""


class GlanceLayerWriter(FileWriter):
    """A layer upload to one layer-shaped path of a :class:`~.driver.GlanceDriver`.

    :param driver: the driver that owns the Glance client.
    :param path: the layer-shaped storage path.
    :param append: start from the layer currently stored at ``path``.
    """

    def __init__(self, driver: GlanceDriver, path: str, append: bool = False) -> None:
        self._driver = driver
        self._path = path
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._error: BaseException | None = None
        self._state = "open"
        previous = driver.find_layer(path) if append else None
        self._previous_id = previous["id"] if previous else None
        self._size = int(previous.get("size") or 0) if previous else 0
        self.image: dict[str, Any] = driver.call(
            "writer", path, lambda client: client.create_image(driver.namespace_properties)
        )
        self._thread = threading.Thread(
            target=self._upload, name=f"glance-upload-{self.image['id']}", daemon=True
        )
        self._thread.start()

    # -- FileWriter --------------------------------------------------------------------

    def write(self, data: bytes) -> int:
        self._check_open("write")
        if data:
            self._put(bytes(data))
            self._size += len(data)
        return len(data)

    @property
    def size(self) -> int:
        return self._size

    def commit(self) -> None:
        self._check_open("commit")
        try:
            self._put(_END)
            self._thread.join()
            if self._error is not None:
                raise self._driver.error(self._error, "commit", self._path)
            self._driver.publish(self.image["id"], self._path)
        except BaseException:
            self._state = "failed"
            self._discard()
            raise
        self._state = "committed"

    def cancel(self) -> None:
        if self._state == "committed":
            raise StorageError(
                "cannot cancel a committed write",
                driver=self._driver.name,
                operation="cancel",
                path=self._path,
            )
        if self._state in ("open", "failed"):
            self._state = "cancelled"
            self._discard()

    def close(self) -> None:
        if self._state in ("open", "failed"):
            self.cancel()

    # -- internals ---------------------------------------------------------------------

    def _check_open(self, operation: str) -> None:
        if self._state != "open":
            raise StorageError(
                f"the writer is already {self._state}",
                driver=self._driver.name,
                operation=operation,
                path=self._path,
            )

    def _put(self, item: object) -> None:
        """Queue ``item`` for the upload thread, unless that thread has stopped."""
        while True:
            if not self._thread.is_alive():
                error = self._error or RuntimeError("the upload ended early")
                raise self._driver.error(error, "write", self._path)
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _body(self) -> Iterator[bytes]:
        if self._previous_id is not None:
            response = self._driver.call(
                "writer", self._path, lambda client: client.download(self._previous_id or "")
            )
            with response:
                yield from response.iter_content(CHUNK_SIZE)
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise _Aborted()
            assert isinstance(item, bytes)
            yield item

    def _upload(self) -> None:
        try:
            self._driver.client.upload(self.image["id"], self._body())
        except BaseException as exc:  # noqa: BLE001 - reported by write() and commit()
            self._error = exc

    def _discard(self) -> None:
        """Stop the upload thread and delete the image (it never got the path)."""
        if self._thread.is_alive():
            # NOTE: make room, then tell the body generator to give up.
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(_ABORT)
            self._thread.join(timeout=self._driver.client.timeout)
        self._driver.delete_image(self.image["id"], self._path)
