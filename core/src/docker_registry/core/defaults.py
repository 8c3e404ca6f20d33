"""The core's own plugin, registered through the same entry-point group as any other.

It mounts the meta routes and offers the ``htpasswd`` and ``bearer`` auth backends (both
APIs); the API modules add their routes the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import falcon

from .access.authorizer import AuthBackend
from .config.keys import core as keys
from .config.options import Option
from .hookspecs import AuthBackendSpec, CoordinationBackendSpec, hookimpl
from .meta import PingResource, RootResource
from .registry import Registry


@hookimpl
def registry_options() -> Iterable[Option]:
    return keys.OPTIONS


@hookimpl
def registry_routes(app: falcon.App, registry: Registry) -> None:
    """Mount ``/``, ``/_ping``, ``/v1/_ping``, and the operations routes (``/healthz``,
    ``/readyz``, ``/metrics``: :mod:`.ops`)."""
    from .ops.install import install

    app.add_route("/", RootResource(registry))
    ping = PingResource(registry)
    app.add_route("/_ping", ping)
    app.add_route("/v1/_ping", ping)
    install(app, registry)


def _htpasswd_auth(registry: Registry) -> AuthBackend:
    from .access.htpasswd import HtpasswdAuth

    return HtpasswdAuth.from_registry(registry)


def _bearer_auth(registry: Registry) -> AuthBackend:
    # PERF: PyJWT, cryptography and bcrypt (~9 MiB per process) only where tokens are used.
    from .access.bearer import BearerAuth

    return BearerAuth.from_registry(registry)


@hookimpl
def registry_auth_backends() -> Iterable[AuthBackendSpec]:
    yield AuthBackendSpec("htpasswd", _htpasswd_auth, "HTTP Basic: htpasswd -B file + access list")
    yield AuthBackendSpec("bearer", _bearer_auth, "Docker registry tokens (JWT, Bearer challenges)")


@hookimpl
def registry_coordination_backends() -> Iterable[CoordinationBackendSpec]:
    from .coordination import LocalCoordinator

    yield CoordinationBackendSpec(
        "local",
        LocalCoordinator.from_registry,
        "the processes of one host (file locks); several hosts need a shared backend",
    )
