"""The mirror's upstream: its configuration and a small HTTP client (spec §6.6).

The config section and the client are shared with the v2 proxy and live in
:mod:`docker_registry.core.mirroring`; this module binds the client's gateway errors to
the v1 ones, so that with one ``try`` callers see:

* :class:`UpstreamMiss` -- upstream answered a 4xx: the thing does not exist there
  either (or the client may not see it); callers answer their *local* 404.
* :class:`~..errors.GatewayTimeout` (504) -- no answer within ``mirroring.timeout``.
* :class:`~..errors.BadGateway` (502) -- connection refused, a 5xx, a truncated body or
  an answer that is not what the route promises (garbage JSON).

Both gateway errors carry a message naming the upstream, e.g.
``Mirror upstream http://hub:5000 timed out after 30s (GET /v1/images/<id>/json)``.
"""

from __future__ import annotations

from ...mirroring import (
    DEFAULT_TAGS_CACHE_TTL,
    DEFAULT_TIMEOUT,
    LAYER_CHUNK,
    MAX_JSON_BYTES,
    MirrorConfig,
    UpstreamAnswer,
    UpstreamMiss,
    forward_headers,
)
from ...mirroring import Upstream as _Upstream
from ..errors import BadGateway, GatewayTimeout

__all__ = [
    "DEFAULT_TAGS_CACHE_TTL",
    "DEFAULT_TIMEOUT",
    "LAYER_CHUNK",
    "MAX_JSON_BYTES",
    "MirrorConfig",
    "Upstream",
    "UpstreamAnswer",
    "UpstreamMiss",
    "forward_headers",
]


class Upstream(_Upstream):
    """The shared upstream client raising the v1 gateway errors (502/504)."""

    bad_gateway = BadGateway
    gateway_timeout = GatewayTimeout
