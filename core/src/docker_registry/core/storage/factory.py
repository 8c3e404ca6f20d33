"""Find storage drivers through the ``docker_registry.drivers`` entry-point group.

Nothing is imported until a driver is chosen: listing the installed drivers reads only
package metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ..config.errors import ConfigError
from .driver import DriverOption, StorageDriver

ENTRY_POINT_GROUP = "docker_registry.drivers"

#: Names the seed used for drivers we ship under another name.
ALIASES = {"local": "file", "azureblob": "azure"}

#: ``name -> distribution`` for first-party drivers, to tell users what to install.
KNOWN_DISTRIBUTIONS = {
    "file": "registry-driver-file",
    "s3": "registry-driver-s3",
    "oss": "registry-driver-s3",
    "gcs": "registry-driver-gcs",
    "azure": "registry-driver-azure",
    "swift": "registry-driver-swift",
    "glance": "registry-driver-glance",
}


@dataclass(frozen=True)
class InstalledDriver:
    """A driver entry point found in the environment (not imported yet)."""

    name: str
    target: str
    distribution: str
    version: str


def installed_drivers() -> dict[str, InstalledDriver]:
    """Map each installed driver name to where it comes from, without importing it."""
    found: dict[str, InstalledDriver] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry.dist
        found[entry.name] = InstalledDriver(
            name=entry.name,
            target=entry.value,
            distribution=dist.metadata["Name"] if dist else "?",
            version=dist.version if dist else "?",
        )
    return found


#: What ``docker-registry plugins`` writes after a driver that cannot be imported (and
#: what ``.ci/packaging/smoke.py`` looks for in the listing).
IMPORT_FAILURE_MARK = "cannot import"


def import_problem(driver: InstalledDriver) -> str | None:
    """Why the installed ``driver`` cannot be used, or ``None`` when it imports.

    For ``docker-registry plugins``: a driver whose entry point is installed but whose
    module (or one of its dependencies) fails to import is listed with this reason.
    """
    try:
        load_driver_class(driver.name)
    except ConfigError as exc:
        cause = exc.__cause__
        what = f"{type(cause).__name__}: {cause}" if cause is not None else exc.detail
        return (
            f"{' '.join(what.split())} (reinstall it with its dependencies: "
            f"pip install --force-reinstall {driver.distribution})"
        )
    return None


def canonical_name(name: str) -> str:
    """Lower-case the configured name and resolve the seed's aliases."""
    lowered = name.strip().lower()
    return ALIASES.get(lowered, lowered)


def load_driver_class(name: str) -> type[StorageDriver]:
    """Import and return the driver class registered under ``name`` (or an alias).

    :raises ConfigError: key ``storage``; the message lists the installed drivers and
        names the package to install.
    """
    wanted = canonical_name(name)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP, name=wanted):
        try:
            driver_class = entry.load()
        except Exception as exc:
            dist = entry.dist.metadata["Name"] if entry.dist else "an unknown distribution"
            raise ConfigError(
                f"storage driver '{wanted}' from {dist} failed to import: "
                f"{type(exc).__name__}: {exc}",
                key="storage",
            ) from exc
        if not (isinstance(driver_class, type) and issubclass(driver_class, StorageDriver)):
            raise ConfigError(
                f"entry point '{wanted}' ({entry.value}) is not a StorageDriver subclass",
                key="storage",
            )
        return driver_class
    installed = ", ".join(sorted(installed_drivers())) or "none"
    raise ConfigError(
        f"unknown storage driver '{name}' (installed: {installed}); install it with "
        f"'{install_hint(wanted)}'",
        key="storage",
    )


def install_hint(name: str) -> str:
    """The ``pip install`` command that provides the driver called ``name``."""
    package = KNOWN_DISTRIBUTIONS.get(name, f"a package providing the '{name}' driver")
    return f"pip install {package}"


def resolve_options(driver_class: type[StorageDriver], config: Mapping[str, Any]) -> dict[str, Any]:
    """Read the driver's declared options from ``config``, with defaults and type checks.

    Then the driver's ``validate_options(values)`` checks them together, so that
    ``docker-registry config check`` and start-up both refuse values it cannot use.

    :raises ConfigError: naming the option that is missing, has the wrong type, or was
        refused by the driver's ``validate_options``.
    """
    values: dict[str, Any] = {}
    for option in driver_class.options:
        value = config.get(option.name)
        if value is None:
            value = option.default
        if value is None:
            if option.required:
                raise ConfigError(
                    f"required by the '{driver_class.name}' storage driver"
                    + (f" ({option.help})" if option.help else ""),
                    key=option.name,
                )
            values[option.name] = None
            continue
        values[option.name] = _coerce(option, value, driver_class.name)
    driver_class.validate_options(values)
    return values


def secret_options(driver_class: type[StorageDriver]) -> frozenset[str]:
    """The keys of the driver's options declared ``secret=True``, to mask wherever shown."""
    return frozenset(option.name for option in driver_class.options if option.secret)


def unknown_options(driver_class: type[StorageDriver], config: Mapping[str, Any]) -> list[str]:
    """Keys that look like the driver's own (same prefix) but that it does not declare.

    Catches typos such as ``s3_bukcet``. Keys of other parts of the configuration
    (``storage_redirect``...) never share a driver's prefix.
    """
    declared = {option.name for option in driver_class.options}
    prefixes = {
        name.split("_", 1)[0] + "_"
        for name in declared
        if "_" in name and not name.startswith("storage_")
    }
    return sorted(
        key
        for key in config
        if isinstance(key, str) and key not in declared and key.startswith(tuple(prefixes))
    )


def _coerce(option: DriverOption, value: Any, driver: str) -> Any:
    try:
        return option.convert(value)
    except ValueError as exc:
        # NOTE: a secret option's value never appears in an error message (convert hides it).
        raise ConfigError(f"the '{driver}' storage driver {exc.args[0]}", key=option.name) from None


def create_driver(name: str, config: Mapping[str, Any]) -> StorageDriver:
    """Load the driver called ``name`` and build it from the configuration mapping."""
    driver_class = load_driver_class(name)
    return driver_class(**resolve_options(driver_class, config))
