"""The plugin manager: hook specifications plus the plugins found by entry point.

Each application owns its manager (there is no global one). Plugins come from the
``docker_registry.plugins`` entry-point group and are imported one by one, so a broken
plugin fails start-up with a message naming it and its distribution.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .config.errors import ConfigError

ENTRY_POINT_GROUP = "docker_registry.plugins"
#: The plugin name of the mirroring keys' declarations (:mod:`.config.keys.mirroring`).
BUILT_IN_MIRRORING = "mirroring"


@dataclass(frozen=True)
class InstalledPlugin:
    """A plugin registered with a manager, for ``docker-registry plugins``."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]


def create_plugin_manager(extra_plugins: Iterable[Any] = ()) -> pluggy.PluginManager:
    """Build a manager with every installed plugin, then ``extra_plugins``.

    :param extra_plugins: plugin objects or modules to register after the installed
        ones (tests and embedders use this instead of monkeypatching).
    :raises ConfigError: a plugin failed to import; the message names the entry point
        and its distribution.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if manager.get_plugin(entry.name) is not None:
            continue
        dist = f"{entry.dist.metadata['Name']} {entry.dist.version}" if entry.dist else "?"
        try:
            plugin = entry.load()
        except Exception as exc:
            raise ConfigError(
                f"plugin '{entry.name}' ({entry.value}) from distribution {dist} failed to "
                f"import: {type(exc).__name__}: {exc}; fix or uninstall that distribution"
            ) from exc
        manager.register(plugin, name=entry.name)
    if manager.get_plugin(BUILT_IN_MIRRORING) is None:
        # NOTE: the pull-through cache serves both APIs, so neither declares its keys; it
        # is part of the core distribution, registered in code like an entry point.
        from .config.keys import mirroring

        manager.register(mirroring, name=BUILT_IN_MIRRORING)
    for plugin in extra_plugins:
        manager.register(plugin)
    return manager


def load_module_plugin(dotted: str) -> Any:
    """Import a module named in the configuration (the seed's ``some.module`` form)."""
    try:
        return importlib.import_module(dotted)
    except ImportError as exc:
        raise ConfigError(f"cannot import module '{dotted}': {exc}") from exc


def describe_plugins(manager: pluggy.PluginManager) -> list[InstalledPlugin]:
    """List the registered plugins with their distributions and implemented hooks."""
    origins = {entry.name: entry.dist for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    described = []
    for name, plugin in sorted(manager.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        # NOTE: the built-in mirroring declarations come with the core's distribution.
        dist = origins.get("core" if name == BUILT_IN_MIRRORING else name)
        hooks = tuple(sorted(caller.name for caller in manager.get_hookcallers(plugin) or ()))
        described.append(
            InstalledPlugin(
                name=name,
                distribution=dist.metadata["Name"] if dist else "(registered in code)",
                version=dist.version if dist else "",
                hooks=hooks,
            )
        )
    return described
