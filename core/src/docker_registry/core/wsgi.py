"""WSGI entry point for gunicorn, uWSGI and friends: ``docker_registry.core.wsgi:application``.

The application is built from the environment (``DOCKER_REGISTRY_CONFIG``,
``SETTINGS_FLAVOR``) on the first request, not at import time. When it cannot be built
(a configuration error, a storage driver that cannot start) the log gets one line saying
why and what to do, every request is answered ``503`` with a JSON error, and the next
request tries again (the line is logged again only when it changes).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import falcon

log = logging.getLogger(__name__)

_lock = threading.Lock()
_app: falcon.App | None = None
_last_failure: str | None = None


def _build() -> falcon.App:
    global _app
    with _lock:
        if _app is None:
            from .app import create_app
            from .config import ConfigError, load_settings
            from .logs import configure_logging
            from .spool_sweep import start_spool_sweeper
            from .startup import build_storage, startup_error
            from .storage import StorageError

            settings = load_settings()
            configure_logging(settings.loglevel, settings.log_format)
            storage = build_storage(settings)
            try:
                app = create_app(settings, storage=storage)
            except ConfigError as exc:
                raise exc.located(flavor=settings.flavor, file=settings.source) from None
            except StorageError as exc:
                raise startup_error(settings, storage.driver, exc) from None
            # NOTE: the file driver's staging files of crashed writes, as under `serve`.
            start_spool_sweeper(settings, storage.spool_directory)
            _app = app
        return _app


def _unavailable(start_response: Callable[..., Any], message: str) -> Iterable[bytes]:
    body = json.dumps({"error": f"the registry cannot start: {message}"}).encode()
    start_response(
        "503 Service Unavailable",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI callable."""
    global _last_failure
    from .config import ConfigError, StartupError

    app = _app
    if app is None:
        try:
            app = _build()
        except ConfigError as exc:
            kind = "start-up error" if isinstance(exc, StartupError) else "configuration error"
            message = f"{kind}: {' '.join(str(exc).split())}"
            if message != _last_failure:
                _last_failure = message
                if not logging.getLogger().handlers:
                    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
                log.error("docker-registry: %s", message)
            return _unavailable(start_response, kind)
    return app(environ, start_response)
