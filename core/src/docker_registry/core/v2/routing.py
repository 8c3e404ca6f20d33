"""The v2 router: one Falcon sink under ``/v2/`` with regex dispatch on the path tail.

Repository names contain ``/``, so the name is everything before a fixed suffix::

    /v2/                                   ping
    /v2/_catalog                           catalog
    /v2/<name>/tags/list                   tags
    /v2/<name>/manifests/<reference>       manifests
    /v2/<name>/blobs/uploads/[<uuid>]      uploads
    /v2/<name>/blobs/<digest>              blobs
    /v2/<name>/referrers/<digest>          referrers
"""

from __future__ import annotations

import re
from typing import Any

import falcon

from ..access.middleware import confirm
from ..access.routes import canonical_v2
from .digests import check_name
from .errors import V2Error

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")

#: ``(pattern, route key)`` tried in order on the path after ``/v2/``.
_ROUTES = [
    (re.compile(r"(?P<name>.+)/manifests/(?P<arg>[^/]+)"), "manifests"),
    (re.compile(r"(?P<name>.+)/blobs/uploads/?(?P<arg>[^/]*)"), "uploads"),
    (re.compile(r"(?P<name>.+)/blobs/(?P<arg>[^/]+)"), "blobs"),
    (re.compile(r"(?P<name>.+)/tags/(?P<arg>list)"), "tags"),
    (re.compile(r"(?P<name>.+)/referrers/(?P<arg>[^/]+)"), "referrers"),
]


class NotFound(V2Error):
    status_code, error_code = 404, "NOT_FOUND"


class MethodNotAllowed(V2Error):
    status_code, error_code = 405, "UNSUPPORTED"


class V2Router:
    """Falcon sink dispatching ``/v2/...`` requests to resources by path and method.

    A resource is an object with ``on_<method>(req, resp, name, arg)`` methods; the
    ping and catalog resources take ``(req, resp)``.

    :param resources: route key (``manifests``, ``blobs``...) to resource object.
    :param ping: the ``/v2/`` resource.
    :param catalog: the ``/v2/_catalog`` resource.
    """

    def __init__(self, resources: dict[str, Any], ping: Any, catalog: Any) -> None:
        self._handlers = {
            key: {
                method: getattr(resource, f"on_{method.lower()}")
                for method in ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
                if hasattr(resource, f"on_{method.lower()}")
            }
            for key, resource in resources.items()
        }
        self._ping = ping
        self._catalog = catalog

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        resp.set_header(*API_VERSION_HEADER)
        tail = req.path[4:]
        if tail == "":
            return self._simple(self._ping, req, resp)
        if tail == "_catalog":
            return self._simple(self._catalog, req, resp)
        for pattern, key in _ROUTES:
            match = pattern.fullmatch(tail)
            if match is None:
                continue
            handlers = self._handlers[key]
            handler = handlers.get(req.method)
            if handler is None:
                raise MethodNotAllowed(
                    f"method {req.method} is not allowed on {req.path}",
                    headers={"Allow": ", ".join(handlers)},
                )
            name = check_name(match["name"])
            confirm(req, canonical_v2(name))
            return handler(req, resp, name, match["arg"])
        raise NotFound(f"no such endpoint: {req.method} {req.path}")

    @staticmethod
    def _simple(resource: Any, req: falcon.Request, resp: falcon.Response) -> None:
        handler = getattr(resource, f"on_{req.method.lower()}", None)
        if handler is None:
            raise MethodNotAllowed(f"method {req.method} is not allowed on {req.path}")
        handler(req, resp)
