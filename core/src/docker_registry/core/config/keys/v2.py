"""Keys of the v2 API: uploads, tags, manifests, deletes.

Declared by the ``v2`` plugin (:mod:`docker_registry.core.v2.plugin`).
"""

from __future__ import annotations

from ..options import Option
from ..parsers import MiB, boolean, count, integer, seconds, size, text

DELETE_ENABLED = Option(
    "delete_enabled",
    boolean,
    False,
    env="DELETE_ENABLED",
    help="allow `DELETE` of v2 manifests, tags and blobs (405 `UNSUPPORTED` while off; when "
    "on, the `delete` permission is needed too). v1 tag and repository deletes do not read "
    "it: they are always there, as in 0.9.1, subject to the `delete` permission "
    "([auth.md](auth.md#delete_enabled))",
)
MAX_MANIFEST_SIZE = Option(
    "max_manifest_size",
    size,
    4 * MiB,
    env="MAX_MANIFEST_SIZE",
    default_doc="`4194304` (4 MiB)",
    help="largest manifest, bytes",
)
UPLOAD_PURGE_AGE = Option(
    "upload_purge_age",
    seconds,
    7 * 24 * 3600.0,
    env="UPLOAD_PURGE_AGE",
    default_doc="`604800` (7 days)",
    help="unfinished uploads idle longer than this are purged, and an upload's URL expires "
    "this long after it was started, seconds; `0`: never (neither)",
)
UPLOAD_PURGE_INTERVAL = Option(
    "upload_purge_interval",
    seconds,
    3600.0,
    env="UPLOAD_PURGE_INTERVAL",
    help="seconds between purges of stale uploads",
)
UPLOAD_SECRET = Option(
    "upload_secret",
    text,
    env="UPLOAD_SECRET",
    secret=True,
    default_doc="(random, kept in storage)",
    help="key signing upload URLs, the same on every process sharing the storage (masked by "
    "`config show`); unset, the first process keeps a random one in storage, made under the "
    "coordination lock: set it when several hosts share storage without `coordination: redis`",
)
V2_TAG_CACHE_TTL = Option(
    "v2_tag_cache_ttl",
    seconds,
    1.0,
    env="V2_TAG_CACHE_TTL",
    help="seconds a process reuses a tag listing and a tag's target; `0` reads storage every time",
)
DESCRIPTOR_CACHE_SIZE = Option(
    "descriptor_cache_size",
    integer,
    10000,
    min=0,
    env="DESCRIPTOR_CACHE_SIZE",
    help="blob sizes and repository links each process keeps in memory, so that a blob "
    "`HEAD` or `GET` asks storage nothing (they only change by removal, which every process "
    "of the host, and with `coordination: {backend: redis}` of every host, hears at once); "
    "`0` asks storage (or, with `coordination: {backend: redis}`, the descriptors shared "
    "in Redis: `coordination.descriptor_ttl`) every time",
)
V2_MAX_TAGS_PER_PUSH = Option(
    "v2_max_tags_per_push",
    count,
    100,
    env="V2_MAX_TAGS_PER_PUSH",
    help="most `tag` query parameters of one manifest PUT "
    "(`PUT /v2/<name>/manifests/<digest>?tag=a&tag=b`); more answers 400 `TAG_INVALID` and "
    "stores nothing; a positive whole number",
)

OPTIONS: tuple[Option, ...] = (
    DELETE_ENABLED,
    MAX_MANIFEST_SIZE,
    UPLOAD_PURGE_AGE,
    UPLOAD_PURGE_INTERVAL,
    UPLOAD_SECRET,
    V2_TAG_CACHE_TTL,
    DESCRIPTOR_CACHE_SIZE,
    V2_MAX_TAGS_PER_PUSH,
)
