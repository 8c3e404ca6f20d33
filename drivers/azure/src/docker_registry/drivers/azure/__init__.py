"""registry-driver-azure: the ``azure`` storage driver (the seed's ``azureblob``).

See :mod:`docker_registry.drivers.azure.driver` for the blob layout and guarantees.
"""

from .driver import AzureDriver
from .settings import AzureSettings, blob_prefix
from .writer import AzureFileWriter

__all__ = ["AzureDriver", "AzureFileWriter", "AzureSettings", "blob_prefix"]
