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
            from .spool_sweep import start_spool_sweeper
            from .storage import Storage, create_driver

            settings = load_settings()
            configure_logging(settings.loglevel)
            storage = Storage(create_driver(settings.storage, settings.values))
            _app = create_app(settings, storage=storage)
            # NOTE: the file driver's staging files of crashed writes, as under `serve`.
            start_spool_sweeper(settings, storage.spool_directory)
        return _app


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI callable."""
    app = _app or _build()
    return app(environ, start_response)
