"""Blob and upload resources: ``/v2/<name>/blobs/<digest>`` and ``.../blobs/uploads/``."""

from __future__ import annotations

import re
from urllib.parse import quote

import falcon

from ...access.listing import may_mount_from
from ...bodies import request_body
from ...config import Settings
from ...download import bounded_body
from ...hookspecs import Event, EventDetails, EventKind
from ...inputs import MAX_NUMBER, excerpt, parse_number
from ...registry import Registry
from ..blobs import BlobStore, RemoteBlob
from ..digests import check_name, parse_digest
from ..errors import BlobUploadInvalid, DeleteDisabled, DigestInvalid, RangeInvalid, V2Error
from ..uploads import UploadStore, range_header

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
_CONTENT_RANGE = re.compile(r"(?:bytes )?([0-9]+)-([0-9]+)(?:/(?:[0-9]+|\*))?")


class RangeNotSatisfiable(V2Error):
    """A ``Range`` outside the blob (no OCI code fits better than SIZE_INVALID)."""

    status_code, error_code = 416, "SIZE_INVALID"


class BlobResource:
    """``GET``/``HEAD``/``DELETE /v2/<name>/blobs/<digest>``.

    :param registry: the running registry.
    :param blobs: the blob service (in proxy mode, the pull-through one: a blob it only
        has upstream comes back as a :class:`~..blobs.RemoteBlob`).
    """

    def __init__(self, registry: Registry, blobs: BlobStore) -> None:
        self.registry = registry
        self.settings: Settings = registry.settings
        self.blobs = blobs

    def _pulled(self, name: str, digest: str, size: int | None) -> None:
        details: EventDetails = {"kind": "blob"}
        if size is not None:
            details["size"] = size
        self.registry.emit(Event("pull", name, "v2", reference=digest, details=details))

    def on_head(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        blob = self.blobs.describe(name, parse_digest(arg))
        if blob.size is not None:
            resp.content_length = blob.size
        resp.content_type = "application/octet-stream"
        resp.set_header("Docker-Content-Digest", arg)
        if not isinstance(blob, RemoteBlob):
            resp.set_header("Accept-Ranges", "bytes")

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        digest = parse_digest(arg)
        blob = self.blobs.fetch(name, digest)
        if isinstance(blob, RemoteBlob):
            # NOTE: answered whole, whatever the Range (RFC 9110 allows it): the bytes
            # are stored as they pass, and the store needs every one.
            resp.stream = blob.body
            if blob.size is not None:
                resp.content_length = blob.size
            resp.content_type = "application/octet-stream"
            resp.set_header("Docker-Content-Digest", arg)
            resp.set_header("Accept-Ranges", "bytes")
            self._pulled(name, arg, blob.size)
            return
        if self.settings.storage_redirect:
            url = self.blobs.redirect_url(digest, "GET")
            if url:
                resp.status = falcon.HTTP_307
                resp.location = url
                resp.set_header("Docker-Content-Digest", arg)
                self._pulled(name, arg, blob.size)
                return
        requested = req.get_header("Range")
        size = blob.size
        start, end = 0, size - 1
        if requested:
            start, end = _byte_range(requested, size)
            resp.status = falcon.HTTP_206
            resp.set_header("Content-Range", f"bytes {start}-{end}/{size}")
        length = end - start + 1
        resp.stream = bounded_body(self.blobs.reader(blob, start, length), length)
        resp.content_length = end - start + 1
        resp.content_type = "application/octet-stream"
        resp.set_header("Docker-Content-Digest", arg)
        resp.set_header("Accept-Ranges", "bytes")
        resp.set_header("ETag", f'"{arg}"')
        resp.set_header("Cache-Control", "max-age=31536000")
        self._pulled(name, arg, size)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        if not self.settings.delete_enabled:
            raise DeleteDisabled("deletes are disabled (delete_enabled: false)")
        digest = parse_digest(arg)
        self.blobs.unlink(name, digest)
        resp.status = falcon.HTTP_202
        resp.content_length = 0
        self.registry.emit(Event("delete", name, "v2", reference=arg, details={"kind": "blob"}))


class UploadResource:
    """``POST .../blobs/uploads/`` and ``PATCH``/``PUT``/``GET``/``DELETE .../uploads/<id>``.

    :param registry: the running registry.
    :param blobs: the blob service (mounts).
    :param uploads: the upload service.
    """

    def __init__(self, registry: Registry, blobs: BlobStore, uploads: UploadStore) -> None:
        self.registry = registry
        self.blobs = blobs
        self.uploads = uploads

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        if arg:
            raise falcon.HTTPMethodNotAllowed(["GET", "PATCH", "PUT", "DELETE"])
        mount = req.get_param("mount")
        if mount:
            digest = parse_digest(mount)
            source = req.get_param("from")
            if source is not None:
                check_name(source)
            # NOTE: a mount the caller may not make falls back to an upload (202), as
            # in distribution: clients try mounts optimistically.
            if may_mount_from(req, source) and self.blobs.mount(name, digest, source):
                self._created(resp, name, str(digest), mounted_from=source or "")
                return
        wanted = req.get_param("digest")
        if wanted is not None:
            digest = parse_digest(wanted)
            size = self.uploads.put_monolithic(
                name, digest, request_body(req.stream), req.content_length
            )
            self._created(resp, name, wanted, size)
            return
        upload_id, state = self.uploads.start(name)
        self._in_progress(resp, name, upload_id, state, 0)

    def on_patch(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        self._need_id(arg)
        state = req.get_param("_state")
        start = None
        length = req.content_length
        declared = req.get_header("Content-Range")
        if declared:
            declared_range = _content_range(declared)
            if declared_range is None:
                raise BlobUploadInvalid(f"malformed Content-Range {excerpt(declared)}")
            start, end = declared_range
            if end < start or (length is not None and end - start + 1 != length):
                raise _range_error(
                    self.uploads.offset(name, arg, state),
                    name,
                    arg,
                    state,
                    f"Content-Range {declared} does not match the body",
                )
        try:
            body = request_body(req.stream)
            offset = self.uploads.append(name, arg, state, body, start=start, length=length)
        except RangeInvalid as exc:
            offset = self.uploads.offset(name, arg, state)
            raise _range_error(offset, name, arg, state, exc.description) from None
        self._in_progress(resp, name, arg, state, offset)

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        self._need_id(arg)
        state = req.get_param("_state")
        wanted = req.get_param("digest")
        if not wanted:
            raise DigestInvalid("the digest query parameter is required to finish an upload")
        digest = parse_digest(wanted)
        length = req.content_length
        body = None if length == 0 else request_body(req.stream)
        declared = req.get_header("Content-Range")
        if declared and body is not None:
            declared_range = _content_range(declared)
            offset = self.uploads.offset(name, arg, state)
            if declared_range is None or declared_range[0] != offset:
                raise _range_error(
                    offset, name, arg, state, f"Content-Range {excerpt(declared)} is not next"
                )
        size = self.uploads.finish(name, arg, state, digest, body, length)
        self._created(resp, name, wanted, size)

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        self._need_id(arg)
        state = req.get_param("_state")
        offset = self.uploads.offset(name, arg, state)
        self._in_progress(resp, name, arg, state, offset)
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        self._need_id(arg)
        self.uploads.cancel(name, arg, req.get_param("_state"))
        resp.status = falcon.HTTP_204

    # -- responses ---------------------------------------------------------------------

    def _need_id(self, arg: str) -> None:
        if not arg:
            raise falcon.HTTPMethodNotAllowed(["POST"])

    def _in_progress(
        self, resp: falcon.Response, name: str, upload_id: str, state: str | None, offset: int
    ) -> None:
        resp.status = falcon.HTTP_202
        resp.set_headers(_location(name, upload_id, state))
        resp.set_header("Range", range_header(offset))
        resp.content_length = 0

    def _created(
        self,
        resp: falcon.Response,
        name: str,
        digest: str,
        size: int | None = None,
        *,
        mounted_from: str | None = None,
    ) -> None:
        resp.status = falcon.HTTP_201
        resp.location = f"/v2/{name}/blobs/{digest}"
        resp.set_header("Docker-Content-Digest", digest)
        resp.content_length = 0
        details: EventDetails = {"kind": "blob"}
        if size is not None:
            details["size"] = size
        if mounted_from:
            details["from"] = mounted_from
        kind: EventKind = "push" if mounted_from is None else "mount"
        self.registry.emit(Event(kind, name, "v2", reference=digest, details=details))


def _location(name: str, upload_id: str, state: str | None) -> dict[str, str]:
    """``Location`` (with the state token when there is one) and ``Docker-Upload-UUID``."""
    query = f"?_state={quote(state, safe='')}" if state else ""
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}{query}",
        "Docker-Upload-UUID": upload_id,
    }


