"""registry-driver-glance: the ``glance`` storage driver (OpenStack Glance, images API v2).

Layers are Glance images; every other path goes to the ``storage_alternate`` driver. See
:mod:`docker_registry.drivers.glance.driver` for which paths are layers.
"""

from .client import Credentials, GlanceClient
from .driver import GlanceDriver, is_layer_path
from .writer import GlanceLayerWriter

__all__ = ["Credentials", "GlanceClient", "GlanceDriver", "GlanceLayerWriter", "is_layer_path"]
