"""Meta routes: ``GET /`` and the ping (spec §2.1)."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from typing import Any

import falcon

from .registry import Registry

#: The seed's default headers on every JSON response it produced (spec §1.1).
NO_CACHE_HEADERS = {"Cache-Control": "no-cache", "Expires": "-1", "Pragma": "no-cache"}


def set_json(resp: falcon.Response, value: Any, status: int = 200) -> None:
    """Answer ``value`` as the seed did: sorted keys, default separators, no-cache."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(value, sort_keys=True).encode()
    resp.set_headers(NO_CACHE_HEADERS)


class RootResource:
    """``GET /``: the JSON encoding of the ``issue`` setting (``true`` when unset)."""

    def __init__(self, registry: Registry) -> None:
        self._issue = registry.settings.issue

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        set_json(resp, True if self._issue is None else self._issue)


class PingResource:
    """``GET /_ping`` and ``GET /v1/_ping``: liveness, standalone mode, debug details."""

    def __init__(self, registry: Registry) -> None:
        settings = registry.settings
        mirroring = settings.get("mirroring") or {}
        if isinstance(mirroring, dict) and mirroring.get("source"):
            self._standalone = "mirror"
        else:
            self._standalone = str(settings.standalone is True)
        self._debug = bool(settings.debug)
        self._flavor = settings.flavor

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.set_header("X-Docker-Registry-Standalone", self._standalone)
        if self._debug:
            resp.set_header("X-Docker-Registry-Config", self._flavor)
            set_json(resp, _debug_info())
        else:
            set_json(resp, {})


def _debug_info() -> dict[str, Any]:
    versions = {
        name: _version_of(name)
        for name in ("registry-core", "falcon", "waitress", "pluggy", "PyYAML")
    }
    versions["python"] = sys.version
    return {
        "host": list(platform.uname()),
        "launch": list(sys.argv),
        "pid": os.getpid(),
        "versions": versions,
    }


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
