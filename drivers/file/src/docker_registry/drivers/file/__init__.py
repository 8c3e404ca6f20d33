"""registry-driver-file: the ``file`` storage driver (alias ``local``), the embedded default.

See :mod:`docker_registry.drivers.file.driver` for the on-disk layout and guarantees.
"""

from .driver import STAGING_DIR, FileDriver, FileDriverWriter

__all__ = ["STAGING_DIR", "FileDriver", "FileDriverWriter"]
