"""The running registry: settings, storage and plugins, handed to resources and hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy

from .config import ConfigError, Settings
from .hookspecs import (
    AuthBackendSpec,
    CacheBackendSpec,
    CoordinationBackendSpec,
    Event,
    SearchBackendSpec,
)
from .http_errors import ErrorSerializer
from .spool import BodyTap, TapFinder
from .storage import Storage

log = logging.getLogger(__name__)

_Spec = TypeVar(
    "_Spec", SearchBackendSpec, AuthBackendSpec, CacheBackendSpec, CoordinationBackendSpec
)


@dataclass
class Registry:
    """Everything a request handler or a plugin needs, built once per application.

    :param settings: the validated configuration.
    :param storage: the configured storage, behind the core's wrapper.
    :param plugins: the application's plugin manager.
    :param services: per-API service objects registered by route modules (``v1``...).
    :param body_taps: services that want a request's body as it arrives (see
        :class:`~.spool.BodyTap`), asked in order by :meth:`find_tap`.
    :param errors: serializes every error response; an API mounted under a path prefix
        registers its error shape there (:meth:`~.http_errors.ErrorSerializer.add_shape`).
    :param coordinator: locks, turns at periodic jobs and cache invalidation shared by
        the processes on this storage (:mod:`.coordination`), set by ``create_app``.
    :param access: the authorize step (:class:`~.access.control.AccessControl`), set by
        ``create_app`` before any route is mounted.
    :param repository_sources: each API's lister of its repository names (registered by
        the API plugins; :meth:`repositories` merges them).
    :param on_stop: what :meth:`stop` runs, last added first (background senders...).
    """

    settings: Settings
    storage: Storage
    plugins: pluggy.PluginManager
    services: dict[str, Any] = field(default_factory=dict)
    body_taps: list[TapFinder] = field(default_factory=list)
    errors: ErrorSerializer = field(default_factory=ErrorSerializer)
    access: Any = None
    coordinator: Any = None
    repository_sources: list[Callable[[], Iterable[str]]] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)

    def repositories(self, found: Callable[[int], None] | None = None) -> list[str]:
        """Every repository name of every mounted API, sorted, without duplicates.

        :param found: called with the running count while listing (a progress display).
        :raises StorageError: the backend failed.
        """
        return merge_names([source() for source in self.repository_sources], found)

    def stop(self) -> None:
        """The server stopped serving: end background work (each step at most once; a
        failing step is logged and the others still run)."""
        while self.on_stop:
            step = self.on_stop.pop()
            try:
                step()
            except Exception:  # the process is stopping: say it, go on
                log.exception("while stopping, %r failed", step)

    def find_tap(self, method: str, path: str) -> BodyTap | None:
        """The first tap a service sets up for a request (``None``: a plain body)."""
        for finder in self.body_taps:
            tap = finder(method, path)
            if tap is not None:
                return tap
        return None

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every plugin implementing ``registry_event``."""
        self.plugins.hook.registry_event(event=event, registry=self)

    def search_backends(self) -> dict[str, SearchBackendSpec]:
        """Every offered search backend by name."""
        return _by_name(self.plugins.hook.registry_search_backends(), "search")

    def auth_backends(self) -> dict[str, AuthBackendSpec]:
        """Every offered auth backend by name."""
        return _by_name(self.plugins.hook.registry_auth_backends(), "auth")

    def cache_backends(self) -> dict[str, CacheBackendSpec]:
        """Every offered cache backend by name."""
        return _by_name(self.plugins.hook.registry_cache_backends(), "cache")

    def coordination_backends(self) -> dict[str, CoordinationBackendSpec]:
        """Every offered coordination backend by name."""
        return _by_name(self.plugins.hook.registry_coordination_backends(), "coordination")


def _by_name(results: Iterable[Iterable[_Spec]], kind: str) -> dict[str, _Spec]:
    specs: dict[str, _Spec] = {}
    for offered in results:
        for spec in offered or ():
            if spec.name in specs:
                raise ConfigError(
                    f"two plugins offer a {kind} backend named '{spec.name}'; uninstall one of them"
                )
            specs[spec.name] = spec
    return specs


def merge_names(
    sources: Iterable[Iterable[str]], found: Callable[[int], None] | None = None
) -> list[str]:
    """The names of all ``sources``, sorted, each once; ``found`` sees the running count."""
    names: set[str] = set()
    for source in sources:
        for name in source:
            names.add(name)
            if found is not None:
                found(len(names))
    return sorted(names)
