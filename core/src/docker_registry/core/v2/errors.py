"""v2 errors, one class per OCI error code, named after the code."""

from __future__ import annotations

from typing import Any

import falcon

from ..http_errors import RegistryError, http_status

#: OCI error code used when an error does not carry one, by HTTP status.
DEFAULT_CODES = {
    400: "UNSUPPORTED",
    401: "UNAUTHORIZED",
    403: "DENIED",
    404: "NOT_FOUND",
    405: "UNSUPPORTED",
    413: "SIZE_INVALID",
    416: "BLOB_UPLOAD_INVALID",
    429: "TOOMANYREQUESTS",
    500: "UNKNOWN",
    503: "UNAVAILABLE",
    507: "UNAVAILABLE",
}


def oci_error_body(message: str, exc: falcon.HTTPError) -> dict[str, Any]:
    """The OCI error envelope ``{"errors": [{"code", "message", "detail"}]}`` of any error
    under ``/v2`` (framework errors and other APIs' errors get a code by status)."""
    code = getattr(exc, "oci_code", None) or DEFAULT_CODES.get(http_status(exc), "UNKNOWN")
    entry: dict[str, Any] = {"code": code, "message": message}
    detail = getattr(exc, "detail", None)
    if detail is not None:
        entry["detail"] = detail
    return {"errors": [entry]}


class V2Error(RegistryError):
    """Base of the v2 errors: subclasses fix the status and the OCI code."""

    status_code = 400
    error_code = "UNKNOWN"

    def __init__(
        self, message: str, *, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(
            self.status_code, message, code=self.error_code, detail=detail, headers=headers
        )


class BlobUnknown(V2Error):
    status_code, error_code = 404, "BLOB_UNKNOWN"


class BlobUploadUnknown(V2Error):
    status_code, error_code = 404, "BLOB_UPLOAD_UNKNOWN"


class BlobUploadInvalid(V2Error):
    status_code, error_code = 400, "BLOB_UPLOAD_INVALID"


class RangeInvalid(V2Error):
    """A chunk that does not start at the upload's offset (416)."""

    status_code, error_code = 416, "BLOB_UPLOAD_INVALID"


class DigestInvalid(V2Error):
    status_code, error_code = 400, "DIGEST_INVALID"


class ManifestBlobUnknown(V2Error):
    status_code, error_code = 400, "MANIFEST_BLOB_UNKNOWN"


class ManifestInvalid(V2Error):
    status_code, error_code = 400, "MANIFEST_INVALID"


class ManifestTooLarge(V2Error):
    status_code, error_code = 413, "MANIFEST_INVALID"


class ManifestUnknown(V2Error):
    status_code, error_code = 404, "MANIFEST_UNKNOWN"


class NameInvalid(V2Error):
    status_code, error_code = 400, "NAME_INVALID"


class NameUnknown(V2Error):
    status_code, error_code = 404, "NAME_UNKNOWN"


class SizeInvalid(V2Error):
    status_code, error_code = 400, "SIZE_INVALID"


class TagInvalid(V2Error):
    status_code, error_code = 400, "TAG_INVALID"


class Unsupported(V2Error):
    status_code, error_code = 400, "UNSUPPORTED"


class DeleteDisabled(V2Error):
    """Deletes are off (``delete_enabled: false``)."""

    status_code, error_code = 405, "UNSUPPORTED"


class PaginationInvalid(V2Error):
    status_code, error_code = 400, "PAGINATION_NUMBER_INVALID"


class BadGateway(V2Error):
    """Proxy mode: the upstream failed (unreachable, a 5xx, content that does not verify)."""

    status_code, error_code = 502, "UNAVAILABLE"


class GatewayTimeout(V2Error):
    """Proxy mode: the upstream did not answer within ``mirroring.timeout``."""

    status_code, error_code = 504, "UNAVAILABLE"
