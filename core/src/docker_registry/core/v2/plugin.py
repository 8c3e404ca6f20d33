"""The v2 API as a plugin: mounts its routes through ``registry_routes``.

Its configuration keys are declared in :mod:`..config.keys.v2` (uploads, tags, deletes)
and offered through ``registry_options``. With ``mirroring.source`` set, proxy mode (a
pull-through cache of an upstream v2 registry, :mod:`.proxy`): the resources get the
pull-through decorators of the blob and manifest stores, which fetch from upstream what
is missing here.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterable

import falcon

from ..config.keys import v2 as keys
from ..config.options import Option
from ..hookspecs import hookimpl
from ..mirroring import MirrorConfig
from ..registry import Registry
from .blobs import BlobStore
from .bridge import V1Bridge
from .descriptors import use_descriptor_cache
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


@hookimpl
def registry_options() -> Iterable[Option]:
    return keys.OPTIONS


@hookimpl
def registry_routes(app: falcon.App, registry: Registry) -> None:
    """Mount ``/v2/`` and everything below it."""
    storage = registry.storage
    use_descriptor_cache(registry, keys.DESCRIPTOR_CACHE_SIZE.read(registry.settings))
    bridge = V1Bridge(storage)
    blobs = BlobStore(storage, bridge)
    age = keys.UPLOAD_PURGE_AGE.read(registry.settings)
    # NOTE: age 0 purges nothing, so an upload's URL never expires either.
    secret = upload_secret(
        storage, keys.UPLOAD_SECRET.read(registry.settings), registry.coordinator
    )
    uploads = UploadStore(storage, blobs, secret, age or math.inf)
    registry.body_taps.append(uploads.tap_for)
    tags_ttl = keys.V2_TAG_CACHE_TTL.read(registry.settings)
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
    age = keys.UPLOAD_PURGE_AGE.read(registry.settings)
    if age <= 0 or "v2" not in registry.services:
        return
    interval = keys.UPLOAD_PURGE_INTERVAL.read(registry.settings)
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
