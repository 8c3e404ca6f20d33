"""Request-wide concerns: request id, version header, access log."""

from __future__ import annotations

import itertools
import os
import re
import time

import falcon

from . import __version__
from .access_log import log_request
from .logs import bind_request_id, unbind_request_id
from .mirroring import ClientRequest, begin_forwarding, end_forwarding, upstream_path
from .proxies import TrustedProxies
from .request_context import bind_request, unbind_request

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
    """Give each request an id and log it (:mod:`.access_log`).

    The id is the ``X-Request-Id`` a trusted proxy sent (when sane), else a new one;
    anyone else's is ignored, so that a client cannot pass its requests off as
    another's in the logs. Records logged while the request is served carry it
    (:func:`.logs.bind_request_id`). Every response carries ``X-Request-Id`` and
    ``X-Docker-Registry-Version`` (the seed's recommendation Q1: clients read the
    version from the ping, it is harmless elsewhere).

    :param proxies: who may set the request id.
    """

    def __init__(self, proxies: TrustedProxies | None = None) -> None:
        self.proxies = proxies or TrustedProxies()

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        offered = req.get_header("X-Request-Id") or ""
        if offered and _CLIENT_REQUEST_ID.match(offered) and self.proxies.trusts_peer(req.env):
            req.context.request_id = offered
        else:
            req.context.request_id = new_request_id()
        req.context.started = time.perf_counter()
        req.context.log_binding = bind_request_id(req.context.request_id)
        req.context.request_binding = bind_request(req)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        request_id = getattr(req.context, "request_id", None) or new_request_id()
        resp.set_header("X-Request-Id", request_id)
        resp.set_header("X-Docker-Registry-Version", __version__)
        elapsed = time.perf_counter() - getattr(req.context, "started", time.perf_counter())
        log_request(req, resp, request_id, elapsed)
        binding = getattr(req.context, "log_binding", None)
        if binding is not None:
            req.context.log_binding = None
            unbind_request_id(binding)
        request_binding = getattr(req.context, "request_binding", None)
        if request_binding is not None:
            req.context.request_binding = None
            unbind_request(request_binding)


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
