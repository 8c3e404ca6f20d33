"""Turn the seed's ``azureblob`` keys (plus a connection string) into client settings."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from docker_registry.core.config.errors import ConfigError

MIB = 1024 * 1024
DEFAULT_BLOCK_SIZE = 16 * MIB
#: The service refuses larger blocks.
MAX_BLOCK_SIZE = 4000 * MIB


@dataclass(frozen=True)
class AzureSettings:
    """What the driver needs to build its clients, already validated.

    Exactly one of ``connection_string`` and ``account_url`` is set.

    :param prefix: blob name prefix from ``storage_path``: ``""`` or ``"a/b/"``.
    :param account_key: the shared key, when known (needed to sign redirect URLs).
    """

    container: str
    prefix: str = ""
    connection_string: str | None = None
    account_url: str | None = None
    account_name: str | None = None
    account_key: str | None = None
    block_size: int = DEFAULT_BLOCK_SIZE


def blob_prefix(storage_path: str | None) -> str:
    """The blob name prefix for ``storage_path``: no leading slash, one trailing slash."""
    parts = [part for part in (storage_path or "").split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ConfigError("must not contain '.' or '..' components", key="storage_path")
    return "/".join(parts) + "/" if parts else ""


def _connection_string_fields(value: str) -> dict[str, str]:
    fields = {}
    for item in value.split(";"):
        name, sep, content = item.partition("=")
        if sep:
            fields[name.strip().lower()] = content.strip()
    return fields


def with_defaults(options: Iterable[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each declared option's default where the value is missing or null.

    The core's factory already applies defaults; this covers drivers built directly.
    """
    merged = {option.name: option.default for option in options}
    merged.update({name: value for name, value in values.items() if value is not None})
    return merged


def azure_settings(values: Mapping[str, Any]) -> AzureSettings:
    """Build the settings from resolved option values.

    ``azure_connection_string`` wins over the account name and key; the endpoint is
    ``azure_endpoint_url`` if set (Azurite, sovereign clouds), else
    ``http(s)://<account>.blob.core.windows.net`` (scheme from ``azure_use_https``).

    :raises ConfigError: naming the first key that cannot work.
    """
    container = values.get("azure_storage_container") or "registry"
    block_size = values.get("azure_block_size") or DEFAULT_BLOCK_SIZE
    if not MIB <= block_size <= MAX_BLOCK_SIZE:
        raise ConfigError(
            f"must be between {MIB} (1 MiB) and {MAX_BLOCK_SIZE} bytes, got {block_size}",
            key="azure_block_size",
        )
    prefix = blob_prefix(values.get("storage_path"))
    connection_string = values.get("azure_connection_string")
    if connection_string:
        fields = _connection_string_fields(connection_string)
        if "accountname" not in fields and "blobendpoint" not in fields:
            raise ConfigError(
                "not an Azure Storage connection string (no AccountName or BlobEndpoint)",
                key="azure_connection_string",
            )
        return AzureSettings(
            container=container,
            prefix=prefix,
            connection_string=connection_string,
            account_name=fields.get("accountname"),
            account_key=fields.get("accountkey"),
            block_size=block_size,
        )
    account = values.get("azure_storage_account_name")
    if not account:
        raise ConfigError(
            "the 'azure' storage driver needs azure_storage_account_name (and "
            "azure_storage_account_key), or azure_connection_string",
            key="azure_storage_account_name",
        )
    endpoint = values.get("azure_endpoint_url")
    if endpoint:
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(
                f"expected an http(s) URL, got {endpoint!r}", key="azure_endpoint_url"
            )
        account_url = endpoint.rstrip("/")
    else:
        scheme = "http" if values.get("azure_use_https") is False else "https"
        account_url = f"{scheme}://{account}.blob.core.windows.net"
    return AzureSettings(
        container=container,
        prefix=prefix,
        account_url=account_url,
        account_name=account,
        account_key=values.get("azure_storage_account_key") or None,
        block_size=block_size,
    )
