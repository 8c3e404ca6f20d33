"""Turn the seed's S3 and OSS configuration keys into one boto3 connection recipe.

The seed configured boto 2 (``boto_host``, ``boto_port``, ``boto_calling_format``...);
boto3 wants an endpoint URL, an addressing style and a ``botocore.config.Config``. Every
decision about the mapping lives here so that ``config check`` (through
``validate_options``) and the driver's constructor agree.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from docker_registry.core.config.errors import ConfigError
from docker_registry.core.storage.pieces import DEFAULT_IN_FLIGHT, read_pieces

MIB = 1024 * 1024
#: S3 refuses parts smaller than this (except the last one of an upload).
MIN_PART_SIZE = 5 * MIB
#: S3 refuses parts (and single-request copies) larger than this.
MAX_PART_SIZE = 5 * 1024 * MIB
DEFAULT_PART_SIZE = 16 * MIB

#: ``boto_calling_format`` values (boto 2 class paths or plain words) -> addressing style.
_CALLING_FORMATS = {
    "ordinarycallingformat": "path",
    "protocolindependentordinarycallingformat": "path",
    "subdomaincallingformat": "virtual",
    "vhostcallingformat": "virtual",
    "path": "path",
    "virtual": "virtual",
    "auto": "auto",
}


@dataclass(frozen=True)
class S3Settings:
    """Everything the driver needs to build its boto3 client, already validated.

    :param bucket: the bucket holding the registry.
    :param prefix: key prefix derived from ``storage_path``: ``""`` or ``"a/b/"``.
    :param endpoint_url: ``None`` for AWS's own endpoints.
    :param addressing_style: ``path``, ``virtual`` or ``auto``.
    :param signature_version: ``s3v4`` or the legacy ``s3`` (SigV2).
    :param read_pieces: ``(bytes per ranged GET, pieces in flight)`` of large downloads
        (``0`` bytes: one GET).
    :param credential_keys: the configuration keys to name in "access denied" errors.
    :param bucket_keys: the configuration keys to name in "bucket missing" errors.
    """

    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    addressing_style: str = "auto"
    signature_version: str = "s3v4"
    encrypt: bool = False
    part_size: int = DEFAULT_PART_SIZE
    read_pieces: tuple[int, int] = (0, DEFAULT_IN_FLIGHT)
    proxies: Mapping[str, str] = field(default_factory=dict)
    debug: bool = False
    credential_keys: str = "s3_access_key/s3_secret_key"
    bucket_keys: str = "boto_bucket/s3_bucket"


def key_prefix(storage_path: str | None) -> str:
    """The key prefix for ``storage_path``: no leading slash, one trailing slash.

    ``/registry``, ``registry``, ``/registry/`` and ``registry//`` all give ``registry/``;
    ``/``, ``""`` and ``None`` give ``""`` (the bucket's root). The seed stripped the
    root by length and mangled names when the leading ``/`` was missing (issue #246).
    """
    parts = [part for part in (storage_path or "").split("/") if part]
    for part in parts:
        if part in (".", ".."):
            raise ConfigError("must not contain '.' or '..' components", key="storage_path")
    return "/".join(parts) + "/" if parts else ""


def _addressing_style(calling_format: str | None) -> str:
    if not calling_format:
        return "auto"
    name = calling_format.strip().rsplit(".", 1)[-1].lower()
    try:
        return _CALLING_FORMATS[name]
    except KeyError:
        raise ConfigError(
            f"unknown calling format {calling_format!r}: use "
            "boto.s3.connection.OrdinaryCallingFormat (path-style URLs), "
            "SubdomainCallingFormat (virtual-hosted), or 'path' / 'virtual' / 'auto'",
            key="boto_calling_format",
        ) from None


def _check_endpoint(url: str, key: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"expected an http(s) URL such as https://s3.example.com, got {url!r}", key=key
        )
    return url.rstrip("/")


def _part_size(value: int | None) -> int:
    size = DEFAULT_PART_SIZE if value is None else value
    if not MIN_PART_SIZE <= size <= MAX_PART_SIZE:
        raise ConfigError(
            f"must be between {MIN_PART_SIZE} (5 MiB, the S3 minimum) and {MAX_PART_SIZE} "
            f"(5 GiB) bytes, got {size}",
            key="s3_part_size",
        )
    return size


def _proxies(values: Mapping[str, Any], scheme: str) -> dict[str, str]:
    host = values.get("boto_proxy")
    if not host:
        return {}
    credentials = ""
    if values.get("boto_proxy_user"):
        user = urllib.parse.quote(values["boto_proxy_user"], safe="")
        password = urllib.parse.quote(values.get("boto_proxy_pass") or "", safe="")
        credentials = f"{user}:{password}@"
    port = f":{values['boto_proxy_port']}" if values.get("boto_proxy_port") else ""
    proxy = host if "://" in host else f"http://{credentials}{host}{port}"
    return {scheme: proxy}


def with_defaults(options: Iterable[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each declared option's default where the value is missing or null.

    The core's factory already applies defaults; this covers drivers built directly.
    """
    merged = {option.name: option.default for option in options}
    merged.update({name: value for name, value in values.items() if value is not None})
    return merged


def s3_settings(values: Mapping[str, Any]) -> S3Settings:
    """Build the settings of the ``s3`` driver from its resolved option values.

    Precedence, decided once for every flavor of the seed:

    - bucket: ``boto_bucket`` (what 0.9.1 really read), else ``s3_bucket``;
    - endpoint: ``s3_endpoint_url``, else ``boto_host`` (+ ``boto_port``, scheme from
      ``s3_secure``), else AWS's endpoint for ``s3_region``.

    :raises ConfigError: naming the first key that cannot work.
    """
    bucket = values.get("boto_bucket") or values.get("s3_bucket")
    if not bucket:
        raise ConfigError(
            "the 's3' storage driver needs a bucket: set boto_bucket or s3_bucket",
            key="s3_bucket",
        )
    secure = values.get("s3_secure") is not False
    scheme = "https" if secure else "http"
    endpoint = None
    if values.get("s3_endpoint_url"):
        endpoint = _check_endpoint(values["s3_endpoint_url"], "s3_endpoint_url")
    elif values.get("boto_host"):
        host = values["boto_host"].strip()
        if "://" in host or "/" in host:
            raise ConfigError(
                "expected a host name (use s3_endpoint_url for a full URL)", key="boto_host"
            )
        port = values.get("boto_port")
        endpoint = f"{scheme}://{host}" + (f":{port}" if port else "")
    elif values.get("boto_port"):
        raise ConfigError("boto_port needs boto_host", key="boto_port")
    use_sigv4 = values.get("s3_use_sigv4")
    return S3Settings(
        bucket=bucket,
        prefix=key_prefix(values.get("storage_path")),
        region=values.get("s3_region") or None,
        endpoint_url=endpoint,
        access_key=values.get("s3_access_key") or None,
        secret_key=values.get("s3_secret_key") or None,
        addressing_style=_addressing_style(values.get("boto_calling_format")),
        # NOTE: boto3 signs with SigV4 by default; only an explicit false asks for the
        # legacy SigV2 that old Ceph RGW and some S3 clones still need.
        signature_version="s3" if use_sigv4 is False else "s3v4",
        encrypt=bool(values.get("s3_encrypt")),
        part_size=_part_size(values.get("s3_part_size")),
        read_pieces=read_pieces(values, "s3_read_piece_size", "s3_read_pieces"),
        proxies=_proxies(values, scheme),
        debug=bool(values.get("boto_debug")),
    )


def _is_ip_or_localhost(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def oss_settings(values: Mapping[str, Any]) -> S3Settings:
    """Build the settings of the ``oss`` driver (Aliyun OSS through its S3 API).

    ``oss_host`` is a host (``oss-cn-hangzhou.aliyuncs.com``, HTTPS) or a full URL. OSS
    wants virtual-hosted addressing; an IP address or ``localhost`` (an emulator) gets
    path-style URLs. The region is the host's first label when it reads ``oss-<region>``.

    :raises ConfigError: naming the first key that cannot work.
    """
    bucket = values.get("oss_bucket")
    if not bucket:
        raise ConfigError("the 'oss' storage driver needs a bucket", key="oss_bucket")
    host = (values.get("oss_host") or "oss.aliyuncs.com").strip()
    endpoint = _check_endpoint(host if "://" in host else f"https://{host}", "oss_host")
    hostname = urllib.parse.urlsplit(endpoint).hostname or ""
    first_label = hostname.split(".", 1)[0]
    region = first_label if first_label.startswith("oss-") else "oss-cn-hangzhou"
    return S3Settings(
        bucket=bucket,
        prefix=key_prefix(values.get("storage_path")),
        region=region,
        endpoint_url=endpoint,
        access_key=values.get("oss_accessid") or None,
        secret_key=values.get("oss_accesskey") or None,
        addressing_style="path" if _is_ip_or_localhost(hostname) else "virtual",
        part_size=_part_size(values.get("s3_part_size")),
        read_pieces=read_pieces(values, "s3_read_piece_size", "s3_read_pieces"),
        credential_keys="oss_accessid/oss_accesskey",
        bucket_keys="oss_bucket",
    )
