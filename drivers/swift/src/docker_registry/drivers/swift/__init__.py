"""registry-driver-swift: the ``swift`` storage driver (OpenStack Swift).

See :mod:`docker_registry.drivers.swift.driver` for the object layout and
:mod:`docker_registry.drivers.swift.writer` for segmented uploads.
"""

from .connection import SwiftSettings, swift_settings
from .driver import SwiftDriver
from .writer import SwiftFileWriter

__all__ = ["SwiftDriver", "SwiftFileWriter", "SwiftSettings", "swift_settings"]
