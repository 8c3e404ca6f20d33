"""Every declared option of the core, the plugins and the storage drivers, together.

The ``registry_options`` hook of each plugin (the core's own ``core``, ``v1``, ``v2``
and ``mirroring`` included) and the ``options`` of each storage driver make one
catalogue. ``docker-registry config check`` validates the configuration against it (one
:class:`~.config.ConfigError` per bad value) and warns about keys nobody declares, with
the closest declared name; ``config docs`` writes the docs' key tables from it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from .config import ConfigError, Settings
from .config.options import Option
from .config.parsers import mapping
from .storage.driver import StorageDriver

#: Keys (or key prefixes ending in ``_``) of first-party plugins and drivers, for the
#: warning about a key no installed distribution declares.
FIRST_PARTY_KEYS = {
    "cache_lru.": "registry-plugin-redis",
    "cache.": "registry-plugin-redis",
    "coordination.": "registry-plugin-redis",
    "token_issuer": "registry-plugin-issuer",
    "ui": "registry-plugin-ui",
    "sqlalchemy_": "registry-plugin-sqlalchemy",
    "s3_": "registry-driver-s3",
    "boto_": "registry-driver-s3",
    "cloudfront": "registry-driver-s3",
    "oss_": "registry-driver-s3",
    "gcs_": "registry-driver-gcs",
    "gs_": "registry-driver-gcs",
    "azure_": "registry-driver-azure",
    "swift_": "registry-driver-swift",
    "glance_": "registry-driver-glance",
    "os_": "registry-driver-glance",
}


@dataclass(frozen=True)
class DeclaredOption:
    """An option and who declares it.

    :param option: the declaration.
    :param owner: the plugin's name (``core``, ``v2``, ``redis``...), or
        ``driver:<name>`` for a storage driver's option.
    """

    option: Option
    owner: str

    @property
    def driver(self) -> str | None:
        """The storage driver's name when a driver declares it."""
        return self.owner.removeprefix("driver:") if self.owner.startswith("driver:") else None


def plugin_options(plugins: pluggy.PluginManager) -> list[DeclaredOption]:
    """The options every registered plugin declares through ``registry_options``.

    :raises ConfigError: two plugins declare the same key, or a hook returns something
        that is not an :class:`Option`.
    """
    declared: list[DeclaredOption] = []
    owners: dict[str, str] = {}
    # NOTE: pluggy calls the last registered first; reversed, the core comes first.
    for impl in reversed(plugins.hook.registry_options.get_hookimpls()):
        offered: Iterable[Any] = impl.function() or ()  # type: ignore[assignment]
        for option in offered:
            if not isinstance(option, Option):
                raise ConfigError(
                    f"plugin '{impl.plugin_name}' declared {option!r} through registry_options, "
                    "not an Option"
                )
            if option.name in owners:
                raise ConfigError(
                    f"declared by two plugins, '{owners[option.name]}' and "
                    f"'{impl.plugin_name}': uninstall one of them",
                    key=option.name,
                )
            owners[option.name] = impl.plugin_name
            declared.append(DeclaredOption(option, impl.plugin_name))
    return declared


def driver_options(name: str, driver_class: type[StorageDriver]) -> list[DeclaredOption]:
    """The options the storage driver called ``name`` declares."""
    return [DeclaredOption(option, f"driver:{name}") for option in driver_class.options]


def installed_driver_options() -> list[DeclaredOption]:
    """The options of every installed driver that imports (the others are skipped:
    ``docker-registry plugins`` names them)."""
    from .storage.factory import installed_drivers, load_driver_class

    declared: list[DeclaredOption] = []
    for name in sorted(installed_drivers()):
        try:
            driver_class = load_driver_class(name)
        except ConfigError:
            continue
        declared.extend(driver_options(name, driver_class))
    return declared


def _section_is_mapping(settings: Settings, name: str) -> bool:
    node: Any = settings.values
    for part in name.split(".")[:-1]:
        node = node.get(part) if isinstance(node, Mapping) else None
    return isinstance(node, Mapping)


