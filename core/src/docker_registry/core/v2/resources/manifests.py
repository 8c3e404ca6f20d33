"""Manifest, tag list, referrers, catalog and ping resources of the v2 API."""

from __future__ import annotations

import json

import falcon

from ...access.listing import pullable_v2_names
from ...config import Settings
from ...hookspecs import Event, EventDetails
from ...registry import Registry
from ..digests import parse_digest
from ..errors import DeleteDisabled, ManifestTooLarge, NameUnknown, TagInvalid
from ..manifests import ManifestStore
from ..mediatypes import OCI_INDEX
from ..negotiation import negotiate
from ..referrers import ReferrerStore
from ..tags import Catalog
from .common import page_params, paged


class ManifestResource:
    """``GET``/``HEAD``/``PUT``/``DELETE /v2/<name>/manifests/<reference>``.

    :param registry: the running registry.
    :param manifests: the manifest service.
    :param referrers: records the subject of pushed manifests.
    """

    def __init__(
        self, registry: Registry, manifests: ManifestStore, referrers: ReferrerStore
    ) -> None:
        self.registry = registry
        self.settings: Settings = registry.settings
        self.manifests = manifests
        self.referrers = referrers

    def _negotiated(self, req: falcon.Request, name: str, arg: str):
        data, media_type, digest = self.manifests.get(name, arg)
        return negotiate(
            req.get_header("Accept"),
            data,
            media_type,
            digest,
            lambda reference: self.manifests.get(name, reference),
        )

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        data, media_type, digest = self._negotiated(req, name, arg)
        resp.data = data
        resp.content_type = media_type
        resp.set_header("Docker-Content-Digest", str(digest))
        resp.set_header("ETag", f'"{digest}"')
        self.registry.emit(
            Event(
                "pull",
                name,
                "v2",
                tag=None if ":" in arg else arg,
                reference=str(digest),
                details={"mediaType": resp.content_type, "size": len(data)},
            )
        )

    def on_head(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        data, media_type, digest = self._negotiated(req, name, arg)
        resp.content_length = len(data)
        resp.content_type = media_type
        resp.set_header("Docker-Content-Digest", str(digest))
        resp.set_header("ETag", f'"{digest}"')

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        tags = self._extra_tags(req)
        limit = self.settings.max_manifest_size
        if req.content_length is not None and req.content_length > limit:
            raise ManifestTooLarge(f"manifest larger than {limit} bytes")
        data = (
            req.stream.read(limit + 1)
            if req.content_length is None
            else req.stream.read(req.content_length)
        )
        if len(data) > limit:
            raise ManifestTooLarge(f"manifest larger than {limit} bytes")
        manifest = self.manifests.put(name, arg, data, req.content_type, tags)
        if manifest.subject is not None:
            self.referrers.add(name, manifest)
            resp.set_header("OCI-Subject", str(manifest.subject))
        digest = str(manifest.digest)
        resp.status = falcon.HTTP_201
        resp.location = f"/v2/{name}/manifests/{digest}"
        resp.set_header("Docker-Content-Digest", digest)
        resp.content_length = 0
        pushed_tags = list(dict.fromkeys(([] if ":" in arg else [arg]) + tags))
        details: EventDetails = {
            "mediaType": manifest.media_type,
            "size": len(data),
            "tags": pushed_tags,
        }
        self.registry.emit(
            Event(
                "push",
                name,
                "v2",
                tag=None if ":" in arg else arg,
                reference=digest,
                details=details,
            )
        )
        for tag in pushed_tags:
            self.registry.emit(Event("tag", name, "v2", tag=tag, reference=digest))

    def _extra_tags(self, req: falcon.Request) -> list[str]:
        """The ``tag`` query parameters of a push (OCI 1.1), at most ``v2_max_tags_per_push``.

        :raises TagInvalid: more than that; nothing is stored.
        """
        tags = req.get_param_as_list("tag") or []
        cap = self.settings.v2_max_tags_per_push
        if len(tags) > cap:
            raise TagInvalid(
                f"{len(tags)} tag query parameters; at most {cap} per manifest push "
                "(v2_max_tags_per_push)",
                detail={"tags": len(tags), "max": cap},
            )
        return tags

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        if not self.settings.delete_enabled:
            raise DeleteDisabled("deletes are disabled (delete_enabled: false)")
        digest = self.manifests.delete(name, arg)
        resp.status = falcon.HTTP_202
        resp.content_length = 0
        if ":" in arg:
            self.registry.emit(Event("delete", name, "v2", reference=str(digest)))
        else:
            self.registry.emit(Event("tag_delete", name, "v2", tag=arg, reference=str(digest)))


class TagsResource:
    """``GET /v2/<name>/tags/list`` with ``n``/``last`` pagination.

    :param manifests: the manifest service (tags live with manifests).
    """

    def __init__(self, manifests: ManifestStore) -> None:
        self.manifests = manifests

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        page_params(req)  # NOTE: a bad n is a 400 even for an unknown repository
        tags = self.manifests.tags(name)
        if not tags and not self.manifests.repository_exists(name):
            raise NameUnknown(f"repository {name} is unknown")
        page = paged(req, resp, tags, f"/v2/{name}/tags/list")
        resp.data = json.dumps({"name": name, "tags": page}).encode()
        resp.content_type = falcon.MEDIA_JSON


class ReferrersResource:
    """``GET /v2/<name>/referrers/<digest>[?artifactType=...]`` (OCI 1.1).

    :param referrers: the referrers service.
    """

    def __init__(self, referrers: ReferrerStore) -> None:
        self.referrers = referrers

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str, arg: str) -> None:
        subject = parse_digest(arg)
        artifact_type = req.get_param("artifactType") or None
        resp.data = self.referrers.index(name, subject, artifact_type)
        resp.content_type = OCI_INDEX
        if artifact_type:
            resp.set_header("OCI-Filters-Applied", "artifactType")


class CatalogResource:
    """``GET /v2/_catalog`` with ``n``/``last`` pagination.

    :param catalog: the catalog service.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visible = pullable_v2_names(req, self.catalog.repositories())
        page = paged(req, resp, visible, "/v2/_catalog")
        resp.data = json.dumps({"repositories": page}).encode()
        resp.content_type = falcon.MEDIA_JSON


class PingResource:
    """``GET /v2/``: the API is here (the version header is set by the router)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = b"{}"
        resp.content_type = falcon.MEDIA_JSON

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.content_length = 2
