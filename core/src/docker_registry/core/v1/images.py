"""The v1 image service: json, layer, checksum, ancestry and files of images (spec §2.2).

State machine (spec §3.4), made safe for concurrent pushers of the same image id::

    (absent) --put_json--> IN_PROGRESS {json, ancestry, _inprogress}
    IN_PROGRESS --put_layer--> IN_PROGRESS {+layer, _checksum}
    IN_PROGRESS --put_checksum (match)--> COMPLETE (no _inprogress)
    COMPLETE --put_checksum--> 409 Cannot set this image checksum
    COMPLETE --put_json / put_layer (different bytes)--> 409 Image already exists

* The layer streams into ``storage.writer()``: nothing is visible before ``commit``; a
  failed upload leaves the previous state. The payload checksum is computed on the way.
* State transitions run under a per-image lock (striped, in process), so json, layer and
  ``_checksum`` always belong together.
* Identical re-uploads are idempotent: re-PUT of the same json keeps a finished layer, a
  layer PUT that matches a complete image answers success (issue #593). A checksum PUT
  on a complete image is 409 ``Cannot set this image checksum``, as the spec says.
"""

from __future__ import annotations

import contextlib
import json
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..bodies import RequestBody
from ..coordination import CoordinationError, Coordinator
from ..mirroring import StreamTee
from ..storage import PathNotFoundError, Storage
from . import layout
from .checksums import LayerFormatError, PayloadHasher, scan_layer
from .errors import (
    ALREADY_EXISTS,
    IMAGE_NOT_FOUND,
    IN_PROGRESS,
    INVALID_IMAGE_ID,
    Busy,
    Conflict,
    Invalid,
    NotFound,
    PreconditionFailed,
)

#: Message of the 412 on ``PUT checksum`` without the payload header (two spaces: seed's).
CHECKSUM_HEADER_MISSING = (
    "X-Docker-Checksum-Payload not set.  If you are using the Docker daemon, you should "
    "upgrade to version 0.10 or later"
)

#: Message of the 409 on ``PUT checksum`` of a complete image (spec R7 step 5).
CHECKSUM_LOCKED = "Cannot set this image checksum"

_STRIPES = 64


@dataclass(frozen=True)
class RemoteLayer:
    """A layer only the mirror's upstream holds so far (see
    :class:`~.mirror.stores.MirroredImageStore`): answered whole, never by range.

    :param size: upstream's ``Content-Length`` (``None``: it sent none).
    :param body: for a ``GET``, the bytes as they arrive, stored while read; ``None``
        for a ``HEAD``.
    """

    size: int | None
    body: Iterable[bytes] | None = None


