"""Build the WSGI application: ``create_app(settings)`` returns a ``falcon.App``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import falcon
import pluggy

from .access.control import AccessControl
from .access.middleware import AccessMiddleware
from .config import ConfigError, Settings
from .coordination import create_coordinator
from .cors import RegistryCORS, cors_policy
from .error_reports import error_handler
from .http_errors import handle_storage_error
from .middleware import ForwardingMiddleware, RequestContextMiddleware
from .mirroring import MirrorConfig
from .plugins import create_plugin_manager
from .proxies import TrustedProxies
from .registry import Registry
from .spool import BodyGate, TapFinder
from .storage import Storage, StorageDriver, StorageError, create_driver
from .unreceived import UnreceivedBodyMiddleware

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedApp:
    """What the server needs: the application, where request bodies spool (see
    :mod:`.spool`), who taps them as they arrive, and who refuses them first."""

    app: RegistryApp
    spool_directory: str | None
    find_tap: TapFinder
    #: called once the server stopped serving (:meth:`~.registry.Registry.stop`).
    stop: Callable[[], None]

    @property
    def gate(self) -> BodyGate | None:
        """The authorize step's check before a body is spooled (see :mod:`.transport`)."""
        return self.app.access.refuses_early if self.app.access is not None else None


def create_served_app(settings: Settings, storage: Storage) -> ServedApp:
    """Build the application for ``serve`` (or a WSGI server) on ``storage``.

    Keys no plugin or driver declares are logged as warnings (logging is set up by then;
    ``config check`` prints the same lines).
    """
    app, registry = _build(settings, storage, None, ())
    _warn_unknown_keys(settings, registry, storage)
    return ServedApp(app, storage.spool_directory, registry.find_tap, registry.stop)


def _warn_unknown_keys(settings: Settings, registry: Registry, storage: Storage) -> None:
    from .config_options import plugin_options, unknown_key_warnings

    driver = storage.driver if isinstance(storage.driver, StorageDriver) else None
    where = f"{settings.source or 'packaged defaults'}, flavor '{settings.flavor}'"
    warnings = unknown_key_warnings(
        settings, plugin_options(registry.plugins), type(driver) if driver else None
    )
    for key, warning in warnings.items():
        log.warning("configuration %s, key '%s': %s", where, key, warning)


def create_app(
    settings: Settings,
    *,
    storage: Storage | None = None,
    plugins: pluggy.PluginManager | None = None,
    extra_plugins: Iterable[Any] = (),
) -> falcon.App:
    """Build the application for ``settings``.

    :param settings: validated settings (:func:`docker_registry.core.config.load_settings`).
    :param storage: storage to use instead of the configured driver (tests inject the
        ``inmemory`` driver this way).
    :param plugins: a ready plugin manager instead of the installed plugins.
    :param extra_plugins: plugins registered in addition to the installed ones.
    :raises ConfigError: the driver or a plugin cannot be loaded or configured.
    """
    return _build(settings, storage, plugins, extra_plugins)[0]


def _build(
    settings: Settings,
    storage: Storage | None,
    plugins: pluggy.PluginManager | None,
    extra_plugins: Iterable[Any],
) -> tuple[RegistryApp, Registry]:
    if storage is None:
        storage = Storage(create_driver(settings.storage, settings.values))
    if plugins is None:
        plugins = create_plugin_manager(extra_plugins)
    registry = Registry(settings=settings, storage=storage, plugins=plugins)
    cache_name = configured_cache_backend(settings)
    if cache_name:
        spec = registry.cache_backends().get(cache_name)
        if spec is None:
            raise missing_cache_backend(settings, cache_name, registry.cache_backends())
        storage.use_cache(spec.factory(registry))

    registry.coordinator = create_coordinator(registry)
    registry.access = AccessControl.from_registry(registry)
    cors = cors_policy(settings)
    app = RegistryApp(
        middleware=(
            *((RegistryCORS(cors),) if cors is not None else ()),
            RequestContextMiddleware(TrustedProxies.from_settings(settings)),
            AccessMiddleware(registry.access),
            UnreceivedBodyMiddleware(),
            *((ForwardingMiddleware(),) if MirrorConfig.from_settings(settings) else ()),
        )
    )
    app.access = registry.access
    # NOTE: registry clients send layer bodies as application/octet-stream or with no
    # type at all; resources read req.bounded_stream themselves, never parsed forms.
    app.req_options.auto_parse_form_urlencoded = False
    app.req_options.strip_url_path_trailing_slash = False
    app.resp_options.secure_cookies_by_default = False
    app.set_error_serializer(registry.errors)
    app.add_error_handler(Exception, error_handler(settings))
    app.add_error_handler(StorageError, handle_storage_error)

    plugins.hook.registry_routes(app=app, registry=registry)
    plugins.hook.registry_startup(app=app, registry=registry)
    registry.access.started(registry)
    return app, registry


#: Bytes read at once from a streamed response body (see :class:`RegistryApp`).
STREAM_BLOCK_SIZE = 1024 * 1024


class RegistryApp(falcon.App):
    """The Falcon application, with the authorize step the server's transport uses to
    refuse bodies before they are spooled (:attr:`access`)."""

    access: AccessControl | None = None
    # PERF: a body that is no real file (a cloud object's HTTP stream) is read in blocks
    # of this size and handed to the server as such; Falcon's 8 KiB costs a Python round
    # per 8 KiB and held S3 downloads near 200 MB/s (issue 17).
    _STREAM_BLOCK_SIZE = STREAM_BLOCK_SIZE


def missing_cache_backend(settings: Settings, name: str, offered: Iterable[str]) -> ConfigError:
    """The error for a cache backend no installed plugin offers, naming the key the user
    wrote: ``cache_backend``, or the ``cache_lru`` section that implied ``redis``."""
    installed = ", ".join(sorted(offered)) or "none"
    if settings.get("cache_backend"):
        return ConfigError(
            f"no cache backend named '{name}' is installed (installed: {installed}); "
            f"for Redis, 'pip install registry-plugin-redis'",
            key="cache_backend",
        )
    return ConfigError(
        f"the Redis cache of small files is configured, and no installed plugin offers it "
        f"(cache backends installed: {installed}): pip install registry-plugin-redis, or "
        f"remove the section",
        key="cache_lru",
    )


def configured_cache_backend(settings: Settings) -> str | None:
    """The cache backend to use: ``cache_backend``, else ``redis`` when the seed's
    ``cache_lru.host`` (or a ``cache_lru.url``) is set, else none."""
    explicit = settings.get("cache_backend")
    if explicit:
        return str(explicit).strip().lower()
    if settings.get("cache_lru.host") or settings.get("cache_lru.url"):
        return "redis"
    return None
