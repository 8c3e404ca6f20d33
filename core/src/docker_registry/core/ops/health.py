"""``/healthz`` (the process answers) and ``/readyz`` (storage and every configured
backend answer), JSON bodies, 503 naming what failed. Both are open routes: a load
balancer or kubelet probes them without credentials (access/routes.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import falcon

from ..mirroring import MirrorConfig
from ..registry import Registry
from ..storage import PathNotFoundError

#: Seconds a probe of the mirror's upstream may take.
UPSTREAM_TIMEOUT = 3.0
#: The cache key /readyz reads (never written: a miss is a fine answer).
_CACHE_PROBE = "/_registry_readyz"


def _json(resp: falcon.Response, status: int, body: dict[str, object]) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(body, sort_keys=True).encode()
    resp.set_header("Cache-Control", "no-cache")


class HealthResource:
    """``GET /healthz``: 200 whenever the process can answer at all."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, 200, {"status": "ok"})


class ReadyResource:
    """``GET /readyz``: every configured backend is asked; 503 when one fails."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def checks(self) -> dict[str, Callable[[], None]]:
        """Name -> probe (raises when the backend cannot be used)."""
        registry = self.registry
        found: dict[str, Callable[[], None]] = {"storage": self._storage}
        search = registry.settings.search_backend
        if search and search != "storage":
            found[f"search ({search})"] = self._search
        if registry.storage.cache is not None:
            found["cache"] = self._cache
        mirror = MirrorConfig.from_settings(registry.settings)
        if mirror is not None:
            found["upstream"] = lambda: self._upstream(mirror.source)
        return found

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        results: dict[str, str] = {}
        failed: list[str] = []
        for name, probe in self.checks().items():
            try:
                probe()
            except Exception as exc:  # noqa: BLE001 - the answer names whatever failed
                results[name] = f"{type(exc).__name__}: {exc}"
                failed.append(name)
            else:
                results[name] = "ok"
        body: dict[str, object] = {
            "status": "not ready" if failed else "ready",
            "checks": results,
            "failed": failed,
        }
        _json(resp, 503 if failed else 200, body)

    def _storage(self) -> None:
        # NOTE: an empty storage answered too: reachable.
        with contextlib.suppress(PathNotFoundError):
            self.registry.storage.stat("/")

    def _search(self) -> None:
        services = self.registry.services.get("v1")
        backend = getattr(services, "search", None)
        if backend is None:
            raise RuntimeError("the search backend was not started")
        backend.search("", 1, 1)

    def _cache(self) -> None:
        guarded = self.registry.storage.cache
        assert guarded is not None
        # NOTE: the cache itself, not its guard (which turns failures into misses).
        guarded.cache.get(_CACHE_PROBE)

    def _upstream(self, source: str) -> None:
        import requests

        response = requests.get(f"{source}/v2/", timeout=UPSTREAM_TIMEOUT)
        response.close()
        if response.status_code >= 500:
            raise RuntimeError(f"{source} answered {response.status_code}")