class ImageStore:
    """Reads and writes v1 images in storage.

    :param storage: the registry's storage.
    :param coordinator: holds an image's lock across every process sharing the storage
        (spec §3.4); ``None``: this process's threads only (tools, tests).
    """

    def __init__(self, storage: Storage, coordinator: Coordinator | None = None) -> None:
        self.storage = storage
        self.coordinator = coordinator
        self._locks = [threading.Lock() for _ in range(_STRIPES)]
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @contextmanager
    def _locked(self, image_id: str) -> Iterator[None]:
        if self.coordinator is None:
            with self._locks[zlib.crc32(image_id.encode()) % _STRIPES]:
                yield
            return
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(self.coordinator.lock(f"v1-image:{image_id}"))
            except CoordinationError as exc:
                raise Busy(
                    f"Image is being written by another upload ({exc}), retry later",
                    headers={"Retry-After": "5"},
                ) from None
            yield

    # -- checks ---------------------------------------------------------------------------

    @staticmethod
    def check_id(image_id: str) -> None:
        """:raises NotFound: ``Invalid image ID`` unless 16 or 64 lower-case hex."""
        if not layout.is_image_id(image_id):
            raise NotFound(INVALID_IMAGE_ID)

    def in_progress(self, image_id: str) -> bool:
        return self.storage.exists(layout.image_mark_path(image_id))

    def check_not_in_progress(self, image_id: str) -> None:
        """:raises Invalid: ``Image is being uploaded, retry later``."""
        if self.in_progress(image_id):
            raise Invalid(IN_PROGRESS)

    def exists(self, image_id: str) -> bool:
        """True when the image json is stored (complete or not)."""
        return self.storage.exists(layout.image_json_path(image_id))

    # -- reads ------------------------------------------------------------------------------

    def _read(self, path: str) -> bytes:
        try:
            return self.storage.get_content(path)
        except PathNotFoundError:
            raise NotFound(IMAGE_NOT_FOUND) from None

    def get_json(self, image_id: str) -> bytes:
        """The raw stored image json. :raises NotFound: ``Image not found``."""
        return self._read(layout.image_json_path(image_id))

    def get_ancestry(self, image_id: str) -> bytes:
        """The raw stored ancestry list. :raises NotFound: ``Image not found``."""
        return self._read(layout.image_ancestry_path(image_id))

    def layer_size(self, image_id: str) -> int | None:
        """Bytes of the stored layer, ``None`` when there is none."""
        try:
            info = self.storage.stat(layout.image_layer_path(image_id))
        except PathNotFoundError:
            return None
        return None if info.is_dir else info.size

    def announced_layer_size(self, image_id: str) -> int | None:
        """The layer size announced with the image JSON (``X-Docker-Size``): here, the
        stored layer's."""
        return self.layer_size(image_id)

    def find_layer(self, image_id: str, *, body: bool) -> int | RemoteLayer:
        """The stored layer's size, for a ``GET`` (``body``) or a ``HEAD`` of it; a
        pull-through store answers a :class:`RemoteLayer` for one only upstream has.

        :raises NotFound: no layer.
        """
        size = self.layer_size(image_id)
        if size is None:
            raise NotFound(IMAGE_NOT_FOUND)
        return size

    def ingest_layer(
        self,
        image_id: str,
        chunks: Iterator[bytes],
        length: int | None,
        expected: list[str],
        *,
        close: Callable[[], None],
        label: str,
    ) -> StreamTee:
        """Store a layer from elsewhere (the mirror's upstream) while its bytes pass
        through to a reader.

        Iterating the result yields ``chunks`` as they are written to the layer; it is
        committed only once every byte arrived (``length`` of them, when known) and the
        payload checksum ``sha256(json + "\\n" + layer)`` is among ``expected`` (when
        ``expected`` is empty, the computed one is stored as ``_checksum``). Otherwise
        nothing is visible and the iteration raises
        :class:`~docker_registry.core.mirroring.StreamRejected`; a checksum mismatch also
        drops the image's json and ``_checksum``, which vouched for the wrong bytes.

        :param close: releases the source (called once, whatever happens).
        :param label: names the layer and its source in log messages.
        :raises NotFound: the image has no json here.
        """
        try:
            json_data = self.get_json(image_id)
            writer = self.storage.writer(layout.image_layer_path(image_id))
        except BaseException:
            close()
            raise

        def remember(checksum: str) -> None:
            if checksum not in self.checksums(image_id):
                self.storage.put_content(
                    layout.image_checksum_path(image_id), json.dumps([checksum]).encode()
                )

        def forget() -> None:
            for path in (layout.image_json_path(image_id), layout.image_checksum_path(image_id)):
                _delete_quietly(self.storage, path)

        return StreamTee(
            chunks,
            writer,
            PayloadHasher(json_data),
            expected,
            length,
            remember,
            forget,
            close,
            label,
        )

    def checksums(self, image_id: str) -> list[str]:
        """The stored ``_checksum`` entries (a legacy bare string is one entry)."""
        try:
            raw = self.storage.get_content(layout.image_checksum_path(image_id))
        except PathNotFoundError:
            return []
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw.decode("utf-8", "replace").strip()
        if isinstance(value, str):
            return [value] if value else []
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
        return []

    def open_layer(self, image_id: str, offset: int = 0) -> BinaryIO:
        """A stream of the layer from ``offset``. :raises NotFound: no layer."""
        try:
            return self.storage.reader(layout.image_layer_path(image_id), offset)
        except PathNotFoundError:
            raise NotFound(IMAGE_NOT_FOUND) from None

    def redirect_url(self, image_id: str) -> str | None:
        """A URL the driver offers for the layer, or ``None``."""
        try:
            return self.storage.redirect_url(layout.image_layer_path(image_id))
        except PathNotFoundError:
            return None

    def layer_storage_path(self, image_id: str) -> str:
        """The layer's storage path (for ``X-Accel-Redirect``)."""
        return layout.image_layer_path(image_id)

    def files(self, image_id: str) -> bytes:
        """The files listing as raw JSON, from the ``_files`` cache or computed and cached.

        :raises NotFound: no layer. :raises Invalid: ``Layer format not supported``.
        """
        try:
            return self.storage.get_content(layout.image_files_path(image_id))
        except PathNotFoundError:
            pass
        json_data = self.get_json(image_id)
        with self.open_layer(image_id) as stream:
            try:
                scan = scan_layer(stream, json_data)
            except LayerFormatError:
                raise Invalid("Layer format not supported") from None
        data = json.dumps(scan.files).encode()
        self.storage.put_content(layout.image_files_path(image_id), data)
        return data

    def tarsum(self, image_id: str) -> str:
        """Compute the tarsum v0 of the stored layer (old clients' checksum)."""
        json_data = self.get_json(image_id)
        with self.open_layer(image_id) as stream:
            try:
                return scan_layer(stream, json_data).tarsum
            except LayerFormatError:
                raise Invalid("Layer format not supported") from None

    def diff(self, image_id: str) -> bytes | None:
        """The cached ``_diff`` JSON, or ``None`` when not computed yet."""
        try:
            return self.storage.get_content(layout.image_diff_path(image_id))
        except PathNotFoundError:
            return None

    # -- writes -------------------------------------------------------------------------------

    def put_diff(self, image_id: str, data: bytes) -> None:
        """Store the computed ``_diff`` JSON (see :mod:`.diffs`)."""
        self.storage.put_content(layout.image_diff_path(image_id), data)

    def put_json(
        self,
        image_id: str,
        body: bytes,
        *,
        parent_allowed: Callable[[str], bool] = lambda parent: True,
        image_allowed: Callable[[str], bool] = lambda image: True,
    ) -> dict[str, Any]:
        """Store an image's json and start its upload (R4).

        :param body: the raw request body, stored byte for byte.
        :param parent_allowed: the caller may use this parent (auth backend).
        :param image_allowed: the caller's repository may hold this image (token mode).
        :returns: the parsed json.
        :raises Invalid: bad JSON, wrong id, unknown or forbidden parent.
        :raises Conflict: ``Image already exists`` (complete image).
        """
        data = _parse_image_json(body)
        if "id" not in data:
            raise Invalid("Missing key `id' in JSON")
        if data["id"] != image_id:
            raise Invalid("JSON data contains invalid id")
        if not image_allowed(image_id):
            raise Invalid("This image does not belong to the repository")
        parent = data.get("parent")
        parent_ancestry: list[str] = []
        if parent:
            if not layout.is_image_id(parent) or not self.exists(parent):
                raise Invalid("Image depends on a non existing parent")
            if not parent_allowed(parent):
                raise Invalid("Image depends on an unauthorized parent")
            parent_ancestry = self._parent_ancestry(parent)
        ancestry = json.dumps([image_id, *parent_ancestry]).encode()
        with self._locked(image_id):
            stored = self._stored_json(image_id)
            in_progress = self.in_progress(image_id)
            if stored is not None and not in_progress:
                raise Conflict(ALREADY_EXISTS)
            if not in_progress:
                self.storage.put_content(layout.image_mark_path(image_id), b"true")
            writes = [(layout.image_ancestry_path(image_id), ancestry)]
            if stored != body:
                # NOTE: a retry with other json invalidates the layer's payload checksum;
                # the same json (a concurrent or repeated push) keeps a finished layer.
                _delete_quietly(self.storage, layout.image_checksum_path(image_id))
                writes.append((layout.image_json_path(image_id), body))
            # PERF: each durable write waits for its own fsyncs; json and ancestry are
            # independent once the in-progress mark is durable, so they overlap.
            futures = [
                self._executor().submit(self.storage.put_content, *args) for args in writes[1:]
            ]
            self.storage.put_content(*writes[0])
            for future in futures:
                future.result()
        return data

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(4, thread_name_prefix="v1-images")
        return self._pool

    def _stored_json(self, image_id: str) -> bytes | None:
        try:
            return self.storage.get_content(layout.image_json_path(image_id))
        except PathNotFoundError:
            return None

    def _parent_ancestry(self, parent: str) -> list[str]:
        try:
            value = json.loads(self.storage.get_content(layout.image_ancestry_path(parent)))
        except PathNotFoundError:
            # NOTE: the seed answered 500 here (parent json without ancestry); a parent
            # we cannot place is as good as a missing one.
            raise Invalid("Image depends on a non existing parent") from None
        except ValueError:
            raise Invalid("Image depends on a non existing parent") from None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise Invalid("Image depends on a non existing parent")
        return value

    def put_layer(self, image_id: str, body: RequestBody) -> str:
        """Stream a layer in (R6); return its payload checksum.

        :raises NotFound: no json for this image.
        :raises Conflict: the image is complete with a different layer.
        """
        json_data = self._stored_json(image_id)
        if json_data is None:
            raise NotFound(IMAGE_NOT_FOUND)
        hasher = PayloadHasher(json_data)
        complete = not self.in_progress(image_id) and self.layer_size(image_id) is not None
        if complete:
            # NOTE: a concurrent pusher of the same image: accept identical bytes.
            body.copy_into(None, hasher)
            checksum = hasher.checksum()
            if checksum in self.checksums(image_id):
                return checksum
            raise Conflict(ALREADY_EXISTS)
        with body.stage(self.storage, layout.image_layer_path(image_id), hasher) as staged:
            staged.hashed()
            return self._publish_layer(image_id, json_data, hasher.checksum(), staged.commit)

    def _publish_layer(
        self, image_id: str, json_data: bytes, checksum: str, commit: Callable[[], None]
    ) -> str:
        """Make a received layer visible with ``commit`` unless the image changed meanwhile."""
        with self._locked(image_id):
            if self._stored_json(image_id) != json_data:
                raise Invalid("Image json changed during the layer upload, retry")
            if not self.in_progress(image_id):
                if checksum in self.checksums(image_id):
                    return checksum
                raise Conflict(ALREADY_EXISTS)
            # PERF: both are durable writes; they overlap. A crash between them can
            # leave a _checksum without its layer: put_checksum then refuses.
            recorded = self._executor().submit(
                self.storage.put_content,
                layout.image_checksum_path(image_id),
                json.dumps([checksum]).encode(),
            )
            try:
                commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    recorded.result()
                _delete_quietly(self.storage, layout.image_checksum_path(image_id))
                raise
            recorded.result()
        return checksum

    def put_checksum(self, image_id: str, payload: str | None, tarsum: str | None) -> None:
        """Verify the client's checksum and complete the upload (R7).

        :param payload: ``X-Docker-Checksum-Payload`` (``None`` when absent).
        :param tarsum: ``X-Docker-Checksum``, used only when ``payload`` is absent (old
            clients, verified against the tarsum of the stored layer).
        """
        if payload is None and not tarsum:
            raise PreconditionFailed(CHECKSUM_HEADER_MISSING)
        expected = payload if payload is not None else tarsum
        if not expected:
            raise Invalid("Missing Image's checksum")
        if not self.exists(image_id):
            raise NotFound(IMAGE_NOT_FOUND)
        with self._locked(image_id):
            if not self.in_progress(image_id):
                # NOTE: spec R7 step 5, even for the right checksum: a second pusher that
                # loses the race to complete the image is told so (Docker 1.x reports it;
                # its retry finds the image and skips it).
                raise Conflict(CHECKSUM_LOCKED)
            stored = self.checksums(image_id)
            has_layer = self.layer_size(image_id) is not None
            if payload is None and has_layer:
                stored = [*stored, self.tarsum(image_id)]
            if expected not in stored or not has_layer:
                raise Invalid("Checksum mismatch")
            _delete_quietly(self.storage, layout.image_mark_path(image_id))


def _parse_image_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid("Invalid JSON") from None
    if not isinstance(data, dict) or not data:
        raise Invalid("Invalid JSON")
    return data


def _delete_quietly(storage: Storage, path: str) -> None:
    with contextlib.suppress(PathNotFoundError):
        storage.delete(path)
