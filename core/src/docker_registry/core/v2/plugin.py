"""The v2 API as a plugin: mounts its routes through ``registry_routes``.

Configuration keys read here:

- ``upload_purge_age``: seconds after which an unfinished upload is deleted (default one
  week; ``0`` disables purging).
- ``upload_purge_interval``: seconds between purges (default one hour); the first runs
  at start-up.
- ``upload_secret``: key signing upload URLs, the same on every process (default: a
  random key kept in storage at ``docker/registry/v2/_upload_secret``).
- ``v2_tag_cache_ttl``: seconds a process reuses a tag listing and a tag's target (default
  1; 0 disables).
- ``mirroring``: with ``source`` set, proxy mode (a pull-through cache of an upstream v2
  registry, :mod:`.proxy`): the resources get the pull-through decorators of the blob and
  manifest stores, which fetch from upstream what is missing here.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time

import falcon

from ..hookspecs import hookimpl
from ..mirroring import MirrorConfig
from ..registry import Registry
from .blobs import BlobStore
from .bridge import V1Bridge
from .errors import oci_error_body
from .manifests import ManifestStore
from .proxy import ProxiedBlobStore, ProxiedManifestStore, V2Upstream
from .referrers import ReferrerStore
from .resources.blobs import BlobResource, UploadResource
from .resources.manifests import (
    CatalogResource,
    ManifestResource,
    PingResource,
    ReferrersResource,
    TagsResource,
)
from .routing import API_VERSION_HEADER, V2Router
from .services import V2Services
from .tags import Catalog, repository_names
from .uploads import UploadStore, upload_secret

log = logging.getLogger(__name__)

DEFAULT_PURGE_AGE = 7 * 24 * 3600
DEFAULT_PURGE_INTERVAL = 3600
DEFAULT_TAGS_TTL = 1.0


def _seconds(registry: Registry, key: str, default: float) -> float:
    """A typed seconds key (Settings applied its default to null and empty values)."""
    value = registry.settings.get(key)
    return default if value is None else float(value)


@hookimpl
def registry_routes(app: falcon.App, registry: Registry) -> None:
    """Mount ``/v2/`` and everything below it."""
    storage = registry.storage
    bridge = V1Bridge(storage)
    blobs = BlobStore(storage, bridge)
    age = _seconds(registry, "upload_purge_age", DEFAULT_PURGE_AGE)
    # NOTE: age 0 purges nothing, so an upload's URL never expires either.
    secret = upload_secret(storage, registry.settings.get("upload_secret"))
    uploads = UploadStore(storage, blobs, secret, age or math.inf)
    registry.body_taps.append(uploads.tap_for)
    tags_ttl = _seconds(registry, "v2_tag_cache_ttl", DEFAULT_TAGS_TTL)
    manifests = ManifestStore(storage, blobs, bridge, tags_ttl, registry.coordinator)
    referrers = ReferrerStore(storage, manifests)
    mirroring = MirrorConfig.from_settings(registry.settings)
    if mirroring is not None:
        upstream = V2Upstream(mirroring)
        blobs = ProxiedBlobStore(blobs, mirroring, upstream)
        manifests = ProxiedManifestStore(manifests, referrers, mirroring, upstream)
    registry.services["v2"] = V2Services(blobs, uploads, manifests, referrers)
    registry.repository_sources.append(lambda: repository_names(registry.storage))
    registry.errors.add_shape("/v2", oci_error_body)
    router = V2Router(
        {
            "manifests": ManifestResource(registry, manifests, referrers),
            "uploads": UploadResource(registry, blobs, uploads),
            "blobs": BlobResource(registry, blobs),
            "tags": TagsResource(manifests),
            "referrers": ReferrersResource(referrers),
        },
        ping=PingResource(),
        catalog=CatalogResource(Catalog(storage, bridge)),
    )
    app.add_sink(router, prefix=re.compile(r"^/v2/"))
    app.add_route("/v2", _BareV2())


class _BareV2:
    """``/v2`` without the slash answers like ``/v2/`` (some clients probe it)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.set_header(*API_VERSION_HEADER)
        resp.data = b"{}"
        resp.content_type = falcon.MEDIA_JSON


@hookimpl
def registry_startup(app: falcon.App, registry: Registry) -> None:
    """Start the purge of stale uploads in a daemon thread (first run right away)."""
    age = _seconds(registry, "upload_purge_age", DEFAULT_PURGE_AGE)
    if age <= 0 or "v2" not in registry.services:
        return
    interval = _seconds(registry, "upload_purge_interval", DEFAULT_PURGE_INTERVAL)
    uploads = registry.services["v2"].uploads

    def purge_forever() -> None:
        while True:
            try:
                # NOTE: one process of all those sharing the storage purges per interval.
                removed = (
                    uploads.purge(age)
                    if registry.coordinator.take_turn("v2-upload-purge", interval)
                    else 0
                )
                if removed:
                    log.info("purged %d upload(s) older than %ss", removed, age)
            except Exception:
                log.exception("purging stale uploads failed")
            time.sleep(max(interval, 1.0))

    threading.Thread(target=purge_forever, name="v2-upload-purge", daemon=True).start()
