"""WSGI entry point for gunicorn, uWSGI and friends: ``docker_registry.core.wsgi:application``.

The application is built from the environment (``DOCKER_REGISTRY_CONFIG``,
``SETTINGS_FLAVOR``) on the first request, not at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import falcon

_lock = threading.Lock()
_app: falcon.App | None = None


def _build() -> falcon.App:
    global _app
    with _lock:
        if _app is None:
            from .app import create_app
            from .config import load_settings
            from .logs import configure_logging

            settings = load_settings()
            configure_logging(settings.loglevel)
            _app = create_app(settings)
        return _app


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI callable."""
    app = _app or _build()
    return app(environ, start_response)
