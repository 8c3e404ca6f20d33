"""Keys of the pull-through cache, shared by both APIs (v1 mirroring, v2 proxy mode).

Declared by the built-in ``mirroring`` plugin: this module, registered by
:func:`docker_registry.core.plugins.create_plugin_manager` (neither API owns it).
"""

from __future__ import annotations

from collections.abc import Iterable

from ...hookspecs import hookimpl
from ..options import Option
from ..parsers import http_url, mapping, positive_seconds, seconds

MIRRORING = Option(
    "mirroring",
    mapping,
    help="pull-through cache (see [v1.md](v1.md#mirroring); for v2, "
    "[v2.md](v2.md#proxy-mode)); on when `mirroring.source` is set",
)
SOURCE = Option(
    "mirroring.source",
    http_url,
    env="MIRROR_SOURCE",
    help="registry to fetch images from (an http(s) URL)",
)
SOURCE_INDEX = Option(
    "mirroring.source_index",
    http_url,
    env="MIRROR_SOURCE_INDEX",
    default_doc="(`mirroring.source`)",
    help="index for image lists, tags and search",
)
TAGS_CACHE_TTL = Option(
    "mirroring.tags_cache_ttl",
    seconds,
    172800.0,
    env="MIRROR_TAGS_CACHE_TTL",
    default_doc="`172800` (2 days)",
    help="seconds an upstream tag list or image list is reused (kept in storage)",
)
TIMEOUT = Option(
    "mirroring.timeout",
    positive_seconds,
    30.0,
    env="MIRROR_TIMEOUT",
    help="seconds to connect upstream and to wait for each piece of an answer",
)

OPTIONS: tuple[Option, ...] = (MIRRORING, SOURCE, SOURCE_INDEX, TAGS_CACHE_TTL, TIMEOUT)


@hookimpl
def registry_options() -> Iterable[Option]:
    return OPTIONS
