"""Translate azure-core failures into the core's typed storage errors."""

from __future__ import annotations

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from docker_registry.core.storage import PathNotFoundError, StorageError

from .settings import AzureSettings

#: Service error codes of a missing container (as opposed to a missing blob).
CONTAINER_MISSING = frozenset({"ContainerNotFound"})


def error_code(exc: BaseException) -> str:
    """The storage service's error code of ``exc`` (``BlobNotFound``...), or ``""``."""
    code = getattr(exc, "error_code", None)
    # NOTE: the SDK gives a StorageErrorCode enum for codes it knows, a str otherwise.
    return str(getattr(code, "value", code) or "")


def translate(
    exc: BaseException, settings: AzureSettings, *, driver: str, operation: str, path: str
) -> StorageError:
    """Return the :class:`StorageError` an operator can act on for an Azure failure."""
    context = {"driver": driver, "operation": operation, "path": path}
    if isinstance(exc, StorageError):
        return exc.with_context(**context)
    code = error_code(exc)
    if code in CONTAINER_MISSING:
        return StorageError(
            f"container '{settings.container}' does not exist (check azure_storage_container)",
            **context,
        )
    if operation == "read" and (
        code == "ConditionNotMet" or isinstance(exc, ResourceNotFoundError)
    ):
        # NOTE: the SDK pins a download's later chunks to the ETag of its first: the blob
        # was replaced or deleted under an open reader (which never mixes versions).
        return StorageError(
            "the blob was overwritten or deleted while being read; read it again", **context
        )
    if isinstance(exc, ResourceNotFoundError):
        return PathNotFoundError(**context)
    if isinstance(exc, ClientAuthenticationError) or (
        isinstance(exc, HttpResponseError) and exc.status_code == 403
    ):
        return StorageError(
            f"access denied ({code or 'HTTP 403'}): check azure_storage_account_name/"
            "azure_storage_account_key (or azure_connection_string)",
            **context,
        )
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StorageError(f"cannot reach the Azure Blob endpoint: {first_line}", **context)
    if isinstance(exc, HttpResponseError):
        reason = exc.reason or ""
        return StorageError(f"Azure error {code or exc.status_code} {reason}".strip(), **context)
    if isinstance(exc, AzureError):
        return StorageError(f"Azure request failed: {exc}", **context)
    return StorageError(f"{type(exc).__name__}: {exc}", **context)
