"""Turn the seed's ``gcs`` keys into google-cloud-storage client settings.

The seed reached GCS through boto 2's XML interoperability API with HMAC keys
(``gs_access_key``/``gs_secret_key``) or OAuth2 user credentials (``oauth2: true``).
google-cloud-storage speaks the JSON API, which takes OAuth2 credentials only: a service
account JSON file (``gcs_credentials_file``) or application default credentials.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage import DriverOption

MIB = 1024 * 1024
#: Resumable upload chunks must be multiples of this (except the last one).
CHUNK_QUANTUM = 256 * 1024
DEFAULT_CHUNK_SIZE = 16 * MIB

HMAC_MESSAGE = (
    "HMAC keys (gs_access_key/gs_secret_key) cannot be used by google-cloud-storage: remove "
    "them and set gcs_credentials_file (service-account JSON) or use application default "
    "credentials, or keep the HMAC keys with 'storage: s3' and "
    "s3_endpoint_url: https://storage.googleapis.com (GCS's S3 interoperability)"
)


#: The keys the driver declares: the seed's, then this driver's own.
GCS_OPTIONS: tuple[DriverOption, ...] = (
    DriverOption("boto_bucket", str, help="bucket holding the registry (the seed's key)"),
    DriverOption("gcs_bucket", str, help="bucket (wins over boto_bucket)"),
    DriverOption("gcs_credentials_file", str, help="service-account JSON key file"),
    DriverOption("gcs_project", str, help="project of the bucket (for the client)"),
    DriverOption("gcs_endpoint_url", str, help="emulator/private endpoint URL"),
    DriverOption("gcs_chunk_size", int, default=DEFAULT_CHUNK_SIZE, help="resumable chunk bytes"),
    DriverOption("gs_secure", bool, default=True, help="true only: the JSON API is HTTPS"),
    DriverOption("gs_access_key", str, help="seed's HMAC key: refused, see the docs"),
    DriverOption("gs_secret_key", str, secret=True, help="seed's HMAC secret: refused"),
    DriverOption("oauth2", bool, default=False, help="no effect: OAuth2 is always used"),
    DriverOption("storage_path", str, default="/registry", help="object name prefix"),
)


@dataclass(frozen=True)
class GCSSettings:
    """What the driver needs to build its clients, already validated.

    :param prefix: object name prefix from ``storage_path``: ``""`` or ``"a/b/"``.
    :param endpoint_url: an emulator or private endpoint; ``None`` for Google's.
    :param credentials_file: service-account JSON; with an endpoint it only signs URLs.
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    credentials_file: str | None = None
    project: str | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE


def object_prefix(storage_path: str | None) -> str:
    """The object name prefix for ``storage_path``: no leading slash, one trailing slash."""
    parts = [part for part in (storage_path or "").split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ConfigError("must not contain '.' or '..' components", key="storage_path")
    return "/".join(parts) + "/" if parts else ""


def with_defaults(options: Iterable[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each declared option's default where the value is missing or null.

    The core's factory already applies defaults; this covers drivers built directly.
    """
    merged = {option.name: option.default for option in options}
    merged.update({name: value for name, value in values.items() if value is not None})
    return merged


def gcs_settings(values: Mapping[str, Any]) -> GCSSettings:
    """Build the settings from resolved option values.

    The endpoint is ``gcs_endpoint_url``, else the ``STORAGE_EMULATOR_HOST`` environment
    variable (google-cloud-storage's own convention), else Google's.

    :raises ConfigError: naming the first key that cannot work (HMAC keys included).
    """
    if values.get("gs_access_key") or values.get("gs_secret_key"):
        key = "gs_access_key" if values.get("gs_access_key") else "gs_secret_key"
        raise ConfigError(HMAC_MESSAGE, key=key)
    if values.get("gs_secure") is False:
        raise ConfigError(
            "google-cloud-storage talks HTTPS only: remove gs_secure (an emulator over plain "
            "HTTP is reached with gcs_endpoint_url)",
            key="gs_secure",
        )
    bucket = values.get("gcs_bucket") or values.get("boto_bucket")
    if not bucket:
        raise ConfigError(
            "the 'gcs' storage driver needs a bucket: set boto_bucket or gcs_bucket",
            key="boto_bucket",
        )
    chunk_size = values.get("gcs_chunk_size") or DEFAULT_CHUNK_SIZE
    if chunk_size < CHUNK_QUANTUM or chunk_size % CHUNK_QUANTUM:
        raise ConfigError(
            f"must be a positive multiple of {CHUNK_QUANTUM} (256 KiB), got {chunk_size}",
            key="gcs_chunk_size",
        )
    endpoint = values.get("gcs_endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST")
    if endpoint:
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"expected an http(s) URL, got {endpoint!r}", key="gcs_endpoint_url")
        endpoint = endpoint.rstrip("/")
    credentials_file = values.get("gcs_credentials_file")
    if credentials_file and not os.path.isfile(credentials_file):
        raise ConfigError(f"no such file: {credentials_file}", key="gcs_credentials_file")
    return GCSSettings(
        bucket=bucket,
        prefix=object_prefix(values.get("storage_path")),
        endpoint_url=endpoint or None,
        credentials_file=credentials_file or None,
        project=values.get("gcs_project") or None,
        chunk_size=chunk_size,
    )
