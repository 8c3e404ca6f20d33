"""``config check``'s look at the sections the core reads at start-up.

``Settings`` types the flat keys; the sections below are parsed by the code that uses
them (the same functions ``serve`` calls), so a configuration ``config check`` passes is
one ``serve`` starts with, and one it refuses is refused here first, with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from .config import ConfigError, Settings


def _privileged_key(settings: Settings) -> None:
    if settings.privileged_key:
        from .v1.auth import read_privileged_key

        read_privileged_key(settings.privileged_key)


def _mirroring(settings: Settings) -> None:
    from .mirroring import MirrorConfig

    MirrorConfig.from_settings(settings)


def _cors(settings: Settings) -> None:
    from .cors import cors_policy

    cors_policy(settings)


def _error_reports(settings: Settings) -> None:
    from .error_reports import check

    check(settings)


def _notifications(settings: Settings) -> None:
    from .ops.notifications.config import notification_settings

    notification_settings(settings)


CHECKS: tuple[Callable[[Settings], None], ...] = (
    _privileged_key,
    _mirroring,
    _cors,
    _error_reports,
    _notifications,
)


def search_backend_names(plugins: pluggy.PluginManager) -> set[str]:
    """Names the installed plugins offer for ``search_backend``."""
    names: set[str] = set()
    offered: Iterable[Iterable[Any]] = plugins.hook.registry_search_backends()
    for specs in offered:
        for spec in specs or ():
            names.add(str(spec.name).lower())
    return names


def _search_backend(settings: Settings, plugins: pluggy.PluginManager) -> None:
    name = settings.search_backend
    if not name or name in search_backend_names(plugins):
        return
    from .v1.search import ModuleIndexSearch

    ModuleIndexSearch.load(name)


def _cache_backend(settings: Settings, plugins: pluggy.PluginManager) -> None:
    from .app import configured_cache_backend, missing_cache_backend

    name = configured_cache_backend(settings)
    if not name:
        return
    offered: set[str] = set()
    for specs in plugins.hook.registry_cache_backends():
        offered.update(str(spec.name).lower() for spec in specs or ())
    if name not in offered:
        raise missing_cache_backend(settings, name, offered)


def section_problems(settings: Settings, plugins: pluggy.PluginManager) -> list[ConfigError]:
    """Parse each section as ``serve`` will; one error per section at fault.

    Each error names the key at fault (never quoting a secret).
    """
    problems: list[ConfigError] = []
    for check in CHECKS:
        try:
            check(settings)
        except ConfigError as exc:
            problems.append(exc)
    for plugin_check in (_search_backend, _cache_backend):
        try:
            plugin_check(settings, plugins)
        except ConfigError as exc:
            problems.append(exc)
    return problems


def check_sections(settings: Settings, plugins: pluggy.PluginManager) -> None:
    """Parse each section as ``serve`` will.

    :raises ConfigError: the first problem :func:`section_problems` finds.
    """
    problems = section_problems(settings, plugins)
    if problems:
        raise problems[0]
