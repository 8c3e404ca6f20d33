"""Registry events in CNCF distribution's envelope, so receivers written for it work.

::

    {"events": [{"id": "...", "timestamp": "2026-12-05T09:12:44.301712Z",
                 "action": "push",
                 "target": {"mediaType": "...", "size": 708, "digest": "sha256:...",
                            "length": 708, "repository": "team/app",
                            "url": "http://registry:5000/v2/team/app/manifests/sha256:...",
                            "tag": "1.0"},
                 "request": {"id": "...", "addr": "10.1.2.3", "host": "registry:5000",
                             "method": "PUT", "useragent": "skopeo/1.13.3"},
                 "actor": {"name": "alice"},
                 "source": {"addr": "registry-1:5000", "instanceID": "..."}}]}

How the core's :class:`~docker_registry.core.hookspecs.Event` kinds map (v2 as in
distribution; v1 has no digests, its image id is in ``target.imageID``)::

    v2 push (manifest)   push, one per tag pushed (none: one without a tag)
    v2 push (blob)       push, mediaType application/octet-stream
    v2 mount             mount, target.fromRepository
    v2 pull              pull (manifest GET by tag or digest; blob GET)
    v2 delete            delete (manifest or blob by digest)
    v2 tag_delete        delete with target.tag
    v2 tag               - (its push event carries the tag)
    v1 tag               push with target.tag and target.imageID
    v1 pull              pull (the image list of a repository)
    v1 tag_delete        delete with target.tag
    v1 repository_delete delete of the repository
    v1 push              - (the index of a push; its tags follow as v1 tag events)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ...hookspecs import Event

#: The envelope's content type.
ENVELOPE_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
#: Target media type of blob events (distribution's).
BLOB_MEDIA_TYPE = "application/octet-stream"
#: Target media type of v1 image events (no such type exists in distribution).
V1_IMAGE_MEDIA_TYPE = "application/vnd.docker-registry.v1.image"


def envelope(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The body POSTed to an endpoint."""
    return {"events": list(events)}


def to_events(
    event: Event, request: Any, source: Mapping[str, str], now: float | None = None
) -> list[dict[str, Any]]:
    """The envelope events for ``event`` (none for kinds distribution does not send).

    :param request: the ``falcon.Request`` that caused it, or ``None`` outside a request.
    :param source: ``{"addr": ..., "instanceID": ...}`` of this registry process.
    """
    targets = _targets(event, request)
    if not targets:
        return []
    action = _ACTIONS[(event.api, event.kind)]
    stamp = _timestamp(time.time() if now is None else now)
    common = {"request": _request(request), "actor": _actor(request), "source": dict(source)}
    return [
        {"id": str(uuid.uuid4()), "timestamp": stamp, "action": action, "target": target, **common}
        for target in targets
    ]


_ACTIONS = {
    ("v2", "push"): "push",
    ("v2", "mount"): "mount",
    ("v2", "pull"): "pull",
    ("v2", "delete"): "delete",
    ("v2", "tag_delete"): "delete",
    ("v1", "tag"): "push",
    ("v1", "pull"): "pull",
    ("v1", "tag_delete"): "delete",
    ("v1", "repository_delete"): "delete",
}


def _targets(event: Event, request: Any) -> list[dict[str, Any]]:
    if (event.api, event.kind) not in _ACTIONS:
        return []
    details = event.details or {}
    if event.api == "v1":
        target: dict[str, Any] = {"mediaType": V1_IMAGE_MEDIA_TYPE, "repository": event.repository}
        if event.tag:
            target["tag"] = event.tag
        if event.reference:
            target["imageID"] = event.reference
        return [target]
    blob = details.get("kind") == "blob"
    target = {"repository": event.repository}
    media_type = BLOB_MEDIA_TYPE if blob else details.get("mediaType")
    if media_type:
        target["mediaType"] = media_type
    size = details.get("size")
    if isinstance(size, int):
        target["size"] = size
        target["length"] = size
    if event.reference:
        target["digest"] = event.reference
        url = _url(request, event.repository, "blobs" if blob else "manifests", event.reference)
        if url:
            target["url"] = url
    if event.kind == "mount" and details.get("from"):
        target["fromRepository"] = details["from"]
    tags = [event.tag] if event.tag else []
    if event.kind == "push" and not blob:
        tags = list(dict.fromkeys([*tags, *details.get("tags", ())]))
    if not tags:
        return [target]
    return [{**target, "tag": tag} for tag in tags]


def _url(request: Any, repository: str, kind: str, digest: str) -> str | None:
    prefix = getattr(request, "prefix", None)
    if not prefix:
        return None
    return f"{prefix}/v2/{repository}/{kind}/{digest}"


def _request(request: Any) -> dict[str, str]:
    if request is None:
        return {}
    context = getattr(request, "context", None)
    return {
        "id": str(getattr(context, "request_id", "") or ""),
        "addr": str(request.remote_addr or ""),
        "host": str(request.netloc or ""),
        "method": str(request.method or ""),
        "useragent": str(request.user_agent or ""),
    }


def _actor(request: Any) -> dict[str, str]:
    decision = getattr(getattr(request, "context", None), "access", None)
    account = getattr(getattr(decision, "grant", None), "account", None)
    return {"name": account} if account else {}


def _timestamp(now: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{seconds}.{int(now % 1 * 1_000_000):06d}Z"
