"""Who is the client: the trusted proxy settings, in one place.

``trusted_proxy`` names the one peer (an address, or ``*``) whose proxy headers are
believed. waitress applies ``trusted_proxy_headers`` itself (:meth:`TrustedProxies.
waitress_options`): with ``x-forwarded-for`` trusted, ``REMOTE_ADDR`` becomes the
client the proxy names, and anyone else's ``X-Forwarded-*`` headers are removed. The
peer the connection really came from is kept in the WSGI environ under
:data:`PEER_KEY` (set by :mod:`.transport`), so that other headers only a proxy may set
(``X-Request-Id``) are believed from the trusted proxy alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import Settings

#: WSGI environ key of the connection's peer address, before proxy headers are applied.
PEER_KEY = "docker_registry.peer"


@dataclass(frozen=True)
class TrustedProxies:
    """The ``trusted_proxy*`` settings.

    :param proxy: the trusted peer's address, ``*`` for any peer, ``None`` for none.
    :param headers: the proxy headers waitress applies from it.
    :param count: how many proxies in a chain are trusted.
    """

    proxy: str | None = None
    headers: tuple[str, ...] = ("x-forwarded-proto", "x-forwarded-for")
    count: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustedProxies:
        return cls(
            settings.trusted_proxy,
            tuple(settings.trusted_proxy_headers),
            settings.trusted_proxy_count,
        )

    def waitress_options(self) -> dict[str, Any]:
        """The keyword arguments waitress's ``create_server`` takes for them."""
        if not self.proxy:
            return {}
        return {
            "trusted_proxy": self.proxy,
            "trusted_proxy_headers": set(self.headers),
            "trusted_proxy_count": self.count,
        }

    @staticmethod
    def peer(environ: Mapping[str, Any]) -> str:
        """The address the connection came from (``REMOTE_ADDR`` under a WSGI server
        that does not rewrite it)."""
        return str(environ.get(PEER_KEY) or environ.get("REMOTE_ADDR") or "")

    def trusts_peer(self, environ: Mapping[str, Any]) -> bool:
        """True when the request came straight from the trusted proxy."""
        if not self.proxy:
            return False
        return self.proxy == "*" or self.peer(environ) == self.proxy
