"""``/v1/images/<id>/...`` resources (R3-R10)."""

from __future__ import annotations

import falcon

from ...access.middleware import decision_of
from ...access.model import PULL, PUSH
from ...bodies import request_body
from ...config.keys.v1 import NGINX_X_ACCEL_REDIRECT
from ...download import bounded_body
from ...meta import set_json
from ...storage import Capability
from .. import layout
from ..diff_queue import diffs_enabled
from ..errors import IMAGE_NOT_FOUND, Invalid, NotFound
from ..images import RemoteLayer
from ..ranges import parse_layer_range
from .common import (
    V1Services,
    authorize,
    image_gate,
    not_modified,
    private_gate,
    read_body,
    set_cache_headers,
    set_raw_json,
    set_true,
)


class _Base:
    def __init__(self, services: V1Services) -> None:
        self.services = services
        self.images = services.images

    def _read_checks(self, req: falcon.Request, image_id: str):
        """auth -> id format -> repositories holding it -> in progress (R3, R8, R9,
        R10 order)."""
        request, grant = authorize(self.services, req)
        self.images.check_id(image_id)
        image_gate(self.services, req, image_id, PULL)
        self.images.check_not_in_progress(image_id)
        return request, grant


class ImageJsonResource(_Base):
    """R3 ``GET`` and R4 ``PUT /v1/images/<id>/json``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        request, grant = self._read_checks(req, image_id)
        if not_modified(req, resp):
            return
        private_gate(self.services, request, grant, image_id)
        data = self.images.get_json(image_id)
        size = self.images.announced_layer_size(image_id)
        checksums = self.images.checksums(image_id)
        set_raw_json(resp, data)
        set_cache_headers(resp)
        if size is not None:
            resp.set_header("X-Docker-Size", str(size))
        for checksum in checksums:
            resp.append_header("X-Docker-Checksum-Payload", checksum)
        if checksums:
            # NOTE: the 0.7-0.8 name, still read by old tooling (spec §2.2 R3).
            resp.set_header("X-Docker-Payload-Checksum", checksums[0])

    on_head = on_get

    def on_put(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        request, grant = authorize(self.services, req)
        self.images.check_id(image_id)
        image_gate(self.services, req, image_id, PUSH)
        body = read_body(req, self.services.registry.settings.max_json_body_size)
        access, decision = self.services.image_access, decision_of(req)
        self.images.put_json(
            image_id,
            body,
            parent_allowed=lambda parent: (
                (access is None or access.usable(decision, parent))
                and self.services.auth.parent_access(request, grant, parent)
            ),
            image_allowed=lambda image: self.services.auth.image_allowed(request, grant, image),
        )
        set_true(resp)


class ImageLayerResource(_Base):
    """R5 ``GET`` and R6 ``PUT /v1/images/<id>/layer``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        request, grant = authorize(self.services, req)
        # NOTE: the seed checked "in progress" before the id format on this route.
        if layout.is_image_id(image_id):
            image_gate(self.services, req, image_id, PULL)
        if layout.is_storable(image_id):
            self.images.check_not_in_progress(image_id)
        self.images.check_id(image_id)
        if not_modified(req, resp):
            return
        private_gate(self.services, request, grant, image_id)
        settings = self.services.registry.settings
        accel = NGINX_X_ACCEL_REDIRECT.read(settings)
        # NOTE: nginx reads the layer from the same local file: only drivers whose files are
        # local (Capability.LOCAL_FILES) can be served that way; the others stream below.
        if accel and Capability.LOCAL_FILES in self.services.registry.storage.capabilities:
            resp.content_type = "application/octet-stream"
            resp.set_header(
                "X-Accel-Redirect", accel.rstrip("/") + self.images.layer_storage_path(image_id)
            )
            resp.data = b""
            return
        if settings.storage_redirect:
            url = self.images.redirect_url(image_id)
            if url:
                raise falcon.HTTPFound(url)
        found = self.images.find_layer(image_id, body=req.method != "HEAD")
        resp.content_type = "application/octet-stream"
        resp.set_header("Accept-Ranges", "bytes")
        set_cache_headers(resp)
        if isinstance(found, RemoteLayer):
            # NOTE: answered whole, whatever the Range (RFC 9110 allows it): the bytes
            # are stored as they pass, and the store needs every one.
            if found.size is not None:
                resp.content_length = found.size
            if found.body is not None:
                resp.stream = found.body
            return
        size = found
        selected = parse_layer_range(req.get_header("Range"), size)
        if selected is None:
            start, length = 0, size
        else:
            start, end = selected
            resp.status = falcon.HTTP_206
            resp.set_header("Content-Range", f"bytes {start}-{end}/{size}")
            length = end - start + 1
        resp.content_length = length
        if req.method == "HEAD":
            return
        resp.stream = bounded_body(self.images.open_layer(image_id, start), length)

    on_head = on_get

    def on_put(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        authorize(self.services, req)
        self.images.check_id(image_id)
        image_gate(self.services, req, image_id, PUSH)
        stream = req.bounded_stream

        def read(size: int) -> bytes:
            try:
                return stream.read(size)
            except (OSError, ValueError) as exc:
                # NOTE: a client gone mid-body (servers that stream it, unlike waitress):
                # the writer is cancelled, nothing is visible, the client may retry.
                raise Invalid(f"Layer upload interrupted: {exc}") from exc

        self.images.put_layer(image_id, request_body(stream, read))
        set_true(resp)


class ImageChecksumResource(_Base):
    """R7 ``PUT /v1/images/<id>/checksum``."""

    def on_put(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        authorize(self.services, req)
        self.images.check_id(image_id)
        image_gate(self.services, req, image_id, PUSH)
        self.images.put_checksum(
            image_id,
            req.get_header("X-Docker-Checksum-Payload"),
            req.get_header("X-Docker-Checksum"),
        )
        if self.services.diff_queue is not None:
            self.services.diff_queue.enqueue(image_id)  # spec R7 step 8
        set_true(resp)


class ImageAncestryResource(_Base):
    """R8 ``GET /v1/images/<id>/ancestry`` (no private gate, as in the seed)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        self._read_checks(req, image_id)
        if not_modified(req, resp):
            return
        set_raw_json(resp, self.images.get_ancestry(image_id))
        set_cache_headers(resp)

    on_head = on_get


class ImageFilesResource(_Base):
    """R9 ``GET /v1/images/<id>/files``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        request, grant = self._read_checks(req, image_id)
        if not_modified(req, resp):
            return
        private_gate(self.services, request, grant, image_id)
        set_raw_json(resp, self.images.files(image_id))
        set_cache_headers(resp)

    on_head = on_get


class ImageDiffResource(_Base):
    """R10 ``GET /v1/images/<id>/diff``: the stored ``_diff``, else the id is queued for
    a worker (see :mod:`..diff_queue`) and the answer is an empty body."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, image_id: str) -> None:
        request, grant = self._read_checks(req, image_id)
        if not_modified(req, resp):
            return
        if not diffs_enabled(self.services.registry.settings):
            raise Invalid("Diff queue is disabled")
        private_gate(self.services, request, grant, image_id)
        data = self.images.diff(image_id)
        if data is None:
            if not self.images.exists(image_id):
                raise NotFound(IMAGE_NOT_FOUND)
            if self.services.diff_queue is not None:
                self.services.diff_queue.enqueue(image_id)  # the client polls (R10)
            set_json(resp, None)
            resp.data = b""
            return
        set_raw_json(resp, data)
        set_cache_headers(resp)

    on_head = on_get
