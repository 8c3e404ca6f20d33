"""Translate Glance and network failures into the core's typed storage errors."""

from __future__ import annotations

import requests

from docker_registry.core.storage import PathNotFoundError, StorageError

from .client import GlanceHTTPError


def translate(exc: BaseException, *, driver: str, operation: str, path: str) -> StorageError:
    """Return the :class:`StorageError` an operator can act on for a Glance failure.

    A missing image becomes :class:`PathNotFoundError`; refused credentials and an
    unreachable endpoint each get a sentence naming the keys to check.
    """
    context = {"driver": driver, "operation": operation, "path": path}
    if isinstance(exc, StorageError):
        return exc.with_context(**context)
    if isinstance(exc, GlanceHTTPError):
        if exc.status == 404:
            return PathNotFoundError(**context)
        if exc.status in (401, 403):
            return StorageError(
                f"Glance refused the credentials ({exc}): check glance_token, or os_auth_url, "
                "os_username, os_password, os_tenant_name (OS_* environment variables)",
                **context,
            )
        return StorageError(f"Glance error: {exc}", **context)
    if isinstance(exc, requests.RequestException):
        return StorageError(
            f"cannot reach Glance ({type(exc).__name__}: {exc}): check glance_endpoint "
            "(OS_GLANCE_URL) or the Keystone catalog, and that glance-api is running",
            **context,
        )
    return StorageError(f"{type(exc).__name__}: {exc}", **context)
