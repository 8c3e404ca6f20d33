"""HTTP errors, and the one place where exceptions become JSON error responses.

Routes answer ``{"error": "<message>"}`` (the seed's shape) unless the API mounted at
their path prefix registered its own shape (``/v2`` registers the OCI ``{"errors": [...]}``
envelope, see :mod:`.v2.errors`). Framework errors (unknown path, wrong method) and
unhandled exceptions get the same JSON shapes, never HTML.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import falcon

from .storage import InvalidPathError, PathNotFoundError, StorageError, StorageFullError

log = logging.getLogger(__name__)

#: Full storage: RFC 4918's status, which clients report as a server-side failure.
INSUFFICIENT_STORAGE = 507


class RegistryError(falcon.HTTPError):
    """An error with a status, a message and (for v2) an OCI code and detail.

    :param status: HTTP status (``falcon.HTTP_404`` or an int).
    :param message: what the client did wrong or what failed, in one sentence.
    :param code: OCI error code (``BLOB_UNKNOWN``...); v1 ignores it.
    :param detail: extra structured information for the OCI ``detail`` field.
    :param headers: extra response headers.
    """

    def __init__(
        self,
        status: str | int,
        message: str,
        *,
        code: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, description=message, headers=headers)
        self.oci_code = code
        self.detail = detail


def error_message(req: falcon.Request, exc: falcon.HTTPError) -> str:
    """The human message of an error, with useful defaults for framework errors."""
    if isinstance(exc, falcon.HTTPRouteNotFound):
        return f"no such endpoint: {req.method} {req.path}"
    if isinstance(exc, falcon.HTTPMethodNotAllowed):
        return f"method {req.method} is not allowed on {req.path}"
    return exc.description or exc.title or "error"


#: Builds an error body from the error's message and the error itself.
ErrorBody = Callable[[str, falcon.HTTPError], dict[str, Any]]


def seed_error_body(message: str, exc: falcon.HTTPError) -> dict[str, Any]:
    """The seed's (v1's) error shape."""
    return {"error": message}


class ErrorSerializer:
    """Falcon error serializer: every error body is JSON, in the shape of the API whose
    path prefix the request is under (the seed's shape elsewhere)."""

    def __init__(self) -> None:
        self._shapes: list[tuple[str, ErrorBody]] = []

    def add_shape(self, prefix: str, body: ErrorBody) -> None:
        """Serialize errors of ``prefix`` (``/v2``: the path itself and all below it)."""
        self._shapes.append((prefix.rstrip("/"), body))

    def __call__(self, req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
        body = self._shape_of(req.path)(error_message(req, exc), exc)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = json.dumps(body, sort_keys=True).encode()

    def _shape_of(self, path: str) -> ErrorBody:
        for prefix, body in self._shapes:
            if path == prefix or path.startswith(prefix + "/"):
                return body
        return seed_error_body


def http_status(exc: falcon.HTTPError) -> int:
    """The numeric status of a Falcon error."""
    return int(str(exc.status).split(" ", 1)[0])


def _request_id(req: falcon.Request) -> str:
    return getattr(req.context, "request_id", "-")


def handle_storage_error(
    req: falcon.Request, resp: falcon.Response, exc: StorageError, params: dict[str, Any]
) -> None:
    """Storage failures the resource did not handle: 404, 400 or a JSON 503."""
    if isinstance(exc, PathNotFoundError):
        raise RegistryError(404, "not found", code="NOT_FOUND") from exc
    if isinstance(exc, InvalidPathError):
        raise RegistryError(
            400, f"invalid name or path: {exc.detail}", code="NAME_INVALID"
        ) from exc
    if isinstance(exc, StorageFullError):
        raise storage_full(req, str(exc)) from exc
    log.error("request %s: storage unavailable: %s", _request_id(req), exc)
    raise RegistryError(
        503,
        f"storage backend unavailable ({exc}); request id {_request_id(req)}",
        code="UNAVAILABLE",
        headers={"Retry-After": "5"},
    ) from exc


def storage_full(req: falcon.Request, cause: str) -> RegistryError:
    """The 507 for a write that found no room; ``cause`` names what is full and where.

    What the write had produced is already gone (spool file, staging file), and what was
    stored before is untouched: the same push succeeds once space is freed.
    """
    log.error("request %s: %s %s: storage full: %s", _request_id(req), req.method, req.path, cause)
    return RegistryError(
        INSUFFICIENT_STORAGE,
        f"insufficient storage: {cause}; nothing of this request was stored, retry once the "
        f"operator has freed space; request id {_request_id(req)}",
        code="UNAVAILABLE",
    )


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict[str, Any]
) -> None:
    """Any other exception: log it with the request id, answer a JSON 500."""
    if isinstance(exc, (falcon.HTTPError, falcon.HTTPStatus)):
        raise exc
    log.exception("request %s: unhandled error in %s %s", _request_id(req), req.method, req.path)
    raise RegistryError(
        500, f"internal error; request id {_request_id(req)}", code="UNKNOWN"
    ) from exc
