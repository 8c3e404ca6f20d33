"""Read-only mode (``readonly: true``, env ``REGISTRY_READONLY``): every write of both
APIs is refused, reads are served as usual. ``SIGHUP`` re-reads the setting in a running
server (:func:`apply`), with no connection dropped."""

from __future__ import annotations

import logging
import os
import weakref

import falcon

from ..access.model import OPEN
from ..access.routes import READS
from ..http_errors import RegistryError

log = logging.getLogger(__name__)

V2_MESSAGE = "the registry is read-only (maintenance): pushes and deletes are refused"
V1_MESSAGE = "The registry is read-only (maintenance): pushes and deletes are refused"

_live: weakref.WeakSet[ReadOnlyMiddleware] = weakref.WeakSet()


class ReadOnlyMiddleware:
    """Refuses writes while :attr:`enabled`: v2 405 ``UNSUPPORTED``, v1 503 ``{"error"}``.

    A write is any method but GET/HEAD/OPTIONS on a v1 or v2 route that is not open
    (login routes such as ``/v1/users`` and plugins' routes such as ``/token`` are left
    alone). It runs after the authorize step: a client without the right to write hears
    401/403 as before.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        _live.add(self)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.enabled or req.method in READS:
            return
        decision = getattr(req.context, "access", None)
        if decision is None or decision.target.kind == OPEN:
            return
        api = decision.target.api
        if api == "v2":
            raise RegistryError(
                405,
                V2_MESSAGE,
                code="UNSUPPORTED",
                headers={"Docker-Distribution-API-Version": "registry/2.0"},
            )
        if api == "v1":
            raise RegistryError(503, V1_MESSAGE, headers={"Retry-After": "60"})


def apply(enabled: bool) -> None:
    """Switch read-only mode on or off in every application of this process."""
    changed = False
    for middleware in list(_live):
        changed |= middleware.enabled != enabled
        middleware.enabled = enabled
    if changed:
        log.warning(
            "read-only mode is now %s (pid %s)",
            "ON: writes are refused" if enabled else "off: writes are accepted",
            os.getpid(),
        )
