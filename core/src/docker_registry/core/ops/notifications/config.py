"""The ``notifications`` section: where events go, and how hard to try.

::

    notifications:
      queue_path: /var/lib/registry/notifications   # default: see default_queue_path
      queue_max_events: 10000                       # per endpoint; oldest dropped beyond
      source_addr: registry-1.example.com:5000      # default: this host's name
      endpoints:
        - name: audit
          url: https://hooks.example.com/registry
          headers: {Authorization: [Bearer s3cr3t]}
          timeout: 5          # seconds per POST
          backoff: 1          # seconds before the first retry, doubled each time
          max_backoff: 60     # the longest wait between retries
          retries: null       # attempts before a batch is dropped; null: until delivered
          batch: 20           # events per envelope at most
          actions: [push, pull, delete, mount]
          media_types: []     # only these target media types (empty: all)
          ignored_media_types: [application/octet-stream]
          disabled: false
"""

from __future__ import annotations

import base64
import os
import re
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...config import ConfigError, Settings

#: The actions of distribution's envelope.
ACTIONS = ("push", "pull", "delete", "mount")
_ENDPOINT_KEYS = frozenset(
    {
        "name",
        "url",
        "headers",
        "timeout",
        "backoff",
        "max_backoff",
        "retries",
        "batch",
        "actions",
        "media_types",
        "ignored_media_types",
        "disabled",
    }
)
_SECTION_KEYS = frozenset({"endpoints", "queue_path", "queue_max_events", "source_addr"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class EndpointSettings:
    """One ``notifications.endpoints`` entry (see the module docstring)."""

    name: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 5.0
    backoff: float = 1.0
    max_backoff: float = 60.0
    retries: int | None = None
    batch: int = 20
    actions: frozenset[str] = frozenset(ACTIONS)
    media_types: frozenset[str] = frozenset()
    ignored_media_types: frozenset[str] = frozenset()

    def wants(self, event: Mapping[str, Any]) -> bool:
        """True when ``event`` (an envelope event) passes this endpoint's filters."""
        if event.get("action") not in self.actions:
            return False
        media_type = event.get("target", {}).get("mediaType")
        if self.media_types and media_type not in self.media_types:
            return False
        return media_type not in self.ignored_media_types


@dataclass(frozen=True)
class NotificationSettings:
    """The validated ``notifications`` section."""

    endpoints: tuple[EndpointSettings, ...]
    queue_path: str
    queue_max_events: int
    source_addr: str


def default_queue_path(spool_directory: str | None) -> str:
    """Where queued events live without ``notifications.queue_path``: ``notifications/``
    in the file driver's staging directory (local disk, next to the data), else
    ``$XDG_STATE_HOME/docker-registry/notifications`` (``~/.local/state/...``)."""
    if spool_directory:
        return os.path.join(spool_directory, "notifications")
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(state, "docker-registry", "notifications")


def notification_settings(
    settings: Settings, spool_directory: str | None = None
) -> NotificationSettings | None:
    """The ``notifications`` section, or ``None`` when no endpoint is enabled.

    :raises ConfigError: naming the key at fault.
    """
    section = settings.get("notifications")
    if section is None or section == "":
        return None
    if not isinstance(section, Mapping):
        raise ConfigError("expected a mapping with an 'endpoints' list", key="notifications")
    unknown = sorted(set(map(str, section)) - _SECTION_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_SECTION_KEYS))})",
            key="notifications",
        )
    raw_endpoints = section.get("endpoints") or []
    if not isinstance(raw_endpoints, list):
        raise ConfigError("expected a list of endpoints", key="notifications.endpoints")
    endpoints: list[EndpointSettings] = []
    for index, raw in enumerate(raw_endpoints):
        endpoint = _endpoint(raw, f"notifications.endpoints[{index}]")
        if endpoint is None:
            continue
        if any(other.name == endpoint.name for other in endpoints):
            raise ConfigError(
                f"two endpoints are named {endpoint.name!r}; names must be unique (they name "
                "the queue folders)",
                key=f"notifications.endpoints[{index}].name",
            )
        endpoints.append(endpoint)
    if not endpoints:
        return None
    queue_path = section.get("queue_path") or default_queue_path(spool_directory)
    if not isinstance(queue_path, str):
        raise ConfigError("expected a folder path", key="notifications.queue_path")
    max_events = _number(section.get("queue_max_events"), 10000, "notifications.queue_max_events")
    source = section.get("source_addr") or socket.gethostname()
    return NotificationSettings(
        endpoints=tuple(endpoints),
        queue_path=os.path.abspath(queue_path),
        queue_max_events=max(1, int(max_events)),
        source_addr=str(source),
    )


