"""The v1 API as a plugin: routes, the built-in auth and search backends.

Mounted through ``registry_routes``:

* ``/v1/images/<id>/{json,layer,checksum,ancestry,files,diff}`` (R3-R10),
* a sink for ``/v1/repositories/...`` (R11-R19, and R22-R26 when standalone),
* ``/v1/users``, ``/v1/users/``, ``/v1/users/<name>/`` (standalone, R20-R21),
* ``/v1/search`` (R27, always; the storage scan without a ``search_backend``).

With ``mirroring.source`` set, the resources get the pull-through decorators of the
image, tag and index stores and of the search backend (:mod:`.mirror.stores`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import falcon

from ..config.keys import v1 as keys
from ..config.options import Option
from ..hookspecs import AuthBackendSpec, SearchBackendSpec, hookimpl
from ..registry import Registry
from .auth import OpenAuth, TokenAuth
from .diff_queue import create_diff_queue
from .errors import V1Error
from .image_access import ImageAccess
from .image_index import ImageIndex
from .images import ImageStore
from .index import IndexStore
from .mirror.service import Mirror
from .mirror.stores import MirroredImageStore, MirroredIndexStore, MirroredSearch, MirroredTagStore
from .resources.common import V1Services, handle_v1_error
from .resources.images import (
    ImageAncestryResource,
    ImageChecksumResource,
    ImageDiffResource,
    ImageFilesResource,
    ImageJsonResource,
    ImageLayerResource,
)
from .resources.index import SearchResource, UsersResource
from .resources.repositories import RepositoriesSink
from .search import StorageSearch, create_search_backend
from .tags import TagStore, repository_names

log = logging.getLogger(__name__)


@hookimpl
def registry_options() -> Iterable[Option]:
    return keys.OPTIONS


@hookimpl
def registry_auth_backends() -> Iterable[AuthBackendSpec]:
    yield AuthBackendSpec("open", OpenAuth, "no checks (standalone, disable_token_auth)")
    yield AuthBackendSpec(
        "token", TokenAuth.from_registry, "Docker index tokens checked at index_endpoint"
    )


@hookimpl
def registry_search_backends() -> Iterable[SearchBackendSpec]:
    yield SearchBackendSpec(
        "storage", StorageSearch.from_registry, "scan repository names in storage per query"
    )


def create_services(registry: Registry) -> V1Services:
    images = local_images = ImageStore(registry.storage, registry.coordinator)
    tags = TagStore(registry.storage)
    index = IndexStore(registry.storage)
    search = create_search_backend(registry)
    mirror = Mirror.from_settings(registry.settings, images)
    if mirror is not None:
        images = MirroredImageStore(images, mirror)
        tags = MirroredTagStore(tags, mirror)
        index = MirroredIndexStore(index, mirror)
        search = MirroredSearch(search, mirror)
    image_access = ImageAccess(
        ImageIndex(registry.storage, registry.coordinator),
        local_images,
        registry_wide=bool(getattr(registry.access.backend, "image_ids_registry_wide", False)),
        unrestricted=bool(getattr(registry.access.backend, "unrestricted", False)),
        mirrored=mirror is not None,
    )
    return V1Services(
        registry=registry,
        images=images,
        tags=tags,
        index=index,
        auth=registry.access.authorizer,
        search=search,
        diff_queue=create_diff_queue(registry),
        image_access=image_access,
    )


@hookimpl
def registry_routes(app: falcon.App, registry: Registry) -> None:
    """Mount the v1 registry, index and search routes."""
    services = create_services(registry)
    registry.services["v1"] = services
    registry.repository_sources.append(lambda: repository_names(registry.storage))
    app.add_error_handler(V1Error, handle_v1_error)
    image_resources: dict[str, type] = {
        "json": ImageJsonResource,
        "layer": ImageLayerResource,
        "checksum": ImageChecksumResource,
        "ancestry": ImageAncestryResource,
        "files": ImageFilesResource,
        "diff": ImageDiffResource,
    }
    for suffix, resource in image_resources.items():
        app.add_route(f"/v1/images/{{image_id}}/{suffix}", resource(services))
    standalone = registry.settings.standalone
    app.add_sink(RepositoriesSink(services, standalone=standalone), prefix=r"^/v1/repositories/")
    app.add_route("/v1/search", SearchResource(services))
    if standalone:
        users = UsersResource(services)
        app.add_route("/v1/users", users)
        app.add_route("/v1/users/", users)
        app.add_route("/v1/users/{username}/", users, suffix="user")