def invalid_values(settings: Settings, declared: Iterable[DeclaredOption]) -> list[ConfigError]:
    """One error per declared plugin option whose value is wrong (type, range, required).

    Drivers' options are checked by :func:`.storage.factory.resolve_options` (for the
    configured driver only); a key inside a section that is not a mapping is left to the
    section's own check.
    """
    problems: list[ConfigError] = []
    for item in declared:
        if item.driver is not None:
            continue
        if "." in item.option.name and not _section_is_mapping(settings, item.option.name):
            continue
        try:
            item.option.read(settings)
        except ConfigError as exc:
            problems.append(exc)
    return problems


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def configured_keys(settings: Settings, sections: set[str]) -> Iterator[str]:
    """Every key set (not null, not blank) in the configuration: top-level keys, and
    ``section.key`` for the keys of the ``sections`` that hold a mapping."""
    for key, value in settings.values.items():
        if _is_unset(value):
            continue
        name = str(key)
        if name in sections and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                if not _is_unset(sub_value):
                    yield f"{name}.{sub}"
        else:
            yield name


def mapping_sections(declared: Iterable[DeclaredOption]) -> set[str]:
    """Top-level keys declared as mappings of keys (``cache_lru``, ``mirroring``)."""
    return {item.option.name for item in declared if item.option.type is mapping}


def unknown_keys(
    settings: Settings, known: Iterable[str], sections: Iterable[str] = ()
) -> list[str]:
    """The keys set in the configuration that no declaration names.

    A section counts as declared when one of its keys is, or when it is named in
    ``sections``; the keys inside it are then compared one by one (one level deep:
    ``htpasswd.groups`` holds free names).
    """
    names = set(known)
    sections = {name.split(".", 1)[0] for name in names if "." in name} | set(sections)
    return sorted(
        key
        for key in configured_keys(settings, sections)
        if key not in names and not (key in sections and "." not in key)
    )


def suggestion(key: str, known: Iterable[str]) -> str | None:
    """The declared name closest to ``key`` (a typo's intended key), if one is close."""
    section = key.rsplit(".", 1)[0] + "." if "." in key else ""
    candidates = [
        name for name in known if name.startswith(section) and name.count(".") == key.count(".")
    ]
    matches = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    return matches[0] if matches else None


def unknown_key_warning(key: str, known: Iterable[str]) -> str:
    """What ``config check`` says about ``key``: who would read it, or what was meant."""
    close = suggestion(key, known)
    if close is not None:
        return f"not a known key: did you mean '{close}'?"
    for prefix, distribution in FIRST_PARTY_KEYS.items():
        if key.startswith(prefix) or key == prefix.rstrip("._"):
            return (
                f"no installed plugin or driver reads it ({distribution} does: "
                f"pip install {distribution})"
            )
    return "no installed plugin or driver declares it; it is ignored"


def unknown_key_warnings(
    settings: Settings,
    declared: Iterable[DeclaredOption],
    driver_class: type[StorageDriver] | None,
) -> dict[str, str]:
    """``key -> warning`` for every configured key nobody declares.

    The plugins' and the configured driver's declarations are read first; the other
    installed drivers are imported only when keys remain unknown (a ``common`` flavor may
    hold their keys). A key with the configured driver's prefix is named as a misspelt
    option of that driver, with its options.
    """
    from .storage.factory import installed_drivers, unknown_options

    items = list(declared)
    known = {item.option.name for item in items}
    warnings: dict[str, str] = {}
    if driver_class is not None:
        known |= {option.name for option in driver_class.options}
        names = ", ".join(option.name for option in driver_class.options)
        for key in unknown_options(driver_class, settings.values):
            warnings[key] = (
                f"not an option of the '{driver_class.name}' storage driver (its options: {names})"
            )
    sections = mapping_sections(items)
    unknown = [key for key in unknown_keys(settings, known, sections) if key not in warnings]
    if unknown and installed_drivers():
        known |= {item.option.name for item in installed_driver_options()}
        unknown = [key for key in unknown_keys(settings, known, sections) if key not in warnings]
    warnings.update({key: unknown_key_warning(key, known) for key in unknown})
    return dict(sorted(warnings.items()))


def secret_names(declared: Iterable[DeclaredOption]) -> frozenset[str]:
    """The last part of every key declared ``secret``, for :meth:`Settings.masked`."""
    return frozenset(item.option.name.rsplit(".", 1)[-1] for item in declared if item.option.secret)
