"""registry-driver-gcs: the ``gcs`` storage driver (Google Cloud Storage).

See :mod:`docker_registry.drivers.gcs.driver` for the object layout and guarantees.
"""

from .driver import STAGING_DIR, GCSDriver
from .settings import HMAC_MESSAGE, GCSSettings, object_prefix
from .writer import GCSFileWriter

__all__ = [
    "HMAC_MESSAGE",
    "STAGING_DIR",
    "GCSDriver",
    "GCSFileWriter",
    "GCSSettings",
    "object_prefix",
]
