"""The ``ui`` section of the configuration, checked once at start-up.

::

    ui:
      enabled: true      # default: on whenever registry-plugin-ui is installed
      prefix: /ui        # where the pages are mounted
      page_size: 50      # repositories and tags per page
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docker_registry.core.config import ConfigError

from .keys import DEFAULT_PAGE_SIZE, DEFAULT_PREFIX, ENABLED, PAGE_SIZE

#: One or more plain path segments: no dots, no percent signs, nothing to escape.
_PREFIX = re.compile(r"(/[A-Za-z0-9_-]+)+")
#: Prefixes that belong to the registry's own routes.
_TAKEN = ("/v1", "/v2", "/_ping", "/healthz", "/readyz", "/metrics", "/token")


@dataclass(frozen=True)
class UiOptions:
    """What the ``ui`` section asks for.

    :param enabled: mount the pages at all.
    :param prefix: the path the pages live under, without a trailing slash (``/ui``).
    :param page_size: repositories and tags per page.
    """

    enabled: bool = True
    prefix: str = DEFAULT_PREFIX
    page_size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_settings(cls, settings: Any) -> UiOptions:
        """Read ``ui.*``. :raises ConfigError: naming the key and what it accepts."""
        section = settings.get("ui")
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError("expected a mapping (enabled, prefix, page_size)", key="ui")
        enabled = ENABLED.read(settings)
        prefix = section.get("prefix") or DEFAULT_PREFIX
        prefix = str(prefix).rstrip("/")
        if not _PREFIX.fullmatch(prefix):
            raise ConfigError(
                f"expected a path such as /ui (letters, digits, '-', '_'), got {prefix!r}",
                key="ui.prefix",
            )
        if prefix.split("/")[1] in {taken.strip("/") for taken in _TAKEN}:
            raise ConfigError(
                f"{prefix} is a path of the registry itself; choose another (default /ui)",
                key="ui.prefix",
            )
        page_size = PAGE_SIZE.read(settings)
        return cls(enabled=enabled, prefix=prefix, page_size=page_size)