def _endpoint(raw: Any, key: str) -> EndpointSettings | None:
    if not isinstance(raw, Mapping):
        raise ConfigError("expected a mapping with name and url", key=key)
    unknown = sorted(set(map(str, raw)) - _ENDPOINT_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_ENDPOINT_KEYS))})",
            key=key,
        )
    if _flag(raw.get("disabled"), f"{key}.disabled"):
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            "expected a name of letters, digits, '.', '_' or '-' (at most 64)", key=f"{key}.name"
        )
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError("expected an http(s) URL", key=f"{key}.url")
    url, credentials = _split_credentials(url)
    headers = _headers(raw.get("headers"), f"{key}.headers")
    if credentials and not any(name.lower() == "authorization" for name, _ in headers):
        headers += (("Authorization", credentials),)
    retries = raw.get("retries")
    actions = _strings(raw.get("actions"), f"{key}.actions") or set(ACTIONS)
    bad = sorted(actions - set(ACTIONS))
    if bad:
        raise ConfigError(
            f"unknown action(s) {', '.join(bad)} (use {', '.join(ACTIONS)})", key=f"{key}.actions"
        )
    backoff = _number(raw.get("backoff"), 1.0, f"{key}.backoff")
    return EndpointSettings(
        name=name,
        url=url,
        headers=headers,
        timeout=max(0.1, _number(raw.get("timeout"), 5.0, f"{key}.timeout")),
        backoff=backoff,
        max_backoff=max(backoff, _number(raw.get("max_backoff"), 60.0, f"{key}.max_backoff")),
        retries=None if retries is None else int(_number(retries, 0, f"{key}.retries")),
        batch=max(1, int(_number(raw.get("batch"), 20, f"{key}.batch"))),
        actions=frozenset(actions),
        media_types=frozenset(_strings(raw.get("media_types"), f"{key}.media_types")),
        ignored_media_types=frozenset(
            _strings(raw.get("ignored_media_types"), f"{key}.ignored_media_types")
        ),
    )


def _split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without ``user:password@`` (never logged), and its Basic authorization."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


def _number(value: Any, default: float, key: str) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"expected a number, got {value!r}", key=key)
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"expected a number, got {value!r}", key=key) from None
    if number < 0 or number != number or number == float("inf"):
        raise ConfigError(f"expected a finite number of at least 0, got {value!r}", key=key)
    return number


def _flag(value: Any, key: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    raise ConfigError(f"expected true or false, got {value!r}", key=key)


def _strings(value: Any, key: str) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError("expected a list of strings", key=key)
    return {item.strip() for item in value if item.strip()}


def _headers(value: Any, key: str) -> tuple[tuple[str, str], ...]:
    """``{Name: value}`` or distribution's ``{Name: [value, ...]}``."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError("expected a mapping of header names to values", key=key)
    headers: list[tuple[str, str]] = []
    for name, values in value.items():
        items = values if isinstance(values, list) else [values]
        for item in items:
            if not isinstance(item, (str, int)) or any(c in str(item) for c in "\r\n"):
                raise ConfigError(f"header {name!r}: expected text on one line", key=key)
            headers.append((str(name), str(item)))
    return tuple(headers)
