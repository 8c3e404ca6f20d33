"""Request-wide concerns: request id, version header, access log."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time

import falcon

from . import __version__
from .mirroring import ClientRequest, begin_forwarding, end_forwarding, upstream_path

access_log = logging.getLogger("docker_registry.access")

_STATE_VALUE = re.compile(r"([?&]_state=)[^&]*")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
#: Request ids are this process's random prefix and a counter (32 hex digits, like a
#: uuid4): PERF: uuid4 per request cost 5% of a manifest GET.
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def _new_prefix_after_fork() -> None:
    global _ID_PREFIX
    _ID_PREFIX = os.urandom(8).hex()


# NOTE: worker processes forked by ``serve --workers`` must not share the prefix.
os.register_at_fork(after_in_child=_new_prefix_after_fork)


def new_request_id() -> str:
    """A request id unique across processes and restarts."""
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


class RequestContextMiddleware:
    """Give each request an id (the client's ``X-Request-Id`` when sane) and log it.

    Every response carries ``X-Request-Id`` and ``X-Docker-Registry-Version`` (the seed's
    recommendation Q1: clients read the version from the ping, it is harmless elsewhere).
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        offered = req.get_header("X-Request-Id") or ""
        req.context.request_id = offered if _CLIENT_REQUEST_ID.match(offered) else new_request_id()
        req.context.started = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        request_id = getattr(req.context, "request_id", None) or new_request_id()
        resp.set_header("X-Request-Id", request_id)
        resp.set_header("X-Docker-Registry-Version", __version__)
        if access_log.isEnabledFor(logging.INFO):
            elapsed = time.perf_counter() - getattr(req.context, "started", time.perf_counter())
            access_log.info(
                '%s "%s %s" %s %s %.1fms id=%s ua="%s"',
                req.remote_addr,
                req.method,
                _loggable_uri(req.relative_uri),
                resp.status_code,
                _body_size(resp),
                elapsed * 1000,
                request_id,
                req.user_agent or "-",
            )


def _loggable_uri(uri: str) -> str:
    """``uri`` with upload state tokens masked: anyone who reads the log must not be
    able to continue (or finish) someone else's upload."""
    if "_state=" not in uri:
        return uri
    return _STATE_VALUE.sub(r"\1***", uri)


def _body_size(resp: falcon.Response) -> str:
    if resp.content_length is not None:
        return str(resp.content_length)
    return str(len(resp.data)) if resp.data is not None else "-"


class ForwardingMiddleware:
    """Mounted when ``mirroring.source`` is set: makes the headers and path of each
    request of a registry API the :func:`~.mirroring.client_request` that pull-through
    stores forward upstream."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.path.startswith(("/v1/", "/v2/")):
            return
        request = ClientRequest(req.headers, upstream_path(req.path, req.query_string))
        req.context.forwarding = begin_forwarding(request)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        token = getattr(req.context, "forwarding", None)
        if token is not None:
            end_forwarding(token)
