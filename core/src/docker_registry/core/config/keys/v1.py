"""Keys of the v1 API: the index, search, endpoints, the diff queue's section.

Declared by the ``v1`` plugin (:mod:`docker_registry.core.v1.plugin`).
"""

from __future__ import annotations

from ..options import Option
from ..parsers import endpoint, lowercase, mapping, positive_seconds, text

INDEX_ENDPOINT = Option(
    "index_endpoint",
    endpoint,
    "https://index.docker.io",
    env="INDEX_ENDPOINT",
    help="index that validates tokens when not standalone; trailing `/` removed",
)
INDEX_TIMEOUT = Option(
    "index_timeout",
    positive_seconds,
    10.0,
    help="seconds per call to the index (`token` backend)",
)
SEARCH_BACKEND = Option(
    "search_backend",
    lowercase,
    env="SEARCH_BACKEND",
    default_doc="(none: the `storage` scan)",
    help="`storage` (v1 and v2 names listed from storage per query), a search backend a "
    "plugin offers (`sqlalchemy`), or a Python module with an `Index` class; lower-cased",
)
REGISTRY_ENDPOINTS = Option(
    "registry_endpoints",
    text,
    default_doc="(the request's `Host`)",
    help="value of `X-Docker-Endpoints`",
)
NGINX_X_ACCEL_REDIRECT = Option(
    "nginx_x_accel_redirect",
    text,
    help="v1 layer downloads answered with `X-Accel-Redirect: <value>/<layer path>` and no "
    "body, for an nginx in front that serves the layer file itself (an `internal` location "
    "aliased to the storage root); only with drivers whose files are local (`file`), others "
    "stream as usual",
)
CACHE = Option(
    "cache",
    mapping,
    help="Redis of the v1 diff queue (0.9.1 also kept mirrored tags there; they live in "
    "storage here); on when `cache.host` is set. Then image ids are queued on the list "
    "`diff-worker` (at checksum PUT and `GET .../diff`) by `registry-plugin-redis` (which "
    "declares the section's keys), and `docker-registry diff-worker` (same config) stores "
    "their `_diff`; without `host`, `GET .../diff` is `400 Diff queue is disabled` (see "
    "[v1.md](v1.md#diffs-r10))",
)

OPTIONS: tuple[Option, ...] = (
    INDEX_ENDPOINT,
    INDEX_TIMEOUT,
    SEARCH_BACKEND,
    REGISTRY_ENDPOINTS,
    NGINX_X_ACCEL_REDIRECT,
    CACHE,
)
