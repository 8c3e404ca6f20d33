"""Storage: the driver contract, its typed errors, the driver factory and the wrapper.

Driver authors import everything they need from here::

    from docker_registry.core.storage import StorageDriver, FileWriter, FileInfo, DriverOption

``ConfigError`` is re-exported here for ``StorageDriver.validate_options``.
"""

from ..config.errors import ConfigError
from .driver import CHUNK_SIZE, Capability, DriverOption, FileInfo, FileWriter, StorageDriver
from .errors import (
    InvalidOffsetError,
    InvalidPathError,
    PathNotFoundError,
    StorageError,
    StorageFullError,
    UnsupportedMethodError,
)
from .factory import create_driver, installed_drivers, load_driver_class
from .listing import list_children
from .paths import validate_path
from .wrapper import Storage

__all__ = [
    "CHUNK_SIZE",
    "Capability",
    "ConfigError",
    "DriverOption",
    "FileInfo",
    "FileWriter",
    "InvalidOffsetError",
    "InvalidPathError",
    "PathNotFoundError",
    "Storage",
    "StorageDriver",
    "StorageError",
    "StorageFullError",
    "UnsupportedMethodError",
    "create_driver",
    "installed_drivers",
    "list_children",
    "load_driver_class",
    "validate_path",
]
