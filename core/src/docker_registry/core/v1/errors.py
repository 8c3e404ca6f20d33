"""Domain errors of the v1 services; :mod:`.resources.common` maps them to HTTP.

Services raise these with the seed's exact messages (spec §2.6); they know nothing of
HTTP, but each class names the status the seed answered with, in one table.
"""

from __future__ import annotations


class V1Error(Exception):
    """A request the v1 API refuses; ``message`` is the seed's ``{"error": ...}`` text."""

    status = 400

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class Invalid(V1Error):
    """Malformed input: bad JSON, wrong id, unknown parent, checksum mismatch (400)."""

    status = 400


class Unauthorized(V1Error):
    """No valid credentials for this request (401, ``WWW-Authenticate: Token``)."""

    status = 401


class NotFound(V1Error):
    """The image, tag or repository does not exist, or the id format is wrong (404)."""

    status = 404


class NoUpstreamMetadata(NotFound):
    """The mirror's upstream has no repository JSON either: answered 404 with the default
    metadata, as the seed's mirror did."""


class Conflict(V1Error):
    """The image is already complete (409)."""

    status = 409


class PreconditionFailed(V1Error):
    """A required header is missing (412)."""

    status = 412


class TooLarge(V1Error):
    """A JSON body exceeds ``max_json_body_size`` (413)."""

    status = 413


class RangeNotSatisfiable(V1Error):
    """The requested byte range lies outside the layer (416)."""

    status = 416


class BadGateway(V1Error):
    """The mirror's upstream failed: unreachable, a 5xx, or an invalid answer (502)."""

    status = 502


class Busy(V1Error):
    """Another process held the image's lock for longer than a request may wait (503)."""

    status = 503


class GatewayTimeout(V1Error):
    """The mirror's upstream did not answer within ``mirroring.timeout`` (504)."""

    status = 504


IMAGE_NOT_FOUND = "Image not found"
IN_PROGRESS = "Image is being uploaded, retry later"
ALREADY_EXISTS = "Image already exists"
INVALID_IMAGE_ID = "Invalid image ID"
INVALID_DATA = "Invalid data"
