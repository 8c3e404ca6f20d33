"""The authorize step: route table + configured backend -> :class:`.model.Decision`.

Built once per application (``create_app``) from ``auth_backend`` (default ``open`` when
``standalone`` or ``disable_token_auth``, else ``token``), behind the privileged RSA
signature (``privileged_key``). Used twice per request with a body: by the transport, to
refuse a body before it is spooled (:meth:`AccessControl.refuses_early`, cheap checks
only), and by :mod:`.middleware` before routing (:meth:`AccessControl.decide`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..config import ConfigError
from .authorizer import Authorizer, read_privileged_key
from .model import (
    ANONYMOUS,
    INVALID,
    LISTING,
    OPEN,
    UNKNOWN,
    AccessRequest,
    Decision,
    Grant,
    Refused,
    Target,
)
from .routes import READS, classify

log = logging.getLogger(__name__)


def default_auth_backend(settings: Any) -> str:
    """``open`` when standalone or token auth is disabled, else ``token`` (spec §1.7)."""
    return "open" if settings.standalone or settings.disable_token_auth else "token"


class AccessControl:
    """Decides every request with one backend.

    :param authorizer: the backend behind the privileged signature
        (:class:`docker_registry.core.access.authorizer.Authorizer`).
    :param standalone: the v1 index routes are mounted (the route table depends on it).
    """

    def __init__(self, authorizer: Any, *, standalone: bool) -> None:
        self.authorizer = authorizer
        self.standalone = standalone
        self.open_paths: set[str] = set()
        self.open_prefixes: tuple[str, ...] = ()

    def open_route(self, path: str) -> None:
        """Make ``path`` (exact, every method) an *open* route: a plugin's endpoint that
        does its own authentication (the token issuer's realm). Call it from
        ``registry_routes``."""
        self.open_paths.add(path)

    def open_prefix(self, prefix: str) -> None:
        """Make every path below ``prefix`` (which must end with ``/``) an *open* route:
        a plugin's pages that decide access themselves, with :meth:`decide` on the API
        route they show (the web UI). Call it from ``registry_routes``.

        :raises ValueError: ``prefix`` does not start and end with ``/``, or would cover
            the APIs' own routes.
        """
        if not (prefix.startswith("/") and prefix.endswith("/")) or prefix == "/":
            raise ValueError(f"an open prefix must be '/<name>/', not {prefix!r}")
        if prefix.startswith(("/v1/", "/v2/")):
            raise ValueError(f"{prefix!r} is inside the registry APIs; choose another prefix")
        self.open_prefixes = (*self.open_prefixes, prefix)

    def started(self, registry: Any) -> None:
        """Called once every route is mounted: a backend that needs what plugins set up
        (the ``bearer`` backend and the token issuer's keys) checks it here.

        :raises ConfigError: the backend cannot work as configured.
        """
        check = getattr(self.backend, "started", None)
        if check is not None:
            check(registry)

    @classmethod
    def from_registry(cls, registry: Any) -> AccessControl:
        """The configured backend. :raises ConfigError: unknown backend, bad key file."""
        settings = registry.settings
        name = (settings.get("auth_backend") or default_auth_backend(settings)).lower()
        offered = registry.auth_backends()
        if name not in offered:
            raise ConfigError(
                f"unknown auth_backend '{name}' (installed: {', '.join(sorted(offered))})",
                key="auth_backend",
            )
        key = read_privileged_key(settings.privileged_key) if settings.privileged_key else None
        return cls(Authorizer(offered[name].factory(registry), key), standalone=settings.standalone)

    @property
    def backend(self) -> Any:
        return self.authorizer.backend

    def challenge(self, request: AccessRequest | None = None) -> str | None:
        """The ``WWW-Authenticate`` value of a 401 (``Token`` for the v1 backends); a
        backend with ``challenge_for(request)`` words it per request (``bearer``)."""
        per_request = getattr(self.backend, "challenge_for", None)
        if per_request is not None and request is not None:
            return str(per_request(request))
        return getattr(self.backend, "challenge", "Token")

    def access_request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        client: str = "",
        scheme: str = "http",
    ) -> tuple[Any, AccessRequest]:
        if path in self.open_paths or (self.open_prefixes and path.startswith(self.open_prefixes)):
            target = Target("core", "plugin", OPEN)
        else:
            target = classify(method, path, standalone=self.standalone)
        request = AccessRequest(
            method=method.upper(),
            path=path,
            headers=headers,
            namespace=target.namespace,
            repository=target.quoted,
            action=target.action,
            name=target.repository,
            api=target.api,
            client=client,
            kind=target.kind,
            scheme=scheme,
        )
        return target, request

    def decide(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        client: str = "",
        scheme: str = "http",
    ) -> Decision:
        """Authorize one request.

        :param headers: request headers, names upper-cased with dashes.
        :param client: the client's address.
        :param scheme: ``http`` or ``https`` as the client reached the registry.
        :raises Refused: with 401, 403 or 429.
        """
        target, request = self.access_request(method, path, headers, client, scheme)
        grant: Grant | None
        if target.kind == OPEN or (target.kind in (UNKNOWN, INVALID) and request.method in READS):
            grant = ANONYMOUS
        elif target.kind == LISTING:
            # NOTE: a listing is open to all; credentials only widen what it shows, so
            # no credentials (or a token the index refuses) lists what anonymous may pull.
            grant = self.authorizer.authorize(request) or ANONYMOUS
        elif target.kind in (UNKNOWN, INVALID):
            grant = self.authorizer.authorize(request)
            if grant is None or not grant.all_access:
                raise _refusal(grant, f"{request.method} {path} is not a route of this registry")
        else:
            grant = self.authorizer.authorize(request)
            if grant is None:
                raise Refused(401, "authentication required")
        decided = grant
        return Decision(
            target,
            request,
            decided,
            lambda repository, action: self.authorizer.permits(
                request, decided, repository, action
            ),
        )

    def refuses_early(self, method: str, path: str, headers: Mapping[str, str]) -> bool:
        """True when a request would be refused whatever its body: the transport then
        discards the body instead of spooling it. Only checks without network I/O run
        here (the backend's ``refuses_early``); anything else is left to :meth:`decide`."""
        target, request = self.access_request(method, path, headers)
        if target.kind in (OPEN, LISTING):
            return False
        if self.authorizer.signed(request):
            return False
        if target.kind in (UNKNOWN, INVALID):
            return request.method not in READS and not getattr(self.backend, "unrestricted", False)
        early = getattr(self.backend, "refuses_early", None)
        try:
            return bool(early(request)) if early is not None else False
        except Refused:
            return True


def _refusal(grant: Grant | None, message: str) -> Refused:
    if grant is None or grant.account is None:
        return Refused(401, message)
    return Refused(403, message)