def _range_error(
    offset: int, name: str, upload_id: str, state: str | None, message: str | None
) -> V2Error:
    return RangeInvalid(
        message or "chunk out of order",
        headers={"Range": range_header(offset), **_location(name, upload_id, state)},
    )


def _content_range(header: str) -> tuple[int, int] | None:
    """``(start, end)`` of a chunk's ``Content-Range: [bytes ]a-b[/size]``; ``None`` when
    malformed or a number is past :data:`MAX_NUMBER`."""
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        return None
    start, end = parse_number(match[1]), parse_number(match[2])
    if start is None or end is None:
        return None
    return start, end


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """``(start, end)`` inclusive of a ``Range: bytes=a-b`` header, clipped to ``size``.

    :raises RangeNotSatisfiable: malformed, a number past :data:`MAX_NUMBER` (as the Go
        registry), or outside the blob.
    """
    match = _RANGE.fullmatch(header.strip())
    if match is None or (not match[1] and not match[2]):
        raise _unsatisfiable(f"unsupported Range {excerpt(header)}", size)
    first = parse_number(match[1]) if match[1] else None
    last = parse_number(match[2]) if match[2] else None
    if (match[1] and first is None) or (match[2] and last is None):
        raise _unsatisfiable(f"Range {excerpt(header)} has a number past {MAX_NUMBER}", size)
    if first is None:
        start, end = max(size - (last or 0), 0), size - 1
    else:
        start = first
        end = size - 1 if last is None else min(last, size - 1)
    if start >= size or end < start:
        raise _unsatisfiable(f"Range {excerpt(header)} is outside the blob of {size} bytes", size)
    return start, end


def _unsatisfiable(message: str, size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(message, headers={"Content-Range": f"bytes */{size}"})
