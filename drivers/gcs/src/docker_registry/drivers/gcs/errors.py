"""Translate google-cloud-storage failures into the core's typed storage errors."""

from __future__ import annotations

import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth

from docker_registry.core.storage import PathNotFoundError, StorageError

from .settings import GCSSettings

CREDENTIALS_HINT = "check gcs_credentials_file or the application default credentials"


def translate(
    exc: BaseException, settings: GCSSettings, *, driver: str, operation: str, path: str
) -> StorageError:
    """Return the :class:`StorageError` an operator can act on for a GCS failure."""
    context = {"driver": driver, "operation": operation, "path": path}
    if isinstance(exc, StorageError):
        return exc.with_context(**context)
    if isinstance(exc, api.RetryError) and exc.cause is not None:
        # NOTE: the library retried (connection refused...) until its deadline: the last
        # failure says what is wrong.
        exc = exc.cause
    if isinstance(exc, api.NotFound):
        return PathNotFoundError(**context)
    if isinstance(exc, (api.Forbidden, api.Unauthorized)):
        return StorageError(
            f"access denied (HTTP {exc.code}): {CREDENTIALS_HINT} (the account needs "
            f"storage.objects.* on bucket '{settings.bucket}')",
            **context,
        )
    if isinstance(exc, auth.DefaultCredentialsError):
        return StorageError(f"no credentials: {CREDENTIALS_HINT}", **context)
    if isinstance(exc, auth.GoogleAuthError):
        return StorageError(f"authentication failed: {exc}; {CREDENTIALS_HINT}", **context)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return StorageError(f"cannot reach the GCS endpoint: {_first_line(exc)}", **context)
    if isinstance(exc, api.GoogleAPICallError):
        return StorageError(f"GCS error {exc.code}: {exc.message}", **context)
    return StorageError(f"{type(exc).__name__}: {exc}", **context)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
