"""Shared HTTP plumbing of the v1 resources: errors, JSON bodies, auth, cache headers."""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

import falcon

from ...access.middleware import confirm, decision_of, refusal_error
from ...access.model import PULL, Refused
from ...http_errors import RegistryError
from ...meta import NO_CACHE_HEADERS, set_json
from ...registry import Registry
from .. import layout
from ..auth import AccessRequest, Authorizer, Grant, token_repository
from ..errors import IMAGE_NOT_FOUND, Invalid, NotFound, TooLarge, V1Error
from ..image_access import ImageAccess
from ..images import ImageStore
from ..index import IndexStore
from ..tags import TagStore

ONE_YEAR = 365 * 24 * 3600
EPOCH_HTTP_DATE = "Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass
class V1Services:
    """Everything v1 resources use, built once per application (``registry.services``)."""

    registry: Registry
    images: ImageStore
    tags: TagStore
    index: IndexStore
    auth: Authorizer
    #: with ``mirroring.source`` set, ``images``, ``tags``, ``index`` and ``search`` are
    #: the pull-through decorators of :mod:`..mirror.stores`.
    search: Any
    #: the :class:`..diff_queue.DiffQueue` a plugin offers when ``cache.host`` is set.
    diff_queue: Any = None
    #: who may read, write and claim images (``None``: image ids are registry-wide).
    image_access: ImageAccess | None = None


def handle_v1_error(req: falcon.Request, resp: falcon.Response, exc: V1Error, params: Any) -> None:
    """Map a v1 domain error to the seed's ``{"error": message}`` response."""
    headers = dict(NO_CACHE_HEADERS)
    headers.update(exc.headers)
    raise RegistryError(exc.status, exc.message, headers=headers) from exc


def set_raw_json(resp: falcon.Response, data: bytes, status: int = 200) -> None:
    """Stored JSON bytes passed through unchanged (spec §1.1 "raw" responses)."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = data
    resp.set_headers(NO_CACHE_HEADERS)


def set_true(resp: falcon.Response, status: int = 200) -> None:
    """The seed's "returns nothing" body: ``true``."""
    set_json(resp, True, status)


def set_cache_headers(resp: falcon.Response) -> None:
    """Immutable-resource headers of image GETs (spec §1.2), in real UTC (Q7)."""
    resp.set_header("Cache-Control", "public, max-age=31536000")
    resp.set_header("Expires", email.utils.formatdate(time.time() + ONE_YEAR, usegmt=True))
    resp.set_header("Last-Modified", EPOCH_HTTP_DATE)
    resp.delete_header("Pragma")


def not_modified(req: falcon.Request, resp: falcon.Response) -> bool:
    """Answer 304 with the cache headers when the request has any If-Modified-Since."""
    if req.get_header("If-Modified-Since") is None:
        return False
    resp.status = falcon.HTTP_304
    set_cache_headers(resp)
    return True


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The whole (small) request body. :raises TooLarge: more than ``limit`` bytes."""
    length = req.content_length
    if length is not None and length > limit:
        raise TooLarge(f"JSON body too large (limit {limit} bytes)")
    data = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"JSON body too large (limit {limit} bytes)")
    return data


def parse_name(raw: str) -> tuple[str, str]:
    """Parse and check a repository name from a URL (spec §1.4).

    :raises Invalid: ``Invalid repository name``: empty parts, ``.``/``..`` components,
        control characters, or components too long to store.
    """
    name = raw.rstrip("/")
    parts = name.split("/")
    if (
        not name
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(char) < 32 or ord(char) == 127 for char in name)
    ):
        raise Invalid("Invalid repository name")
    namespace, repository = layout.parse_repository_name(name)
    if not layout.is_storable(namespace, repository):
        raise Invalid("Invalid repository name")
    return namespace, repository


def authorize(
    services: V1Services,
    req: falcon.Request,
    namespace: str | None = None,
    repository: str | None = None,
) -> tuple[AccessRequest, Grant]:
    """The authorize step's decision for this route (see
    :mod:`docker_registry.core.access`), confirmed for ``namespace``/``repository``
    (``None`` on image routes).

    :raises RegistryError: 401/403 when the decision does not cover this repository.
    """
    name = None if namespace is None else layout.display_name(namespace, repository or "")
    decision = confirm(req, name)
    return decision.request, decision.grant


def image_gate(services: V1Services, req: falcon.Request, image_id: str, action: str) -> None:
    """Refuse (401/403, in the v1 envelope) a read (``pull``) or write (``push``) of
    ``image_id`` the caller may not do: see :mod:`..image_access`."""
    access = services.image_access
    if access is None:
        return
    decision = decision_of(req)
    if action == PULL:
        allowed = access.readable(decision, image_id)
    else:
        allowed = access.writable(decision, image_id)
    if allowed:
        return
    status = 401 if decision.grant.account is None else 403
    raise refusal_error(
        req,
        req.context.access_control,
        Refused(status, f"image {image_id}: no repository holding it allows you to {action}"),
    )


def claim_images(
    services: V1Services,
    req: falcon.Request,
    namespace: str,
    repository: str,
    image_ids: list[str],
) -> None:
    """Record ``image_ids`` (and ancestries) as held by the repository, or refuse with
    403 naming an image held only by repositories the caller may not pull."""
    access = services.image_access
    if access is None:
        return
    decision = decision_of(req)
    refused = access.claim(decision, namespace, repository, image_ids)
    if not refused:
        return
    status = 401 if decision.grant.account is None else 403
    more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
    raise refusal_error(
        req,
        req.context.access_control,
        Refused(
            status,
            f"image {refused[0]}{more} belongs to repositories you may not pull; "
            f"it cannot be added to {layout.display_name(namespace, repository)}",
        ),
    )


def private_gate(services: V1Services, request: AccessRequest, grant: Grant, image_id: str) -> None:
    """404 ``Image not found`` when the caller's token names a private repository it may
    not read this image of (spec §1.6)."""
    named = token_repository(request.authorization)
    if not named or not named[0] or not layout.is_storable(*named):
        return
    if services.tags.is_private(*named) and not services.auth.parent_access(
        request, grant, image_id
    ):
        raise NotFound(IMAGE_NOT_FOUND)


def json_loads_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
