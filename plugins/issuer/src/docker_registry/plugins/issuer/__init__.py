"""A built-in token issuer for the ``bearer`` auth backend: one process, the whole flow.

Configured by a ``token_issuer`` section (its presence turns it on); mounted through
``registry_routes`` at ``token_issuer.path`` (default ``/token``):

* ``GET``/``POST <path>``: the token endpoint (the realm), see :mod:`.issuer`;
* ``GET <path>/certificate.pem`` and ``GET <path>/jwks.json``: what tokens verify with.

Accounts and the access list are the ``htpasswd`` section's; the signing key is
``token_issuer.key``, or generated and kept in storage (:mod:`.keys`). With
``auth_backend: bearer`` and no ``bearer.rootcertbundle``/``jwks``/``realm`` of its own,
the registry trusts this issuer's keys and sends clients to this endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import falcon

from docker_registry.core.config import ConfigError
from docker_registry.core.hookspecs import hookimpl
from docker_registry.core.registry import Registry

from .options import registry_options as registry_options  # the hook, re-exported

if TYPE_CHECKING:
    from .issuer import TokenIssuer

__all__ = ["TokenIssuer", "registry_routes"]


@hookimpl
def registry_routes(app: falcon.App, registry: Registry) -> None:
    """Mount the token endpoint when ``token_issuer`` is configured."""
    section = registry.settings.get("token_issuer")
    if section is None:
        return
    if section is True or section == {}:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(
            "expected a mapping (path, key, certificate, algorithm, expiration...)",
            key="token_issuer",
        )
    # PERF: PyJWT and cryptography (~9 MiB per process) only where an issuer runs.
    from .issuer import CertificateResource, JwksResource, TokenIssuer, TokenResource

    issuer = TokenIssuer.from_registry(registry, section)
    registry.services["token_issuer"] = issuer
    app.add_route(issuer.path, TokenResource(issuer))
    app.add_route(f"{issuer.path}/certificate.pem", CertificateResource(issuer))
    app.add_route(f"{issuer.path}/jwks.json", JwksResource(issuer))
    # NOTE: the realm authenticates by itself (Basic, refresh tokens): POSTs must reach it.
    registry.access.open_route(issuer.path)
    use_issuer = getattr(registry.access.backend, "use_issuer", None)
    if use_issuer is not None:
        use_issuer(issuer.path, issuer.keys.public_keys)


def __getattr__(name: str) -> Any:
    if name == "TokenIssuer":
        from .issuer import TokenIssuer

        return TokenIssuer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
