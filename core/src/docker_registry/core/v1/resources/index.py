"""Standalone index routes (R20-R26) and search (R27)."""

from __future__ import annotations

import json

import falcon

from ...access.listing import searchable
from ...hookspecs import Event
from ...inputs import is_header_safe
from ...meta import set_json
from .. import layout
from ..errors import Invalid
from ..index import make_token, parse_image_list
from ..search import search_response
from .common import V1Services, authorize, claim_images, read_body, set_raw_json


class UsersResource:
    """R20 ``GET|POST /v1/users[/]`` and R21 ``PUT /v1/users/<name>/`` (no auth)."""

    def __init__(self, services: V1Services) -> None:
        self.limit = services.registry.settings.max_json_body_size

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        set_json(resp, "OK")

    on_head = on_get

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            json.loads(read_body(req, self.limit).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise Invalid("Error Decoding JSON") from None
        set_json(resp, "User Created", 201)

    def on_put_user(self, req: falcon.Request, resp: falcon.Response, username: str) -> None:
        resp.status = falcon.HTTP_204
        resp.data = b""


class SearchResource:
    """R27 ``GET /v1/search?q=&n=&page=``: always mounted; no backend -> the storage scan."""

    def __init__(self, services: V1Services) -> None:
        self.backend = services.search

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.get_param("q") or ""
        per_page = _positive(req.get_param("n"), "n")
        page = _positive(req.get_param("page"), "page") or 1
        if per_page is None and req.get_param("page") is not None:
            per_page = 25
        backend = searchable(req, self.backend)
        set_json(resp, search_response(backend, query, page, per_page))

    on_head = on_get


def check_token_name(namespace: str, repository: str) -> None:
    """Refuse a repository name that cannot be sent back in ``X-Docker-Token``.

    The repository part is percent-encoded, but the namespace is stored and echoed as
    the client wrote it; a header value can only hold Latin-1 characters.

    :raises Invalid: ``Invalid repository name: ...`` naming the namespace.
    """
    if not is_header_safe(f"{namespace}/{repository}"):
        raise Invalid(
            f"Invalid repository name: namespace {namespace!r} cannot be sent in the "
            "X-Docker-Token header (only Latin-1 characters can)"
        )


def _positive(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise Invalid(f"Invalid {name}: must be a positive integer") from None
    if number < 1 or number > 100000:
        raise Invalid(f"Invalid {name}: must be a positive integer")
    return number


class IndexHandlers:
    """Handlers for the index routes under ``/v1/repositories/`` (called by the sink)."""

    def __init__(self, services: V1Services) -> None:
        self.services = services
        self.index = services.index

    def _token_headers(self, req, resp, namespace: str, repository: str, access: str) -> None:
        check_token_name(namespace, repository)
        token = make_token(namespace, repository, access)
        resp.set_header("X-Docker-Token", token)
        resp.set_header("WWW-Authenticate", token)
        settings = self.services.registry.settings
        endpoints = settings.registry_endpoints or req.get_header("Host") or req.netloc
        resp.set_header("X-Docker-Endpoints", endpoints)

    def _put(self, req, resp, namespace: str, repository: str) -> None:
        authorize(self.services, req, namespace, repository)
        # NOTE: before anything is stored: the answer must carry the name in its token.
        check_token_name(namespace, repository)
        body = read_body(req, self.services.registry.settings.max_json_body_size)
        listed = [item["id"] for item in parse_image_list(body)]
        # NOTE: before the list is stored: an image the caller may not pull is refused
        # with nothing written.
        claim_images(self.services, req, namespace, repository, listed)
        created, images = self.index.put_images(namespace, repository, body)
        self.services.registry.emit(
            Event(
                kind="push",
                repository=layout.display_name(namespace, repository),
                api="v1",
                details={
                    "index": "created" if created else "updated",
                    "images": images,
                    "description": "",
                },
            )
        )
        self._token_headers(req, resp, namespace, repository, "write")

    def put_repository(self, req, resp, namespace: str, repository: str) -> None:
        """R22: push start; 200 with body ``""``."""
        self._put(req, resp, namespace, repository)
        set_json(resp, "")

    def put_images(self, req, resp, namespace: str, repository: str) -> None:
        """R23: push end; 204."""
        self._put(req, resp, namespace, repository)
        resp.status = falcon.HTTP_204

    def get_images(self, req, resp, namespace: str, repository: str) -> None:
        """R24: pull start; the raw stored list."""
        authorize(self.services, req, namespace, repository)
        data = self.index.get_images(namespace, repository)
        set_raw_json(resp, data)
        self._token_headers(req, resp, namespace, repository, "read")
        self.services.registry.emit(
            Event(kind="pull", repository=layout.display_name(namespace, repository), api="v1")
        )

    def delete_images(self, req, resp, namespace: str, repository: str) -> None:
        """R25: 204, no effect on storage."""
        authorize(self.services, req, namespace, repository)
        resp.status = falcon.HTTP_204
        self._token_headers(req, resp, namespace, repository, "delete")

    def put_auth(self, req, resp, namespace: str, repository: str) -> None:
        """R26: 200 ``"OK"``, no auth check."""
        set_json(resp, "OK")
