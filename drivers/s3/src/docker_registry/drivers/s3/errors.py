"""Translate botocore failures into the core's typed storage errors."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from docker_registry.core.storage import PathNotFoundError, StorageError

from .settings import S3Settings

#: Error codes that mean "no object under this key".
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
#: Error codes that mean the credentials (or the policy) do not allow the call.
DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
)


def error_code(exc: ClientError) -> str:
    """The S3 error code of ``exc`` (``NoSuchKey``, ``404``...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_not_found(exc: BaseException) -> bool:
    """True when ``exc`` says the key does not exist (not the bucket)."""
    return isinstance(exc, ClientError) and error_code(exc) in NOT_FOUND_CODES


def translate(
    exc: BaseException, settings: S3Settings, *, driver: str, operation: str, path: str
) -> StorageError:
    """Return the :class:`StorageError` an operator can act on for a botocore failure.

    A missing key becomes :class:`PathNotFoundError`; a missing bucket, refused
    credentials and an unreachable endpoint each get a sentence naming the keys to fix.
    """
    context = {"driver": driver, "operation": operation, "path": path}
    if isinstance(exc, StorageError):
        return exc.with_context(**context)
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        if code in NOT_FOUND_CODES:
            return PathNotFoundError(**context)
        if code == "NoSuchBucket":
            return StorageError(
                f"bucket '{settings.bucket}' does not exist (create it, or check "
                f"{settings.bucket_keys})",
                **context,
            )
        if code in DENIED_CODES:
            return StorageError(
                f"access denied ({code}): check {settings.credential_keys} and the policy "
                f"of bucket '{settings.bucket}'",
                **context,
            )
        return StorageError(f"S3 error {code}: {message}", **context)
    if isinstance(exc, NoCredentialsError):
        return StorageError(
            f"no credentials: set {settings.credential_keys} (or the AWS_* environment)",
            **context,
        )
    if isinstance(exc, EndpointConnectionError):
        return StorageError(f"cannot reach the S3 endpoint: {exc}", **context)
    if isinstance(exc, BotoCoreError):
        return StorageError(f"S3 request failed: {exc}", **context)
    return StorageError(f"{type(exc).__name__}: {exc}", **context)
