"""``/v1/repositories/<repo>/...`` (R11-R19, R22-R26): a sink with its own dispatch.

Repository names contain ``/``, so one regex sink takes every path under
``/v1/repositories/`` and tries the patterns most specific first (spec §2.0):
``.../tags/<tag>/json`` beats ``.../tags/<tag>``, which beats ``.../json``. The first
pattern whose path matches decides: a method it does not offer is a JSON 405, a path no
pattern matches a JSON 404 (no slash redirects, Q18).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import falcon

from ...hookspecs import Event, EventKind
from ...meta import set_json
from .. import layout
from ..errors import NoUpstreamMetadata
from ..tags import DEFAULT_TAG_JSON
from .common import (
    V1Services,
    authorize,
    claim_images,
    parse_name,
    read_body,
    set_raw_json,
    set_true,
)
from .index import IndexHandlers

PREFIX = "/v1/repositories/"

Handler = Callable[..., None]


class RepositoriesSink:
    """Dispatches every ``/v1/repositories/...`` request.

    :param services: the v1 services.
    :param standalone: mount the index routes (R22-R26) too.
    """

    def __init__(self, services: V1Services, *, standalone: bool) -> None:
        self.services = services
        self.tags = services.tags
        index = IndexHandlers(services)
        routes: list[tuple[str, dict[str, Handler]]] = [
            (r"(?P<repo>.+)/tags/(?P<tag>[^/]+)/json", {"GET": self.get_tag_json}),
            (
                r"(?P<repo>.+)/tags/(?P<tag>[^/]+)",
                {"GET": self.get_tag, "PUT": self.put_tag, "DELETE": self.delete_tag},
            ),
            (r"(?P<repo>.+)/tags", {"GET": self.list_tags, "DELETE": self.delete_repository}),
        ]
        if standalone:
            routes += [
                (
                    r"(?P<repo>.+)/images",
                    {
                        "GET": index.get_images,
                        "PUT": index.put_images,
                        "DELETE": index.delete_images,
                    },
                ),
                (r"(?P<repo>.+)/auth", {"PUT": index.put_auth}),
            ]
        routes += [
            (
                r"(?P<repo>.+)/properties",
                {"GET": self.get_properties, "PUT": self.put_properties},
            ),
            (r"(?P<repo>.+)/json", {"GET": self.get_repository_json}),
        ]
        slash: dict[str, Handler] = {"DELETE": self.delete_repository}
        if standalone:
            slash["PUT"] = index.put_repository
            routes.append((r"(?P<repo>.+)/", slash))
            routes.append((r"(?P<repo>[^/].*[^/]|[^/])", {"PUT": index.put_repository}))
        else:
            routes.append((r"(?P<repo>.+)/", slash))
        self.routes = [
            (re.compile(f"^{pattern}$", re.DOTALL), methods) for pattern, methods in routes
        ]

    def __call__(self, req: falcon.Request, resp: falcon.Response, **kwargs: Any) -> None:
        """Like werkzeug: the first pattern matching path and method wins; a path that
        only matches with other methods is a 405 listing them; nothing matching a 404."""
        rest = req.path[len(PREFIX) :]
        allowed: set[str] = set()
        for pattern, methods in self.routes:
            match = pattern.match(rest)
            if match is None:
                continue
            method = "GET" if req.method == "HEAD" and "GET" in methods else req.method
            handler = methods.get(method)
            if handler is None:
                allowed.update(methods)
                continue
            params = match.groupdict()
            namespace, repository = parse_name(params.pop("repo"))
            handler(req, resp, namespace, repository, **params)
            return
        if not allowed:
            raise falcon.HTTPRouteNotFound()
        if req.method == "OPTIONS":
            resp.status = falcon.HTTP_200
            resp.set_header("Allow", ", ".join(sorted({*allowed, "OPTIONS"})))
            return
        raise falcon.HTTPMethodNotAllowed(sorted(allowed))

    def _emit(self, kind: EventKind, namespace: str, repository: str, **fields: Any) -> None:
        self.services.registry.emit(
            Event(
                kind=kind, repository=layout.display_name(namespace, repository), api="v1", **fields
            )
        )

    # -- tags -------------------------------------------------------------------------------

    def list_tags(self, req, resp, namespace: str, repository: str) -> None:
        authorize(self.services, req, namespace, repository)
        set_json(resp, self.tags.list_tags(namespace, repository))

    def get_tag(self, req, resp, namespace: str, repository: str, tag: str) -> None:
        authorize(self.services, req, namespace, repository)
        set_json(resp, self.tags.get_tag(namespace, repository, tag))

    def put_tag(self, req, resp, namespace: str, repository: str, tag: str) -> None:
        authorize(self.services, req, namespace, repository)
        body = read_body(req, self.services.registry.settings.max_json_body_size)
        image_id = self.tags.put_tag(
            namespace,
            repository,
            tag,
            body,
            user_agent=req.user_agent,
            image_exists=self.services.images.exists,
            claim=lambda image_id: claim_images(
                self.services, req, namespace, repository, [image_id]
            ),
        )
        self._emit("tag", namespace, repository, tag=tag, reference=image_id)
        set_true(resp)

    def delete_tag(self, req, resp, namespace: str, repository: str, tag: str) -> None:
        authorize(self.services, req, namespace, repository)
        image_id = self.tags.delete_tag(namespace, repository, tag)
        self._emit("tag_delete", namespace, repository, tag=tag, reference=image_id)
        set_true(resp)

    def get_tag_json(self, req, resp, namespace: str, repository: str, tag: str) -> None:
        authorize(self.services, req, namespace, repository)
        _metadata(resp, self.tags.tag_json(namespace, repository, tag))

    # -- repository -----------------------------------------------------------------------

    def get_repository_json(self, req, resp, namespace: str, repository: str) -> None:
        authorize(self.services, req, namespace, repository)
        try:
            stored = self.tags.repository_json(namespace, repository)
        except NoUpstreamMetadata:
            set_json(resp, DEFAULT_TAG_JSON, 404)
            return
        _metadata(resp, stored)

    def get_properties(self, req, resp, namespace: str, repository: str) -> None:
        authorize(self.services, req, namespace, repository)
        private = self.tags.is_private(namespace, repository)
        set_json(resp, {"access": "private" if private else "public"})

    def put_properties(self, req, resp, namespace: str, repository: str) -> None:
        authorize(self.services, req, namespace, repository)
        body = read_body(req, self.services.registry.settings.max_json_body_size)
        self.tags.set_properties(namespace, repository, body)
        set_true(resp)

    def delete_repository(self, req, resp, namespace: str, repository: str) -> None:
        authorize(self.services, req, namespace, repository)
        for tag, image_id in self.tags.delete_repository(namespace, repository):
            self._emit("tag_delete", namespace, repository, tag=tag, reference=image_id)
        self._emit("repository_delete", namespace, repository)
        set_true(resp)


def _metadata(resp: falcon.Response, stored: bytes | None) -> None:
    """Stored tag/repository metadata, or the default object (never 404)."""
    if stored is None:
        set_json(resp, DEFAULT_TAG_JSON)
        return
    try:
        json.loads(stored)
    except ValueError:
        set_json(resp, DEFAULT_TAG_JSON)
        return
    set_raw_json(resp, stored)
